"""``orderfree``: Order-Free RNN with visual attention for multi-label classification (Chen et al., AAAI 2018)."""

from mlcap_orderfree.method import OrderFreeMethod

__all__ = ["OrderFreeMethod"]
