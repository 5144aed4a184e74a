"""The native whole-array kernels (``ops._native``'s ``pointwise.c``): the ReLU's gradient mask
and batch norm's rule equal the NumPy formulation they replace, in float32 and float64, on
hypothesis-drawn shapes (lengths on both sides of a vector's lanes), NaN and infinite
gradients included; and batch norm's gradients through the layer, eagerly and compiled.
(PyTorch parity of both ops is in test_activation's and test_normalization's tables, which
run through these kernels.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import _native
from chainrule.ops.activation import step_mask
from chainrule.ops.normalization import standardize
from strategies import seeds, uniform


@pytest.fixture(autouse=True)
def _needs_build():
    if not _native.built():
        pytest.skip("the native kernels are not built (no C compiler at install)")


TOL = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 40), min_size=1, max_size=3), seed=seeds)
def test_step_mask_equals_numpys(dtype, shape, seed):
    g = uniform(seed, tuple(shape)).astype(dtype)
    a = uniform(seed + 1, tuple(shape)).astype(dtype)
    a.reshape(-1)[::3] = 0  # the kink: no gradient, as [a > 0] says
    specials = [np.inf, np.nan][: g.size]  # propagate where the mask is 1, NaN where it is 0
    g.reshape(-1)[: len(specials)] = specials
    got = step_mask.forward(g, a)
    with _native.disabled(), np.errstate(invalid="ignore"):  # NumPy warns for inf ⊙ 0
        want = step_mask.forward(g, a)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)


def test_step_mask_of_a_0d_array_stays_0d():
    assert step_mask.forward(np.array(2.0), np.array(1.0)).shape == ()


def _bn_rule(x, g, w, b, mean, var):
    xt = cr.tensor(x, requires_grad=True)
    wt, bt = cr.tensor(w, requires_grad=True), cr.tensor(b, requires_grad=True)
    y = standardize(xt, wt, bt, axes=(0, *range(2, x.ndim)), mean=mean, var=var)
    (y * cr.tensor(g)).sum().backward()
    return xt.grad.data, wt.grad.data, bt.grad.data


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 5), rest=st.lists(st.integers(1, 19), max_size=2),
       seed=seeds, shift=st.sampled_from([0.0, 100.0]))  # fmt: skip
def test_batch_norm_rule_equals_numpys(dtype, n, c, rest, seed, shift):
    shape = (n, c, *rest)
    x = (uniform(seed, shape) + shift).astype(dtype)  # a large mean: no cancellation
    g = uniform(seed + 1, shape).astype(dtype)
    w = uniform(seed + 2, (1, c, *(1,) * len(rest))).astype(dtype)
    b = uniform(seed + 3, w.shape).astype(dtype)
    axes = (0, *range(2, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    got = _bn_rule(x, g, w, b, mean, var)
    with _native.disabled():
        want = _bn_rule(x, g, w, b, mean, var)
    for a, e in zip(got, want):
        assert a.dtype == dtype
        scale = max(1.0, float(np.abs(e).max()))
        np.testing.assert_allclose(a, e, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def test_batch_norm_layer_trains_the_same_compiled_and_eager():
    x = uniform(0, (6, 4, 5, 5)).astype(np.float32)
    nets = []
    for _ in range(2):
        cr.manual_seed(0)
        nets.append(cr.nn.Sequential(cr.nn.BatchNorm2d(4), cr.nn.ReLU(), cr.nn.Flatten()))

    def step(net):
        net.zero_grad()
        (net(cr.tensor(x)) * cr.tensor(uniform(1, (6, 100)))).sum().backward()
        return [p.grad.data.copy() for p in net.parameters()]

    compiled = cr.compile(lambda: step(nets[1]))
    for _ in range(3):
        for a, b in zip(step(nets[0]), compiled()):
            np.testing.assert_allclose(a, b, rtol=1e-6)
