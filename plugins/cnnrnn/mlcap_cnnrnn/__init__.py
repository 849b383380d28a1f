"""CNN-RNN (Wang et al., CVPR 2016) as an mlcap method."""

from mlcap_cnnrnn.method import CnnRnnMethod

__all__ = ["CnnRnnMethod"]
