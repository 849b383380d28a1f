"""Images + labels to ``Batch``es for training and prediction.

Unreadable images are not fatal: they are dropped from their batch, counted,
and reported by the caller at the end (``SkipLog``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from mlcap import seeding
from mlcap.data.decode import decode_file, fit_image, is_jpeg, open_image
from mlcap.data.device_decode import EncodedImage, read_checked_jpeg
from mlcap.data.image_batch import PendingImages, stack_pixels
from mlcap.data.pipeline import loader_settings
from mlcap.data.prepared import PreparedDataset, Sample
from mlcap.data.sample_keys import Seeded, restrict, split_key
from mlcap.data.words import tokenize
from mlcap.contract_data import PAD, Batch


@dataclass
class SkipLog:
    """Images that could not be read, with the first reasons."""

    examples: list[str] = field(default_factory=list)
    seen: set = field(default_factory=set)       # distinct reasons: an image skipped every epoch counts once
    events: int = 0                              # every skip, epochs included (a stage's per-epoch check)

    @property
    def count(self) -> int:
        return len(self.seen)

    def add(self, reasons: list[str]) -> None:
        self.events += len(reasons)
        fresh = [r for r in reasons if r not in self.seen]
        self.seen.update(fresh)
        self.examples.extend(fresh[: max(0, 3 - len(self.examples))])

    def summary(self) -> str | None:
        if not self.count:
            return None
        return f"skipped {self.count} unreadable image(s); first: " + "; ".join(self.examples)


def augmentation():
    """``--augment``: the orderless seed's "random affine transformations and contrast changes"
    (its Sec. 4.1, "Network training"). The paper gives no magnitudes; these are its authors'
    released code's: translate up to 3% of the side, contrast factor in [0.75, 1.25], and a
    horizontal flip (p = 0.5)."""
    from torchvision import transforms

    return transforms.Compose([transforms.RandomAffine(degrees=0, translate=(0.03, 0.03)),
                               transforms.ColorJitter(contrast=0.25), transforms.RandomHorizontalFlip()])


def load_image(data: PreparedDataset, sample: Sample, size: int) -> Image.Image:
    """The image as the model sees it before normalisation: RGB, cropped to ``sample.box``,
    resized to size x size (errors: see ``open_image``)."""
    return fit_image(open_image(data.image_path(sample)), size, sample.box)


def to_tensor(im: Image.Image) -> torch.Tensor:
    """(3, H, W) float in [0, 1], contiguous (see ``pixels_of``)."""
    return torch.from_numpy(pixels_of(np.asarray(im, dtype=np.uint8)))


def pixels_of(rgb: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 to (3, H, W) float32 in [0, 1], then ``(x - mean) / std`` when given
    ((3, 1, 1) float32): the same IEEE operations as torch's, bit for bit. In numpy, and made
    contiguous before any arithmetic, because (benchmarks/throughput.py) a permuted float tensor
    runs every op and the batch's ``torch.stack`` with an inner loop of 3, and torch spreads each
    op of a 224-px image over its threads, which costs a scheduler time slice per op when another
    process holds the cores (35 images/s instead of about 1,000 on 2 busy cores)."""
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
    x /= np.float32(255.0)
    if mean is not None:
        x -= mean
        x /= std
    return x


