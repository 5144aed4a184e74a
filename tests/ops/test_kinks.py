"""Behaviour at kinks and ties, where finite differences cannot judge: the subgradient each op
picks must be PyTorch's. Inputs are small integers, so zeros, ties and clip bounds are common.

PyTorch's choices: relu'(0) = 0, |x|'(0) = 0, leaky_relu'(0) = the slope, elu'(0) = alpha,
maximum/minimum split a tie's gradient half and half, amax/amin (and the full max/min) share it
evenly among the tied elements, clamp passes the gradient at its bounds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from strategies import broadcast_shapes, reduce_args, shapes
from torch_ref import check_against_torch, tdim


def small_ints(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Float64 arrays of integers in [-2, 2]: zeros and ties everywhere."""
    return hnp.arrays(np.int8, shape, elements=st.integers(-2, 2)).map(
        lambda a: a.astype(np.float64)
    )


KINKED = {
    "relu": (cr.relu, torch.relu),
    "abs": (cr.abs, torch.abs),
    "leaky_relu": (lambda x: cr.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    "elu": (lambda x: cr.elu(x, 0.5), lambda x: F.elu(x, 0.5)),
    "clip": (lambda x: cr.clip(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0)),
    "clip_at_0": (lambda x: cr.clip(x, 0.0, None), lambda x: torch.clamp(x, min=0.0)),
    "softplus_at_threshold": (
        lambda x: cr.softplus(x, beta=1.0, threshold=1.0),
        lambda x: F.softplus(x, beta=1.0, threshold=1.0),
    ),
    "maximum_scalar": (lambda x: cr.maximum(x, 0.0), lambda x: torch.maximum(x, torch.zeros(()))),
}


@pytest.mark.parametrize("name", list(KINKED))
@settings(max_examples=15)
@given(data=st.data(), shape=shapes(min_dims=1))
def test_kinked_unary_ops_pick_torchs_subgradient(name, data, shape):
    fn, ref = KINKED[name]
    x = data.draw(small_ints(shape), label="x")
    check_against_torch(fn, ref, [x])


@pytest.mark.parametrize(
    "x", [0.0, 1.0, -1.0], ids=["at zero", "at the upper bound", "at the lower bound"]
)
def test_named_kinks(x):
    """The spelled-out cases: relu and abs at 0 give 0; clip at either bound gives 1."""
    for fn in (cr.relu, cr.abs):
        t = cr.tensor(0.0, requires_grad=True)
        fn(t).backward()
        assert t.grad.item() == 0.0
    t = cr.tensor(x, requires_grad=True)
    cr.clip(t, -1.0, 1.0).backward()
    assert t.grad.item() == 1.0


@pytest.mark.parametrize(
    ("fn", "ref"), [(cr.maximum, torch.maximum), (cr.minimum, torch.minimum)], ids=["max", "min"]
)
@settings(max_examples=25)
@given(data=st.data(), shapes=broadcast_shapes(2))
def test_maximum_minimum_ties_split_half_and_half(fn, ref, data, shapes):
    x = data.draw(small_ints(shapes[0]), label="x")
    y = data.draw(small_ints(shapes[1]), label="y")
    check_against_torch(fn, ref, [x, y])


def test_maximum_tie_by_hand():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([1.0, 1.0], requires_grad=True)
    cr.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 0.0])


@pytest.mark.parametrize(("name", "ref"), [("max", torch.amax), ("min", torch.amin)])
@settings(max_examples=40)
@given(data=st.data(), args=reduce_args())
def test_reduction_ties_share_evenly_like_amax(name, ref, data, args):
    shape, axis, keepdims = args
    x = data.draw(small_ints(shape), label="x")
    check_against_torch(
        lambda t: getattr(cr, name)(t, axis=axis, keepdims=keepdims),
        lambda t: ref(t, dim=tdim(axis, t.ndim), keepdim=keepdims),
        [x],
    )


def test_full_max_ties_share_evenly_like_torch_max():
    x = np.array([[3.0, 1.0, 3.0], [3.0, 0.0, 2.0]])
    check_against_torch(lambda t: t.max(), lambda t: t.max(), [x])
    xt = cr.tensor(x, requires_grad=True)
    xt.max().backward()
    np.testing.assert_allclose(xt.grad.numpy(), (x == 3.0) / 3)


def test_power_at_zero_base_matches_torch():
    """d/dx 0^y and d/dy 0^y for y >= 1 (PyTorch: the y-gradient is 0 there, not NaN)."""
    x = np.array([0.0, 0.0, 2.0])
    y = np.array([1.0, 2.0, 3.0])
    check_against_torch(cr.power, torch.pow, [x, y])
