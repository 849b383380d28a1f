"""Every installed method, and an out-of-tree plugin, keeps every guarantee of
``mlcap.testing.check_method``; each deliberately broken copy of the plugin fails it, and the
failure names the guarantee it broke."""

from __future__ import annotations

import pytest

from mlcap.plugins import method_names
from mlcap.testing import CHECKS, MethodCheckError, check_method

pytestmark = pytest.mark.slow


#: Small networks for the built-in methods (the checks test plumbing, not accuracy).
SMALL = {
    "arnn": {"dim": 16, "context_width": 4, "glimpses": 4},
    "cnnrnn": {"hidden": 16, "embed_dim": 8},
    "orderfree": {"hidden": 16, "pred_hidden": 8, "attention_dim": 8},
    "orderless": {"hidden": 16, "embed_dim": 8, "attention": 8},
    "ria": {"hidden": 16, "embed_dim": 8},
    "scnnrnn": {"hidden": 16, "embed_dim": 8},
}


#: The checks a built-in method declares it fails (its ``xfail_checks``, with the reason): a new
#: declaration must be added here too, so that none comes in unseen.
EXPECTED_FAILURES = {"orderless": {"multilabel/ranks"}}


@pytest.mark.parametrize("name", method_names())
def test_every_installed_method_keeps_every_guarantee(name, tmp_path):
    report = check_method(name, tmp_path, options=SMALL.get(name))
    assert {key.split("/")[1] for key in report} == set(CHECKS)
    expected = {key for key, outcome in report.items() if outcome.startswith("expected failure: ")}
    assert expected == EXPECTED_FAILURES.get(name, set()), report
    assert {outcome for key, outcome in report.items() if key not in expected} == {"passed"}, report


def test_an_out_of_tree_plugin_keeps_every_guarantee(toy_plugin, tmp_path):
    assert "toy" in method_names()
    report = check_method("toy", tmp_path)
    assert list(report) == [f"multilabel/{check}" for check in CHECKS]
    assert set(report.values()) == {"passed"}


def test_a_method_object_is_checked_without_being_installed(toy_plugin, tmp_path):
    from mlcap_toy.broken import ReadsIds

    class Local(ReadsIds):
        name = "local"

    with pytest.raises(ValueError, match="must be importable"):
        check_method(Local(), tmp_path)
    with pytest.raises(MethodCheckError, match="images: predict --images and predict --split differ"):
        check_method(ReadsIds(), tmp_path, checks=["stages", "images"])


#: Each broken copy of the toy method, the guarantee it breaks, and words of the failure.
BROKEN = [
    ("toy-bad-rows", "stages", "predict gave 5 sequences and scores of shape (5, 20) for a batch of 6 images"),
    ("toy-reads-ids", "images", "predict --images and predict --split differ"),
    ("toy-pickled", "weights_only", "its model's state holds a Opaque at '_extra_state'; checkpoints hold tensors"),
    ("toy-ignores-threshold", "threshold", "the threshold is not used"),
    ("toy-bad-attention", "attention", "one per label"),
    ("toy-bad-export", "export", "exported scores differ from predict's"),
    ("toy-needs-images", "features", "raised TypeError"),
    ("toy-unused-option", "later_options", "option temperature=0.5 given at finetune changed nothing"),
    ("toy-counts-calls", "resume", "killed and resumed"),
    ("toy-global-dropout", "ranks", "1 and 2 ranks"),
]


@pytest.mark.parametrize("name, check, words", BROKEN, ids=[f"{n}-{c}" for n, c, _ in BROKEN])
def test_a_broken_method_fails_naming_what_broke(toy_plugin, tmp_path, name, check, words):
    with pytest.raises(MethodCheckError) as caught:
        check_method(name, tmp_path, checks=[check])
    assert list(caught.value.failures) == [f"multilabel/{check}"], str(caught.value)
    assert words in caught.value.failures[f"multilabel/{check}"], str(caught.value)
    assert f"multilabel/{check}: " in str(caught.value)


def test_the_broken_copies_cover_every_check_a_method_can_break():
    """Two checks guard mlcap's own code, which no method hook can make fail: loader workers run
    only mlcap's reading, decoding and collating (``workers``), and the Python API and the CLI run
    the same Predictor on the same batches (``api``). Every other check has its broken copy."""
    assert {check for _, check, _ in BROKEN} == set(CHECKS) - {"workers", "api"}
