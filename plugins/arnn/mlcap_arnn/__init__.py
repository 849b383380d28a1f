"""Attentive RNN (Li et al., ACM MM 2018): recurrent highlight network, REINFORCE emission indicator, gated recurrent relation extractor."""

from mlcap_arnn.method import ARNNMethod

__all__ = ["ARNNMethod"]
