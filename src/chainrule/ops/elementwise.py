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
from chainrule.errors import DTypeError
from chainrule.tensor import Tensor


@primitive
def add(x, y):
    """x + y, broadcast (NumPy's ``add``).

    x̄ = ḡ
    ȳ = ḡ
    """
    return backend.xp.add(x, y)


add.defvjp(lambda g, out, x, y: g,
           lambda g, out, x, y: g, keep="")  # fmt: skip


@primitive
def subtract(x, y):
    """x − y, broadcast.

    x̄ = ḡ
    ȳ = −ḡ
    """
    return backend.xp.subtract(x, y)


subtract.defvjp(lambda g, out, x, y: g,
                lambda g, out, x, y: -g, keep="")  # fmt: skip


@primitive
def multiply(x, y):
    """x ⊙ y, broadcast.

    x̄ = ḡ ⊙ y
    ȳ = ḡ ⊙ x
    """
    return backend.xp.multiply(x, y)


multiply.defvjp(lambda g, out, x, y: g * y,
                lambda g, out, x, y: g * x, keep="x y")  # fmt: skip


@primitive
def divide(x, y):
    """x / y, broadcast (true division).

    x̄ = ḡ / y
    ȳ = −ḡ ⊙ out / y
    """
    return backend.xp.divide(x, y)


divide.defvjp(lambda g, out, x, y: g / y,
              lambda g, out, x, y: -g * out / y, keep="y out")  # fmt: skip


@primitive
def power(x, y):
    """x ** y, broadcast.

    x̄ = ḡ ⊙ y ⊙ x^(y − 1)   (0 where y = 0)
    ȳ = ḡ ⊙ out ⊙ log x   (0 where x = 0 and y ≥ 0)
    """
    return backend.xp.power(x, y)


def _power_grad_x(g, out, x, y):
    if not isinstance(y, Tensor):
        if np.all(np.asarray(y) == 0):
            return g * 0
        return g * y * x ** (y - 1)
    # d/dx x^y = y x^(y-1), taken as 0 where y == 0 (also at x == 0, where 0 * inf is NaN),
    # as PyTorch does
    with np.errstate(divide="ignore", invalid="ignore"):
        return where(y == 0, 0, g * y * x ** (y - 1))


def _power_grad_y(g, out, x, y):
    # d/dy x^y = x^y log x. At x == 0 it is 0 for y >= 0 (the limit for y > 0) and
    # inf * log 0 = -inf for y < 0, as in PyTorch.
    if not isinstance(x, Tensor):  # a constant base (2 ** y): take its log in out's dtype
        x = Tensor._make(backend.xp.asarray(x, dtype=out.dtype))
    zero = x == 0
    log_x = where(zero, -np.inf, log(where(zero, 1, x)))
    with np.errstate(invalid="ignore"):  # 0 * -inf where x == 0 < y: replaced by 0
        return where(zero & (y >= 0), 0, g * out * log_x)


power.defvjp(_power_grad_x, _power_grad_y, keep="x y out")


@primitive
def negative(x):
    """−x.

    x̄ = −ḡ
    """
    return backend.xp.negative(x)


negative.defvjp(lambda g, out, x: -g, keep="")


@primitive
def abs(x):
    """|x|.

    x̄ = ḡ ⊙ sign(x)
    """
    return backend.xp.abs(x)


abs.defvjp(lambda g, out, x: g * sign(x), keep="x")


@primitive
def exp(x):
    """eˣ.

    x̄ = ḡ ⊙ out
    """
    return backend.xp.exp(x)


exp.defvjp(lambda g, out, x: g * out, keep="out")


@primitive
def log(x):
    """Natural logarithm.

    x̄ = ḡ / x
    """
    return backend.xp.log(x)


log.defvjp(lambda g, out, x: g / x, keep="x")


@primitive
def sqrt(x):
    """√x.

    x̄ = ḡ / (2 out)
    """
    return backend.xp.sqrt(x)


