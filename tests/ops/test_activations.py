"""Issue 9's activations that work along an axis (softmin, glu, normalize) against PyTorch
and finite differences; the element-wise ones are in ``test_elementwise.py``'s tables and
their modules in ``tests/nn/test_nn_activations.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import seeds, shapes, uniform
from torch_ref import check_against_torch


@settings(max_examples=15)
@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
def test_softmin_matches_torch(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = uniform(seed, shape, -3.0, 3.0)
    assert cr.gradcheck(lambda t: cr.softmin(t, axis=axis), [x])
    check_against_torch(lambda t: cr.softmin(t, dim=axis), lambda t: F.softmin(t, axis), [x])
    check_against_torch(
        lambda t: cr.nn.functional.softmin(t, axis), lambda t: F.softmin(t, axis), [x]
    )


@settings(max_examples=15)
@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
def test_glu_matches_torch(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    shape = tuple(2 * s if i == axis % len(shape) else s for i, s in enumerate(shape))
    x = uniform(seed, shape, -3.0, 3.0)
    assert cr.gradcheck(lambda t: cr.glu(t, axis), [x])
    check_against_torch(lambda t: cr.glu(t, axis=axis), lambda t: F.glu(t, axis), [x])


@settings(max_examples=15)
@given(
    shape=shapes(min_dims=1),
    data=st.data(),
    seed=seeds,
    p=st.sampled_from([2.0, 1.0, 3.0, 0.5, float("inf")]),
)
def test_normalize_matches_torch(shape, data, seed, p):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = uniform(seed, shape, -2.0, 2.0, avoid=(0.0,))
    assert cr.gradcheck(lambda t: cr.normalize(t, p, axis=dim), [x])
    check_against_torch(
        lambda t: cr.nn.functional.normalize(t, p, dim), lambda t: F.normalize(t, p, dim), [x]
    )


def test_normalize_zero_vector_gives_zeros_and_torchs_gradient():
    x = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    check_against_torch(lambda t: cr.normalize(t, dim=1), lambda t: F.normalize(t, dim=1), [x])
    np.testing.assert_array_equal(cr.normalize(cr.tensor(x)).numpy()[0], 0)
    np.testing.assert_allclose(cr.normalize(cr.tensor(x)).numpy()[1], [0.6, 0.8, 0.0])


def test_activation_errors_name_the_op():
    with pytest.raises(cr.ShapeError, match=r"glu: axis 1 of shape \(2, 3\) has size 3.*even"):
        cr.glu(cr.randn(2, 3), axis=1)
    with pytest.raises(cr.ShapeError, match=r"glu: axis 2 is out of range.*\(2, 3\)"):
        cr.glu(cr.randn(2, 3), axis=2)
    with pytest.raises(ValueError, match="normalize: p must be positive"):
        cr.normalize(cr.randn(2, 3), p=0)
    with pytest.raises(ValueError, match="softmin: give axis or dim, not both"):
        cr.softmin(cr.randn(2, 3), axis=0, dim=1)
    with pytest.raises(ValueError, match=r"hardtanh: min_val 1\.0 is above max_val -1\.0"):
        cr.hardtanh(cr.randn(2), 1.0, -1.0)
    with pytest.raises(ValueError, match="celu: alpha must not be 0"):
        cr.celu(cr.randn(2), 0.0)
    with pytest.raises(TypeError, match="normalize: out= is not supported"):
        cr.nn.functional.normalize(cr.randn(2, 3), out=cr.randn(2, 3))


def test_activations_stable_at_extremes():
    x = cr.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], dtype="float64", requires_grad=True)
    for fn, ref in [(cr.logsigmoid, F.logsigmoid), (cr.silu, F.silu), (cr.mish, F.mish),
                    (cr.selu, F.selu), (cr.softsign, F.softsign)]:  # fmt: skip
        out = fn(x)
        (g,) = cr.gradients(out.sum(), [x])
        xt = torch.tensor(x.numpy(), requires_grad=True)
        outt = ref(xt)
        (gt,) = torch.autograd.grad(outt.sum(), [xt])
        np.testing.assert_allclose(out.numpy(), outt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-12, atol=1e-300)
        assert np.isfinite(out.numpy()).all() and np.isfinite(g.numpy()).all()
