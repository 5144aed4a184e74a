"""gradcheck and numerical_grad, and user-defined ops made with ``@cr.primitive`` + ``defvjp``
(the same way the built-in ops are made), whose rules gradcheck must accept when right and
reject, naming the input, the index and both values, when wrong.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import chainrule as cr
from strategies import broadcast_shapes, seeds, shapes, uniform
from torch_ref import check_against_torch


# ----------------------------------------------------------------------------- user ops
@cr.primitive
def softsign(x):
    """The README's example, as written there."""
    return x / (1 + abs(x))


softsign.defvjp(lambda g, out, x: g / (1 + abs(x)) ** 2)


@settings(max_examples=15)
@given(shape=shapes(), seed=seeds)
def test_readme_user_op_gradient_and_second_derivative(shape, seed):
    x = uniform(seed, shape, -3.0, 3.0, avoid=(0.0,))
    assert cr.gradcheck(softsign, [x])
    check_against_torch(softsign, torch.nn.functional.softsign, [x])
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    (gc_,) = cr.gradients(softsign(xc).sum(), [xc], create_graph=True)
    (gt,) = torch.autograd.grad(torch.nn.functional.softsign(xt).sum(), [xt], create_graph=True)
    (hc,) = cr.gradients((gc_ * gc_).sum(), [xc])
    (ht,) = torch.autograd.grad((gt * gt).sum(), [xt])
    np.testing.assert_allclose(hc.numpy(), ht.numpy(), rtol=1e-6, atol=1e-12)


@cr.primitive
def logcosh(x):
    """log(cosh(x)), a smooth op NumPy has no single function for."""
    return np.logaddexp(x, -x) - np.log(2.0)


logcosh.defvjp(lambda g, out, x: g * cr.tanh(x))


@cr.primitive
def hypot(x, y):
    """sqrt(x^2 + y^2), broadcasting like NumPy; each rule returns an output-shaped gradient
    and the engine sums broadcasting away."""
    return np.hypot(x, y)


hypot.defvjp(lambda g, out, x, y: g * x / out,
             lambda g, out, x, y: g * y / out)  # fmt: skip


@cr.primitive
def scaled(x, scale, power=1.0):
    """``scale * x ** power`` with a constant, non-differentiable ``scale`` (rule ``None``)."""
    return scale * x**power


scaled.defvjp(lambda g, out, x, scale, power=1.0: g * scale * power * x ** (power - 1), None)


@settings(max_examples=15)
@given(shape=shapes(), seed=seeds)
def test_user_op_gradient_is_checked(shape, seed):
    x = uniform(seed, shape, -3.0, 3.0)
    assert cr.gradcheck(logcosh, [x])
    check_against_torch(logcosh, lambda t: torch.log(torch.cosh(t)), [x])


@settings(max_examples=15)
@given(shapes=broadcast_shapes(2), seed=seeds)
def test_user_op_with_two_broadcasting_inputs(shapes, seed):
    x = uniform(seed, shapes[0], 0.5, 2.0)
    y = uniform(seed + 1, shapes[1], 0.5, 2.0)
    assert cr.gradcheck(hypot, [x, y])
    check_against_torch(hypot, torch.hypot, [x, y])


def test_user_op_with_constant_input_and_keyword_parameter():
    x = np.array([1.0, 2.0, 3.0])
    assert cr.gradcheck(lambda t: scaled(t, 2.0, power=3.0), [x])
    t = cr.tensor(x, requires_grad=True)
    scaled(t, 2.0, power=3.0).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 6.0 * x**2)
    # The rule for scale is None: the op is declared not differentiable in it, so nothing
    # flows there even when it requires grad (as a torch.autograd.Function returning None).
    s = cr.tensor(2.0, dtype="float64", requires_grad=True)
    t.grad = None
    scaled(t, s).sum().backward()
    assert s.grad is None
    np.testing.assert_allclose(t.grad.numpy(), np.full(3, 2.0))  # d(s x)/dx = s


def test_user_op_with_fewer_rules_than_inputs_names_the_missing_one():
    @cr.primitive
    def shifted(x, shift):
        return x + shift

    shifted.defvjp(lambda g, out, x, shift: g)
    x = cr.tensor([1.0], requires_grad=True)
    shift = cr.tensor([2.0], requires_grad=True)
    with pytest.raises(cr.BackwardError, match="shifted has no gradient rule for input 1"):
        shifted(x, shift).sum().backward()


def test_user_op_second_derivative():
    """Its rule is written with chainrule ops, so it can be differentiated again."""
    x = cr.tensor([0.3, -1.2], dtype="float64", requires_grad=True)
    (g,) = cr.gradients(logcosh(x).sum(), [x], create_graph=True)
    (h,) = cr.gradients(g.sum(), [x])
    np.testing.assert_allclose(h.numpy(), 1 - np.tanh(x.numpy()) ** 2, rtol=1e-12)


