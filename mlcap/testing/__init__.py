"""``check_method``: the guarantees every method, built-in or a plugin's, must keep.

Like scikit-learn's ``check_estimator``: one public function that trains the method on a tiny
synthetic set (60 images, one epoch a stage, on the CPU) and checks, for each task it supports,
what mlcap promises for every method::

    from mlcap.testing import check_method
    check_method("mymethod", tmp_path)            # an installed method, by name
    check_method(MyMethod(), tmp_path)            # or an importable object (module:attribute)

It raises ``MethodCheckError`` naming each guarantee that broke and how, and returns
``{"<task>/<check>": "passed" | "expected failure: ..." | "not run: ..."}``. ``checks=`` runs a
subset (see ``CHECKS``).

A method may declare ``xfail_checks = {"<check>": "why"}`` (as scikit-learn's ``_xfail_checks``
tag): a check it is known not to pass, reported as an expected failure, and a failure of the
suite when it passes after all (so that the declaration goes when the cause does). For
``later_options`` the key ``"later_options:<option>"`` exempts one option that the tiny run
cannot show in use (e.g. a reward for an event it never samples).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from mlcap.testing.checks_export import check_export, check_features, check_later_options
from mlcap.testing.checks_predict import (check_api, check_attention, check_images, check_stages, check_threshold,
                                          check_weights_only)
from mlcap.testing.checks_repro import check_ranks, check_resume, check_workers
from mlcap.testing.cli import Result, run_cli
from mlcap.testing.context import TINY, CheckFailed, Context, declared_stages, make_data

__all__ = ["CHECKS", "MethodCheckError", "Result", "TINY", "check_method", "make_data", "run_cli"]

#: Each check's name and function, in the order they run ("stages" first: the others use its run).
CHECKS = {
    "stages": check_stages,           # every stage in its declared order; predict on the test split
    "images": check_images,           # predict --images gives the split's records
    "api": check_api,                 # mlcap.load_run(...).predict equals the CLI
    "weights_only": check_weights_only,   # checkpoints load without unpickling
    "threshold": check_threshold,     # chosen on val and overridable, or refused
    "attention": check_attention,     # maps written where declared, refused where not
    "export": check_export,           # TorchScript and ONNX give predict's scores
    "features": check_features,       # --features trains and predicts (or is refused in one line)
    "later_options": check_later_options,   # a method option at a later stage is used or refused
    "resume": check_resume,           # SIGKILL then --resume: bit-identical
    "workers": check_workers,         # 0 and 2 loader workers: identical weights
    "ranks": check_ranks,             # 1 and 2 gloo ranks: the same steps (SGD, 1e-4)
}


class MethodCheckError(AssertionError):
    """The guarantees a method broke: ``failures`` maps ``"<task>/<check>"`` to what happened."""

    def __init__(self, name: str, failures: dict[str, str]):
        self.failures = failures
        lines = [f"method {name!r} breaks {len(failures)} guarantee(s):"]
        lines += [f"  {key}: {message}" for key, message in failures.items()]
        super().__init__("\n".join(lines))


def _target(method) -> str:
    """``module:attribute`` that imports ``method`` (a class or an instance of one)."""
    cls = method if isinstance(method, type) else type(method)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise ValueError(f"check_method: {cls.__qualname__} must be importable (module:attribute) for the checks "
                         "that run mlcap in a subprocess; define it in a module")
    return f"{cls.__module__}:{cls.__qualname__}"


@contextmanager
def _registered(name: str, target: str | None):
    """``name`` resolves to ``target`` for this process and its subprocesses (``MLCAP_METHODS``)."""
    from mlcap.plugins import ENV

    saved = os.environ.get(ENV)
    if target is not None:
        os.environ[ENV] = ",".join(filter(None, [saved, f"{name}={target}"]))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved


def check_method(method, tmp_path, *, checks=None, tasks=None, options: dict | None = None,
                 verbose: bool = False) -> dict[str, str]:
    """Run ``checks`` (default: all of ``CHECKS``) on ``method`` (an installed method's name, or a
    method object or class importable as ``module:attribute``) for each of its ``tasks`` (default:
    all it declares) under the folder ``tmp_path``. ``options``: method options of the runs' first
    stage (``{"hidden": 16}``: smaller networks, quicker checks); ``verbose``: each check's outcome
    and time on stderr as it ends."""
    from mlcap.plugins import load_method

    target = None if isinstance(method, str) else _target(method)
    name = method if isinstance(method, str) else method.name
    unknown = sorted(set(checks or ()) - set(CHECKS))
    if unknown:
        raise ValueError(f"check_method: unknown checks {unknown} (known: {', '.join(CHECKS)})")
    data = make_data(Path(tmp_path) / "data")
    report: dict[str, str] = {}
    failures: dict[str, str] = {}
    with _registered(name, target):
        loaded = load_method(name)
        for task in tasks or loaded.tasks:
            ctx = Context(name, loaded, task, Path(tmp_path) / task, data, declared_stages(loaded, task),
                          dict(options or {}))
            ctx.root.mkdir(parents=True, exist_ok=True)
            _run_checks(ctx, checks or list(CHECKS), report, failures, verbose)
    if failures:
        raise MethodCheckError(name, failures)
    return report


def _run_checks(ctx: Context, names: list[str], report: dict, failures: dict, verbose: bool) -> None:
    import sys
    import time

    for check in CHECKS:
        if check not in names:
            continue
        key = f"{ctx.task}/{check}"
        if f"{ctx.task}/stages" in failures:
            report[key] = "not run: the stages failed"
            continue
        start = time.perf_counter()
        failure = _failure_of(CHECKS[check], ctx)
        expected = ctx.xfail.get(check)
        if expected is not None and failure is not None:
            report[key] = f"expected failure: {expected}"
        elif expected is not None:
            report[key] = failures[key] = (f"passed, but the method declares it an expected failure ({expected}); "
                                           "remove it from xfail_checks")
        elif failure is not None:
            report[key] = failures[key] = failure
        else:
            report[key] = "passed"
        if verbose:
            print(f"check_method {ctx.name} {key}: {report[key]} ({time.perf_counter() - start:.1f} s)",
                  file=sys.stderr, flush=True)


def _failure_of(check, ctx: Context) -> str | None:
    """What broke in ``check(ctx)``, or None when it passed."""
    try:
        check(ctx)
    except CheckFailed as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 -- a method's exception is a finding, named with its check
        return f"raised {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    return None
