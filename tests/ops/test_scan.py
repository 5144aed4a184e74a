"""Scans (cumsum, cumprod, logcumsumexp, cummax, cummin) and the gather / scatter-add pair
behind cummax's gradient, against finite differences, PyTorch and second derivatives.

Axes are drawn negative or positive, or ``None`` (the flattened input, as NumPy does);
cummax/cummin get pairwise-distinct values so no tie makes the finite differences one-sided
(ties are checked against PyTorch's choice of index separately).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import distinct, seeds, shapes, uniform
from torch_ref import assert_close, check_against_torch, hvp


def _torch_scan(fn):
    def ref(t, axis):
        return fn(t.reshape(-1), 0) if axis is None else fn(t, axis)

    return ref


SCANS = {
    "cumsum": (cr.cumsum, _torch_scan(torch.cumsum), np.cumsum),
    "cumprod": (cr.cumprod, _torch_scan(torch.cumprod), np.cumprod),
    "logcumsumexp": (cr.logcumsumexp, _torch_scan(torch.logcumsumexp), None),
    "cummax": (
        lambda x, axis: cr.cummax(x, axis).values,
        _torch_scan(lambda t, d: torch.cummax(t, d).values),
        lambda x, axis: np.maximum.accumulate(x.reshape(-1) if axis is None else x, axis or 0),
    ),
    "cummin": (
        lambda x, axis: cr.cummin(x, dim=axis).values,
        _torch_scan(lambda t, d: torch.cummin(t, d).values),
        None,
    ),
}


@st.composite
def scan_args(draw):
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=4))
    choices = [st.none()] + ([st.integers(-len(shape), len(shape) - 1)] if shape else [])
    return shape, draw(st.one_of(*choices))


def _values(name, seed, shape):
    if name in ("cummax", "cummin"):
        return distinct(seed, shape)
    if name == "cumprod":
        return uniform(seed, shape, 0.5, 1.5) * np.where(uniform(seed + 1, shape) > 0, 1, -1)
    return uniform(seed, shape)


@pytest.mark.parametrize("name", list(SCANS))
@settings(max_examples=12)
@given(args=scan_args(), seed=seeds)
def test_scan_gradcheck_and_torch(name, args, seed):
    shape, axis = args
    fn, ref, np_fn = SCANS[name]
    x = _values(name, seed, shape)
    out = fn(cr.tensor(x), axis)
    if np_fn is not None:
        np.testing.assert_allclose(out.numpy(), np_fn(x, axis=axis))
    assert cr.gradcheck(lambda t: fn(t, axis), [x])
    check_against_torch(lambda t: fn(t, axis), lambda t: ref(t, axis), [x])


@pytest.mark.parametrize("name", ["cumprod", "cumsum", "logcumsumexp", "cummax", "cummin"])
@settings(max_examples=4)
@given(seed=seeds)
def test_scan_second_derivatives_match_torch(name, seed):
    fn, ref, _ = SCANS[name]
    x = _values(name, seed, (3, 4))
    if name == "cumprod":  # zeros too: the first zero's own formula is differentiated
        x[1, 1] = 0.0
        x[2, 0] = x[2, 2] = 0.0
    for axis in (1, -2):
        g_cr, h_cr = hvp(lambda t, a=axis: fn(t, a) ** 2, cr, [x])
        g_t, h_t = hvp(lambda t, a=axis: ref(t, a) ** 2, torch, [x])
        assert_close(g_cr[0], g_t[0])
        assert_close(h_cr[0], h_t[0])


def test_cumprod_gradient_with_zeros_matches_torch():
    x = np.array([[2.0, 0.0, 3.0, 0.0, 5.0], [0.0, 1.5, 2.0, 3.0, 0.5], [1.0, 2.0, 3.0, 4.0, 0.0]])
    for axis in (0, 1, None):
        assert cr.gradcheck(lambda t, a=axis: cr.cumprod(t, a), [x])
        check_against_torch(
            lambda t, a=axis: cr.cumprod(t, a),
            lambda t, a=axis: _torch_scan(torch.cumprod)(t, a),
            [x],
        )


def test_logcumsumexp_is_stable_and_takes_mixed_sign_gradients():
    x = cr.tensor([-1000.0, 0.0, 1000.0, -5.0], dtype="float64", requires_grad=True)
    out = cr.logcumsumexp(x)
    np.testing.assert_allclose(out.numpy(), [-1000.0, 0.0, 1000.0, 1000.0])
    w = np.array([1.0, -2.0, 0.5, -0.25])
    (out * cr.tensor(w)).sum().backward()
    t = torch.tensor(x.numpy(), requires_grad=True)
    (torch.logcumsumexp(t, 0) * torch.tensor(w)).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert_close(x.grad, t.grad)


def test_cummax_cummin_indices_match_torch_with_ties():
    x = np.array([[1.0, 3.0, 3.0, 2.0, 5.0, 5.0], [0.0, -1.0, -1.0, 4.0, -2.0, -2.0]])
    for name in ("cummax", "cummin"):
        for axis in (1, -1, 0):
            ours = getattr(cr, name)(cr.tensor(x), axis)
            theirs = getattr(torch, name)(torch.tensor(x), axis)
            np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            check_against_torch(
                lambda t, n=name, a=axis: getattr(cr, n)(t, a).values,
                lambda t, n=name, a=axis: getattr(torch, n)(t, a).values,
                [x],
            )


@pytest.mark.parametrize("name", list(SCANS))
def test_scans_of_size_0_and_0d_tensors(name):
    fn, _, _ = SCANS[name]
    x = cr.tensor(np.zeros((2, 0, 3)), requires_grad=True)
    out = fn(x, 1)
    assert out.shape == (2, 0, 3)
    out.sum().backward()
    assert x.grad.shape == (2, 0, 3)
    s = cr.tensor(np.float64(0.5), requires_grad=True)
    out = fn(s, None)
    assert out.shape == (1,)
    out.sum().backward()
    assert s.grad.shape == ()


@pytest.mark.parametrize("name", list(SCANS))
def test_scan_axis_errors_name_the_op_and_axis(name):
    x = cr.tensor(np.ones((2, 3)))
    with pytest.raises(cr.ShapeError, match=r"axis 2 is out of (bounds|range).*2"):
        getattr(cr, name)(x, 2)
    with pytest.raises(TypeError, match="both axis= and dim="):
        getattr(cr, name)(x, axis=0, dim=1)


def test_scan_methods_and_dim_synonym():
    x = uniform(0, (2, 3))
    t = cr.tensor(x)
    np.testing.assert_allclose(t.cumsum(1).numpy(), np.cumsum(x, 1))
    np.testing.assert_allclose(t.cumprod(dim=0).numpy(), np.cumprod(x, 0))
    np.testing.assert_allclose(cr.cumsum(t, dim=-1).numpy(), np.cumsum(x, -1))
    np.testing.assert_allclose(t.cumsum().numpy(), np.cumsum(x))


@pytest.mark.parametrize("name", list(SCANS))
def test_scan_forward_mode_matches_torch_func_jvp(name):
    """Forward mode transposes each rule with a symbolic zero ḡ: logcumsumexp's rule, which
    splits ḡ by sign when ḡ is data, must stay linear in ḡ there."""
    from torch.func import jvp

    fn, ref, _ = SCANS[name]
    x, t = _values(name, 2, (3, 4)), uniform(3, (3, 4))
    ours = cr.jvp(lambda a: fn(a, 1), (cr.tensor(x),), (cr.tensor(t),))[1]
    assert_close(ours, jvp(lambda a: ref(a, 1), (torch.tensor(x),), (torch.tensor(t),))[1])
