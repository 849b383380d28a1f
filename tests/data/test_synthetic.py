"""The embedded synthetic dataset: real files, deterministic, with the designed structure."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
from PIL import Image

from mlcap.data.prepared import PreparedDataset
from mlcap.data.synthetic import LABELS, SCENES, _draw, generate


def digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_deterministic_per_seed(tmp_path):
    generate(tmp_path / "a", images=30, seed=11)
    generate(tmp_path / "b", images=30, seed=11)
    generate(tmp_path / "c", images=30, seed=12)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_real_images_labels_tags_captions(tmp_path):
    generate(tmp_path / "d", images=200, seed=0)
    ds = PreparedDataset(tmp_path / "d")
    assert ds.labels == LABELS and len(ds.labels) == 20
    train = ds.samples("train")
    with Image.open(ds.image_path(train[0])) as im:
        assert im.format == "PNG" and im.size == (64, 64) and im.mode == "RGB"
    for s in train:
        assert s.labels and len(s.captions) == 5
        # every caption's content words are concepts of the image
        mentioned = {w for c in s.captions for w in c.split() if w in LABELS}
        assert mentioned and mentioned <= set(s.labels)
    # noisy tags: mostly right, sometimes wrong, with noise words
    tags = Counter(t for s in train for t in s.tags)
    assert any(t in tags for t in ("nikon", "canon", "vacation"))
    correct = sum(t in s.labels for s in train for t in s.tags if t in LABELS)
    wrong = sum(t not in s.labels for s in train for t in s.tags if t in LABELS)
    assert correct > 5 * wrong > 0


def test_scenes_make_labels_co_occur(tmp_path):
    generate(tmp_path / "d", images=400, seed=1)
    samples = PreparedDataset(tmp_path / "d").samples("train")
    together = lambda a, b: sum(a in s.labels and b in s.labels for s in samples)
    assert together("car", "signal") > 20          # same scene
    assert together("car", "crab") == 0            # never in one scene
    assert together("ball", "orange") == 0         # look-alikes live in different scenes


def test_look_alikes_are_drawn_identically():
    from PIL import ImageDraw

    def render(concept):
        img = Image.new("RGB", (64, 64))
        _draw(ImageDraw.Draw(img), concept, np.random.default_rng(5))
        return np.asarray(img)

    assert np.array_equal(render("ball"), render("orange"))
    assert np.array_equal(render("frisbee"), render("plate"))
    assert not np.array_equal(render("ball"), render("frisbee"))
    assert {"ball", "frisbee"} <= set(SCENES["beach"]["probs"])
