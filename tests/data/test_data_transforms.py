"""cr.data.transforms: each augmentation on whole batches, its randomness per example and
seeded, and a DataLoader applying one to every batch's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import DataLoader, TensorDataset
from chainrule.data.transforms import (
    Compose,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    shift_augmentation,
)
from chainrule.errors import ShapeError


def _images(n: int = 16, h: int = 6, w: int = 7) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 2, h, w)).astype(np.float32)


def test_random_crop_with_padding_is_a_per_example_shift():
    x = _images()
    out = RandomCrop((6, 7), padding=2, seed=1)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    shifts = set()
    for i in range(len(x)):  # each output is some window of its own padded input
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.array_equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 7])]  # fmt: skip
        assert hits, f"example {i} is not a shifted copy"
        shifts.add(hits[0])
    assert len(shifts) > 3  # examples get different shifts


def test_random_crop_1d_and_smaller_size():
    x = np.arange(2 * 1 * 10, dtype=np.float64).reshape(2, 1, 10)
    out = RandomCrop(4, seed=0)(x)
    assert out.shape == (2, 1, 4)
    for i in range(2):
        start = int(out[i, 0, 0] - x[i, 0, 0])
        np.testing.assert_array_equal(out[i, 0], x[i, 0, start : start + 4])
    with pytest.raises(ShapeError, match="RandomCrop"):
        RandomCrop(12)(x)


def test_random_horizontal_flip():
    x = _images(64)
    out = RandomHorizontalFlip(p=0.5, seed=3)(x)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(flipped | kept) and 10 < flipped.sum() < 54
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])


def test_random_affine_identity_shift_and_rotation():
    x = _images(4)
    np.testing.assert_allclose(RandomAffine(0, seed=0)(x), x, atol=1e-6)
    # a 90 degree turn of a square image moves pixels exactly onto each other
    sq = np.random.default_rng(1).standard_normal((3, 1, 5, 5))
    turned = RandomAffine((90, 90), seed=0)(sq)
    np.testing.assert_allclose(turned[:, 0], np.rot90(sq[:, 0], k=1, axes=(1, 2)), atol=1e-9)
    moved = RandomAffine(0, translate=(0.3, 0.0), seed=2)(x)
    assert moved.shape == x.shape and not np.allclose(moved, x)


def test_normalize_and_compose():
    x = _images(3)
    out = Compose([Normalize([1.0, 2.0], [2.0, 4.0])])(x)
    np.testing.assert_allclose(out[:, 1], (x[:, 1] - 2.0) / 4.0, rtol=1e-6)
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize(0.0, 0.0)


def test_same_seed_same_augmentation():
    x = _images()
    a = shift_augmentation([2, 6, 7], seed=5)(x)
    b = shift_augmentation([2, 6, 7], seed=5)(x)
    np.testing.assert_array_equal(a, b)


def test_data_loader_applies_the_transform_to_inputs_only():
    x = np.ones((10, 1, 4, 4), dtype=np.float32)
    y = np.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, transform=lambda b: b * 3.0)
    batches = list(loader)
    assert all(float(xb.numpy().max()) == 3.0 for xb, _ in batches)
    assert [list(yb.numpy()) for _, yb in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert str(batches[0][0].dtype) == "float32"
