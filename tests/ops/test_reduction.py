"""Reductions and the axis-wise activations (softmax, log_softmax) on random shapes and axes.

Axes come as ``None``, one (possibly negative) axis or a tuple of them, with and without
``keepdims``; ``max``/``min`` get pairwise-distinct values so that no tie makes the finite
differences one-sided (ties are in ``test_kinks.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import count, distinct, reduce_args, seeds, shapes, uniform
from torch_ref import check_against_torch, tdim

REDUCTIONS = {
    "sum": (
        lambda x, axis, kd: cr.sum(x, axis=axis, keepdims=kd),
        lambda x, dim, kd: torch.sum(x, dim=dim, keepdim=kd),
    ),
    "sum_method": (
        lambda x, axis, kd: x.sum(axis=axis, keepdims=kd),
        lambda x, dim, kd: x.sum(dim=dim, keepdim=kd),
    ),
    "mean": (
        lambda x, axis, kd: cr.mean(x, axis=axis, keepdims=kd),
        lambda x, dim, kd: torch.mean(x, dim=dim, keepdim=kd),
    ),
    "logsumexp": (
        lambda x, axis, kd: cr.logsumexp(x, axis=axis, keepdims=kd),
        lambda x, dim, kd: torch.logsumexp(x, dim=dim, keepdim=kd),
    ),
    "max": (
        lambda x, axis, kd: cr.max(x, axis=axis, keepdims=kd),
        lambda x, dim, kd: torch.amax(x, dim=dim, keepdim=kd),
    ),
    "min": (
        lambda x, axis, kd: x.min(axis=axis, keepdims=kd),
        lambda x, dim, kd: torch.amin(x, dim=dim, keepdim=kd),
    ),
}


def _values(name: str, seed: int, shape: tuple) -> np.ndarray:
    return distinct(seed, shape) if name in ("max", "min") else uniform(seed, shape)


@pytest.mark.parametrize("name", list(REDUCTIONS))
@settings(max_examples=20)
@given(args=reduce_args(), seed=seeds)
def test_reduction_gradcheck(name, args, seed):
    shape, axis, keepdims = args
    fn, _ = REDUCTIONS[name]
    assert cr.gradcheck(lambda x: fn(x, axis, keepdims), [_values(name, seed, shape)])


@pytest.mark.parametrize("name", list(REDUCTIONS))
@settings(max_examples=20)
@given(args=reduce_args(), seed=seeds)
def test_reduction_matches_torch(name, args, seed):
    shape, axis, keepdims = args
    fn, ref = REDUCTIONS[name]
    x = _values(name, seed, shape)
    out = fn(cr.tensor(x), axis, keepdims)
    assert out.shape == np.sum(x, axis=axis, keepdims=keepdims).shape
    check_against_torch(
        lambda t: fn(t, axis, keepdims), lambda t: ref(t, tdim(axis, t.ndim), keepdims), [x]
    )


@pytest.mark.parametrize("name", ["var", "std"])
@settings(max_examples=20)
@given(args=reduce_args(), seed=seeds, ddof=st.sampled_from([0, 1]))
def test_var_std_gradcheck_and_torch(name, args, seed, ddof):
    shape, axis, keepdims = args
    assume(count(shape, axis) > ddof)
    if name == "std":  # sqrt is not differentiable at zero spread
        assume(count(shape, axis) > 1)
    x = uniform(seed, shape)

    def fn(t):
        return getattr(cr, name)(t, axis=axis, ddof=ddof, keepdims=keepdims)

    def ref(t):
        return getattr(torch, name)(t, dim=tdim(axis, t.ndim), correction=ddof, keepdim=keepdims)

    assert cr.gradcheck(fn, [x])
    check_against_torch(fn, ref, [x])


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
@given(seed=seeds)
@settings(max_examples=5)
def test_reductions_of_a_0d_tensor(name, seed):
    """A 0-d tensor reduced over axis=None is itself (gradient 1)."""
    x = cr.tensor(uniform(seed, ()), requires_grad=True)
    y = getattr(cr, name)(x)
    assert y.shape == ()
    y.backward()
    assert x.grad.item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("softmax", torch.softmax),
        ("log_softmax", torch.log_softmax),
    ],
)
@settings(max_examples=25)
@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
def test_softmax_family_gradcheck_and_torch(name, ref, shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = uniform(seed, shape, -3.0, 3.0)
    fn = getattr(cr, name)
    assert cr.gradcheck(lambda t: fn(t, axis=axis), [x])
    check_against_torch(lambda t: fn(t, axis=axis), lambda t: ref(t, dim=axis), [x])


def test_softmax_is_stable_for_huge_logits():
    x = cr.tensor([1000.0, 0.0, -1000.0], dtype="float64", requires_grad=True)
    p = cr.softmax(x)
    np.testing.assert_allclose(p.numpy(), [1.0, 0.0, 0.0])
    lp = cr.log_softmax(x)
    np.testing.assert_allclose(lp.numpy(), [0.0, -1000.0, -2000.0])
    assert np.isfinite(cr.logsumexp(x).item())
    (lp * cr.tensor([0.0, 1.0, 0.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0, 0.0], atol=1e-12)
