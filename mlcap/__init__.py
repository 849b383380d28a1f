"""mlcap: CNN-RNN image annotation from the shell, and from Python:

    import mlcap
    run = mlcap.load_run("runs/s")                 # the latest complete stage, its best weights
    records = run.predict(["a.jpg", pil_image, tensor])   # the records `mlcap predict` prints
    mlcap.evaluate(records, "data", metrics=["f1", "map"], split="test")   # the metrics dict

Nothing heavy is imported until one of these is called (``mlcap --help`` stays fast).
"""

from mlcap.errors import MlcapError

__version__ = "0.1.0"
__all__ = ["MlcapError", "Predictor", "evaluate", "load_run", "__version__"]


def load_run(path, stage: str | None = None, checkpoint: str = "best", *, beam: int | None = None,
             threshold: float | None = None, device: str = "auto"):
    """A trained run ready to predict (``mlcap.inference.Predictor``): ``.predict(images)`` takes
    image paths, PIL images or tensors ((3, H, W), float in [0, 1] or uint8) and returns one record
    per image; ``.labels``, ``.spec``, ``.stage``, ``.model`` describe it."""
    from mlcap.inference import Predictor

    return Predictor(path, stage, checkpoint, beam=beam, threshold=threshold, device=device)


def evaluate(predictions, data, metrics=("f1",), split: str = "test", top_k: int | None = None) -> dict:
    """The metrics of ``predictions`` (a list of records, or a JSONL file's path) against a prepared
    split: the dict `mlcap evaluate --json` prints, without its bookkeeping keys. ``metrics``: the
    names `mlcap evaluate --metrics` accepts (label metrics and caption metrics)."""
    from pathlib import Path

    from mlcap.data.prepared import PreparedDataset
    from mlcap.evaluation import CAPTION_GROUPS, evaluate_captions, evaluate_file, parse_metrics

    names = parse_metrics(metrics if isinstance(metrics, str) else ",".join(metrics))
    source = list(predictions) if not isinstance(predictions, (str, Path)) else str(predictions)
    dataset = PreparedDataset(Path(data))
    out: dict = {}
    label_names = [m for m in names if m not in CAPTION_GROUPS]
    caption_names = [m for m in names if m in CAPTION_GROUPS]
    if label_names:
        out.update(evaluate_file(source, dataset, split, label_names, top_k))
    if caption_names:
        references = {s.id: s.captions for s in dataset.samples(split) if s.captions}
        if not references:
            raise MlcapError(f"{data}: the {split} split has no captions")
        out.update(evaluate_captions(source, references, caption_names))
    return {k: v for k, v in out.items() if k not in ("predictions", "images", "mode")}


def __getattr__(name: str):
    if name == "Predictor":          # imported on first use: it needs torch
        from mlcap.inference import Predictor

        return Predictor
    raise AttributeError(f"module 'mlcap' has no attribute {name!r}")
