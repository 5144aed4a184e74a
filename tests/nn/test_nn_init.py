"""Initialisers: gains and fans equal to PyTorch's, and the distributions they draw from
(bounds, means and standard deviations on large fixed-seed samples)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import init as tinit

import chainrule as cr
from chainrule.errors import ShapeError

nn = cr.nn
init = cr.nn.init


def _param(*shape, dtype="float32"):
    return nn.Parameter(cr.zeros(*shape, dtype=dtype))


@pytest.mark.parametrize(
    "nonlinearity,param",
    [
        ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
        ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None),
        ("conv_transpose3d", None),
    ],
)  # fmt: skip
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        tinit.calculate_gain(nonlinearity, param), rel=1e-12
    )


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a number"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("shape", [(2, 3), (7, 1), (4, 3, 5), (2, 3, 4, 5), (0, 3)])
def test_fans_match_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(cr.zeros(*shape))
    theirs = tinit._calculate_fan_in_and_fan_out(torch.zeros(*shape))
    assert ours == theirs


def test_fans_need_two_dimensions():
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        init._calculate_fan_in_and_fan_out(cr.zeros(5))
    with pytest.raises(ShapeError):
        init.xavier_uniform_(_param(5))
    with pytest.raises(ShapeError):
        init.orthogonal_(_param(5))


def _uniform_ok(w, bound):
    a = w.numpy()
    assert np.abs(a).max() <= bound
    assert np.abs(a).max() > 0.98 * bound  # the whole range is used
    assert abs(a.mean()) < 0.02 * bound
    assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def _normal_ok(w, std, mean=0.0):
    a = w.numpy()
    assert abs(a.mean() - mean) < 0.02 * std
    assert a.std() == pytest.approx(std, rel=0.02)


def test_uniform_and_normal():
    w = init.uniform_(_param(300, 300), -2.0, 4.0)
    a = w.numpy()
    assert a.min() >= -2.0 and a.max() < 4.0
    assert a.mean() == pytest.approx(1.0, abs=0.05)
    assert a.std() == pytest.approx(6 / math.sqrt(12), rel=0.02)
    _normal_ok(init.normal_(_param(300, 300), 3.0, 0.5), 0.5, mean=3.0)


def test_constant_zeros_ones_keep_dtype():
    w = _param(2, 3, dtype="float64")
    assert init.constant_(w, 2.5) is w
    assert w.dtype == np.float64 and np.all(w.numpy() == 2.5)
    assert np.all(init.zeros_(w).numpy() == 0) and np.all(init.ones_(w).numpy() == 1)


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(gain):
    w = init.xavier_uniform_(_param(400, 250), gain)
    _uniform_ok(w, gain * math.sqrt(6 / 650))
    _normal_ok(init.xavier_normal_(_param(400, 250), gain), gain * math.sqrt(2 / 650))


@pytest.mark.parametrize(
    "a,mode,nonlinearity",
    [
        (0.0, "fan_in", "relu"),
        (0.0, "fan_out", "relu"),
        (math.sqrt(5), "fan_in", "leaky_relu"),
        (0.1, "fan_out", "leaky_relu"),
        (0.0, "fan_in", "tanh"),
        (0.0, "fan_in", "linear"),
    ],
)
def test_kaiming_matches_torch_formula(a, mode, nonlinearity):
    shape = (300, 200, 2)
    fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(torch.zeros(shape))
    std = tinit.calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)
    _uniform_ok(init.kaiming_uniform_(_param(*shape), a, mode, nonlinearity), math.sqrt(3) * std)
    _normal_ok(init.kaiming_normal_(_param(*shape), a, mode, nonlinearity), std)
    # and torch's own draws have the same spread
    t = tinit.kaiming_normal_(torch.empty(shape), a, mode, nonlinearity)
    assert float(t.std()) == pytest.approx(std, rel=0.02)


def test_kaiming_bad_mode():
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_uniform_(_param(3, 3), mode="fan_avg")


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (4, 2, 3)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(_param(*shape, dtype="float64"), gain).numpy()
    m = w.reshape(shape[0], -1) / gain
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_trunc_normal():
    w = init.trunc_normal_(_param(400, 400), mean=0.5, std=1.0, a=-1.0, b=1.5).numpy()
    assert w.min() >= -1.0 and w.max() <= 1.5
    ref = tinit.trunc_normal_(torch.empty(400, 400), mean=0.5, std=1.0, a=-1.0, b=1.5)
    assert w.mean() == pytest.approx(float(ref.mean()), abs=0.01)
    assert w.std() == pytest.approx(float(ref.std()), rel=0.02)
    with pytest.raises(ValueError):
        init.trunc_normal_(_param(2, 2), a=1.0, b=0.0)


def test_init_is_in_place_outside_the_graph_and_reproducible():
    w = _param(3, 4)
    version = w._version[0]
    out = init.kaiming_uniform_(w)
    assert out is w and w.is_leaf and w.grad_fn is None and w.requires_grad
    assert w._version[0] > version
    cr.manual_seed(3)
    a = init.normal_(_param(5)).numpy().copy()
    cr.manual_seed(3)
    b = init.normal_(_param(5)).numpy()
    np.testing.assert_array_equal(a, b)


def test_layers_default_init_has_torch_distribution():
    torch.manual_seed(0)
    c, t = nn.Linear(500, 300), torch.nn.Linear(500, 300)
    for name in ("weight", "bias"):
        ours, theirs = getattr(c, name).numpy(), getattr(t, name).detach().numpy()
        assert np.abs(ours).max() <= 1 / math.sqrt(500)
        assert ours.std() == pytest.approx(theirs.std(), rel=0.1 if name == "bias" else 0.02)
    e, te = nn.Embedding(400, 300), torch.nn.Embedding(400, 300)
    assert e.weight.numpy().std() == pytest.approx(float(te.weight.detach().std()), rel=0.02)
    ln, tln = nn.LayerNorm(3), torch.nn.LayerNorm(3)
    np.testing.assert_array_equal(ln.weight.numpy(), tln.weight.detach().numpy())
    np.testing.assert_array_equal(ln.bias.numpy(), tln.bias.detach().numpy())
    bn, tbn = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    for k, v in tbn.state_dict().items():
        np.testing.assert_array_equal(bn.state_dict()[k], v.numpy())
