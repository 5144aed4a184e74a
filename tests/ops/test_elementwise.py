"""Element-wise ops and activations: finite differences and PyTorch, on random shapes.

Unary ops run on hypothesis shapes (0-d to 3-d, size-1 axes); binary ops on pairs of shapes
that broadcast (different ranks, size-1 axes on either side), ``where`` on three. Inputs stay
a fixed gap away from kinks; the behaviour *at* kinks is in ``test_kinks.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import broadcast_shapes, offgrid, seeds, shapes, uniform
from torch_ref import check_against_torch


@dataclass(frozen=True)
class Unary:
    """A unary op, its PyTorch twin, and where to draw its inputs."""

    name: str
    fn: Callable
    ref: Callable
    low: float = -2.0
    high: float = 2.0
    avoid: tuple[float, ...] = ()

    def __repr__(self) -> str:
        return self.name


UNARY = [
    Unary("negative", cr.negative, torch.neg),
    Unary("neg_operator", lambda x: -x, lambda x: -x),
    Unary("abs", cr.abs, torch.abs, avoid=(0.0,)),
    Unary("exp", cr.exp, torch.exp),
    Unary("log", cr.log, torch.log, 0.1, 3.0),
    Unary("sqrt", cr.sqrt, torch.sqrt, 0.1, 3.0),
    Unary("sin", cr.sin, torch.sin, -4.0, 4.0),
    Unary("cos", cr.cos, torch.cos, -4.0, 4.0),
    Unary("tanh", cr.tanh, torch.tanh, -3.0, 3.0),
    Unary("sigmoid", cr.sigmoid, torch.sigmoid, -6.0, 6.0),
    Unary("relu", cr.relu, torch.relu, avoid=(0.0,)),
    Unary("leaky_relu", cr.leaky_relu, F.leaky_relu, avoid=(0.0,)),
    Unary(
        "leaky_relu_0.3",
        lambda x: cr.leaky_relu(x, negative_slope=0.3),
        lambda x: F.leaky_relu(x, negative_slope=0.3),
        avoid=(0.0,),
    ),
    Unary("elu", cr.elu, F.elu, avoid=(0.0,)),
    Unary("elu_0.5", lambda x: cr.elu(x, alpha=0.5), lambda x: F.elu(x, alpha=0.5), avoid=(0.0,)),
    Unary("gelu", cr.gelu, F.gelu, -4.0, 4.0),
    Unary(
        "gelu_tanh",
        lambda x: cr.gelu(x, approximate="tanh"),
        lambda x: F.gelu(x, approximate="tanh"),
        -4.0,
        4.0,
    ),
    Unary("softplus", cr.softplus, F.softplus, -5.0, 5.0),
    Unary(
        "softplus_beta_threshold",  # beta * x = threshold at x = 1.5: PyTorch's switch point
        lambda x: cr.softplus(x, beta=2.0, threshold=3.0),
        lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        -3.0,
        3.0,
        avoid=(1.5,),
    ),
    Unary("erf", cr.erf, torch.erf, -3.0, 3.0),
    Unary("normal_cdf", cr.normal_cdf, torch.special.ndtr, -4.0, 4.0),
    Unary("copy", cr.copy, torch.clone),
    Unary("clone", lambda x: x.clone(), torch.clone),
    Unary("astype_float64", lambda x: cr.astype(x, np.float64), lambda x: x.to(torch.float64)),
    Unary("square", lambda x: x**2, lambda x: x**2),
    Unary("cube", lambda x: x**3, lambda x: x**3),
    Unary("power_2.5", lambda x: x**2.5, lambda x: x**2.5, 0.1, 3.0),
    Unary("power_-1.5", lambda x: x**-1.5, lambda x: x**-1.5, 0.3, 3.0),
    Unary("power_0", lambda x: x**0, lambda x: x**0),
    Unary("rpow", lambda x: 1.7**x, lambda x: 1.7**x),
    Unary("rsub", lambda x: 3.0 - x, lambda x: 3.0 - x),
    Unary("rdiv", lambda x: 2.0 / x, lambda x: 2.0 / x, 0.3, 3.0),
    Unary("scalar_mul", lambda x: x * 1.5 + 0.5, lambda x: x * 1.5 + 0.5),
    Unary(
        "clip",
        lambda x: cr.clip(x, -0.5, 0.7),
        lambda x: torch.clamp(x, -0.5, 0.7),
        avoid=(-0.5, 0.7),
    ),
    Unary(
        "clip_upper_only",
        lambda x: cr.clip(x, None, 0.3),
        lambda x: torch.clamp(x, None, 0.3),
        avoid=(0.3,),
    ),
    Unary(
        "clip_lower_only",
        lambda x: x.clip(a_min=-0.2),
        lambda x: torch.clamp(x, min=-0.2),
        avoid=(-0.2,),
    ),
    Unary(
        "maximum_scalar",
        lambda x: cr.maximum(x, 0.25),
        lambda x: torch.clamp(x, min=0.25),
        avoid=(0.25,),
    ),
    # issue 9: NumPy's wider element-wise surface
    Unary("tan", cr.tan, torch.tan, -1.2, 1.2),
    Unary("tan_method", lambda x: x.tan(), torch.tan, -1.2, 1.2),
    Unary("arcsin", cr.arcsin, torch.asin, -0.9, 0.9),
    Unary("arccos", cr.arccos, torch.acos, -0.9, 0.9),
    Unary("arctan", cr.arctan, torch.atan, -3.0, 3.0),
    Unary("sinh", cr.sinh, torch.sinh, -3.0, 3.0),
    Unary("cosh", cr.cosh, torch.cosh, -3.0, 3.0),
    Unary("arcsinh", cr.arcsinh, torch.asinh, -3.0, 3.0),
    Unary("arccosh", cr.arccosh, torch.acosh, 1.1, 4.0),
    Unary("arctanh", cr.arctanh, torch.atanh, -0.9, 0.9),
    Unary("log1p", cr.log1p, torch.log1p, -0.9, 3.0),
    Unary("expm1", cr.expm1, torch.expm1),
    Unary("log2", cr.log2, torch.log2, 0.1, 3.0),
    Unary("log10", cr.log10, torch.log10, 0.1, 3.0),
    Unary("exp2", cr.exp2, torch.exp2),
    Unary("square_op", cr.square, torch.square),
    Unary("reciprocal", cr.reciprocal, torch.reciprocal, 0.3, 3.0),
    Unary("reciprocal_negative", cr.reciprocal, torch.reciprocal, -3.0, -0.3),
    Unary("cbrt", cr.cbrt, lambda x: torch.sign(x) * x.abs() ** (1 / 3), avoid=(0.0,)),
    Unary("sinc", cr.sinc, torch.sinc, -2.5, 2.5),
    Unary("deg2rad", cr.deg2rad, torch.deg2rad, -200.0, 200.0),
    Unary("rad2deg", cr.rad2deg, torch.rad2deg),
    Unary("nan_to_num", cr.nan_to_num, torch.nan_to_num),
    Unary("sign", cr.sign, torch.sign, avoid=(0.0,)),
    Unary("floor", cr.floor, torch.floor, avoid=(-2.0, -1.0, 0.0, 1.0)),
    Unary("ceil", cr.ceil, torch.ceil, avoid=(-2.0, -1.0, 0.0, 1.0)),
    Unary("trunc", cr.trunc, torch.trunc, avoid=(-1.0, 0.0, 1.0)),
    Unary("round", cr.round, torch.round, avoid=(-1.5, -0.5, 0.5, 1.5)),
    Unary("rint", cr.rint, torch.round, avoid=(-1.5, -0.5, 0.5, 1.5)),
    Unary(
        "round_decimals",
        lambda x: x.round(1),
        lambda x: torch.round(x, decimals=1),
        avoid=tuple(k / 10 + 0.05 for k in range(-20, 20)),
    ),
    Unary("erfc", cr.erfc, torch.erfc, -3.0, 3.0),
    Unary("erfinv", cr.special.erfinv, torch.erfinv, -0.95, 0.95),
    Unary("gammaln", cr.special.gammaln, torch.lgamma, 0.2, 6.0),
    Unary("gammaln_negative", cr.gammaln, torch.lgamma, -2.9, -0.1, avoid=(-2.0, -1.0)),
    Unary("digamma", cr.special.digamma, torch.digamma, 0.2, 20.0),
    Unary("digamma_negative", cr.digamma, torch.digamma, -2.9, -0.1, avoid=(-2.0, -1.0)),
    Unary(
        "polygamma_2",
        lambda x: cr.special.polygamma(2, x),
        lambda x: torch.special.polygamma(2, x),
        0.3,
        4.0,
    ),
    # issue 9: PyTorch's other activations
    Unary("silu", cr.silu, F.silu, -6.0, 6.0),
    Unary("mish", cr.mish, F.mish, -6.0, 6.0),
    Unary("selu", cr.selu, F.selu, avoid=(0.0,)),
    Unary("celu", cr.celu, F.celu, avoid=(0.0,)),
    Unary("celu_0.5", lambda x: cr.celu(x, 0.5), lambda x: F.celu(x, 0.5), avoid=(0.0,)),
    Unary("hardtanh", cr.hardtanh, F.hardtanh, avoid=(-1.0, 1.0)),
    Unary(
        "hardtanh_bounds",
        lambda x: cr.hardtanh(x, -0.5, 1.5),
        lambda x: F.hardtanh(x, -0.5, 1.5),
        avoid=(-0.5, 1.5),
    ),
    Unary("relu6", cr.relu6, F.relu6, -2.0, 8.0, avoid=(0.0, 6.0)),
    Unary("hardsigmoid", cr.hardsigmoid, F.hardsigmoid, -5.0, 5.0, avoid=(-3.0, 3.0)),
    Unary("hardswish", cr.hardswish, F.hardswish, -5.0, 5.0, avoid=(-3.0, 3.0)),
    Unary("softsign", cr.softsign, F.softsign, -4.0, 4.0),
    Unary("logsigmoid", cr.logsigmoid, F.logsigmoid, -10.0, 10.0),
    Unary("silu_method", lambda x: x.silu(), F.silu),
    Unary(
        "minimum_scalar",
        lambda x: cr.minimum(x, 0.25),
        lambda x: torch.clamp(x, max=0.25),
        avoid=(0.25,),
    ),
]


@pytest.mark.parametrize("op", UNARY, ids=repr)
@settings(max_examples=12)
@given(shape=shapes(), seed=seeds)
def test_unary_gradcheck(op: Unary, shape, seed):
    x = uniform(seed, shape, op.low, op.high, op.avoid)
    assert cr.gradcheck(op.fn, [x])


@pytest.mark.parametrize("op", UNARY, ids=repr)
@settings(max_examples=12)
@given(shape=shapes(), seed=seeds)
def test_unary_matches_torch(op: Unary, shape, seed):
    x = uniform(seed, shape, op.low, op.high, op.avoid)
    check_against_torch(op.fn, op.ref, [x])


# ----------------------------------------------------------------------------- binary
@dataclass(frozen=True)
class Binary:
    """A binary op and its PyTorch twin; ``draw(seed, shape, side)`` makes input ``side``."""

    name: str
    fn: Callable
    ref: Callable
    draw: Callable[[int, tuple, int], np.ndarray]

    def __repr__(self) -> str:
        return self.name


def _any(seed: int, shape: tuple, side: int) -> np.ndarray:
    return uniform(seed + side, shape)


def _denominator(seed: int, shape: tuple, side: int) -> np.ndarray:
    x = uniform(seed + side, shape, 0.5, 2.0)
    return x if side == 0 else x * np.where(uniform(seed + 7, shape) > 0, 1, -1)


def _power_args(seed: int, shape: tuple, side: int) -> np.ndarray:
    return uniform(seed + side, shape, 0.3, 2.0) if side == 0 else uniform(seed + side, shape)


def _no_ties(seed: int, shape: tuple, side: int) -> np.ndarray:
    return offgrid(seed + side, shape, half=bool(side))


def _remainder_args(seed: int, shape: tuple, side: int) -> np.ndarray:
    """x in [k + 0.2, k + 0.8], y in {+-1, +-2, +-4}: x / y never within 0.05 of an
    integer, where the remainders jump."""
    rng = np.random.default_rng(seed + side)
    if side == 0:
        return rng.integers(-3, 3, size=shape) + rng.uniform(0.2, 0.8, size=shape)
    return rng.choice([-4.0, -2.0, -1.0, 1.0, 2.0, 4.0], size=shape)


def _nonzero(seed: int, shape: tuple, side: int) -> np.ndarray:
    return uniform(seed + side, shape, avoid=(0.0,))


def _xlogy_args(seed: int, shape: tuple, side: int) -> np.ndarray:
    return uniform(seed + side, shape) if side == 0 else uniform(seed + side, shape, 0.3, 2.0)


def _torch_floor_divide(x, y):
    """floor_divide with PyTorch's values and zero gradients (its backward is missing)."""
    return torch.floor_divide(x.detach(), y.detach()) + 0 * x + 0 * y


