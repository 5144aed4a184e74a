"""The fused ``standardize`` of ``chainrule.ops.normalization``: values and gradients against
PyTorch on hypothesis-drawn shapes and axes, central finite differences in float64, second
derivatives (against PyTorch and finite differences), and float32 against the composition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import ShapeError
from chainrule.ops.normalization import moments, standardize
from strategies import axes, normalize_axis, shapes, uniform
from torch_ref import assert_close, check_against_torch, check_second_order, hvp


def _torch_standardize(axis, eps):
    def run(x):
        dim = normalize_axis(axis, x.ndim)
        mu = x.mean(dim=dim, keepdim=True)
        var = ((x - mu) ** 2).mean(dim=dim, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps)

    return run


@st.composite
def _cases(draw):
    shape = draw(shapes(min_dims=1, max_dims=4, max_side=4))
    return shape, draw(axes(len(shape))), draw(st.sampled_from([1e-5, 0.1]))


@settings(max_examples=25, deadline=None)
@given(case=_cases(), seed=st.integers(0, 100))
def test_standardize_matches_torch(case, seed):
    shape, axis, eps = case
    x = uniform(seed, shape, -2.0, 2.0) + 3.0  # an offset mean: the centring matters
    fn = lambda t: standardize(t, axes=axis, eps=eps)
    check_against_torch(fn, _torch_standardize(axis, eps), [x], rtol=1e-7, atol=1e-10)


@st.composite
def _affine_cases(draw):
    shape, axis, eps = draw(_cases())

    def param_shape():  # broadcasts to shape: some leading axes dropped, some sides 1
        lead = draw(st.integers(0, len(shape)))
        return tuple(n if draw(st.booleans()) else 1 for n in shape[lead:])

    return shape, axis, eps, param_shape(), param_shape()


@settings(max_examples=25, deadline=None)
@given(case=_affine_cases(), seed=st.integers(0, 100))
def test_standardize_with_weight_and_bias_matches_torch(case, seed):
    shape, axis, eps, ws, bs = case
    arrays = [uniform(seed, shape) + 3.0, uniform(seed + 1, ws), uniform(seed + 2, bs)]
    ref = _torch_standardize(axis, eps)
    check_against_torch(lambda x, w, b: standardize(x, w, b, axes=axis, eps=eps),
                        lambda x, w, b: ref(x) * w + b, arrays, rtol=1e-7, atol=1e-10)  # fmt: skip


@pytest.mark.parametrize(
    "shape, axis, ws",
    [((2, 3, 2, 2), (0, 2, 3), (1, 3, 1, 1)), ((2, 3, 4), -1, (4,)), ((3, 4), 0, (3, 1))],
)
def test_standardize_affine_first_and_second_derivatives(shape, axis, ws):
    arrays = [uniform(1, shape, -1.0, 1.0), uniform(2, ws), uniform(3, ws)]
    fn = lambda x, w, b: standardize(x, w, b, axes=axis, eps=0.1) ** 3
    assert cr.gradcheck(fn, [cr.tensor(a) for a in arrays])
    check_second_order(fn, arrays)
    ref = _torch_standardize(axis, 0.1)
    tfn = lambda x, w, b: (ref(x) * w + b) ** 3
    (g_c, h_c), (g_t, h_t) = hvp(fn, cr, arrays), hvp(tfn, torch, arrays)
    for a, b in zip(g_c + h_c, g_t + h_t):
        assert_close(a, b, rtol=1e-7, atol=1e-10)


def test_standardize_rejects_a_weight_that_does_not_fit():
    with pytest.raises(ShapeError, match=r"standardize: weight of shape \(3,\)"):
        standardize(cr.tensor(np.ones((2, 4))), cr.tensor(np.ones(3)), axes=-1)


@pytest.mark.parametrize(
    "shape, axis",
    [((3, 4), -1), ((2, 3, 2, 2), (0, 2, 3)), ((2, 6, 3), (1, 2)), ((5,), None), ((3, 1), 1)],
)
def test_standardize_passes_finite_differences(shape, axis):
    x = cr.tensor(uniform(3, shape, -1.0, 1.0))
    assert cr.gradcheck(lambda t: standardize(t, axes=axis, eps=0.1) ** 3, [x])


@pytest.mark.parametrize("shape, axis", [((3, 4), -1), ((2, 3, 2, 2), (0, 2, 3))])
def test_standardize_second_derivatives(shape, axis):
    arrays = [uniform(5, shape, -1.0, 1.0)]
    check_second_order(lambda t: standardize(t, axes=axis, eps=0.1) ** 3, arrays)
    fn = lambda t: standardize(t, axes=axis, eps=1e-5) ** 2
    ref = lambda t: _torch_standardize(axis, 1e-5)(t) ** 2
    (g_c, h_c), (g_t, h_t) = hvp(fn, cr, arrays), hvp(ref, torch, arrays)
    for a, b in zip(g_c + h_c, g_t + h_t):
        assert_close(a, b, rtol=1e-7, atol=1e-10)


def test_standardize_float32_equals_the_composition():
    x = cr.tensor(np.random.default_rng(0).normal(2.0, 3.0, (8, 5, 4, 4)).astype(np.float32),
                  requires_grad=True)  # fmt: skip
    w = cr.tensor(np.random.default_rng(1).normal(size=x.shape).astype(np.float32))
    ax = (0, 2, 3)
    y = standardize(x, axes=ax, eps=1e-5)
    (gx,) = cr.gradients((y * w).sum(), [x])
    mu = cr.mean(x, axis=ax, keepdims=True)
    d = x - mu
    y2 = d / cr.sqrt(cr.mean(d * d, axis=ax, keepdims=True) + 1e-5)
    (gx2,) = cr.gradients((y2 * w).sum(), [x])
    assert y.dtype == np.float32 and gx.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), y2.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx.numpy(), gx2.numpy(), rtol=1e-4, atol=1e-5)


def test_standardize_records_one_node_keeping_x_and_weight_only():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    y = standardize(x, axes=-1)
    assert y.grad_fn.prim.name == "standardize"
    assert standardize.keeps(0) == "data" and standardize.keeps(1) == "data"
    assert standardize.keeps(2) == "shape" and not standardize.keeps_out


def test_standardize_constant_slices_and_empty_input():
    y = standardize(cr.tensor(np.full((2, 3), 7.0), requires_grad=True), axes=-1)
    np.testing.assert_array_equal(y.numpy(), 0.0)
    e = cr.tensor(np.zeros((0, 3)), requires_grad=True)
    out = standardize(e, axes=0)
    out.sum().backward()
    assert out.shape == (0, 3) and e.grad.shape == (0, 3)


def test_standardize_rejects_a_bad_axis():
    with pytest.raises(ShapeError, match="standardize: axis 2"):
        standardize(cr.tensor(np.ones((2, 3))), axes=2)


@pytest.mark.parametrize(
    "shape, axis", [((4, 3, 2, 5), (0, 2, 3)), ((3, 4, 6), (-2, -1)), ((5, 2), 0), ((2, 3), None)]
)
@pytest.mark.parametrize("ddof", [0, 1])
def test_moments_equal_numpy(shape, axis, ddof):
    x = uniform(4, shape) + 10.0
    mu, var = moments(x, axis, ddof=ddof)
    np.testing.assert_allclose(mu, x.mean(axis=axis, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(axis=axis, ddof=ddof, keepdims=True), rtol=1e-10)


@st.composite
def _per_slice_cases(draw):
    """weight and bias constant along the axes (batch, group, instance norm's layout): the
    rule's per-slice road, with and without the statistics given."""
    shape, axis, eps = draw(_cases())
    ax = normalize_axis(axis, len(shape))
    kept = tuple(1 if i in ax else n for i, n in enumerate(shape))
    return shape, axis, eps, kept, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=30, deadline=None)