sqrt.defvjp(lambda g, out, x: g / (2 * out), keep="out")


@primitive
def std_sqrt(x):
    """√x for a variance x ≥ 0, whose gradient is 0 where x = 0 (std's, as PyTorch's).

    x̄ = ḡ / (2 out)   (0 where out = 0)
    """
    return backend.xp.sqrt(x)


def _std_sqrt_grad(g, out, x):
    zero = out == 0
    return where(zero, 0, g / (2 * where(zero, 1, out)))


std_sqrt.defvjp(_std_sqrt_grad, keep="out")


@primitive
def sin(x):
    """sin x.

    x̄ = ḡ ⊙ cos x
    """
    return backend.xp.sin(x)


sin.defvjp(lambda g, out, x: g * cos(x), keep="x")


@primitive
def cos(x):
    """cos x.

    x̄ = −ḡ ⊙ sin x
    """
    return backend.xp.cos(x)


cos.defvjp(lambda g, out, x: -g * sin(x), keep="x")


@primitive
def tanh(x):
    """tanh x.

    x̄ = ḡ ⊙ (1 − out²)
    """
    return backend.xp.tanh(x)


tanh.defvjp(lambda g, out, x: g * (1 - out * out), keep="out")  # the seeds' g'(z) = 1 - g(z)^2


@primitive
def maximum(x, y):
    """Element-wise maximum (NaN propagates); ties split the gradient in half.

    x̄ = ḡ ⊙ ([x > y] + ½[x = y])
    ȳ = ḡ ⊙ ([y > x] + ½[x = y])
    """
    return backend.xp.maximum(x, y)


# Ties split the gradient in half between the two inputs, as in PyTorch.
maximum.defvjp(lambda g, out, x, y: g * _share(x, y),
               lambda g, out, x, y: g * _share(y, x), keep="x y")  # fmt: skip


@primitive
def minimum(x, y):
    """Element-wise minimum (NaN propagates); ties split the gradient in half.

    x̄ = ḡ ⊙ ([x < y] + ½[x = y])
    ȳ = ḡ ⊙ ([y < x] + ½[x = y])
    """
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
    """x limited to [a_min, a_max] (bounds are constants, either may be None).

    x̄ = ḡ ⊙ [a_min ≤ x ≤ a_max]
    """
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
    """x where condition holds, else y (NumPy's ``where``; the condition gets no gradient).

    x̄ = ḡ ⊙ [condition]
    ȳ = ḡ ⊙ [not condition]
    """
    return backend.xp.where(condition, x, y)


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


# ---------------------------------------------------------------- not differentiable
def _nograd(fn: Any, *args: Any) -> Tensor:
    return Tensor._make(fn(*[a.data if isinstance(a, Tensor) else a for a in args]))


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


def logical_xor(x, y):
    return _nograd(backend.xp.logical_xor, x, y)


def isinf(x):
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


@primitive
def sign(x):
    """−1, 0 or 1 by the sign of x.

    x̄ = 0
    """
    return backend.xp.sign(x)


sign.defvjp(_zero_grad, keep="")


@primitive
def floor(x):
    """The largest integer ≤ x (float result).

    x̄ = 0
    """
    return backend.xp.floor(x)


floor.defvjp(_zero_grad, keep="")


@primitive
def ceil(x):
    """The smallest integer ≥ x (float result).

    x̄ = 0
    """
    return backend.xp.ceil(x)


ceil.defvjp(_zero_grad, keep="")


@primitive
def trunc(x):
    """x rounded towards zero (float result).

    x̄ = 0
    """
    return backend.xp.trunc(x)


trunc.defvjp(_zero_grad, keep="")


@primitive
def round(x, decimals=0):
    """x rounded to ``decimals`` places, halves to even (NumPy's ``round``).

    x̄ = 0
    """
    return backend.xp.round(x, decimals)


