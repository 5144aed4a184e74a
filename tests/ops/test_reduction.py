"""Reductions and the axis-wise activations (softmax, log_softmax) on random shapes and axes.

Axes come as ``None``, one (possibly negative) axis or a tuple of them, with and without
``keepdims``; ``max``/``min`` get pairwise-distinct values so that no tie makes the finite
differences one-sided (ties are in ``test_kinks.py``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import count, distinct, reduce_args, seeds, shapes, uniform
from torch_ref import assert_close, check_against_torch, hvp, tdim

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


# ---------------------------------------------------------------- prod, NaN-aware, weighted, median
def _torch_prod(t, axis, kd):
    if axis is None:
        out = torch.prod(t)
        return out.reshape((1,) * t.ndim) if kd else out
    for a in sorted((axis,) if isinstance(axis, int) else axis, key=lambda a: -(a % t.ndim)):
        t = torch.prod(t, dim=a, keepdim=True)
    return t if kd else t.reshape(np.sum(np.zeros(t.shape), axis=axis).shape)


NEW_REDUCTIONS = {
    "prod": (lambda x, axis, kd: cr.prod(x, axis=axis, keepdims=kd), _torch_prod),
    "prod_method_dim": (lambda x, axis, kd: x.prod(dim=axis, keepdim=kd), _torch_prod),
    "nansum": (
        lambda x, axis, kd: cr.nansum(x, axis=axis, keepdims=kd),
        lambda x, dim, kd: torch.nansum(x, dim=tdim(dim, x.ndim), keepdim=kd),
    ),
    "nanmean": (
        lambda x, axis, kd: cr.nanmean(x, dim=axis, keepdim=kd),
        lambda x, dim, kd: torch.nanmean(x, dim=tdim(dim, x.ndim), keepdim=kd),
    ),
    "median": (
        lambda x, axis, kd: cr.median(x, axis=axis, keepdims=kd),
        None,  # torch.quantile takes one dim: compared below for int axes
    ),
    "average": (
        lambda x, axis, kd: cr.average(x, axis=axis, weights=cr.exp(x), keepdims=kd),
        lambda x, dim, kd: (
            (x * x.exp()).sum(tdim(dim, x.ndim), keepdim=kd)
            / x.exp().sum(tdim(dim, x.ndim), keepdim=kd)
        ),
    ),
}


def _new_values(name: str, seed: int, shape: tuple) -> np.ndarray:
    if name == "median":
        return distinct(seed, shape)
    x = uniform(seed, shape, 0.5, 1.5) * np.where(uniform(seed + 7, shape) > 0, 1, -1)
    if name.startswith("nan") and x.size > 1:
        x.reshape(-1)[seed % x.size] = np.nan
    return x


@pytest.mark.parametrize("name", list(NEW_REDUCTIONS))
@settings(max_examples=10)
@given(args=reduce_args(), seed=seeds)
def test_new_reductions_gradcheck_and_torch(name, args, seed):
    shape, axis, keepdims = args
    fn, ref = NEW_REDUCTIONS[name]
    x = _new_values(name, seed, shape)
    expected = {"prod": np.prod, "nansum": np.nansum, "nanmean": np.nanmean, "median": np.median}
    base = expected.get(name.split("_")[0])
    out = fn(cr.tensor(x), axis, keepdims)
    if base is not None:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's nanmean of only NaNs
            np.testing.assert_allclose(out.numpy(), base(x, axis=axis, keepdims=keepdims))
    if name == "nanmean" and np.isnan(out.numpy()).any():
        return  # a slice of NaNs only: NaN, as NumPy and PyTorch give
    assert cr.gradcheck(lambda t: fn(t, axis, keepdims), [x])
    if ref is not None:
        check_against_torch(lambda t: fn(t, axis, keepdims), lambda t: ref(t, axis, keepdims), [x])
    elif isinstance(axis, int) or axis is None:
        check_against_torch(
            lambda t: fn(t, axis, keepdims),
            lambda t: torch.quantile(
                t, 0.5, dim=axis, keepdim=keepdims and axis is not None
            ).reshape(out.shape),
            [x],
        )


def test_prod_gradient_with_zeros_matches_torch():
    """One zero in a slice: its gradient is the others' product; two zeros: all 0."""
    x = np.array([[2.0, 0.0, 3.0, 4.0], [0.0, 5.0, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    for axis in (None, 0, 1, -1):
        check_against_torch(
            lambda t, a=axis: cr.prod(t, axis=a), lambda t, a=axis: _torch_prod(t, a, False), [x]
        )
        assert cr.gradcheck(lambda t, a=axis: cr.prod(t, axis=a), [x])


def test_average_with_1d_weights_and_returned():
    x = uniform(0, (3, 4))
    w = uniform(1, (4,), 0.5, 2.0)
    avg, scale = cr.average(cr.tensor(x), axis=-1, weights=w, returned=True)
    expected, expected_scale = np.average(x, axis=-1, weights=w, returned=True)
    np.testing.assert_allclose(avg.numpy(), expected)
    np.testing.assert_allclose(scale.numpy(), expected_scale)
    assert cr.gradcheck(lambda a, b: cr.average(a, axis=1, weights=b), [x, w])
    plain, n = cr.average(cr.tensor(x), axis=0, returned=True)
    np.testing.assert_allclose(plain.numpy(), x.mean(0))
    np.testing.assert_array_equal(n.numpy(), [3.0] * 4)


def test_average_errors_name_the_shapes():
    x = cr.tensor(np.ones((3, 4)))
    with pytest.raises(cr.ShapeError, match=r"average: 1-D weights of length 3 .* axis 1"):
        cr.average(x, axis=1, weights=[1.0, 2.0, 3.0])
    with pytest.raises(cr.ShapeError, match=r"weights of shape \(2,\) differ from a's \(3, 4\)"):
        cr.average(x, weights=[1.0, 2.0])
    with pytest.raises(cr.errors.DomainError, match="weights sum to zero"):
        cr.average(x, axis=0, weights=[1.0, -1.0, 0.0])


def test_median_of_even_count_splits_the_gradient():
    x = cr.tensor([4.0, 1.0, 3.0, 2.0], dtype="float64", requires_grad=True)
    m = cr.median(x)
    assert m.item() == 2.5
    m.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.5, 0.5])
    with pytest.raises(cr.ShapeError, match=r"median of an empty slice: shape \(0,\)"):
        cr.median(cr.tensor(np.zeros(0)))


def test_all_any_count_nonzero_follow_numpy():
    x = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]])
    t = cr.tensor(x, requires_grad=True)
    for axis in (None, 0, -1, (0, 1)):
        for kd in (False, True):
            for name in ("all", "any", "count_nonzero"):
                out = getattr(cr, name)(t, axis=axis, keepdims=kd)
                np.testing.assert_array_equal(
                    out.numpy(), getattr(np, name)(x, axis=axis, keepdims=kd)
                )
                assert not out.requires_grad
    assert t.all(dim=1).tolist() == [False, False] and t.any(dim=0, keepdim=True).shape == (1, 3)
    assert cr.count_nonzero(t, dim=0).tolist() == [1, 1, 1]


