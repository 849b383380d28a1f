"""Everything that uses a trained run (a workflow: the toolkit, data, models and metrics never
import it).

    predictor       ``Predictor`` and ``load_run`` (the Python API), ``load_trained``: a run's
                    model on a device, and its prediction records
    records         `mlcap predict`'s records of a prepared split (images or cached features,
                    under torchrun too) or of image files
    export          `mlcap export`: the model as TorchScript or ONNX
    attention_maps  `mlcap predict --attention DIR`: the PNGs of where the model looked

Importing this package imports torch; ``mlcap.load_run`` and ``mlcap.Predictor`` import it on
first use.
"""

from mlcap.inference.predictor import Predictor, load_run, load_trained

__all__ = ["Predictor", "load_run", "load_trained"]
