"""`mlcap evaluate --metrics` exposes every definition under its group name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcap.data.prepared import PreparedDataset
from mlcap.errors import MlcapError
from mlcap.evaluation import METRICS, parse_metrics
from mlcap.metrics import classification_metrics, instance_metrics, per_image_average_metrics


def write_predictions(data_dir, path) -> tuple[np.ndarray, np.ndarray]:
    """Predictions that are partly right, partly wrong and partly empty; returns (y_true, y_pred)."""
    data = PreparedDataset(data_dir)
    samples = data.samples("test")
    y_true = np.zeros((len(samples), len(data.labels)), bool)
    y_pred = np.zeros_like(y_true)
    lines = []
    for i, s in enumerate(samples):
        y_true[i, [data.label_index[l] for l in s.labels]] = True
        labels = [] if i % 3 == 0 else s.labels[:1] + ([data.labels[i % len(data.labels)]] if i % 2 else [])
        labels = list(dict.fromkeys(labels))
        y_pred[i, [data.label_index[l] for l in labels]] = True
        lines.append(json.dumps({"id": s.id, "labels": labels}))
    path.write_text("\n".join(lines) + "\n")
    return y_true, y_pred


def test_per_image_group_reports_scnnrnn_overall(mlcap, tiny_data, tmp_path):
    preds = tmp_path / "p.jsonl"
    y_true, y_pred = write_predictions(tiny_data, preds)
    res = mlcap("evaluate", "--data", tiny_data, "--metrics", "per-image,image,f1,instance,nplus", "--json", preds)
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert set(got) == {k for g in ("per-image", "image", "f1", "instance", "nplus") for k in METRICS[g]}
    expected = per_image_average_metrics(y_true, y_pred)
    assert {k: got[k] for k in METRICS["per-image"]} == pytest.approx(expected)
    assert got["PI-F1"] == pytest.approx(2 * got["PI-P"] * got["PI-R"] / (got["PI-P"] + got["PI-R"]))
    assert (got["PI-P"], got["PI-R"], got["PI-F1"]) == pytest.approx((got["Prec"], got["Rec"], got["F1"]))
    assert (got["I-P"], got["I-R"]) == pytest.approx((got["PI-P"], got["PI-R"]))
    assert {k: got[k] for k in METRICS["f1"]} == pytest.approx(classification_metrics(y_true, y_pred))
    assert {k: got[k] for k in METRICS["instance"]} == pytest.approx(instance_metrics(y_true, y_pred))


def test_unknown_metric_lists_every_group():
    with pytest.raises(MlcapError) as err:
        parse_metrics("f1,overall-scnnrnn")
    message = str(err.value)
    assert "unknown metric 'overall-scnnrnn'" in message
    for group in ("f1", "image", "per-image", "instance", "nplus", "map", "ma"):
        assert group in message.split("known: ")[1]
    assert parse_metrics("per-image, f1") == ["per-image", "f1"]


def test_unknown_metric_from_the_command_line(mlcap, tiny_data, tmp_path):
    preds = tmp_path / "p.jsonl"
    write_predictions(tiny_data, preds)
    res = mlcap("evaluate", "--data", tiny_data, "--metrics", "pi", preds)
    assert res.code != 0
    assert "unknown metric 'pi'" in res.err and "per-image" in res.err