class ImageLabelDataset(Dataset):
    """Items carry ``"pixels"``, the image as (H, W, 3) uint8 (``Collate`` and ``batch_to_device``
    normalise the batch); ``images=False``: items without pixels, no file opened (a stage whose loss never looks
    at the images, see ``Method.stage_inputs`` in mlcap/protocol.py); batches have ``images=None``."""

    def __init__(self, data: PreparedDataset, samples: list[Sample], image_size: int,
                 augment: bool = False, images: bool = True, cache=None, decode: str = "pil"):
        self.data, self.samples, self.image_size = data, samples, image_size
        self.decode = decode                        # "pil", "torchvision" or "gpu" (mlcap/data/decode.py)
        self.images, self.cache = images, cache     # cache: a DecodedImages (mlcap/data/image_cache.py)
        self.augment = augmentation() if augment else None
        self.num_labels, self.num_tags = len(data.labels), len(data.tags)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key):
        """``key``: an index, or ``(index, epoch_seed)`` (training: the item carries its ``"seed"``)."""
        i, seed = split_key(key, self.samples)
        sample = self.samples[i]
        if not self.images:
            return self._labels_of(sample, seed)
        path = self.data.image_path(sample)
        try:
            if self.decode == "gpu" and self._on_device(sample):
                return {**self._labels_of(sample, seed), "encoded": self._encoded(sample)}
            rgb = self._decoded(sample)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            return {"skip": f"{path}: {type(e).__name__}: {str(e)[:120]}"}
        if self.augment is not None:
            rgb = self._augmented(rgb, seed)
        return {**self._labels_of(sample, seed), "pixels": rgb}     # (H, W, 3) uint8: normalised on the device

    def _on_device(self, sample: Sample) -> bool:
        """``--decode gpu``: a JPEG not in the decoded-image cache goes to the device encoded."""
        path = self.data.image_path(sample)
        if not path.is_file():
            raise OSError("not a regular file" if path.exists() else "no such file")
        cached = self.cache is not None and self.cache.get(self._cache_key(sample)) is not None
        return not cached and is_jpeg(path)

    def _encoded(self, sample: Sample):
        path = self.data.image_path(sample)
        return EncodedImage(-1, read_checked_jpeg(path, sample.box), sample.box, str(path), self.image_size)

    def _cache_key(self, sample: Sample) -> tuple:
        return (sample.image, self.image_size, tuple(sample.box) if sample.box else None)

    def _augmented(self, rgb: np.ndarray, seed: int | None) -> np.ndarray:
        """The torchvision transforms draw from torch's global stream: here one seeded per sample."""
        if seed is None:
            return np.asarray(self.augment(Image.fromarray(rgb)), dtype=np.uint8)
        with torch.random.fork_rng(devices=[]):      # the CPU stream only (torch.manual_seed would reseed CUDA's)
            torch.default_generator.manual_seed(seeding.mix(seed, seeding.AUGMENT))
            return np.asarray(self.augment(Image.fromarray(rgb)), dtype=np.uint8)

    def _decoded(self, sample: Sample) -> np.ndarray:
        """The image as ``load_image`` gives it, (H, W, 3) uint8, from the cache when it holds it."""
        key = self._cache_key(sample)
        rgb = self.cache.get(key) if self.cache is not None else None
        if rgb is None:
            decoder = "torchvision" if self.decode == "gpu" else self.decode    # gpu: a non-JPEG here
            rgb = decode_file(self.data.image_path(sample), self.image_size, sample.box, decoder)
            if self.cache is not None:
                self.cache.put(key, rgb)
        return rgb

    def _labels_of(self, sample: Sample, seed: int | None = None) -> dict:
        return labels_item(self.data, sample, seed)


def labels_item(data: PreparedDataset, sample: Sample, seed: int | None = None) -> dict:
    """What an item carries besides its pixels or features."""
    return {"id": sample.id, "labels": [data.label_index[l] for l in sample.labels],
            "unknown": [data.label_index[l] for l in sample.unknown],
            "tags": [data.tag_index[t] for t in sample.tags], "captions": sample.captions, "seed": seed}