def test_dim_and_keepdim_are_synonyms_everywhere():
    x = uniform(3, (2, 3, 4))
    t = cr.tensor(x)
    for name in ("sum", "mean", "max", "min", "prod", "logsumexp", "std", "var", "nansum",
                 "nanmean", "median", "argmax", "argmin"):  # fmt: skip
        fn = getattr(cr, name)
        a = fn(t, axis=1, keepdims=True)
        b = fn(t, dim=1, keepdim=True)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert fn(t, dim=-1).shape == fn(t, axis=-1).shape
        if hasattr(t, name):
            np.testing.assert_array_equal(getattr(t, name)(dim=1, keepdim=True).numpy(), a.numpy())
        with pytest.raises(TypeError, match=f"{name}: got both axis= and dim="):
            fn(t, axis=0, dim=1)
    np.testing.assert_allclose(cr.var(t, dim=0, correction=1).numpy(), x.var(0, ddof=1))
    with pytest.raises(TypeError, match="unexpected keyword"):
        t.sum(dims=1)


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "nansum", "all", "any", "count_nonzero"])
def test_reductions_over_size_0_axes(name):
    x = np.zeros((2, 0, 3))
    t = cr.tensor(x, requires_grad=name not in ("all", "any", "count_nonzero"))
    with np.errstate(all="ignore"):
        for axis in (1, (0, 2), None):
            if name == "mean" and axis != (0, 2):
                continue  # NumPy's mean of nothing is NaN with a warning; chainrule raises
            out = getattr(cr, name)(t, axis=axis)
            np.testing.assert_array_equal(out.numpy(), getattr(np, name)(x, axis=axis))
            if out.requires_grad:
                out.sum().backward()
                assert t.grad.shape == x.shape
                t.grad = None


SECOND_ORDER = {
    "prod": (lambda x: cr.prod(x, axis=1), lambda x: torch.prod(x, 1)),
    "prod_all": (cr.prod, torch.prod),
    "nansum": (lambda x: cr.nansum(x * x, axis=0), lambda x: torch.nansum(x * x, 0)),
    "nanmean": (lambda x: cr.nanmean(x**3, dim=-1), lambda x: torch.nanmean(x**3, -1)),
    "average": (
        lambda x: cr.average(x, axis=1, weights=x * x),
        lambda x: (x**3).sum(1) / (x * x).sum(1),
    ),
    "median": (lambda x: cr.median(x**3, axis=0), lambda x: torch.quantile(x**3, 0.5, dim=0)),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_new_reductions_second_derivatives_match_torch(name):
    fn, ref = SECOND_ORDER[name]
    x = distinct(5, (4, 3)) / 2
    if name.startswith("prod"):  # one zero, then two zeros, in a row
        x[1, 0] = 0.0
        x[2, 1:] = 0.0
    if name.startswith("nan"):
        x[0, 1] = np.nan
    g_cr, h_cr = hvp(fn, cr, [x])
    g_t, h_t = hvp(ref, torch, [x])
    assert_close(g_cr[0], g_t[0])
    assert_close(h_cr[0], h_t[0])


def test_median_of_a_slice_with_nan_is_nan():
    x = np.array([[3.0, np.nan, 1.0], [2.0, 5.0, 4.0]])
    t = cr.tensor(x, requires_grad=True)
    m = cr.median(t, axis=1)
    np.testing.assert_array_equal(m.numpy(), np.median(x, axis=1))
    m.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 0, 0], [0, 0, 1]])
