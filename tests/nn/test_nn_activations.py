"""Activation modules against PyTorch in float64: values and input gradients on random
shapes, and their reprs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from nn_parity import compare, float64

import chainrule as cr

nn = cr.nn
tnn = torch.nn

PAIRS = [
    (lambda: nn.ReLU(), lambda: tnn.ReLU()),
    (lambda: nn.ReLU(inplace=True), lambda: tnn.ReLU(inplace=True)),
    (lambda: nn.LeakyReLU(), lambda: tnn.LeakyReLU()),
    (lambda: nn.LeakyReLU(0.2, inplace=True), lambda: tnn.LeakyReLU(0.2, inplace=True)),
    (lambda: nn.ELU(), lambda: tnn.ELU()),
    (lambda: nn.ELU(alpha=0.5), lambda: tnn.ELU(alpha=0.5)),
    (lambda: nn.GELU(), lambda: tnn.GELU()),
    (lambda: nn.GELU(approximate="tanh"), lambda: tnn.GELU(approximate="tanh")),
    (lambda: nn.Sigmoid(), lambda: tnn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: tnn.Tanh()),
    (lambda: nn.Softplus(), lambda: tnn.Softplus()),
    (lambda: nn.Softplus(beta=2.0, threshold=3.0), lambda: tnn.Softplus(beta=2.0, threshold=3.0)),
    (lambda: nn.Identity(), lambda: tnn.Identity()),
    (lambda: nn.SiLU(), lambda: tnn.SiLU()),
    (lambda: nn.Mish(), lambda: tnn.Mish()),
    (lambda: nn.SELU(), lambda: tnn.SELU()),
    (lambda: nn.CELU(alpha=0.5), lambda: tnn.CELU(alpha=0.5)),
    (lambda: nn.Hardtanh(), lambda: tnn.Hardtanh()),
    (lambda: nn.Hardtanh(-2.0, 0.5, inplace=True), lambda: tnn.Hardtanh(-2.0, 0.5, inplace=True)),
    (lambda: nn.ReLU6(), lambda: tnn.ReLU6()),
    (lambda: nn.Hardsigmoid(), lambda: tnn.Hardsigmoid()),
    (lambda: nn.Hardswish(), lambda: tnn.Hardswish()),
    (lambda: nn.Softsign(), lambda: tnn.Softsign()),
    (lambda: nn.LogSigmoid(), lambda: tnn.LogSigmoid()),
]
IDS = [repr(c()) for c, _ in PAIRS]

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_elementwise_activation_matches_torch(pair, shape, seed):
    float64()
    make_cr, make_torch = pair
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks of relu and friends
    t = make_torch()
    if getattr(t, "inplace", False):  # torch cannot modify a leaf in place; same values
        t.inplace = False
    compare(make_cr(), t, x)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_activation_repr_matches_torch(pair):
    make_cr, make_torch = pair
    assert repr(make_cr()) == repr(make_torch())


@pytest.mark.parametrize("cls", ["Softmax", "LogSoftmax", "Softmin"])
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_softmax_modules_match_torch(cls, shape, data, seed):
    float64()
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 5
    c, t = getattr(nn, cls)(dim=dim), getattr(tnn, cls)(dim=dim)
    compare(c, t, x)
    assert repr(c) == repr(t)


@pytest.mark.parametrize("cls", ["Softmax", "LogSoftmax", "Softmin"])
def test_softmax_without_dim_warns_and_follows_torch(cls):
    float64()
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    with pytest.warns(UserWarning, match="dim"):
        out = getattr(nn, cls)()(cr.tensor(x))
    with pytest.warns(UserWarning):
        ref = getattr(tnn, cls)()(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)


def test_softmax_stable_for_huge_logits():
    x = cr.tensor([[1e4, -1e4, 0.0]])
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy(), [[1.0, 0.0, 0.0]])
    assert np.isfinite(nn.LogSoftmax(dim=1)(x).numpy()).all()


def test_activations_keep_float32():
    x = cr.randn(3, 4, requires_grad=True)
    for make_cr, _ in PAIRS:
        y = make_cr()(x)
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")


@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_glu_module_matches_torch(shape, data, seed):
    float64()
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    shape = tuple(2 * s if i == dim % len(shape) else s for i, s in enumerate(shape))
    x = np.random.default_rng(seed).standard_normal(shape)
    c, t = nn.GLU(dim=dim), tnn.GLU(dim=dim)
    compare(c, t, x)
    assert repr(c) == repr(t)


def test_glu_odd_size_and_hardtanh_bounds_raise():
    with pytest.raises(cr.ShapeError, match=r"glu: axis -1 of shape \(2, 3\) has size 3"):
        nn.GLU()(cr.randn(2, 3))
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(1.0, -1.0)