def _torch_heaviside(x, values):
    """heaviside whose gradient is 1 for ``values`` where x == 0 (PyTorch's has none)."""
    return torch.where(x == 0, values, (x > 0).to(x.dtype)) + 0 * x


BINARY = [
    Binary("add", cr.add, torch.add, _any),
    Binary("add_operator", lambda x, y: x + y, lambda x, y: x + y, _any),
    Binary("subtract", cr.subtract, torch.subtract, _any),
    Binary("sub_operator", lambda x, y: x - y, lambda x, y: x - y, _any),
    Binary("multiply", cr.multiply, torch.multiply, _any),
    Binary("mul_operator", lambda x, y: x * y, lambda x, y: x * y, _any),
    Binary("divide", cr.divide, torch.divide, _denominator),
    Binary("div_operator", lambda x, y: x / y, lambda x, y: x / y, _denominator),
    Binary("power", cr.power, torch.pow, _power_args),
    Binary("pow_operator", lambda x, y: x**y, lambda x, y: x**y, _power_args),
    Binary("maximum", cr.maximum, torch.maximum, _no_ties),
    Binary("minimum", cr.minimum, torch.minimum, _no_ties),
    Binary("arctan2", cr.arctan2, torch.atan2, _any),
    Binary("hypot", cr.hypot, torch.hypot, _any),
    Binary("logaddexp", cr.logaddexp, torch.logaddexp, _any),
    Binary("logaddexp2", cr.logaddexp2, torch.logaddexp2, _any),
    Binary("fmod", cr.fmod, torch.fmod, _remainder_args),
    Binary("remainder", cr.remainder, torch.remainder, _remainder_args),
    Binary("mod_operator", lambda x, y: x % y, lambda x, y: x % y, _remainder_args),
    Binary("floor_divide", cr.floor_divide, _torch_floor_divide, _remainder_args),
    Binary("floordiv_operator", lambda x, y: x // y, _torch_floor_divide, _remainder_args),
    Binary("fmax", cr.fmax, torch.fmax, _no_ties),
    Binary("fmin", cr.fmin, torch.fmin, _no_ties),
    Binary("copysign", cr.copysign, torch.copysign, _nonzero),
    Binary("heaviside", cr.heaviside, _torch_heaviside, _nonzero),
    Binary("xlogy", cr.special.xlogy, torch.xlogy, _xlogy_args),
]


@pytest.mark.parametrize("op", BINARY, ids=repr)
@settings(max_examples=15)
@given(shapes=broadcast_shapes(2), seed=seeds)
def test_binary_gradcheck(op: Binary, shapes, seed):
    x, y = (op.draw(seed, s, i) for i, s in enumerate(shapes))
    assert cr.gradcheck(op.fn, [x, y])


@pytest.mark.parametrize("op", BINARY, ids=repr)
@settings(max_examples=15)
@given(shapes=broadcast_shapes(2), seed=seeds)
def test_binary_matches_torch(op: Binary, shapes, seed):
    x, y = (op.draw(seed, s, i) for i, s in enumerate(shapes))
    check_against_torch(op.fn, op.ref, [x, y])


@pytest.mark.parametrize("op", BINARY, ids=repr)
@given(shapes=broadcast_shapes(2), seed=seeds, which=st.sampled_from([0, 1]))
@settings(max_examples=8)
def test_binary_with_one_constant_input(op: Binary, shapes, seed, which):
    """Only one side requires grad: the other gets none and the first gets the right one."""
    arrays = [op.draw(seed, s, i) for i, s in enumerate(shapes)]
    differentiable = [i == which for i in range(2)]
    check_against_torch(op.fn, op.ref, arrays, differentiable)


# ----------------------------------------------------------------------------- where
@settings(max_examples=20)
@given(shapes=broadcast_shapes(3), seed=seeds)
def test_where_gradcheck_and_torch(shapes, seed):
    cond = np.random.default_rng(seed).random(shapes[0]) > 0.5
    x, y = uniform(seed + 1, shapes[1]), uniform(seed + 2, shapes[2])
    assert cr.gradcheck(lambda a, b: cr.where(cond, a, b), [x, y])
    check_against_torch(
        lambda a, b: cr.where(cr.tensor(cond), a, b),
        lambda a, b: torch.where(torch.tensor(cond), a, b),
        [x, y],
    )


def test_where_condition_from_comparison_gets_no_gradient():
    x = cr.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    mask = x > 0
    assert not mask.requires_grad and mask.dtype == np.bool_
    cr.where(mask, x * 2, x * -1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 2.0, -1.0])


