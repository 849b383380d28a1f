"""The embedded synthetic dataset: real PNG files, generated in seconds, deterministic per seed.

Design (see docs/datasets.md, "The synthetic dataset"):

* Four scene types (beach, street, forest, kitchen) with their own background.
  Each scene draws its 20-concept label set from its own Bernoulli table, so
  labels co-occur strongly within a scene and rarely across scenes.
* Look-alike pairs: ``ball``/``orange`` (an orange disc) and ``frisbee``/``plate``
  (a white ellipse) are drawn identically; only the scene (context) tells them apart.
* Sizes range from large (``sea``, ``table``, ``tree``) to a few pixels (``crab``,
  ``knife``, ``bird``), so the small-object regime shows up in per-class recall.
* Noisy user tags: a present concept is tagged with probability 0.7 (sometimes by
  a synonym), the scene word with 0.6, plus camera/holiday noise words and, in
  10% of images, a wrong concept word -- the side information S-CNN-RNN uses.
* Five templated captions per image whose content words are the concepts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mlcap.data.prepared import Sample, write_prepared

SIZE = 64

SCENES: dict[str, dict] = {
    "beach": {"probs": {"sea": 0.8, "sun": 0.55, "ball": 0.45, "boat": 0.4, "umbrella": 0.45,
                        "crab": 0.35, "frisbee": 0.35, "person": 0.5, "bird": 0.3}},
    "street": {"probs": {"car": 0.75, "signal": 0.55, "person": 0.7, "dog": 0.35, "bird": 0.2}},
    "forest": {"probs": {"tree": 0.85, "deer": 0.45, "mushroom": 0.5, "bird": 0.5, "dog": 0.25, "sun": 0.2}},
    "kitchen": {"probs": {"table": 0.8, "orange": 0.5, "plate": 0.55, "cup": 0.55, "knife": 0.45,
                          "person": 0.25}},
}

LABELS = ["sea", "sun", "ball", "boat", "umbrella", "crab", "frisbee", "person", "bird", "car",
          "signal", "dog", "tree", "deer", "mushroom", "table", "orange", "plate", "cup", "knife"]

# drawing order: large things first so that small ones stay visible
DRAW_ORDER = ["sea", "table", "tree", "sun", "boat", "umbrella", "car", "deer", "person", "dog",
              "ball", "orange", "frisbee", "plate", "cup", "mushroom", "signal", "crab", "bird", "knife"]

SYNONYMS = {"sea": ["ocean", "water"], "person": ["people", "man", "woman"], "car": ["auto"],
            "tree": ["trees", "woods"], "bird": ["birds"], "dog": ["puppy"], "signal": ["trafficlight"]}
SCENE_TAGS = {"beach": "beach", "street": "city", "forest": "nature", "kitchen": "food"}
NOISE_TAGS = ["nikon", "canon", "2008", "2009", "vacation", "summer", "friends", "family", "travel",
              "explore", "photo", "bw", "flickr", "holiday"]
TAGS = sorted(set(LABELS) | {s for v in SYNONYMS.values() for s in v} | set(SCENE_TAGS.values())
              | set(NOISE_TAGS))

SCENE_WORDS = {"beach": "beach", "street": "street", "forest": "forest", "kitchen": "kitchen"}
TEMPLATES = [
    "a photo of a {scene} with {things}",
    "there is {things} in the {scene}",
    "{things} in a {scene}",
    "a {scene} scene showing {things}",
    "a view of {things}",
]


def _background(scene: str, rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE))
    d = ImageDraw.Draw(img)
    j = lambda c: tuple(int(np.clip(v + rng.integers(-12, 13), 0, 255)) for v in c)
    if scene == "beach":
        horizon = int(rng.integers(24, 34))
        d.rectangle([0, 0, SIZE, horizon], fill=j((140, 195, 235)))
        d.rectangle([0, horizon, SIZE, SIZE], fill=j((230, 210, 150)))
    elif scene == "street":
        d.rectangle([0, 0, SIZE, SIZE], fill=j((120, 120, 125)))
        top = int(rng.integers(36, 46))
        d.rectangle([0, top, SIZE, SIZE], fill=j((70, 70, 72)))
    elif scene == "forest":
        d.rectangle([0, 0, SIZE, SIZE], fill=j((45, 95, 50)))
        d.rectangle([0, int(rng.integers(44, 52)), SIZE, SIZE], fill=j((90, 70, 40)))
    else:  # kitchen: beige tiles
        base = j((225, 215, 190))
        d.rectangle([0, 0, SIZE, SIZE], fill=base)
        step = int(rng.integers(10, 14))
        for x in range(0, SIZE, step):
            d.line([x, 0, x, SIZE], fill=(200, 190, 170))
        for y in range(0, SIZE, step):
            d.line([0, y, SIZE, y], fill=(200, 190, 170))
    return img


def _draw(d: ImageDraw.ImageDraw, concept: str, rng: np.random.Generator) -> None:
    r = lambda lo, hi: int(rng.integers(lo, hi + 1))
    x, y = r(6, SIZE - 7), r(6, SIZE - 7)
    s = float(rng.uniform(0.8, 1.25))  # size jitter
    k = lambda v: max(1, int(round(v * s)))
    if not _draw_scene_part(d, concept, x, y, r, k):
        _draw_object(d, concept, x, y, k)


def _draw_scene_part(d: ImageDraw.ImageDraw, concept: str, x: int, y: int, r, k) -> bool:
    """The large parts of a scene (and the boat and umbrella); False for another concept."""
    if concept == "sea":
        top = r(30, 42)
        d.rectangle([0, top, SIZE, top + k(14)], fill=(30, 80, 170))
    elif concept == "table":
        top = r(36, 46)
        d.rectangle([0, top, SIZE, SIZE], fill=(140, 90, 45))
    elif concept == "tree":
        h = k(26)
        d.polygon([(x, y - h // 2), (x - k(10), y + h // 2), (x + k(10), y + h // 2)], fill=(70, 170, 60))
        d.rectangle([x - 1, y + h // 2, x + 1, y + h // 2 + 5], fill=(100, 60, 30))
    elif concept == "sun":
        y = r(5, 18)
        d.ellipse([x - k(7), y - k(7), x + k(7), y + k(7)], fill=(250, 230, 60))
    elif concept == "boat":
        d.polygon([(x - k(9), y), (x + k(9), y), (x + k(6), y + k(5)), (x - k(6), y + k(5))], fill=(120, 70, 30))
        d.line([x, y, x, y - k(9)], fill=(240, 240, 240), width=2)
    elif concept == "umbrella":
        d.pieslice([x - k(9), y - k(7), x + k(9), y + k(7)], 180, 360, fill=(220, 40, 60))
        d.line([x, y, x, y + k(9)], fill=(60, 60, 60), width=1)
    else:
        return False
    return True


def _draw_object(d: ImageDraw.ImageDraw, concept: str, x: int, y: int, k) -> None:
    """The smaller objects (no random draw of their own)."""
    if concept == "car":
        d.rectangle([x - k(8), y - k(3), x + k(8), y + k(3)], fill=(40, 90, 220))
        d.ellipse([x - k(6), y + k(2), x - k(3), y + k(5)], fill=(10, 10, 10))
        d.ellipse([x + k(3), y + k(2), x + k(6), y + k(5)], fill=(10, 10, 10))
    elif concept == "deer":
        d.rectangle([x - k(6), y - k(3), x + k(6), y + k(2)], fill=(185, 135, 80))
        d.rectangle([x + k(5), y - k(7), x + k(8), y - k(3)], fill=(185, 135, 80))
        for lx in (x - k(5), x + k(4)):
            d.line([lx, y + k(2), lx, y + k(7)], fill=(120, 80, 40), width=1)
    elif concept == "person":
        d.ellipse([x - k(2), y - k(9), x + k(2), y - k(5)], fill=(240, 200, 170))
        d.rectangle([x - k(2), y - k(5), x + k(2), y + k(4)], fill=(200, 40, 160))
        d.line([x - 1, y + k(4), x - 1, y + k(8)], fill=(30, 30, 60))
        d.line([x + 1, y + k(4), x + 1, y + k(8)], fill=(30, 30, 60))
    elif concept == "dog":
        d.rectangle([x - k(5), y - k(2), x + k(4), y + k(2)], fill=(110, 70, 35))
        d.rectangle([x + k(3), y - k(5), x + k(6), y - k(1)], fill=(110, 70, 35))
        d.line([x - k(4), y + k(2), x - k(4), y + k(5)], fill=(70, 40, 20))
        d.line([x + k(3), y + k(2), x + k(3), y + k(5)], fill=(70, 40, 20))
    elif concept in ("ball", "orange"):  # look-alikes: told apart by the scene only
        d.ellipse([x - k(4), y - k(4), x + k(4), y + k(4)], fill=(250, 140, 20))
    elif concept in ("frisbee", "plate"):  # look-alikes
        d.ellipse([x - k(6), y - k(2), x + k(6), y + k(2)], fill=(250, 250, 250))
    elif concept == "cup":
        d.rectangle([x - k(2), y - k(3), x + k(2), y + k(3)], fill=(60, 170, 200))
        d.rectangle([x + k(2), y - 1, x + k(4), y + 1], fill=(60, 170, 200))
    elif concept == "mushroom":
        d.pieslice([x - k(4), y - k(4), x + k(4), y + k(3)], 180, 360, fill=(230, 30, 30))
        d.rectangle([x - 1, y, x + 1, y + k(4)], fill=(245, 245, 230))
    elif concept == "signal":
        d.rectangle([x - k(2), y - k(5), x + k(2), y + k(5)], fill=(20, 20, 20))
        d.ellipse([x - 1, y - k(4), x + 1, y - k(2)], fill=(250, 30, 30))
        d.ellipse([x - 1, y + k(2), x + 1, y + k(4)], fill=(30, 230, 60))
    elif concept == "crab":
        d.rectangle([x - k(2), y - k(2), x + k(2), y + k(1)], fill=(210, 50, 30))
        d.point([(x - k(3), y - k(3)), (x + k(3), y - k(3))], fill=(210, 50, 30))
    elif concept == "bird":
        d.line([x - k(3), y - k(2), x, y], fill=(15, 15, 15), width=1)
        d.line([x, y, x + k(3), y - k(2)], fill=(15, 15, 15), width=1)
    elif concept == "knife":
        d.line([x - k(6), y, x + k(6), y], fill=(170, 170, 180), width=2)
        d.line([x - k(6), y, x - k(3), y], fill=(60, 40, 20), width=2)
    else:  # pragma: no cover - every label is drawn above
        raise ValueError(concept)


def _tags(scene: str, labels: list[str], rng: np.random.Generator) -> list[str]:
    tags = set()
    for label in labels:
        if rng.random() < 0.7:
            options = [label] + SYNONYMS.get(label, [])
            tags.add(options[int(rng.integers(len(options)))] if rng.random() < 0.3 else label)
    if rng.random() < 0.6:
        tags.add(SCENE_TAGS[scene])
    for _ in range(int(rng.poisson(1.5))):
        tags.add(NOISE_TAGS[int(rng.integers(len(NOISE_TAGS)))])
    if rng.random() < 0.1:
        tags.add(LABELS[int(rng.integers(len(LABELS)))])
    return sorted(tags)


def _captions(scene: str, labels: list[str], rng: np.random.Generator) -> list[str]:
    captions = []
    for template in TEMPLATES:
        n = min(len(labels), int(rng.integers(1, 4)))
        chosen = [labels[i] for i in rng.permutation(len(labels))[:n]]
        words = [("the " if c in ("sea", "sun") else "an " if c[0] in "aeiou" else "a ") + c for c in chosen]
        things = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
        captions.append(template.format(scene=SCENE_WORDS[scene], things=things))
    return captions


def render_sample(rng: np.random.Generator) -> tuple[Image.Image, str, list[str]]:
    """One image: its scene, and its labels in ``LABELS`` order."""
    scene = list(SCENES)[int(rng.integers(len(SCENES)))]
    probs = SCENES[scene]["probs"]
    present = [c for c in probs if rng.random() < probs[c]]
    if not present:
        present = [max(probs, key=probs.get)]
    img = _background(scene, rng)
    d = ImageDraw.Draw(img)
    for concept in DRAW_ORDER:
        if concept in present:
            copies = 2 if concept in ("bird", "person", "cup") and rng.random() < 0.3 else 1
            for _ in range(copies):
                _draw(d, concept, rng)
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (SIZE, SIZE, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return img, scene, [l for l in LABELS if l in present]


def generate(out: Path, images: int = 2000, seed: int = 0,
             fractions: tuple[float, float, float] = (0.7, 0.1, 0.2), progress=None) -> dict:
    """Write ``images`` PNG files and the prepared format under ``out``."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_train = int(round(images * fractions[0]))
    n_val = int(round(images * fractions[1]))
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for i in range(images):
        img, scene, labels = render_sample(rng)
        rel = f"images/{i:06d}.png"
        img.save(out / rel, format="PNG")
        split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
        splits[split].append(Sample(id=f"{i:06d}", image=rel, labels=labels,
                                    tags=_tags(scene, labels, rng), captions=_captions(scene, labels, rng)))
        if progress:
            progress()
    return write_prepared(out, "synthetic", LABELS, splits, tags=TAGS,
                          extra={"generator": {"seed": seed, "images": images}})
