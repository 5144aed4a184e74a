"""``linear(..., activation=)``: a Linear layer's product, bias and activation as one primitive.

Checked like any op: central finite differences in float64 and PyTorch's values and gradients
on drawn shapes (no batch axis, one or two batch axes, size-0 and size-1 sides), for each
activation, with and without a bias, with inputs that do not require gradients; second
derivatives against PyTorch (the rule's ``create_graph`` path); and the fast array path of
the rule against that differentiable path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import ShapeError
from chainrule.ops.linalg.products import ACTIVATIONS, linear
from strategies import seeds, uniform
from torch_ref import assert_close, check_against_torch, hvp

TORCH_ACT = {
    None: lambda a: a,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def _torch_fused(activation):
    return lambda x, w, b=None: TORCH_ACT[activation](F.linear(x, w, b))


def _cr_fused(activation):
    return lambda x, w, b=None: linear(x, w, b, activation=activation)


@st.composite
def fused_shapes(draw: st.DrawFn):
    batch = draw(st.lists(st.integers(0, 3), min_size=0, max_size=2))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (*batch, n_in), (n_out, n_in)


@settings(max_examples=40)
@given(
    shapes=fused_shapes(),
    seed=seeds,
    activation=st.sampled_from(ACTIVATIONS),
    with_bias=st.booleans(),
    needs=st.sampled_from([(True, True, True), (False, True, True), (True, False, False)]),
)
def test_linear_activation_gradcheck_and_torch(shapes, seed, activation, with_bias, needs):
    x = uniform(seed, shapes[0], avoid=(0.0,))
    w = uniform(seed + 1, shapes[1])
    arrays = [x, w] + ([uniform(seed + 2, shapes[1][:1])] if with_bias else [])
    differentiable = list(needs[: len(arrays)])
    fn = _cr_fused(activation)
    if all(differentiable):
        assert cr.gradcheck(fn, arrays)
    check_against_torch(fn, _torch_fused(activation), arrays, differentiable)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_second_derivatives_match_torch(activation):
    x, w, b = uniform(1, (3, 4), -2, 2), uniform(2, (5, 4), -1, 1), uniform(3, (5,))
    c_fn = lambda x, w, b: linear(x, w, b, activation=activation) ** 2
    t_fn = lambda x, w, b: _torch_fused(activation)(x, w, b) ** 2
    c_first, c_second = hvp(c_fn, cr, [x, w, b])
    t_first, t_second = hvp(t_fn, torch, [x, w, b])
    for c, t in zip(c_first + c_second, t_first + t_second):
        assert_close(c, t)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("x_shape", [(1, 4), (6, 4), (2, 3, 4), (4,)])
def test_fast_path_equals_the_differentiable_path(activation, x_shape):
    """The rule's array path (plain backward) and its op path (create_graph) agree exactly
    in float64, and neither lets the gradient alias the incoming one."""
    arrays = [uniform(5, x_shape), uniform(6, (3, 4)), uniform(7, (3,))]
    grads = []
    for create_graph in (False, True):
        ts = [cr.tensor(a, requires_grad=True) for a in arrays]
        out = linear(*ts, activation=activation)
        (out * cr.tensor(uniform(8, out.shape))).sum().backward(create_graph=create_graph)
        grads.append([t.grad.numpy() for t in ts])
    for fast, slow in zip(*grads):
        np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=1e-14)


def test_only_inputs_that_require_grad_get_one_and_float32_stays_float32():
    x = cr.tensor(uniform(1, (2, 4)).astype(np.float32))
    w = cr.tensor(uniform(2, (3, 4)).astype(np.float32), requires_grad=True)
    b = cr.tensor(uniform(3, (3,)).astype(np.float32), requires_grad=True)
    linear(x, w, b, activation="relu").sum().backward()
    assert x.grad is None
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32
    mask = (x.numpy() @ w.numpy().T + b.numpy()) > 0
    np.testing.assert_allclose(b.grad.numpy(), mask.sum(0), rtol=1e-6)


def test_one_node_records_the_whole_layer():
    x = cr.randn(2, 4, requires_grad=True)
    w, b = cr.randn(3, 4, requires_grad=True), cr.randn(3, requires_grad=True)
    out = linear(x, w, b, activation="tanh")
    assert out.grad_fn.name == "linearBackward"
    assert {id(p) for p in out.grad_fn.next_nodes} == {id(x), id(w), id(b)}


def test_bad_input_names_the_op():
    with pytest.raises(ShapeError, match=r"linear: input of shape \(2, 3\)"):
        linear(cr.zeros(2, 3), cr.zeros(4, 5))
    with pytest.raises(ValueError, match="linear: activation='gelu'"):
        linear(cr.zeros(2, 3), cr.zeros(4, 3), activation="gelu")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("rows", [0, 1, 128])
def test_bias_gradient_column_sums(dtype, rows):
    """The bias gradient's sum over rows (one BLAS product onesᵀ ā for float32/float64, NumPy's
    sum otherwise), into a given array or a new one, to rounding of NumPy's; NaN propagates."""
    from chainrule.ops._ones_sum import ones_sum

    a = np.random.default_rng(0).standard_normal((rows, 7)).astype(dtype)
    if rows:
        a[rows // 2, 3] = np.nan
    out = np.empty(7, dtype=dtype)
    for got in (ones_sum(np, a, 0), ones_sum(np, a, 0, out)):
        assert got.dtype == a.dtype and got.shape == (7,)
        tol = {"float16": 1e-2, "float32": 1e-5, "float64": 1e-12}[dtype]
        np.testing.assert_allclose(got, a.sum(axis=0), rtol=tol, atol=tol)
    assert ones_sum(np, a, 0, out) is out
