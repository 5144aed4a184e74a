"""Comparisons, logic, bits and rounding: ops whose derivative is zero or absent.

Comparisons, logical and bitwise ops give no gradient (their results are booleans or
integers). The piecewise-constant ones (sign, floor, ceil, trunc, round, floor_divide) are
recorded with a zero gradient, so that ``cr.gradients`` returns zeros through them (as PyTorch
does) instead of "not used".
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd import Primitive, is_grad_enabled, primitive
from chainrule.errors import DTypeError
from chainrule.tensor import Tensor


def _data(a: Any) -> Any:
    return a.data if isinstance(a, Tensor) else a


def _raw_unless_graph(as_ops: Callable) -> Callable[[Callable], Callable]:
    """Decorator for a gradient rule computed on raw arrays (fewer temporaries, in place): under
    create_graph the rule is ``as_ops`` instead (tensor ops, so it differentiates again);
    otherwise the decorated function's array, or tuple of arrays and Nones (``defvjp_all``),
    comes back as tensors."""

    def decorate(raw: Callable) -> Callable:
        @functools.wraps(raw)
        def rule(*args: Any, **kwargs: Any) -> Any:
            if is_grad_enabled():
                return as_ops(*args, **kwargs)
            r = raw(*args, **kwargs)
            if isinstance(r, tuple):
                return tuple(None if a is None else Tensor._make(a) for a in r)
            return Tensor._make(r)

        return rule

    return decorate


# ---------------------------------------------------------------- comparisons, logic: no gradient
def _nograd(fn: Any, *args: Any) -> Tensor:
    return Tensor._make(fn(*[a.data if isinstance(a, Tensor) else a for a in args]))


# Each gives a bool tensor of the inputs' broadcast shape (NumPy's rules; nonzero counts as true
# for the logical ops) and no gradient; shapes that do not broadcast raise NumPy's ValueError.
def less(x: Any, y: Any) -> Tensor:
    """Element-wise x < y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.less, x, y)


def less_equal(x: Any, y: Any) -> Tensor:
    """Element-wise x ≤ y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.less_equal, x, y)


def greater(x: Any, y: Any) -> Tensor:
    """Element-wise x > y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.greater, x, y)


def greater_equal(x: Any, y: Any) -> Tensor:
    """Element-wise x ≥ y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.greater_equal, x, y)


def equal(x: Any, y: Any) -> Tensor:
    """Element-wise x == y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.equal, x, y)


def not_equal(x: Any, y: Any) -> Tensor:
    """Element-wise x != y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.not_equal, x, y)


def logical_not(x: Any) -> Tensor:
    """Element-wise not x: a bool tensor of x's shape, no gradient."""
    return _nograd(backend.xp.logical_not, x)


def logical_and(x: Any, y: Any) -> Tensor:
    """Element-wise x and y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.logical_and, x, y)


def logical_or(x: Any, y: Any) -> Tensor:
    """Element-wise x or y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.logical_or, x, y)


def isfinite(x: Any) -> Tensor:
    """Whether x is finite, element-wise: a bool tensor of x's shape, no gradient."""
    return _nograd(backend.xp.isfinite, x)


def isnan(x: Any) -> Tensor:
    """Whether x is NaN, element-wise: a bool tensor of x's shape, no gradient."""
    return _nograd(backend.xp.isnan, x)


def logical_xor(x: Any, y: Any) -> Tensor:
    """Element-wise x xor y, broadcast: a bool tensor, no gradient."""
    return _nograd(backend.xp.logical_xor, x, y)


def isinf(x: Any) -> Tensor:
    """Whether x is ±inf, element-wise: a bool tensor of x's shape, no gradient."""
    return _nograd(backend.xp.isinf, x)


