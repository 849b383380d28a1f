"""Caption metrics equal pycocoevalcap's own scorers on the official captions_val2017.json."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import pytest

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need java")


@pytest.mark.slow
@needs_java
def test_cli_equals_pycocoevalcap_scorers(shared_data, tmp_path, mlcap):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    path = shared_data("coco", "captions_val2017.json")
    doc = json.loads(path.read_text())
    assert len(doc["images"]) == 5000 and len(doc["annotations"]) == 25_014
    by_image = defaultdict(list)
    for a in doc["annotations"]:
        by_image[a["image_id"]].append(a)
    chosen = sorted(by_image)[:250]   # METEOR's Java scorer is slow: a subset keeps the test short
    # results built from the file's own captions: each image's first caption is the candidate,
    # scored against the file's references for that image (the candidate removed from them)
    results = [{"image_id": i, "caption": by_image[i][0]["caption"]} for i in chosen]
    refs_doc = {"images": [{"id": i} for i in chosen],
                "annotations": [a for i in chosen for a in by_image[i][1:]]}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "refs.json").write_text(json.dumps(refs_doc))
    res = mlcap("evaluate", "--coco-captions", tmp_path / "refs.json", "--metrics", "bleu,meteor,rouge,cider,spice",
                "--json", tmp_path / "results.json")
    assert res.code == 0, res.err
    ours = json.loads(res.out)
    assert "SPICE" in ours or "SPICE not computed" in res.err

    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": a["caption"]} for a in by_image[i][1:]] for i in chosen})
    hyp = tok.tokenize({i: [{"caption": by_image[i][0]["caption"]}] for i in chosen})
    bleu, _ = Bleu(4).compute_score(gts, hyp, verbose=0)
    assert [ours[f"BLEU-{n}"] for n in range(1, 5)] == pytest.approx(bleu, abs=1e-12)
    assert ours["METEOR"] == pytest.approx(Meteor().compute_score(gts, hyp)[0], abs=1e-12)
    assert ours["ROUGE-L"] == pytest.approx(Rouge().compute_score(gts, hyp)[0], abs=1e-12)
    assert ours["CIDEr"] == pytest.approx(Cider().compute_score(gts, hyp)[0], abs=1e-12)
    assert 0.3 < ours["CIDEr"] < 2.0       # a human caption against the other four humans


@needs_java
def test_caption_predictions_jsonl_and_errors(tmp_path, mlcap):
    refs = {"images": [{"id": 1}, {"id": 2}], "annotations": [
        {"image_id": 1, "id": 1, "caption": "a dog on a beach"}, {"image_id": 1, "id": 2, "caption": "a dog runs"},
        {"image_id": 2, "id": 3, "caption": "a red car in a street"}]}
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": 1, "caption": "a dog on a beach"}\n{"id": 2, "caption": "a red car"}\n')
    res = mlcap("evaluate", "--coco-captions", tmp_path / "refs.json", "--metrics", "bleu,cider", "--json", preds)
    assert res.code == 0, res.err
    assert json.loads(res.out)["BLEU-1"] > 0.5
    preds.write_text('{"id": 1, "caption": "a dog"}\n{"id": 1, "caption": "again"}\n')
    res = mlcap("evaluate", "--coco-captions", tmp_path / "refs.json", "--metrics", "cider", preds)
    assert res.code == 2 and f"{preds}:2" in res.err


def test_missing_java_is_a_one_line_error(tmp_path, mlcap, monkeypatch):
    import mlcap.metrics.captions as captions

    monkeypatch.setattr(captions.shutil, "which", lambda name: None)
    (tmp_path / "refs.json").write_text(json.dumps({"annotations": [{"image_id": 1, "caption": "a dog"}]}))
    (tmp_path / "p.jsonl").write_text('{"id": 1, "caption": "a dog"}\n')
    res = mlcap("evaluate", "--coco-captions", tmp_path / "refs.json", "--metrics", "cider", tmp_path / "p.jsonl")
    assert res.code == 2 and "`java` was not found" in res.err and "Traceback" not in res.err
