"""``arnn``: the attentive recurrent neural network for multi-label classification (Li et al., ACM MM 2018)."""

from mlcap_arnn.method import ARNNMethod

__all__ = ["ARNNMethod"]
