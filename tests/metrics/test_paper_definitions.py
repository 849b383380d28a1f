"""Each metric definition against values computed by hand, with the paper it matches.

The shared case: 4 images, labels a b c d (columns 0..3).

    image  truth    predicted   |y∩ŷ|  |ŷ|  |y|   P     R    own F1  |y∪ŷ|
    1      {a,b}    {a,c}         1     2    2   1/2   1/2   1/2      3
    2      {a,c}    {a,c,d}       2     3    2   2/3    1    4/5      3
    3      {b}      {}            0     0    1    0     0     0       1    (nothing predicted: P = 0)
    4      {c}      {b,c}         1     2    1   1/2    1    2/3      2

    class  true in   predicted in  TP   P     R
    a      1,2       1,2           2    1     1
    b      1,3       4             0    0     0
    c      2,4       1,2,4         2   2/3    1
    d      -         2             0    -     -    (no ground-truth positive: left out)
"""

from __future__ import annotations

import numpy as np
import pytest

from mlcap.metrics import (classification_metrics, instance_metrics, n_plus, per_image_average_metrics,
                           per_image_metrics)
from mlcap.metrics.multilabel import _f1

A, B, C, D = range(4)


def sets_to_array(rows: list[set[int]], k: int = 4) -> np.ndarray:
    out = np.zeros((len(rows), k), bool)
    for i, row in enumerate(rows):
        out[i, list(row)] = True
    return out


Y_TRUE = sets_to_array([{A, B}, {A, C}, {B}, {C}])
Y_PRED = sets_to_array([{A, C}, {A, C, D}, set(), {B, C}])


def test_scnnrnn_overall_is_the_f1_of_the_per_image_averages():
    # S-CNN-RNN Sec. 4.2: O-P/O-R = the average over images of |y∩ŷ|/|ŷ| and |y∩ŷ|/|y|, F1 = their harmonic mean.
    # PI-P = (1/2 + 2/3 + 0 + 1/2) / 4 = 5/12;  PI-R = (1/2 + 1 + 0 + 1) / 4 = 5/8
    # PI-F1 = 2 (5/12)(5/8) / (5/12 + 5/8) = (25/48) / (25/24) = 1/2
    got = per_image_average_metrics(Y_TRUE, Y_PRED)
    assert got == pytest.approx({"PI-P": 5 / 12, "PI-R": 5 / 8, "PI-F1": 1 / 2})


def test_image_group_averages_each_images_f1_and_so_differs_from_pi_f1():
    # I-P = PI-P, I-R = PI-R, but I-F1 = (1/2 + 4/5 + 0 + 2/3) / 4 = (15 + 24 + 20) / 30 / 4 = 59/120
    got = per_image_metrics(Y_TRUE, Y_PRED)
    assert got == pytest.approx({"I-P": 5 / 12, "I-R": 5 / 8, "I-F1": 59 / 120})
    assert got["I-F1"] != pytest.approx(per_image_average_metrics(Y_TRUE, Y_PRED)["PI-F1"])


def test_per_class_averages_skip_classes_without_positives_and_f1_comes_from_the_averages():
    # ARNN P_L/R_L/F_L (after TagProp), Orderless per-class: over classes a, b, c (d has no positive)
    # C-P = (1 + 0 + 2/3) / 3 = 5/9;  C-R = (1 + 0 + 1) / 3 = 2/3
    # C-F1 = 2 (5/9)(2/3) / (5/9 + 2/3) = (20/27) / (11/9) = 20/33
    got = classification_metrics(Y_TRUE, Y_PRED)
    assert got["C-P"] == pytest.approx(5 / 9)
    assert got["C-R"] == pytest.approx(2 / 3)
    assert got["C-F1"] == pytest.approx(20 / 33)
    # (with d averaged in as 0, as scikit-learn's macro over all columns would: C-P = 5/12, C-R = 1/2)
    assert got["C-P"] != pytest.approx(5 / 12)


