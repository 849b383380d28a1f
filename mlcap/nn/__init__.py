"""Small reusable network parts (no method-specific logic)."""

from mlcap.nn.lstm import LSTMCell, run_lstm

__all__ = ["LSTMCell", "run_lstm"]
