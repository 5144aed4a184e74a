"""Batch norm's per-channel coefficients spread over the rows (``ops.normalization._rows``):
values and gradients of the training forward (the batch's statistics given) and of plain
``standardize`` over (0, 2, ...) still PyTorch's in float64 and finite differences', and
``_rows`` leaves alone what it cannot spread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import chainrule as cr
from chainrule.ops import normalization
from torch_ref import check_against_torch


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (5, 2, 7), (3, 4, 1, 1), (4, 1, 3, 3)])
def test_batch_norm_training_matches_torch(shape):
    rng = np.random.default_rng(len(shape) + shape[0])
    c = shape[1]
    x = rng.standard_normal(shape) * 3 + 1
    w, b = rng.standard_normal(c), rng.standard_normal(c)

    def ours(x, w, b):
        rm, rv = cr.tensor(np.zeros(c)), cr.tensor(np.ones(c))
        return cr.nn.functional.batch_norm(x, rm, rv, w, b, training=True)

    def theirs(x, w, b):
        rm, rv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
        return F.batch_norm(x, rm, rv, w, b, training=True)

    check_against_torch(ours, theirs, [x, w, b])
    assert cr.gradcheck(ours, [x, w, b])


def test_standardize_channels_matches_torch_and_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 2, 5))
    w, b = rng.standard_normal((1, 4, 1, 1)), rng.standard_normal((1, 4, 1, 1))

    def ours(x, w, b):
        return cr.ops.normalization.standardize(x, w, b, axes=(0, 2, 3))

    def theirs(x, w, b):
        return F.batch_norm(x, None, None, w.reshape(-1), b.reshape(-1), training=True)

    check_against_torch(ours, theirs, [x, w, b])
    assert cr.gradcheck(ours, [x, w, b])


def test_rows_spreads_only_per_channel_coefficients():
    c = np.arange(3.0).reshape(1, 3, 1, 1)
    spread = normalization._rows(np, c, (4, 3, 2, 5))
    assert spread.shape == (1, 3, 2, 5) and spread.flags.c_contiguous
    np.testing.assert_array_equal(spread, np.broadcast_to(c, (1, 3, 2, 5)))
    for coef, shape in [
        (np.ones((4, 3, 1, 1)), (4, 3, 2, 5)),  # varies along axis 0 (group norm's layout)
        (np.ones((3, 1, 1)), (4, 3, 2, 5)),  # fewer axes
        (np.ones((1, 3, 2, 5)), (4, 3, 2, 5)),  # already full rows
        (c, (1, 3, 2, 5)),  # one example
        (2.0, (4, 3)),
    ]:
        assert normalization._rows(np, coef, shape) is coef


def test_dots_with_and_without_vecdot():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    want = (a * b).sum(axis=-1)
    np.testing.assert_allclose(normalization._dots(np, a, b), want, rtol=1e-12)

    class OldNumPy:  # NumPy 1.x has no vecdot: einsum's sum of products
        einsum = staticmethod(np.einsum)

    np.testing.assert_allclose(normalization._dots(OldNumPy, a, b), want, rtol=1e-12)