class Collate:
    """Stacks items into a ``Batch``; label sequences follow ``rank`` (or a random order)."""

    def __init__(self, num_labels: int, num_tags: int, rank: list[int] | None, order: str = "rare",
                 words: list[str] | None = None, max_caption_len: int = 20, channels_last: bool = False,
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
        self.num_labels, self.num_tags = num_labels, num_tags
        self.mean = torch.tensor(mean, dtype=torch.float32)     # how batch_to_device normalises "pixels"
        self.std = torch.tensor(std, dtype=torch.float32)
        self.channels_last = channels_last
        self.rank, self.order = rank, order
        self.word_index = {w: i for i, w in enumerate(words)} if words else None
        self.max_caption_len = max_caption_len

    def caption_tokens(self, items: list[dict]):
        """One caption per image, drawn from the sample's seed (the global stream without one):
        word ids (unknown -> 0), END, PAD."""
        end = len(self.word_index)
        rows = []
        for it in items:
            options = it.get("captions") or [""]
            caption = options[int(torch.randint(len(options), (1,), generator=_stream(it, seeding.CAPTION)))]
            ids = [self.word_index.get(w, 0) for w in tokenize(caption)][: self.max_caption_len]
            rows.append(ids + [end])
        return padded(rows)

    def __call__(self, items: list[dict]) -> tuple[Batch | None, list[str]]:
        skipped = [it["skip"] for it in items if "skip" in it]
        items = [it for it in items if "skip" not in it]
        if not items:
            return None, skipped
        B, K, end = len(items), self.num_labels, self.num_labels
        targets = multi_hot([it["labels"] for it in items], K)
        mask = None
        if any(it["unknown"] for it in items):
            mask = 1.0 - multi_hot([it["unknown"] for it in items], K)
        seqs = []
        for it in items:
            ids = list(it["labels"])
            if self.order == "random":
                ids = [ids[j] for j in torch.randperm(len(ids), generator=_stream(it, seeding.ORDER)).tolist()]
            elif self.rank is not None:
                ids = sorted(ids, key=lambda i: self.rank[i])
            seqs.append(ids + [end])
        sequences = padded(seqs)
        tags = multi_hot([it["tags"] for it in items], self.num_tags) if self.num_tags else None
        images, pending = self.images_of(items)
        features = None
        if "features" in items[0]:
            spatial = [it["features"][1] for it in items]       # None: not read (Method.stage_inputs)
            features = (torch.stack([it["features"][0] for it in items]),
                        None if spatial[0] is None else torch.stack(spatial))
        captions = self.caption_tokens(items) if self.word_index is not None else None
        seeds = [it.get("seed") for it in items]
        batch = Batch(ids=[it["id"] for it in items], images=images, targets=targets, sequences=sequences,
                      tags=tags, order=self.order, mask=mask, features=features, captions=captions,
                      seeds=None if None in seeds else seeds, pending=pending)
        return batch, skipped

    def images_of(self, items: list[dict]):
        """``(images, pending)``: items with normalised ``"image"`` tensors are stacked here; items
        with uint8 ``"pixels"`` (or, ``--decode gpu``, an ``"encoded"`` JPEG) become a
        ``PendingImages`` that ``batch_to_device`` finishes (mlcap/data/image_batch.py)."""
        if "image" in items[0]:
            return stack_images([it["image"] for it in items], self.channels_last), None
        if "pixels" not in items[0] and "encoded" not in items[0]:
            return None, None
        encoded = [it["encoded"] for it in items if "encoded" in it]
        for row, it in enumerate(items):
            if "encoded" in it:
                it["encoded"].row = row
        pixels = stack_pixels([it.get("pixels") for it in items], encoded[0].size if encoded else None)
        return None, PendingImages(pixels, self.mean, self.std, self.channels_last, encoded or None)


def multi_hot(rows: list[list[int]], width: int) -> torch.Tensor:
    """(len(rows), width) float32, 1 at each row's indices (built in numpy: one torch call a batch)."""
    out = np.zeros((len(rows), width), dtype=np.float32)
    for b, ids in enumerate(rows):
        out[b, ids] = 1.0
    return torch.from_numpy(out)


def padded(rows: list[list[int]]) -> torch.Tensor:
    """(len(rows), longest) int64, each row then PAD."""
    T = max(map(len, rows))
    return torch.tensor([r + [PAD] * (T - len(r)) for r in rows], dtype=torch.long)


def _stream(item: dict, purpose: int) -> torch.Generator | None:
    """The item's generator for ``purpose``; None (torch's global stream) for an item without a seed."""
    return None if item.get("seed") is None else seeding.generator(item["seed"], purpose)


def stack_images(images: list[torch.Tensor], channels_last: bool = False) -> torch.Tensor:
    """``torch.stack(images)`` (in NHWC memory order with ``channels_last``), copied by numpy:
    torch spreads the copy of a 224-px batch over its threads, and on cores another process
    holds that took 0.23 s a batch instead of 0.01 (see ``pixels_of``)."""
    batch = np.stack([im.numpy() for im in images])
    if not channels_last:
        return torch.from_numpy(batch)
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2)


