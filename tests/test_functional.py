"""The functional API (JAX / HIPS autograd style): grad, value_and_grad, vjp, jacobian,
hessian, checked against PyTorch's torch.autograd.functional / torch.func.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import seeds, shapes, uniform
from torch_ref import assert_close


def _f(x, y, lib):
    """A scalar function of two arrays of the same shape, smooth everywhere."""
    return (lib.tanh(x) * y + lib.exp(0.5 * x * y) + x * x * x).sum()


def _torch_grads(f, arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    return torch.autograd.grad(f(*ts), ts)


@settings(max_examples=15)
@given(shape=shapes(), seed=seeds)
def test_grad_and_value_and_grad_with_argnums(shape, seed):
    x, y = uniform(seed, shape), uniform(seed + 1, shape)
    gx, gy = _torch_grads(lambda a, b: _f(a, b, torch), [x, y])

    def f(a, b):
        return _f(a, b, cr)

    assert_close(cr.grad(f)(x, y), gx)
    assert_close(cr.grad(f, argnums=1)(x, y), gy)
    both = cr.grad(f, argnums=(0, 1))(x, y)
    assert isinstance(both, tuple) and len(both) == 2
    assert_close(both[0], gx)
    assert_close(both[1], gy)
    value, (g1,) = cr.value_and_grad(f, argnums=(1,))(x, y)
    assert_close(value, _f(torch.tensor(x), torch.tensor(y), torch))
    assert not value.requires_grad
    assert_close(g1, gy)


def test_grad_keeps_the_arguments_dtype_and_leaves_them_alone():
    x64 = np.array([1.0, 2.0])
    g = cr.grad(lambda t: (t * t).sum())(x64)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    t = cr.tensor([1.0, 2.0])
    g = cr.grad(lambda t: (t * t).sum())(t)
    assert g.dtype == np.float32
    assert not t.requires_grad and t.grad is None  # the caller's tensor is untouched
    assert cr.grad(lambda t: (t * t).sum())(3.0).item() == 6.0  # a Python float


def test_grad_passes_keyword_arguments_through():
    def f(x, scale=1.0):
        return (x * scale).sum()

    np.testing.assert_array_equal(cr.grad(f)(np.ones(2), scale=3.0).numpy(), [3.0, 3.0])


def test_grad_of_an_argument_not_used_is_zero():
    g = cr.grad(lambda x, y: (x * 2).sum(), argnums=1)(cr.ones(2), np.ones(3))
    np.testing.assert_array_equal(g.numpy(), np.zeros(3))


def test_grad_needs_a_one_element_output():
    with pytest.raises(cr.BackwardError, match=r"one-element tensor, got \(2,\)"):
        cr.grad(lambda x: x * 2)(np.ones(2))


@settings(max_examples=10)
@given(seed=seeds)
def test_grad_of_grad_matches_torch(seed):
    x = uniform(seed, (3,))

    def f(t, lib):
        return (lib.sin(t) * t * t).sum()

    d2 = cr.grad(lambda t: cr.grad(lambda s: f(s, cr))(t).sum())(x)
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(f(xt, torch), [xt], create_graph=True)
    (d2t,) = torch.autograd.grad(gt.sum(), [xt])
    assert_close(d2, d2t)


@settings(max_examples=15)
@given(shape=shapes(min_dims=1), seed=seeds)
def test_vjp_matches_torch(shape, seed):
    x, y = uniform(seed, shape), uniform(seed + 1, shape)
    v = uniform(seed + 2, shape)

    def f(a, b, lib):
        return lib.tanh(a) * b + a

    out, vjp_fn = cr.vjp(lambda a, b: f(a, b, cr), x, y)
    out_t, grads_t = torch.autograd.functional.vjp(
        lambda a, b: f(a, b, torch), (torch.tensor(x), torch.tensor(y)), torch.tensor(v)
    )
    assert_close(out, out_t)
    for _ in range(2):  # vjp_fn can be called again: the graph is kept
        grads = vjp_fn(cr.tensor(v))
        assert len(grads) == 2
        for a, b in zip(grads, grads_t):
            assert_close(a, b)


def test_vjp_cotangent_must_match_the_output():
    _, vjp_fn = cr.vjp(lambda a: a * 2, np.ones((2, 3)))
    with pytest.raises(cr.ShapeError, match=r"cotangent has shape \(3,\), output has \(2, 3\)"):
        vjp_fn(np.ones(3))


JACOBIAN_CASES = {
    "elementwise": lambda x, lib: lib.tanh(x) * x,
    "matrix": lambda x, lib: lib.softmax(x, -1) if x.ndim else lib.exp(x),
    "reduction": lambda x, lib: (x * x).sum() + x.mean(),
    "outer": lambda x, lib: lib.exp(x.reshape(-1)[:, None] * x.reshape(-1)[None, :]),
}


@pytest.mark.parametrize("name", list(JACOBIAN_CASES))
@settings(max_examples=10)
@given(shape=shapes(max_dims=2), seed=seeds)
def test_jacobian_matches_torch(name, shape, seed):
    f = JACOBIAN_CASES[name]
    x = uniform(seed, shape)
    jc = cr.jacobian(lambda t: f(t, cr))(x)
    jt = torch.autograd.functional.jacobian(lambda t: f(t, torch), torch.tensor(x))
    assert_close(jc, jt)


def test_jacobian_with_argnums_and_other_arguments():
    x, w = np.array([1.0, -2.0]), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    jw = cr.jacobian(lambda x, w: w @ cr.tanh(x), argnums=1)(x, w)
    jt = torch.autograd.functional.jacobian(
        lambda w: w @ torch.tanh(torch.tensor(x)), torch.tensor(w)
    )
    assert jw.shape == (3, 3, 2)
    assert_close(jw, jt)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@settings(max_examples=10)
@given(n=st.integers(1, 4), seed=seeds)
def test_hessian_matches_torch(n, seed):
    x = uniform(seed, (n,))

    def f(t, lib):
        return lib.logsumexp(t * t, -1) + (lib.sin(t) * t).sum()

    hc = cr.hessian(lambda t: f(t, cr))(x)
    ht = torch.autograd.functional.hessian(lambda t: f(t, torch), torch.tensor(x))
    assert hc.shape == (n, n)
    assert_close(hc, ht)
    np.testing.assert_allclose(hc.numpy(), hc.numpy().T, rtol=1e-12, atol=1e-12)


def test_grad_of_a_function_that_closes_over_the_outer_argument():
    """d/dx [x * d/dy (x y)] = d/dx x^2 = 2x: the inner gradient depends on the outer x, so
    it must stay differentiable (JAX's and torch.func's answer; a detached inner gradient
    would give x)."""

    one = np.float64(1.0)
    ours = cr.grad(lambda x: (x * cr.grad(lambda y: (x * y).sum())(one)).sum())(np.float64(3.0))
    t_one, t_three = torch.tensor(1.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)
    theirs = torch.func.grad(lambda x: x * torch.func.grad(lambda y: x * y)(t_one))(t_three)
    assert ours.item() == theirs.item() == 6.0


def test_gradient_penalty_reaches_the_parameters():
    """A gradient w.r.t. the input of a function with parameters (WGAN-GP's penalty) can be
    backpropagated into those parameters, as with torch.autograd.grad(create_graph=True)."""
    rng = np.random.default_rng(0)
    w1, w2, x = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(5, 3))

    wc = [cr.tensor(w1, requires_grad=True), cr.tensor(w2, requires_grad=True)]
    g = cr.grad(lambda t: (cr.tanh(t @ wc[0].T) @ wc[1]).sum())(x)
    (((g * g).sum(axis=1).sqrt() - 1.0) ** 2).mean().backward()

    wt = [torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)]
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad((torch.tanh(xt @ wt[0].T) @ wt[1]).sum(), [xt], create_graph=True)
    ((gt.norm(dim=1) - 1.0) ** 2).mean().backward()
    assert_close(g, gt)
    for a, b in zip(wc, wt):
        assert_close(a.grad, b.grad)


def test_jacobian_and_vjp_that_close_over_a_parameter():
    w = cr.tensor([0.5, -2.0], dtype="float64", requires_grad=True)
    j = cr.jacobian(lambda x: cr.tanh(x * w))(np.array([1.0, 0.3]))
    (j * j).sum().backward()
    wt = torch.tensor([0.5, -2.0], dtype=torch.float64, requires_grad=True)
    jt = torch.autograd.functional.jacobian(
        lambda x: torch.tanh(x * wt),
        torch.tensor([1.0, 0.3], dtype=torch.float64),
        create_graph=True,
    )
    (jt * jt).sum().backward()
    assert_close(j, jt)
    assert_close(w.grad, wt.grad)
    w.grad = None
    _, vjp_fn = cr.vjp(lambda x: x * w, np.array([3.0, 4.0]))
    (gx,) = vjp_fn(np.ones(2))
    gx.sum().backward()  # d/dw sum(w) = 1
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


def test_grad_under_no_grad_returns_plain_gradients():
    w = cr.tensor([2.0], requires_grad=True)
    with cr.no_grad():
        g = cr.grad(lambda x: (w * x * x).sum())(np.array([3.0]))
    assert not g.requires_grad and g.item() == 12.0


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_hessian_with_argnums():
    x, y = np.array([0.5, -1.0]), np.array([2.0, 0.3, 1.0])

    def f(a, b, lib):
        return (lib.tanh(a).sum() * b * b).sum() + (b**3).sum()

    hc = cr.hessian(lambda a, b: f(a, b, cr), argnums=1)(x, y)
    ht = torch.autograd.functional.hessian(lambda b: f(torch.tensor(x), b, torch), torch.tensor(y))
    assert hc.shape == (3, 3)
    assert_close(hc, ht)
