"""mlcap: CNN-RNN image annotation from the shell, and from Python:

    import mlcap
    run = mlcap.load_run("runs/s")                 # the latest complete stage, its best weights
    records = run.predict(["a.jpg", pil_image, tensor])   # the records `mlcap predict` prints
    mlcap.evaluate(records, "data", metrics=["f1", "map"], split="test")   # the metrics dict

``load_run`` and ``Predictor`` are ``mlcap.inference``'s, ``evaluate`` is
``mlcap.evaluation.evaluate_predictions``: each is imported on first use (they need torch or
numpy), so that ``mlcap --help`` stays fast.
"""

from typing import TYPE_CHECKING

from mlcap.errors import MlcapError

__version__ = "0.2.0"
__all__ = ["MlcapError", "Predictor", "evaluate", "load_run", "__version__"]

if TYPE_CHECKING:       # what type checkers and editors see; at run time, __getattr__ below
    from mlcap.evaluation import evaluate_predictions as evaluate
    from mlcap.inference import Predictor, load_run


def __getattr__(name: str):
    if name in ("Predictor", "load_run"):
        import mlcap.inference as inference

        value = getattr(inference, name)
    elif name == "evaluate":
        from mlcap.evaluation import evaluate_predictions as value
    else:
        raise AttributeError(f"module 'mlcap' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
