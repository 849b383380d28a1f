"""`mlcap export`: a trained run as a self-contained TorchScript or ONNX model.

The exported program takes normalised images (B, 3, S, S) and returns what the method's
``export_outputs`` gives: ``scores`` (B, K) and, where its decoding is traceable, ``sequence``
(B, T) label ids in emitted order with -1 for none. Where a stage's scores need the decoder's
search (a beam search of data-dependent length), the program is the encoder alone: images ->
``pooled`` features (B, D). ``FILE.json`` beside it says which, with the label list and the
preprocessing (size, mean, std) the program expects.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from mlcap.atomic import file_sha256, remove_orphans, tmp_path, write_text_atomic
from mlcap.errors import MlcapError
from mlcap.inference.predictor import Predictor
from mlcap.progress import note

FORMATS = ("torchscript", "onnx")


class ExportedOutputs(nn.Module):
    """images -> the method's ``export_outputs`` (a tuple in ``names`` order)."""

    def __init__(self, method, model: nn.Module, spec, decode, names: tuple[str, ...]):
        super().__init__()
        self.method, self.model, self.spec, self.decode, self.names = method, model, spec, decode, names

    def forward(self, images: torch.Tensor):
        out = self.method.export_outputs(self.model, images, self.spec, self.decode)
        return tuple(out[n] for n in self.names)


class ExportedEncoder(nn.Module):
    """images -> pooled backbone features (the CNN-only part)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, images: torch.Tensor):
        return (self.encoder(images).pooled.float(),)


def exported_module(predictor: Predictor, example: torch.Tensor) -> tuple[nn.Module, tuple[str, ...], str]:
    """The module to trace, its output names, and what it leaves to ``mlcap predict``."""
    method, model, spec, decode = predictor.method, predictor.model, predictor.spec, predictor.decode_options
    with torch.no_grad():
        outputs = method.export_outputs(model, example, spec, decode)
    if outputs is None:
        return (ExportedEncoder(model), ("pooled",),
                f"the {method.name} {predictor.stage} decoding (its search is not traceable): the export is the "
                "encoder; decode with `mlcap predict`")
    names = tuple(n for n in ("scores", "sequence") if n in outputs)
    left = "" if "sequence" in names else ("the captions (beam search)" if spec.task == "caption"
                                           else "the label sequence (beam search): take labels from `mlcap predict`")
    return ExportedOutputs(method, model, spec, decode, names), names, left


def _sidecar(predictor: Predictor, fmt: str, names: tuple[str, ...], left: str) -> dict:
    spec = predictor.spec
    return {"format": fmt, "method": predictor.method.name, "stage": predictor.stage, "run": str(predictor.run.root),
            "outputs": list(names), "not_exported": left or None, "labels": predictor.labels,
            "input": {"shape": ["B", 3, spec.image_size, spec.image_size], "dtype": "float32",
                      "image_size": spec.image_size, "mean": list(predictor.mean), "std": list(predictor.std),
                      "preprocessing": "RGB in [0, 1], resized (bilinear) to image_size x image_size, "
                                       "then (x - mean) / std per channel"},
            "sequence": "label ids in emitted order, -1 for none" if "sequence" in names else None,
            "threshold": predictor.decode_options.threshold}


def _save(module: nn.Module, example: torch.Tensor, names: tuple[str, ...], fmt: str, path: Path) -> Path:
    """The traced model written to a temporary file beside ``path`` (its path; the caller renames it)."""
    tmp = tmp_path(path)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the trace's constants (a threshold, the step count) are meant; the deprecation notes are torch's
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            if fmt == "torchscript":
                torch.jit.save(torch.jit.trace(module, example, check_trace=False), str(tmp))
            else:
                # every symbolic dimension named (the exporter would call them e.g. "Wheresequence_dim_1")
                axes = {n: {0: "batch", **({1: "steps"} if n == "sequence" else {})} for n in ("images", *names)}
                torch.onnx.export(module, (example,), str(tmp), dynamo=False, input_names=["images"],
                                  output_names=list(names), dynamic_axes=axes)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def export_run(run: Path, fmt: str, out: Path, stage: str | None = None, checkpoint: str = "best") -> dict:
    """Write ``out`` and ``out.json`` (making ``out``'s folder); the summary printed by the command,
    ``files`` naming both."""
    if fmt not in FORMATS:
        raise MlcapError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401  (torch.onnx needs it to write the file)
        except ImportError:
            raise MlcapError("--format onnx needs the onnx package: pip install 'mlcap[export]'") from None
    out = Path(out)
    if out.is_dir():
        raise MlcapError(f"--out {out}: is a folder; give the model file's path")
    if out.resolve().parent == Path(run).resolve():
        raise MlcapError(f"--out {out}: inside the run folder {run}, where it could replace the run's own files; "
                         "write the export elsewhere")
    predictor = Predictor(run, stage, checkpoint, device="cpu")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)       # as a run's folder is made
    except OSError as e:
        raise MlcapError(f"--out {out}: cannot make the folder {out.parent} ({e.strerror or e})") from None
    size = predictor.spec.image_size
    example = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    module, names, left = exported_module(predictor, example)
    module.eval()
    sidecar = Path(str(out) + ".json")
    remove_orphans(out.parent, note, names=(out.name, sidecar.name))
    written = _save(module, example, names, fmt, out)
    try:
        meta = {**_sidecar(predictor, fmt, names, left), "file": {"name": out.name, "size": written.stat().st_size,
                                                                  "sha256": file_sha256(written)}}
        os.replace(written, out)        # then its sidecar: a pair a kill split has another sha256 (export again)
    finally:
        written.unlink(missing_ok=True)
    write_text_atomic(sidecar, json.dumps(meta, indent=1), "export's sidecar")
    return {"export": str(out), "files": [str(out), str(sidecar)], "format": fmt, "method": meta["method"],
            "stage": meta["stage"], "outputs": meta["outputs"], "not_exported": meta["not_exported"],
            "labels": len(meta["labels"])}
