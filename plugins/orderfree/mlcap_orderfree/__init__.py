"""Order-Free RNN with visual attention (Chen et al., AAAI 2018): confidence-ranked LSTM, candidate pool, beam search."""

from mlcap_orderfree.method import OrderFreeMethod

__all__ = ["OrderFreeMethod"]