def test_overall_micro_pools_all_decisions():
    # Orderless "overall": ΣTP = 1 + 2 + 0 + 1 = 4, Σ|ŷ| = 2 + 3 + 0 + 2 = 7, Σ|y| = 2 + 2 + 1 + 1 = 6
    # O-P = 4/7, O-R = 4/6 = 2/3, O-F1 = 2·4 / (7 + 6) = 8/13
    got = classification_metrics(Y_TRUE, Y_PRED)
    assert got["O-P"] == pytest.approx(4 / 7)
    assert got["O-R"] == pytest.approx(2 / 3)
    assert got["O-F1"] == pytest.approx(8 / 13)


def test_n_plus_counts_labels_with_non_zero_recall():
    # ARNN Table 3 (TagProp's N+): a and c have a true positive; b is predicted but never right; d has no
    # ground-truth positive, so no recall, and is not counted
    assert n_plus(Y_TRUE, Y_PRED) == 2
    assert n_plus(Y_TRUE, Y_TRUE) == 3          # at most the labels present, never d


def test_example_based_metrics_of_pa100k():
    # Orderless Table 7 (PA-100K), example-based:
    # Acc = (1/3 + 2/3 + 0/1 + 1/2) / 4 = 3/8;  Prec = 5/12;  Rec = 5/8;  F1 = 2·Prec·Rec/(Prec+Rec) = 1/2
    got = instance_metrics(Y_TRUE, Y_PRED)
    assert got == pytest.approx({"Acc": 3 / 8, "Prec": 5 / 12, "Rec": 5 / 8, "F1": 1 / 2})


def test_images_with_an_empty_side_count_zero():
    # image 1: truth {a}, predicted {a} -> P = R = 1
    # image 2: truth {b}, predicted {}  -> P = 0 (no prediction), R = 0
    # image 3: truth {},  predicted {a} -> P = 0, R = 0 (no ground truth)
    # image 4: truth {},  predicted {}  -> P = R = 0, Acc = 0; still counted, N = 4
    y_true = sets_to_array([{A}, {B}, set(), set()], 2)
    y_pred = sets_to_array([{A}, set(), {A}, set()], 2)
    assert per_image_average_metrics(y_true, y_pred) == pytest.approx({"PI-P": 1 / 4, "PI-R": 1 / 4, "PI-F1": 1 / 4})
    assert instance_metrics(y_true, y_pred)["Acc"] == pytest.approx(1 / 4)
    # per class: a has P = 1/2 (predicted in 1, 3), R = 1; b is never predicted: P = 0, R = 0
    got = classification_metrics(y_true, y_pred)
    assert (got["C-P"], got["C-R"]) == pytest.approx((1 / 4, 1 / 2))


@pytest.mark.parametrize("p, r, f, digits", [
    (70.57, 71.35, 70.96, 2),   # S-CNN-RNN Table 1, Ours: O-P, O-R, O-F1 (per-image averages)
    (71.73, 61.73, 66.36, 2),   # S-CNN-RNN Table 1, Ours+Tag1K: C-P, C-R, C-F1
    (72.67, 66.89, 69.66, 2),   # Orderless Table 2, PLA: O-P, O-R, O-F1 (micro); a geometric mean gives 69.72
    (68.66, 60.54, 64.34, 2),   # Orderless Table 2, PLA: C-P, C-R, C-F1
    (88.50, 86.67, 87.58, 2),   # Orderless Table 7, PLA on PA-100K: Precision, Recall, F1
    (44.2, 49.3, 46.6, 1),      # ARNN Table 1, Ours: P_L, R_L, F_L
    (51.3, 37.8, 43.5, 1),      # ARNN Table 3, Ours: P_L, R_L, F_L
])
def test_papers_f1_is_the_harmonic_mean_of_their_reported_averages(p, r, f, digits):
    # every F1 the three papers print is 2PR/(P+R) of the P and R printed beside it, rounded as printed
    assert round(_f1(p, r), digits) == f
