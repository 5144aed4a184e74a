"""``ones_sum``, the one helper for sums as a BLAS product with ones (a bias gradient's column
sums in ``linear``, a softmax's row sums in ``class_cross_entropy``): which path each case
takes, bit for bit, and the cases that fall back to the array's own sum."""

from __future__ import annotations

import numpy as np
import pytest

import fake_cupy
from chainrule.ops._ones_sum import SHORT_ROWS, ones_sum

RNG = np.random.default_rng(0)


def _differs(a: np.ndarray, b: np.ndarray) -> bool:
    return not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_columns_are_the_ones_product_on_every_backend(dtype):
    a = RNG.standard_normal((300, 40)).astype(dtype)
    want = np.ones(300, dtype=dtype) @ a
    assert _differs(want, a.sum(axis=0))  # the data tells the two roundings apart
    np.testing.assert_array_equal(ones_sum(np, a, 0), want)
    dev = fake_cupy.make(devices=1)
    got = ones_sum(dev, dev.asarray(a), 0)
    assert isinstance(got, fake_cupy.ndarray)  # computed on the "device", not the host
    np.testing.assert_array_equal(got.get(), want)


def test_short_rows_are_the_product_on_numpy_only():
    a = RNG.standard_normal((512, 10)).astype(np.float32)
    want = a @ np.ones(10, dtype=np.float32)
    assert _differs(want, a.sum(axis=-1))
    for axis in (1, -1):
        np.testing.assert_array_equal(ones_sum(np, a, axis), want)
    dev = fake_cupy.make(devices=1)
    np.testing.assert_array_equal(ones_sum(dev, dev.asarray(a), -1).get(), a.sum(axis=-1))
    half = a.astype(np.float16)  # a float of NumPy's own product loop: still the product
    np.testing.assert_array_equal(ones_sum(np, half, -1), half @ np.ones(10, np.float16))


@pytest.mark.parametrize(
    "a, axis",
    [
        (RNG.standard_normal((64, SHORT_ROWS + 1)), -1),  # a long row: NumPy's sum is as fast
        (RNG.integers(0, 100, (5, 7)).astype(np.int8), -1),  # integers: sum's promotion
        (RNG.integers(0, 100, (5, 7)).astype(np.int8), 0),
        (RNG.standard_normal((9, 7)).astype(np.float16), 0),  # columns: BLAS floats only
    ],
)
def test_other_cases_are_the_arrays_own_sum(a, axis):
    got = ones_sum(np, a, axis)
    want = a.sum(axis=axis)
    assert got.dtype == want.dtype  # int8 sums as int64, as sum does, never overflowing
    np.testing.assert_array_equal(got, want)


def test_out_of_another_dtype_and_bad_axis():
    a = RNG.standard_normal((6, 3))
    out = np.empty(3, dtype=np.float32)
    assert ones_sum(np, a, 0, out) is out
    np.testing.assert_allclose(out, a.sum(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="ones_sum: axis=2"):
        ones_sum(np, a, 2)
