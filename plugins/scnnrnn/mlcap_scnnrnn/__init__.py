"""``scnnrnn``: Semantic Regularisation for recurrent image annotation (Liu et al., CVPR 2017)."""

from mlcap_scnnrnn.method import ScnnrnnMethod

__all__ = ["ScnnrnnMethod"]