# ----------------------------------------------------------------------------- astype
@pytest.mark.parametrize(("src", "dst"), [("float32", "float64"), ("float64", "float32")])
def test_astype_gradient_comes_back_in_the_input_dtype(src, dst):
    x = cr.tensor([0.5, -1.25, 2.0], dtype=src, requires_grad=True)
    y = x.astype(dst)
    assert y.dtype == np.dtype(dst)
    w = np.array([1.0, 2.0, 3.0])
    (y * cr.tensor(w, dtype=dst)).sum().backward()
    assert x.grad.dtype == np.dtype(src)
    xt = torch.tensor(x.numpy(), requires_grad=True)
    (xt.to(getattr(torch, dst)) * torch.tensor(w, dtype=getattr(torch, dst))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- float32
_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _assert_float32_kept(fn, ref, arrays) -> None:
    """Float32 inputs: the output has PyTorch's dtype and every gradient, as the engine
    hands it over (before ``.grad`` would cast it), is float32 too."""
    xs = [cr.tensor(a, dtype="float32", requires_grad=True) for a in arrays]
    out = fn(*xs)
    expected = ref(*[torch.tensor(a, dtype=torch.float32) for a in arrays]).dtype
    assert _TORCH_DTYPE[out.dtype] == expected, f"output dtype {out.dtype}, torch {expected}"
    grads = cr.gradients((out * 1.5).sum(), xs)
    for i, g in enumerate(grads):
        assert g.dtype == np.float32, f"gradient {i} has dtype {g.dtype}"


@pytest.mark.parametrize("op", UNARY, ids=repr)
def test_unary_keeps_float32(op: Unary):
    _assert_float32_kept(op.fn, op.ref, [uniform(0, (2, 3), op.low, op.high, op.avoid)])


@pytest.mark.parametrize("op", BINARY, ids=repr)
def test_binary_keeps_float32(op: Binary):
    _assert_float32_kept(op.fn, op.ref, [op.draw(0, (2, 3), 0), op.draw(0, (3,), 1)])


@settings(max_examples=15)
@given(shapes=broadcast_shapes(3), seed=seeds)
def test_clip_with_tensor_bounds_by_position_and_keyword(shapes, seed):
    """Bounds given as tensors are constants, as in torch.clamp; they may broadcast x to a
    larger shape (which torch.clamp's backward does not support: gradcheck only then)."""
    x = uniform(seed, shapes[0], avoid=(-0.5, 0.5))
    lo, hi = np.full(shapes[1], -0.5), np.full(shapes[2], 0.5)

    def by_position(t):
        return cr.clip(t, cr.tensor(lo), cr.tensor(hi))

    def by_keyword(t):
        return cr.clip(t, a_min=cr.tensor(lo), a_max=cr.tensor(hi))

    assert cr.gradcheck(by_position, [x])
    assert cr.gradcheck(by_keyword, [x])
    if np.broadcast_shapes(*shapes) == shapes[0]:
        ref = lambda t: torch.clamp(t, torch.from_numpy(lo), torch.from_numpy(hi))
        check_against_torch(by_position, ref, [x])
        check_against_torch(by_keyword, ref, [x])
