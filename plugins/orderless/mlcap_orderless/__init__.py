"""``orderless``: Orderless recurrent models for multi-label classification (Yazici et al., CVPR 2020)."""

from mlcap_orderless.method import OrderlessMethod

__all__ = ["OrderlessMethod"]
