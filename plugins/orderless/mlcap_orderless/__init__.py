"""Orderless recurrent models (Yazici et al., CVPR 2020): attention LSTM trained with PLA/MLA alignment."""

from mlcap_orderless.method import OrderlessMethod

__all__ = ["OrderlessMethod"]
