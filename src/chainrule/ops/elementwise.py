"""Element-wise ops and their derivatives: a table that reads like a calculus book.

Names: ``x, y`` the inputs, ``out`` the forward result, ``g`` the incoming gradient. Every
rule returns a gradient shaped like ``out``; the engine sums broadcasting away.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.ops import _special
from chainrule.tensor import Tensor


@primitive
def add(x, y):
    return backend.xp.add(x, y)


add.defvjp(lambda g, out, x, y: g,
           lambda g, out, x, y: g, keep="")  # fmt: skip


@primitive
def subtract(x, y):
    return backend.xp.subtract(x, y)


subtract.defvjp(lambda g, out, x, y: g,
                lambda g, out, x, y: -g, keep="")  # fmt: skip


@primitive
def multiply(x, y):
    return backend.xp.multiply(x, y)


multiply.defvjp(lambda g, out, x, y: g * y,
                lambda g, out, x, y: g * x, keep="x y")  # fmt: skip


@primitive
def divide(x, y):
    return backend.xp.divide(x, y)


divide.defvjp(lambda g, out, x, y: g / y,
              lambda g, out, x, y: -g * out / y, keep="y out")  # fmt: skip


@primitive
def power(x, y):
    return backend.xp.power(x, y)


def _power_grad_x(g, out, x, y):
    if not isinstance(y, Tensor) and np.all(np.asarray(y) == 0):
        return g * 0
    return g * y * x ** (y - 1)


def _power_grad_y(g, out, x, y):
    # d/dy x^y = x^y log x; taken as 0 where x == 0 (the limit for y > 0), as PyTorch does.
    if not isinstance(x, Tensor):  # a constant base (2 ** y): take its log in out's dtype
        x = Tensor._make(backend.xp.asarray(x, dtype=out.dtype))
    safe = where(x == 0, 1, x)
    return where(x == 0, 0, g * out * log(safe))


power.defvjp(_power_grad_x, _power_grad_y)


@primitive
def negative(x):
    return backend.xp.negative(x)


negative.defvjp(lambda g, out, x: -g, keep="")


@primitive
def abs(x):
    return backend.xp.abs(x)


abs.defvjp(lambda g, out, x: g * sign(x), keep="x")


@primitive
def exp(x):
    return backend.xp.exp(x)


exp.defvjp(lambda g, out, x: g * out, keep="out")


@primitive
def log(x):
    return backend.xp.log(x)


log.defvjp(lambda g, out, x: g / x, keep="x")


@primitive
def sqrt(x):
    return backend.xp.sqrt(x)


sqrt.defvjp(lambda g, out, x: g / (2 * out), keep="out")


@primitive
def sin(x):
    return backend.xp.sin(x)


sin.defvjp(lambda g, out, x: g * cos(x), keep="x")


@primitive
def cos(x):
    return backend.xp.cos(x)


cos.defvjp(lambda g, out, x: -g * sin(x), keep="x")


@primitive
def tanh(x):
    return backend.xp.tanh(x)


tanh.defvjp(lambda g, out, x: g * (1 - out * out), keep="out")  # the seeds' g'(z) = 1 - g(z)^2


@primitive
def maximum(x, y):
    return backend.xp.maximum(x, y)


# Ties split the gradient in half between the two inputs, as in PyTorch.
maximum.defvjp(lambda g, out, x, y: g * _share(x, y),
               lambda g, out, x, y: g * _share(y, x), keep="x y")  # fmt: skip


@primitive
def minimum(x, y):
    return backend.xp.minimum(x, y)


minimum.defvjp(lambda g, out, x, y: g * _share(y, x),
               lambda g, out, x, y: g * _share(x, y), keep="x y")  # fmt: skip


def _share(x: Any, y: Any) -> Tensor:
    """1 where x > y, 1/2 where x == y, 0 elsewhere (not differentiable), in the dtype of
    ``maximum(x, y)`` (a float64 mask would turn float32 gradients into float64)."""
    xd = x.data if isinstance(x, Tensor) else x
    yd = y.data if isinstance(y, Tensor) else y
    share = (xd > yd) + 0.5 * (xd == yd)
    return Tensor._make(share.astype(backend.xp.result_type(xd, yd), copy=False))


@primitive
def clip(x, a_min=None, a_max=None):
    return backend.xp.clip(x, a_min, a_max)


def _clip_grad(g, out, x, a_min=None, a_max=None):
    inside = backend.xp.ones(g.shape, dtype=bool)  # the output's: bounds may broadcast x
    if a_min is not None:
        inside &= x.data >= (a_min.data if isinstance(a_min, Tensor) else a_min)
    if a_max is not None:
        inside &= x.data <= (a_max.data if isinstance(a_max, Tensor) else a_max)
    return g * Tensor._make(inside)


clip.defvjp(_clip_grad, keep="x a_min a_max")


@primitive
def where(condition, x, y):
    return backend.xp.where(condition, x, y)


where.defvjp(None,
             lambda g, out, c, x, y: where(c, g, 0),
             lambda g, out, c, x, y: where(c, 0, g), keep="c")  # fmt: skip


@primitive
def copy(x):
    return backend.xp.array(x, copy=True)


copy.defvjp(lambda g, out, x: g, keep="")


@primitive
def astype(x, dtype):
    return x.astype(dtype)


astype.defvjp(lambda g, out, x, dtype: astype(g, x.dtype), keep="x.shape")


@primitive
def erf(x):
    return _special.erf(x)


erf.defvjp(lambda g, out, x: g * (2 / math.sqrt(math.pi)) * exp(-x * x), keep="x")


# ---------------------------------------------------------------- not differentiable
def _nograd(fn: Any, *args: Any) -> Tensor:
    return Tensor._make(fn(*[a.data if isinstance(a, Tensor) else a for a in args]))


def sign(x):
    """Element-wise sign (no gradient flows through comparisons, signs and rounding)."""
    return _nograd(backend.xp.sign, x)


def less(x, y):
    return _nograd(backend.xp.less, x, y)


def less_equal(x, y):
    return _nograd(backend.xp.less_equal, x, y)


def greater(x, y):
    return _nograd(backend.xp.greater, x, y)


def greater_equal(x, y):
    return _nograd(backend.xp.greater_equal, x, y)


def equal(x, y):
    return _nograd(backend.xp.equal, x, y)


def not_equal(x, y):
    return _nograd(backend.xp.not_equal, x, y)


def logical_not(x):
    return _nograd(backend.xp.logical_not, x)


def logical_and(x, y):
    return _nograd(backend.xp.logical_and, x, y)


def logical_or(x, y):
    return _nograd(backend.xp.logical_or, x, y)


def isfinite(x):
    return _nograd(backend.xp.isfinite, x)


def isnan(x):
    return _nograd(backend.xp.isnan, x)


def floor(x):
    return _nograd(backend.xp.floor, x)


def round(x, decimals=0):
    return _nograd(backend.xp.round, x, decimals)
