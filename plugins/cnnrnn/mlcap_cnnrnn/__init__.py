"""CNN-RNN (Wang et al., CVPR 2016): joint label-embedding space, output fusion, beam search."""

from mlcap_cnnrnn.method import CnnRnnMethod

__all__ = ["CnnRnnMethod"]