def test_user_op_is_a_primitive_with_its_name():
    assert isinstance(logcosh, cr.Primitive)
    y = logcosh(cr.tensor([1.0], requires_grad=True))
    assert y.grad_fn.name == "logcoshBackward"
    assert logcosh.__doc__.startswith("log(cosh(x))")


# ----------------------------------------------------------------------------- wrong rules
@cr.primitive
def bad_square(x):
    return x * x


bad_square.defvjp(lambda g, out, x: g * 3 * x)  # should be 2x


def _parse(message: str) -> tuple[int, tuple[int, ...], float, float]:
    m = re.search(
        r"input (\d+) at index \(([\d, ]*)\): analytical (\S+), numerical (\S+) ", message
    )
    assert m, message
    index = tuple(int(i) for i in m.group(2).split(",") if i.strip())
    return int(m.group(1)), index, float(m.group(3)), float(m.group(4).rstrip(","))


def test_gradcheck_rejects_a_wrong_rule_naming_input_index_and_values():
    x = np.array([[0.5, 1.0], [-4.0, 2.0]])
    y = np.array([1.0, 2.0])
    with pytest.raises(cr.GradcheckError, match=r"gradcheck failed for input 1") as info:
        cr.gradcheck(lambda a, b: (a * bad_square(b)).sum() + bad_square(a).sum() * 0, [y, x])
    inp, index, analytical, numerical = _parse(str(info.value))
    # d/dx of sum(y * x^2) is 2 y x; the rule says 3 y x: worst where |y x| is largest.
    # (gradcheck weights the output by a fixed random factor in [0.5, 1.5), hence ranges.)
    assert (inp, index) == (1, (1, 0))
    assert 0.5 * 2 * -4.0 >= numerical >= 1.5 * 2 * -4.0
    assert analytical / numerical == pytest.approx(1.5, rel=1e-6)


def test_gradcheck_names_a_non_scalar_output_entry():
    """Non-scalar outputs are weighted; the error still points at the input entry."""
    x = np.array([0.1, 0.2, 3.0])
    with pytest.raises(cr.GradcheckError, match="gradcheck failed for input 0") as info:
        cr.gradcheck(bad_square, [x])
    inp, index, analytical, numerical = _parse(str(info.value))
    assert (inp, index) == (0, (2,))
    assert analytical / numerical == pytest.approx(1.5, rel=1e-6)


def test_gradcheck_tolerances_decide():
    @cr.primitive
    def nearly_exp(x):
        return np.exp(x)

    nearly_exp.defvjp(lambda g, out, x: g * out * (1 + 1e-4))  # 0.01% off
    x = np.array([0.5, 1.0])
    assert cr.gradcheck(nearly_exp, [x], rtol=1e-3)
    with pytest.raises(cr.GradcheckError, match=r"analytical .* numerical"):
        cr.gradcheck(nearly_exp, [x], atol=1e-9, rtol=1e-6)


def test_gradcheck_returns_true_and_works_from_float32_inputs():
    x = cr.randn(3, 2)  # float32: gradcheck converts to float64 itself
    assert cr.gradcheck(lambda t: cr.sigmoid(t) * t, [x]) is True


def test_gradcheck_with_an_unused_input():
    assert cr.gradcheck(lambda a, b: (a * a).sum(), [np.ones(2), np.ones(3)])


# ----------------------------------------------------------------------------- numerical_grad
@settings(max_examples=10)
@given(shape=shapes(), seed=seeds)
def test_numerical_grad_matches_the_derivative(shape, seed):
    x, y = uniform(seed, shape), uniform(seed + 1, shape)
    gx, gy = cr.numerical_grad(lambda a, b: (a**3 * b).sum(), [x, y])
    assert gx.dtype == np.float64 and gx.shape == x.shape and gy.shape == y.shape
    np.testing.assert_allclose(gx, 3 * x**2 * y, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gy, x**3, rtol=1e-6, atol=1e-8)


def test_numerical_grad_needs_a_scalar_function():
    with pytest.raises(cr.ShapeError, match=r"one element, got shape \(2,\)"):
        cr.numerical_grad(lambda a: a * 2, [np.ones(2)])


def test_gradcheck_perturbs_fortran_ordered_inputs():
    """A transposed (Fortran-ordered) input: each element is still perturbed (a flat copy
    would leave the function unchanged and the numerical gradient 0)."""
    x = np.asfortranarray(np.arange(6.0).reshape(2, 3) + 1)
    (g,) = cr.numerical_grad(lambda t: (t * t).sum(), [x])
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)
    assert cr.gradcheck(lambda t: t**3, [x.T])