round.defvjp(_zero_grad, keep="")


def rint(x: Any) -> Tensor:
    """x rounded to the nearest integer, halves to even (``round(x)``; zero gradient)."""
    return round(x)


fix = trunc


@primitive
def floor_divide(x, y):
    """x // y, rounded towards −∞ (Python's ``//``).

    x̄ = 0
    ȳ = 0
    """
    return backend.xp.floor_divide(x, y)


floor_divide.defvjp(_zero_grad, _zero_grad, keep="")


@primitive
def heaviside(x, values):
    """0 where x < 0, 1 where x > 0, ``values`` where x = 0 (NumPy's ``heaviside``).

    x̄ = 0
    values̄ = ḡ ⊙ [x = 0]
    """
    return backend.xp.heaviside(x, values)


heaviside.defvjp(
    lambda g, out, x, values: _zero_grad(g, out),
    lambda g, out, x, values: g * Tensor._make(_data(x) == 0),
    keep="x",
)


# ---------------------------------------------------------------- trigonometric, hyperbolic
def _data(a: Any) -> Any:
    return a.data if isinstance(a, Tensor) else a


@primitive
def tan(x):
    """tan x.

    x̄ = ḡ ⊙ (1 + out²)
    """
    return backend.xp.tan(x)


tan.defvjp(lambda g, out, x: g * (1 + out * out), keep="out")


@primitive
def arcsin(x):
    """Inverse sine, on [−1, 1].

    x̄ = ḡ / √(1 − x²)
    """
    return backend.xp.arcsin(x)


arcsin.defvjp(lambda g, out, x: g / sqrt(1 - x * x), keep="x")


@primitive
def arccos(x):
    """Inverse cosine, on [−1, 1].

    x̄ = −ḡ / √(1 − x²)
    """
    return backend.xp.arccos(x)


arccos.defvjp(lambda g, out, x: -g / sqrt(1 - x * x), keep="x")


@primitive
def arctan(x):
    """Inverse tangent.

    x̄ = ḡ / (1 + x²)
    """
    return backend.xp.arctan(x)


arctan.defvjp(lambda g, out, x: g / (1 + x * x), keep="x")


@primitive
def arctan2(y, x):
    """The angle of the point (x, y), in (−π, π] (NumPy's ``arctan2(x1, x2)``, x1 = y).

    ȳ = ḡ ⊙ x / (x² + y²)
    x̄ = −ḡ ⊙ y / (x² + y²)
    """
    return backend.xp.arctan2(y, x)


def _arctan2_grads(g, out, y, x):
    gd = g / (x * x + y * y)  # shared by both inputs: one rule for the two (defvjp_all)
    return gd * x, -gd * y


arctan2.defvjp_all(_arctan2_grads, keep="y x")


@primitive
def sinh(x):
    """Hyperbolic sine.

    x̄ = ḡ ⊙ cosh x
    """
    return backend.xp.sinh(x)


sinh.defvjp(lambda g, out, x: g * cosh(x), keep="x")


@primitive
def cosh(x):
    """Hyperbolic cosine.

    x̄ = ḡ ⊙ sinh x
    """
    return backend.xp.cosh(x)


cosh.defvjp(lambda g, out, x: g * sinh(x), keep="x")


@primitive
def arcsinh(x):
    """Inverse hyperbolic sine.

    x̄ = ḡ / √(x² + 1)
    """
    return backend.xp.arcsinh(x)


arcsinh.defvjp(lambda g, out, x: g / sqrt(x * x + 1), keep="x")


@primitive
def arccosh(x):
    """Inverse hyperbolic cosine, for x ≥ 1.

    x̄ = ḡ / √(x² − 1)
    """
    return backend.xp.arccosh(x)


arccosh.defvjp(lambda g, out, x: g / sqrt(x * x - 1), keep="x")


