"""The fused primitives that gradient rules call (one op where two or more would do):
``outer``, ``matmul_tn``, ``step_mask`` and ``softmax_minus``.

Each has its own gradient rules, so each is checked like any op: finite differences in
float64, PyTorch's values and gradients, and second derivatives (they sit inside first
derivatives, so Hessians of the ops that use them run through them).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops.activation import step_mask
from chainrule.ops.linalg import matmul_tn, outer
from chainrule.ops.loss import softmax_minus
from strategies import uniform
from torch_ref import assert_close, check_against_torch, hvp

sides = st.integers(1, 5)


def _torch_softmax_minus(x, q):
    return q.sum(-1, keepdim=True) * torch.softmax(x, -1) - q


@given(m=sides, n=sides, seed=st.integers(0, 10_000))
def test_outer(m, n, seed):
    x, y = uniform(seed, (m, 1), -2, 2), uniform(seed + 1, (1, n), -2, 2)
    assert cr.gradcheck(outer, [x, y])
    check_against_torch(outer, lambda a, b: a @ b, [x, y])


@given(n=sides, m=sides, k=sides, seed=st.integers(0, 10_000))
def test_matmul_tn(n, m, k, seed):
    x, y = uniform(seed, (n, m), -2, 2), uniform(seed + 1, (n, k), -2, 2)
    assert cr.gradcheck(matmul_tn, [x, y])
    check_against_torch(matmul_tn, lambda a, b: a.T @ b, [x, y])


@given(shape=st.sampled_from([(3,), (2, 4), (1, 5)]), seed=st.integers(0, 10_000))
def test_step_mask(shape, seed):
    g = uniform(seed, shape, -2, 2)
    a = uniform(seed + 1, shape, -2, 2, avoid=(0.0,))
    assert cr.gradcheck(lambda g_: step_mask(g_, cr.tensor(a)), [g])
    check_against_torch(step_mask, lambda g_, a_: g_ * (a_ > 0), [g, a], [True, False])


def test_step_mask_passes_nothing_to_the_mask_even_when_it_requires_grad():
    a = cr.tensor([-1.0, 2.0], dtype="float64", requires_grad=True)
    g = cr.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    step_mask(g, a).sum().backward()
    assert a.grad is None
    np.testing.assert_array_equal(g.grad.numpy(), [0.0, 1.0])


@given(rows=sides, classes=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_softmax_minus(rows, classes, seed):
    x = uniform(seed, (rows, classes), -3, 3)
    q = uniform(seed + 1, (rows, classes), 0, 1)
    assert cr.gradcheck(softmax_minus, [x, q])
    check_against_torch(softmax_minus, _torch_softmax_minus, [x, q])


def test_second_derivatives_match_torch():
    x = uniform(3, (3, 4), -2, 2)
    q = uniform(4, (3, 4), 0, 1)
    cases = [
        (softmax_minus, _torch_softmax_minus, [x, q]),
        (lambda a, b: matmul_tn(a, b) ** 2, lambda a, b: (a.T @ b) ** 2, [x, q]),
        (lambda a, b: outer(a, b) ** 2, lambda a, b: (a @ b) ** 2, [x[:, :1], q[:1]]),
    ]
    for c_fn, t_fn, arrays in cases:
        for c, t in zip(hvp(c_fn, cr, arrays)[1], hvp(t_fn, torch, arrays)[1]):
            if t is None:
                assert c is None or not np.any(c.numpy())
            else:
                assert_close(c, t)


def test_relu_network_third_derivative_runs_through_the_helpers():
    # d³/dx³ of sum(relu(w x)^3) = 6 w³ where w x > 0: through step_mask twice.
    w = cr.tensor([2.0, -1.0, 0.5], dtype="float64")
    f = lambda x: (cr.relu(w * x) ** 3).sum()
    d3 = cr.grad(cr.grad(cr.grad(f)))(cr.tensor(1.5, dtype="float64"))
    assert abs(d3.item() - 6 * (8.0 + 0.125)) < 1e-9
