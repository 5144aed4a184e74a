"""Arithmetic: sums, products, quotients, extremes, clipping, remainders and casts.

Names: ``x, y`` the inputs, ``out`` the forward result, ``g`` the incoming gradient. Every
rule returns a gradient shaped like ``out``; the engine sums broadcasting away.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.ops.elementwise.discrete import (
    _data,
    _raw_unless_graph,
    _zero_grad,
    floor,
    sign,
    trunc,
)
from chainrule.tensor import Tensor


@primitive(xp="add")
def add(x, y):
    """x + y, broadcast (NumPy's ``add``).

    x̄ = ḡ
    ȳ = ḡ
    """


add.defvjp(lambda g, out, x, y: g,
           lambda g, out, x, y: g, keep="")  # fmt: skip


@primitive(xp="subtract")
def subtract(x, y):
    """x − y, broadcast.

    x̄ = ḡ
    ȳ = −ḡ
    """


subtract.defvjp(lambda g, out, x, y: g,
                lambda g, out, x, y: -g, keep="")  # fmt: skip


@primitive(xp="multiply")
def multiply(x, y):
    """x ⊙ y, broadcast.

    x̄ = ḡ ⊙ y
    ȳ = ḡ ⊙ x
    """


multiply.defvjp(lambda g, out, x, y: g * y,
                lambda g, out, x, y: g * x, keep="x y")  # fmt: skip


@primitive(xp="divide")
def divide(x, y):
    """x / y, broadcast (true division).

    x̄ = ḡ / y
    ȳ = −ḡ ⊙ out / y
    """


divide.defvjp(lambda g, out, x, y: g / y,
              lambda g, out, x, y: -g * out / y, keep="y out")  # fmt: skip


@primitive(xp="negative")
def negative(x):
    """−x.

    x̄ = −ḡ
    """


negative.defvjp(lambda g, out, x: -g, keep="")


@primitive(xp="abs")
def abs(x):
    """|x|.

    x̄ = ḡ ⊙ sign(x)
    """


abs.defvjp(lambda g, out, x: g * sign(x), keep="x")


@primitive(xp="maximum")
def maximum(x, y):
    """Element-wise maximum (NaN propagates); ties split the gradient in half.

    x̄ = ḡ ⊙ ([x > y] + ½[x = y])
    ȳ = ḡ ⊙ ([y > x] + ½[x = y])
    """


# Ties split the gradient in half between the two inputs, as in PyTorch.
maximum.defvjp(lambda g, out, x, y: g * _share(x, y),
               lambda g, out, x, y: g * _share(y, x), keep="x y")  # fmt: skip


@primitive(xp="minimum")
def minimum(x, y):
    """Element-wise minimum (NaN propagates); ties split the gradient in half.

    x̄ = ḡ ⊙ ([x < y] + ½[x = y])
    ȳ = ḡ ⊙ ([y < x] + ½[x = y])
    """


minimum.defvjp(lambda g, out, x, y: g * _share(y, x),
               lambda g, out, x, y: g * _share(x, y), keep="x y")  # fmt: skip


def _share(x: Any, y: Any) -> Tensor:
    """1 where x > y, 1/2 where x == y, 0 elsewhere (not differentiable), in the dtype of
    ``maximum(x, y)`` (a float64 mask would turn float32 gradients into float64)."""
    xd = x.data if isinstance(x, Tensor) else x
    yd = y.data if isinstance(y, Tensor) else y
    share = (xd > yd) + 0.5 * (xd == yd)
    return Tensor._make(share.astype(backend.xp.result_type(xd, yd), copy=False))


@primitive(xp="clip")
def clip(x, a_min=None, a_max=None):
    """x limited to [a_min, a_max] (bounds are constants, either may be None).

    x̄ = ḡ ⊙ [a_min ≤ x ≤ a_max]
    """


def _clip_grad(g, out, x, a_min=None, a_max=None):
    xd, gd = x.data, g.data
    inside = None
    if a_min is not None:
        inside = xd >= (a_min.data if isinstance(a_min, Tensor) else a_min)
    if a_max is not None:
        below = xd <= (a_max.data if isinstance(a_max, Tensor) else a_max)
        inside = below if inside is None else inside & below
    if inside is None:  # no bounds: the identity
        return g
    if is_grad_enabled():  # create_graph: as ops
        return g * Tensor._make(inside)
    # a 0/1 mask in ḡ's dtype times ḡ, in place: faster than ḡ times a boolean mask
    r = backend.xp.asarray(inside).astype(gd.dtype)
    if r.shape == gd.shape:
        r *= gd
    else:  # the bounds broadcast x to the output's shape
        r = r * gd
    return Tensor._make(r)


clip.defvjp(_clip_grad, keep="x a_min a_max")


@primitive(xp="where")
def where(condition, x, y):
    """x where condition holds, else y (NumPy's ``where``; the condition gets no gradient).

    x̄ = ḡ ⊙ [condition]
    ȳ = ḡ ⊙ [not condition]
    """


where.defvjp(None,
             lambda g, out, c, x, y: where(c, g, 0),
             lambda g, out, c, x, y: where(c, 0, g), keep="c")  # fmt: skip


@primitive
def copy(x):
    """A copy of x that stays in the graph (``clone``).

    x̄ = ḡ
    """
    return backend.xp.array(x, copy=True)


copy.defvjp(lambda g, out, x: g, keep="")


@primitive
def astype(x, dtype):
    """x cast to ``dtype``; the gradient comes back in x's dtype.

    x̄ = astype(ḡ, x.dtype)
    """
    return x.astype(dtype)


astype.defvjp(lambda g, out, x, dtype: astype(g, x.dtype), keep="x.shape")


# ---------------------------------------------------------------- powers
@primitive(xp="square")
def square(x):
    """x².

    x̄ = 2 ḡ ⊙ x
    """


@_raw_unless_graph(lambda g, out, x: 2 * g * x)
def _square_grad(g, out, x):
    r = backend.array_module(g.data).multiply(g.data, _data(x))  # one new array, then in place
    r *= 2
    return r


square.defvjp(_square_grad, keep="x")


@primitive(xp="reciprocal")
def reciprocal(x):
    """1 / x.

    x̄ = −ḡ ⊙ out²
    """


reciprocal.defvjp(lambda g, out, x: -g * out * out, keep="out")


@primitive(xp="cbrt")
def cbrt(x):
    """The real cube root (negative for negative x).

    x̄ = ḡ / (3 out²)
    """


cbrt.defvjp(lambda g, out, x: g / (3 * out * out), keep="out")


# ---------------------------------------------------------------- remainders, signs, NaNs
@primitive(xp="fmod")
def fmod(x, y):
    """The C remainder x − trunc(x / y) y, with the sign of x (NumPy's ``fmod``).

    x̄ = ḡ
    ȳ = −ḡ ⊙ trunc(x / y)
    """


fmod.defvjp(lambda g, out, x, y: g,
            lambda g, out, x, y: -g * trunc(x / y), keep="x y")  # fmt: skip


@primitive(xp="remainder")
def remainder(x, y):
    """x − floor(x / y) y, with the sign of y (Python's ``%``, NumPy's ``remainder``/``mod``).

    x̄ = ḡ
    ȳ = −ḡ ⊙ floor(x / y)
    """


remainder.defvjp(lambda g, out, x, y: g,
                 lambda g, out, x, y: -g * floor(x / y), keep="x y")  # fmt: skip
mod = remainder


def _fmax_mask(x: Any, y: Any, pick_x_on_tie: Any, dtype: Any) -> Any:
    # 1 where x is the chosen input: x wins (or ties) or y is NaN, as an array in ``dtype``
    # (a float mask times g is faster than a boolean one, and much faster than a where())
    xd, yd = _data(x), _data(y)
    xp = backend.array_module(xd)
    return (pick_x_on_tie(xd, yd) | xp.isnan(yd)).astype(dtype, copy=False)


def _pick_grads(g, x, y, pick_x_on_tie):
    """(ḡ ⊙ mask, ḡ − ḡ ⊙ mask): fmax's and fmin's gradients, x's mask multiplied in place."""
    m = _fmax_mask(x, y, pick_x_on_tie, g.dtype)
    if is_grad_enabled():  # create_graph: as ops
        gx = g * Tensor._make(m)
        return gx, g - gx
    if m.shape != g.shape:  # x and y broadcast below the output's shape
        m = m * g.data
    else:
        m *= g.data
    return Tensor._make(m), Tensor._make(g.data - m)


@primitive(xp="fmax")
def fmax(x, y):
    """Element-wise maximum ignoring NaN (NumPy's ``fmax``); a tie goes to x, as in PyTorch.

    x̄ = ḡ ⊙ [x ≥ y or y is NaN]
    ȳ = ḡ ⊙ [not (x ≥ y or y is NaN)]
    """


def _fmax_grads(g, out, x, y):
    return _pick_grads(g, x, y, backend.array_module(g.data).greater_equal)


fmax.defvjp_all(_fmax_grads, keep="x y")


@primitive(xp="fmin")
def fmin(x, y):
    """Element-wise minimum ignoring NaN (NumPy's ``fmin``); a tie goes to x, as in PyTorch.

    x̄ = ḡ ⊙ [x ≤ y or y is NaN]
    ȳ = ḡ ⊙ [not (x ≤ y or y is NaN)]
    """


def _fmin_grads(g, out, x, y):
    return _pick_grads(g, x, y, backend.array_module(g.data).less_equal)


fmin.defvjp_all(_fmin_grads, keep="x y")


@primitive(xp="copysign")
def copysign(x, y):
    """|x| with the sign of y.

    x̄ = ḡ ⊙ sign(x) ⊙ sign(out)
    ȳ = 0
    """


def _copysign_grad(g, out, x, y):
    xp = backend.array_module(out.data)
    s = xp.sign(out.data)
    s *= xp.sign(_data(x))  # sign(x) ⊙ sign(out), in place
    if is_grad_enabled():  # create_graph: as ops
        return g * Tensor._make(s)
    s *= g.data
    return Tensor._make(s)


copysign.defvjp(_copysign_grad, _zero_grad, keep="x out")


@primitive
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """x with NaN, +inf and −inf replaced (by 0 and the dtype's largest finite values, or
    the numbers given).

    x̄ = ḡ ⊙ [x is finite]
    """
    return backend.xp.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


nan_to_num.defvjp(
    lambda g, out, x, nan=0.0, posinf=None, neginf=None: (
        g * Tensor._make(backend.xp.isfinite(x.data))
    ),
    keep="x",
)


def clamp(x: Any, min: Any = None, max: Any = None) -> Tensor:
    """PyTorch's name for :func:`clip`: ``x`` limited to ``[min, max]`` (either may be
    ``None``; tensors broadcast). The gradient passes where ``min <= x <= max``."""
    return clip(x, min, max)
