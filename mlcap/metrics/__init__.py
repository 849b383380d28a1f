"""Multi-label metrics (definitions in docs/metrics.md)."""

from mlcap.metrics.multilabel import (
    average_precision,
    classification_metrics,
    duplicate_ratio,
    instance_metrics,
    mean_accuracy,
    mean_average_precision,
    n_plus,
    per_image_average_metrics,
    per_image_metrics,
    top_k_mask,
)

__all__ = ["average_precision", "classification_metrics", "duplicate_ratio", "instance_metrics", "mean_accuracy",
           "mean_average_precision",
           "n_plus", "per_image_average_metrics", "per_image_metrics", "top_k_mask"]