@given(case=_per_slice_cases(), seed=st.integers(0, 100))
def test_standardize_per_slice_road_and_given_statistics_match_torch(case, seed):
    shape, axis, eps, kept, affine, given_stats = case
    x = uniform(seed, shape) * 3.0 + 5.0
    mu, var = moments(x, axis) if given_stats else (None, None)
    arrays = [x, uniform(seed + 1, kept), uniform(seed + 2, kept)] if affine else [x]
    ref = _torch_standardize(axis, eps)

    def fn(t, w=None, b=None):
        return standardize(t, w, b, axis, eps, mu, var)

    def tfn(t, w=None, b=None):
        return ref(t) * w + b if affine else ref(t)

    check_against_torch(fn, tfn, arrays, rtol=1e-7, atol=1e-10)


@st.composite
def _layer_norm_cases(draw):
    """A layer norm's layout: the trailing axes normalised, weight (and bias) one value per
    element of them (with or without leading size-1 axes), bias sometimes absent."""
    shape = draw(shapes(min_dims=1, max_dims=4, max_side=4))
    k = draw(st.integers(1, len(shape)))
    row = shape[len(shape) - k :]
    lead = draw(st.integers(0, len(shape) - k))
    param = (1,) * lead + row
    return (
        shape,
        tuple(range(-k, 0)),
        param,
        draw(st.booleans()),
        draw(st.sampled_from([1e-5, 0.1])),
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=_layer_norm_cases(), seed=st.integers(0, 100))
def test_standardize_layer_norm_road_matches_torch(case, seed, monkeypatch):
    """The rule's layer-norm road (:func:`_layer_norm_vjp`), checked to be taken, against
    PyTorch's own ``layer_norm`` in float64."""
    import chainrule.ops.normalization as norm

    shape, axis, param, with_bias, eps = case
    taken = []
    for name in ("_layer_norm_forward", "_layer_norm_vjp"):
        road = getattr(norm, name)  # the real one, even where an earlier example patched it
        road = getattr(road, "road", road)

        def spy(*a, road=road, name=name):
            taken.append(name)
            return road(*a)

        spy.road = road
        monkeypatch.setattr(norm, name, spy)
    arrays = [uniform(seed, shape) * 3.0 + 5.0, uniform(seed + 1, param)]
    arrays += [uniform(seed + 2, param)] if with_bias else []
    row = shape[len(shape) - len(axis) :]

    def tfn(x, w, b=None):
        return torch.nn.functional.layer_norm(
            x, row, w.reshape(row), None if b is None else b.reshape(row), eps
        )

    check_against_torch(lambda x, w, b=None: standardize(x, w, b, axis, eps), tfn, arrays,
                        rtol=1e-7, atol=1e-10)  # fmt: skip
    if any(n > 1 for n in row):  # a row of one takes the per-slice road
        assert set(taken) == {"_layer_norm_forward", "_layer_norm_vjp"}


def test_standardize_per_row_bias_avoids_the_layer_norm_road():
    """A bias varying along the leading axis (not a layer norm's) keeps the general rule."""
    arrays = [uniform(1, (3, 3)) + 2.0, uniform(2, (3,)), uniform(3, (3, 1))]
    ref = _torch_standardize(-1, 1e-5)
    check_against_torch(lambda x, w, b: standardize(x, w, b, axes=-1),
                        lambda x, w, b: ref(x) * w + b, arrays, rtol=1e-7, atol=1e-10)  # fmt: skip