def make_collate(data: PreparedDataset, order: str | None = None, words: list[str] | None = None,
                 channels_last: bool = False, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)) -> Collate:
    rank = None
    if order and order != "random":
        # aligned orders (pla, mla) re-order in the decoder; the batch carries dictionary order
        position = {name: i for i, name in enumerate(data.ordering(order if order in data.orderings
                                                                   else "dictionary"))}
        rank = [position[l] for l in data.labels]
    return Collate(len(data.labels), len(data.tags), rank, order=order or "rare", words=words,
                   channels_last=channels_last, mean=mean, std=std)


def make_loader(data: PreparedDataset, split: str, image_size: int, mean, std, batch_size: int,
                order: str | None = None, shuffle: bool = False, generator: torch.Generator | None = None,
                num_workers: int = 0, words: list[str] | None = None, indices: list[int] | None = None,
                augment: bool = False, images: bool = True, channels_last: bool = False,
                cache=None, batches=None, device=None, persistent: bool = False, decode: str = "pil",
                seed: int | None = None) -> DataLoader:
    """``indices``: only these samples of the split (e.g. train without its held-out part);
    ``images=False``: no image is opened, batches carry labels, tags and captions only;
    ``channels_last``: image batches in NHWC memory order (``--channels-last``); ``cache``: a
    ``DecodedImages`` the decoded images are kept in between loaders (with ``num_workers=0``);
    ``batches``: a batch sampler (training: ``GlobalBatchSampler``) instead of ``batch_size`` and
    ``shuffle``; ``device``, ``persistent``: see ``mlcap.data.pipeline.loader_settings``;
    ``decode``: ``pil``, ``torchvision`` or ``gpu`` (mlcap/data/decode.py, device_decode.py);
    ``seed``: every item read with this epoch seed (validation: its draws per sample, not per worker)."""
    dataset = ImageLabelDataset(data, data.samples(split), image_size, augment=augment, images=images,
                                cache=cache if num_workers == 0 else None, decode=decode)
    dataset = restrict(dataset, indices)
    if seed is not None:
        dataset = Seeded(dataset, seed)
    collate = make_collate(data, order, words, channels_last, mean, std)
    settings = loader_settings(num_workers, device, persistent)
    if batches is not None:
        return DataLoader(dataset, batch_sampler=batches, generator=generator, collate_fn=collate, **settings)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate,
                      **settings)


def batch_to_device(batch: Batch, device: torch.device) -> Batch:
    """The batch's tensors on ``device`` (non-blocking from pinned memory); its images copied as
    uint8 and normalised there (``PendingImages``, mlcap/data/image_batch.py)."""
    device = torch.device(device)
    if batch.pending is not None:
        batch.images, batch.pending = batch.pending.finish(device), None
    if device.type == "cpu":
        return batch
    for name in ("images", "targets", "sequences", "tags", "mask", "captions"):
        value = getattr(batch, name)
        if value is not None:
            setattr(batch, name, value.to(device, non_blocking=True))
    if batch.features is not None:
        batch.features = tuple(None if t is None else t.to(device, non_blocking=True) for t in batch.features)
    return batch
