"""Prepared datasets: the one on-disk format every `mlcap prepare` writes."""

from mlcap.data.prepared import PreparedDataset, Sample, write_prepared

__all__ = ["PreparedDataset", "Sample", "write_prepared"]
