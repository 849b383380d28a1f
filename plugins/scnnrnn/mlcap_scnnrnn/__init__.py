"""Semantic Regularisation CNN-RNN (Liu et al., CVPR 2017): concept CNN, FC(s) initialises a label LSTM."""

from mlcap_scnnrnn.method import ScnnrnnMethod

__all__ = ["ScnnrnnMethod"]
