"""Recurrent Image Annotator (Jin & Nakayama, 2016): the image feature sets the label LSTM's state."""

from mlcap_ria.method import RiaMethod

__all__ = ["RiaMethod"]