@primitive
def arctanh(x):
    """Inverse hyperbolic tangent, on (−1, 1).

    x̄ = ḡ / (1 − x²)
    """
    return backend.xp.arctanh(x)


arctanh.defvjp(lambda g, out, x: g / (1 - x * x), keep="x")


@primitive
def sinc(x):
    """The normalised sinc sin(πx) / (πx), 1 at 0 (NumPy's and PyTorch's ``sinc``).

    x̄ = ḡ ⊙ (cos(πx) − out) / x   (0 at x = 0)
    """
    return backend.xp.sinc(x)


def _sinc_grad(g, out, x):
    zero = x == 0
    safe = where(zero, 1, x)
    return g * where(zero, 0, (cos(np.pi * safe) - sinc(safe)) / safe)


sinc.defvjp(_sinc_grad, keep="x")


@primitive
def deg2rad(x):
    """Degrees to radians: x π / 180.

    x̄ = ḡ π / 180
    """
    return backend.xp.deg2rad(x)


deg2rad.defvjp(lambda g, out, x: g * (np.pi / 180), keep="")
radians = deg2rad


@primitive
def rad2deg(x):
    """Radians to degrees: x 180 / π.

    x̄ = ḡ 180 / π
    """
    return backend.xp.rad2deg(x)


rad2deg.defvjp(lambda g, out, x: g * (180 / np.pi), keep="")
degrees = rad2deg


@primitive
def hypot(x, y):
    """√(x² + y²) without overflow.

    x̄ = ḡ ⊙ x / out
    ȳ = ḡ ⊙ y / out
    """
    return backend.xp.hypot(x, y)


def _hypot_grads(g, out, x, y):
    go = g / out
    return go * x, go * y


hypot.defvjp_all(_hypot_grads, keep="x y out")


# ---------------------------------------------------------------- exponentials and logarithms
@primitive
def log1p(x):
    """log(1 + x), accurate for small x.

    x̄ = ḡ / (1 + x)
    """
    return backend.xp.log1p(x)


log1p.defvjp(lambda g, out, x: g / (1 + x), keep="x")


@primitive
def expm1(x):
    """eˣ − 1, accurate for small x.

    x̄ = ḡ ⊙ (out + 1)
    """
    return backend.xp.expm1(x)


expm1.defvjp(lambda g, out, x: g * (out + 1), keep="out")


@primitive
def log2(x):
    """Base-2 logarithm.

    x̄ = ḡ / (x ln 2)
    """
    return backend.xp.log2(x)


log2.defvjp(lambda g, out, x: g / (x * math.log(2)), keep="x")


@primitive
def log10(x):
    """Base-10 logarithm.

    x̄ = ḡ / (x ln 10)
    """
    return backend.xp.log10(x)


log10.defvjp(lambda g, out, x: g / (x * math.log(10)), keep="x")


@primitive
def exp2(x):
    """2ˣ.

    x̄ = ḡ ⊙ out ln 2
    """
    return backend.xp.exp2(x)


exp2.defvjp(lambda g, out, x: g * out * math.log(2), keep="out")


@primitive
def logaddexp(x, y):
    """log(eˣ + eʸ), computed without overflow.

    x̄ = ḡ ⊙ e^(x − out)
    ȳ = ḡ ⊙ e^(y − out)
    """
    return backend.xp.logaddexp(x, y)


logaddexp.defvjp(lambda g, out, x, y: g * exp(x - out),
                 lambda g, out, x, y: g * exp(y - out), keep="x y out")  # fmt: skip


@primitive
def logaddexp2(x, y):
    """log₂(2ˣ + 2ʸ), computed without overflow.

    x̄ = ḡ ⊙ 2^(x − out)
    ȳ = ḡ ⊙ 2^(y − out)
    """
    return backend.xp.logaddexp2(x, y)


logaddexp2.defvjp(lambda g, out, x, y: g * exp2(x - out),
                  lambda g, out, x, y: g * exp2(y - out), keep="x y out")  # fmt: skip


