"""Per-sample randomness (mlcap/seeding.py): a sample's label order, caption and augmentation
depend on (run seed, epoch, sample id) only, not on the batch it is in."""

from __future__ import annotations

import numpy as np
import torch

from mlcap import seeding
from mlcap.data.loader import Collate, ImageLabelDataset
from mlcap.data.sample_keys import Positions
from mlcap.data.prepared import PreparedDataset


def test_sample_seed_is_a_stable_hash_of_epoch_seed_and_id():
    assert seeding.sample_seed(7, "img1") == seeding.sample_seed(7, "img1")
    assert len({seeding.sample_seed(e, i) for e in (0, 1) for i in ("a", "b")}) == 4
    # blake2b of "7\0img1", first 8 bytes little-endian, top bit cleared: stable across Python runs
    import hashlib
    expected = int.from_bytes(hashlib.blake2b(b"7\x00img1", digest_size=8).digest(), "little") & (2**63 - 1)
    assert seeding.sample_seed(7, "img1") == expected
    assert seeding.epoch_seed(3, 2) == 3 * 100_003 + 2


def test_mix_gives_independent_streams_per_purpose():
    s = seeding.sample_seed(1, "x")
    assert len({seeding.mix(s, p) for p in range(1, 7)}) == 6
    assert seeding.mix(s, 1) == seeding.mix(s, 1) and 0 <= seeding.mix(s, 1) < 2**63
    a = torch.rand(4, generator=seeding.generator(s, seeding.ORDER))
    b = torch.rand(4, generator=seeding.generator(s, seeding.ORDER))
    assert torch.equal(a, b)


def _item(i: int, labels: list[int], seed: int | None, captions=None) -> dict:
    return {"id": f"s{i}", "labels": labels, "unknown": [], "tags": [], "captions": captions or [], "seed": seed}


def test_random_order_and_caption_follow_the_sample_not_the_batch():
    collate = Collate(8, 0, None, order="random", words=["<unk>", "a", "b", "c", "d"])
    captions = ["a", "b", "c", "d", "a b", "c d"]
    mine = _item(0, [0, 1, 2, 3, 4, 5, 6], seed=12345, captions=captions)
    others = [_item(k, [k % 8, (k + 3) % 8], seed=k * 7 + 1, captions=captions) for k in range(1, 6)]
    first, _ = collate([mine, *others[:2]])
    second, _ = collate([*others[2:], mine])
    assert torch.equal(first.sequences[0], second.sequences[3][: first.sequences.shape[1]])
    assert torch.equal(first.captions[0, :2], second.captions[3, :2])
    assert first.seeds[0] == second.seeds[3] == 12345
    # another seed draws another order of the 7 labels (5040 orders: equal by chance with p < 1e-3)
    other, _ = collate([{**mine, "seed": 999}])
    assert not torch.equal(other.sequences[0], first.sequences[0])


def test_items_without_seed_give_a_batch_without_seeds():
    batch, _ = Collate(4, 0, None, order="random")([_item(0, [1, 2], None), _item(1, [3], None)])
    assert batch.seeds is None and sorted(batch.sequences[0, :2].tolist()) == [1, 2]


def test_augmentation_is_a_function_of_the_sample_seed(tiny_data):
    data = PreparedDataset(tiny_data)
    ds = ImageLabelDataset(data, data.samples("train"), 32, augment=True)
    view = Positions(ds, [4, 2, 0])
    torch.manual_seed(0)
    a = view[(2, 11)]
    torch.manual_seed(1)                  # the global stream plays no part
    b = ds[(0, 11)]
    assert np.array_equal(a["pixels"], b["pixels"]) and a["seed"] == b["seed"] == seeding.sample_seed(11, a["id"])
    epochs = [ds[(0, e)]["pixels"] for e in range(12)]
    assert any(not np.array_equal(epochs[0], e) for e in epochs[1:])     # other epochs, other augmentations
    plain = ImageLabelDataset(data, data.samples("train"), 32)
    assert plain[0]["seed"] is None and plain[0]["pixels"].dtype == np.uint8
