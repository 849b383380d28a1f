"""mlcap: CNN-RNN image annotation from the shell."""

__version__ = "0.1.0"