# ---------------------------------------------------------------- powers
@primitive
def square(x):
    """x².

    x̄ = 2 ḡ ⊙ x
    """
    return backend.xp.square(x)


square.defvjp(lambda g, out, x: 2 * g * x, keep="x")


@primitive
def reciprocal(x):
    """1 / x.

    x̄ = −ḡ ⊙ out²
    """
    return backend.xp.reciprocal(x)


reciprocal.defvjp(lambda g, out, x: -g * out * out, keep="out")


@primitive
def cbrt(x):
    """The real cube root (negative for negative x).

    x̄ = ḡ / (3 out²)
    """
    return backend.xp.cbrt(x)


cbrt.defvjp(lambda g, out, x: g / (3 * out * out), keep="out")


# ---------------------------------------------------------------- remainders, signs, NaNs
@primitive
def fmod(x, y):
    """The C remainder x − trunc(x / y) y, with the sign of x (NumPy's ``fmod``).

    x̄ = ḡ
    ȳ = −ḡ ⊙ trunc(x / y)
    """
    return backend.xp.fmod(x, y)


fmod.defvjp(lambda g, out, x, y: g,
            lambda g, out, x, y: -g * trunc(x / y), keep="x y")  # fmt: skip


@primitive
def remainder(x, y):
    """x − floor(x / y) y, with the sign of y (Python's ``%``, NumPy's ``remainder``/``mod``).

    x̄ = ḡ
    ȳ = −ḡ ⊙ floor(x / y)
    """
    return backend.xp.remainder(x, y)


remainder.defvjp(lambda g, out, x, y: g,
                 lambda g, out, x, y: -g * floor(x / y), keep="x y")  # fmt: skip
mod = remainder


def _fmax_mask(x: Any, y: Any, pick_x_on_tie: Any) -> Tensor:
    # 1 where x is the chosen input: x wins (or ties) or y is NaN; in fmax's dtype (a float
    # mask times g is faster than a boolean one, and much faster than a where())
    xd, yd = _data(x), _data(y)
    mask = pick_x_on_tie(xd, yd) | backend.xp.isnan(yd)
    return Tensor._make(mask.astype(backend.xp.result_type(xd, yd), copy=False))


@primitive
def fmax(x, y):
    """Element-wise maximum ignoring NaN (NumPy's ``fmax``); a tie goes to x, as in PyTorch.

    x̄ = ḡ ⊙ [x ≥ y or y is NaN]
    ȳ = ḡ ⊙ [not (x ≥ y or y is NaN)]
    """
    return backend.xp.fmax(x, y)


def _fmax_grads(g, out, x, y):
    gx = g * _fmax_mask(x, y, backend.xp.greater_equal)
    return gx, g - gx


fmax.defvjp_all(_fmax_grads, keep="x y")


@primitive
def fmin(x, y):
    """Element-wise minimum ignoring NaN (NumPy's ``fmin``); a tie goes to x, as in PyTorch.

    x̄ = ḡ ⊙ [x ≤ y or y is NaN]
    ȳ = ḡ ⊙ [not (x ≤ y or y is NaN)]
    """
    return backend.xp.fmin(x, y)


def _fmin_grads(g, out, x, y):
    gx = g * _fmax_mask(x, y, backend.xp.less_equal)
    return gx, g - gx


fmin.defvjp_all(_fmin_grads, keep="x y")


@primitive
def copysign(x, y):
    """|x| with the sign of y.

    x̄ = ḡ ⊙ sign(x) ⊙ sign(out)
    ȳ = 0
    """
    return backend.xp.copysign(x, y)


copysign.defvjp(
    lambda g, out, x, y: g * Tensor._make(backend.xp.sign(_data(x)) * backend.xp.sign(out.data)),
    _zero_grad,
    keep="x out",
)


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