# ---------------------------------------------------------------- bitwise (integers and bools)
def _bitwise(name: str, fn: Any, *args: Any) -> Tensor:
    for a in args:
        kind = backend.xp.asarray(a.data if isinstance(a, Tensor) else a).dtype.kind
        if kind not in "iub":
            dtypes = " and ".join(
                str(backend.xp.asarray(b.data if isinstance(b, Tensor) else b).dtype) for b in args
            )
            hint = {"bitwise_not": "logical_not", "bitwise_and": "logical_and",
                    "bitwise_or": "logical_or", "bitwise_xor": "logical_xor"}.get(name)  # fmt: skip
            raise DTypeError(
                f"{name}: needs integer or boolean tensors, got {dtypes}"
                + (f"; for a truth value of floats use cr.{hint}" if hint else "")
            )
    return _nograd(fn, *args)


def bitwise_not(x):
    """~x: bits flipped for integers, logical not for booleans (NumPy's ``invert``)."""
    return _bitwise("bitwise_not", backend.xp.invert, x)


invert = bitwise_not


def bitwise_and(x, y):
    """x & y on integer or boolean tensors."""
    return _bitwise("bitwise_and", backend.xp.bitwise_and, x, y)


def bitwise_or(x, y):
    """x | y on integer or boolean tensors."""
    return _bitwise("bitwise_or", backend.xp.bitwise_or, x, y)


def bitwise_xor(x, y):
    """x ^ y on integer or boolean tensors."""
    return _bitwise("bitwise_xor", backend.xp.bitwise_xor, x, y)


def left_shift(x, y):
    """x << y on integer tensors."""
    return _bitwise("left_shift", backend.xp.left_shift, x, y)


def right_shift(x, y):
    """x >> y on integer tensors."""
    return _bitwise("right_shift", backend.xp.right_shift, x, y)


# ---------------------------------------------------------------- recorded with a zero gradient
# Piecewise-constant ops: the derivative is 0 wherever it exists. They are recorded, so that
# ``cr.gradients`` returns zeros through them (as PyTorch does) instead of "not used".
def _zero_grad(g, out, *args, **kwargs):
    return Tensor._make(backend.xp.broadcast_to(backend.xp.zeros((), dtype=g.dtype), g.shape))


def _piecewise_constant(xp: str) -> Callable[[Callable], Primitive]:
    """Decorator: the array backend's function ``xp`` (as ``primitive(xp=...)``) as a
    primitive whose every input gets the gradient 0 (a rule per positional input, keeping
    nothing)."""

    def make(template: Callable) -> Primitive:
        prim = primitive(template, xp=xp)
        n = sum(
            p.default is p.empty
            for p in inspect.signature(template).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD
        )
        prim.defvjp(*[_zero_grad] * n, keep="")
        return prim

    return make


@_piecewise_constant("sign")
def sign(x):
    """−1, 0 or 1 by the sign of x.

    x̄ = 0
    """


@_piecewise_constant("floor")
def floor(x):
    """The largest integer ≤ x (float result).

    x̄ = 0
    """


@_piecewise_constant("ceil")
def ceil(x):
    """The smallest integer ≥ x (float result).

    x̄ = 0
    """


@_piecewise_constant("trunc")
def trunc(x):
    """x rounded towards zero (float result).

    x̄ = 0
    """


@_piecewise_constant("round")
def round(x, decimals=0):
    """x rounded to ``decimals`` places, halves to even (NumPy's ``round``).

    x̄ = 0
    """


def rint(x: Any) -> Tensor:
    """x rounded to the nearest integer, halves to even (``round(x)``; zero gradient)."""
    return round(x)


fix = trunc


@_piecewise_constant("floor_divide")
def floor_divide(x, y):
    """x // y, rounded towards −∞ (Python's ``//``).

    x̄ = 0
    ȳ = 0
    """


@primitive(xp="heaviside")
def heaviside(x, values):
    """0 where x < 0, 1 where x > 0, ``values`` where x = 0 (NumPy's ``heaviside``).

    x̄ = 0
    values̄ = ḡ ⊙ [x = 0]
    """


heaviside.defvjp(
    lambda g, out, x, values: _zero_grad(g, out),
    lambda g, out, x, values: g * Tensor._make(_data(x) == 0),
    keep="x",
)
