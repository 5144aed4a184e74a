"""Powers, exponentials, logarithms, trigonometric and hyperbolic functions.

Names: ``x, y`` the inputs, ``out`` the forward result, ``g`` the incoming gradient. Every
rule returns a gradient shaped like ``out``; the engine sums broadcasting away.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.ops.elementwise.arithmetic import where
from chainrule.ops.elementwise.discrete import _data, _raw_unless_graph
from chainrule.tensor import Tensor


@primitive(xp="power")
def power(x, y):
    """x ** y, broadcast.

    x̄ = ḡ ⊙ y ⊙ x^(y − 1)   (0 where y = 0)
    ȳ = ḡ ⊙ out ⊙ log x   (0 where x = 0 and y ≥ 0)
    """


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


@primitive(xp="exp")
def exp(x):
    """eˣ.

    x̄ = ḡ ⊙ out
    """


exp.defvjp(lambda g, out, x: g * out, keep="out")


@primitive(xp="log")
def log(x):
    """Natural logarithm.

    x̄ = ḡ / x
    """


log.defvjp(lambda g, out, x: g / x, keep="x")


@primitive(xp="sqrt")
def sqrt(x):
    """√x.

    x̄ = ḡ / (2 out)
    """


sqrt.defvjp(lambda g, out, x: g / (2 * out), keep="out")


@primitive(xp="sqrt")
def std_sqrt(x):
    """√x for a variance x ≥ 0, whose gradient is 0 where x = 0 (std's, as PyTorch's).

    x̄ = ḡ / (2 out)   (0 where out = 0)
    """


def _std_sqrt_grad(g, out, x):
    zero = out == 0
    return where(zero, 0, g / (2 * where(zero, 1, out)))


std_sqrt.defvjp(_std_sqrt_grad, keep="out")


@primitive(xp="sin")
def sin(x):
    """sin x.

    x̄ = ḡ ⊙ cos x
    """


sin.defvjp(lambda g, out, x: g * cos(x), keep="x")


@primitive(xp="cos")
def cos(x):
    """cos x.

    x̄ = −ḡ ⊙ sin x
    """


cos.defvjp(lambda g, out, x: -g * sin(x), keep="x")


@primitive(xp="tanh")
def tanh(x):
    """tanh x.

    x̄ = ḡ ⊙ (1 − out²)
    """


@_raw_unless_graph(lambda g, out, sign=1: g * (1 + out * out) if sign > 0 else g * (1 - out * out))
def _one_plus_square(g, out, sign=1):
    """ḡ ⊙ (1 ± out²): tan's (+) and tanh's (−) rule; one new array, filled in place, when
    no graph of the backward is wanted."""
    xp = backend.array_module(g.data)
    d = xp.multiply(out.data, out.data, out=xp.empty_like(g.data))
    if sign > 0:
        d += 1
    else:
        xp.subtract(1, d, out=d)
    d *= g.data
    return d


# the seeds' g'(z) = 1 - g(z)^2
tanh.defvjp(lambda g, out, x: _one_plus_square(g, out, -1), keep="out")


# ---------------------------------------------------------------- trigonometric, hyperbolic


@primitive(xp="tan")
def tan(x):
    """tan x.

    x̄ = ḡ ⊙ (1 + out²)
    """


tan.defvjp(lambda g, out, x: _one_plus_square(g, out), keep="out")


@primitive(xp="arcsin")
def arcsin(x):
    """Inverse sine, on [−1, 1].

    x̄ = ḡ / √(1 − x²)
    """


@_raw_unless_graph(lambda g, out, x, sign=1: (g if sign > 0 else -g) / sqrt(1 - x * x))
def _arcsin_grad(g, out, x, sign=1):
    """±ḡ / √(1 − x²): arcsin's (sign 1) and arccos's (sign −1) gradient."""
    xp = backend.array_module(g.data)
    d = xp.multiply(x.data, x.data, out=xp.empty_like(g.data))  # then in place
    xp.subtract(1, d, out=d)
    xp.sqrt(d, out=d)
    xp.divide(g.data, d, out=d)
    if sign < 0:
        xp.negative(d, out=d)
    return d


arcsin.defvjp(_arcsin_grad, keep="x")


@primitive(xp="arccos")
def arccos(x):
    """Inverse cosine, on [−1, 1].

    x̄ = −ḡ / √(1 − x²)
    """


arccos.defvjp(lambda g, out, x: _arcsin_grad(g, out, x, -1), keep="x")


@primitive(xp="arctan")
def arctan(x):
    """Inverse tangent.

    x̄ = ḡ / (1 + x²)
    """


arctan.defvjp(lambda g, out, x: g / (1 + x * x), keep="x")


@primitive(xp="arctan2")
def arctan2(y, x):
    """The angle of the point (x, y), in (−π, π] (NumPy's ``arctan2(x1, x2)``, x1 = y).

    ȳ = ḡ ⊙ x / (x² + y²)
    x̄ = −ḡ ⊙ y / (x² + y²)
    """


def _arctan2_grads_as_ops(g, out, y, x):
    gd = g / (x * x + y * y)  # shared by both inputs: one rule for the two (defvjp_all)
    return gd * x, -gd * y


@_raw_unless_graph(_arctan2_grads_as_ops)
def _arctan2_grads(g, out, y, x):
    xp = backend.array_module(g.data)
    yd, xd = _data(y), _data(x)
    gd = xp.multiply(xd, xd, out=xp.empty_like(g.data))  # out's shape (x, y broadcast)
    gy = xp.multiply(yd, yd, out=xp.empty_like(gd))
    gd += gy
    xp.divide(g.data, gd, out=gd)
    xp.multiply(gd, xd, out=gy)
    xp.multiply(gd, yd, out=gd)
    xp.negative(gd, out=gd)
    return gy, gd


arctan2.defvjp_all(_arctan2_grads, keep="y x")


@primitive(xp="sinh")
def sinh(x):
    """Hyperbolic sine.

    x̄ = ḡ ⊙ cosh x
    """


sinh.defvjp(lambda g, out, x: g * cosh(x), keep="x")


@primitive(xp="cosh")
def cosh(x):
    """Hyperbolic cosine.

    x̄ = ḡ ⊙ sinh x
    """


cosh.defvjp(lambda g, out, x: g * sinh(x), keep="x")


@primitive(xp="arcsinh")
def arcsinh(x):
    """Inverse hyperbolic sine.

    x̄ = ḡ / √(x² + 1)
    """


arcsinh.defvjp(lambda g, out, x: g / sqrt(x * x + 1), keep="x")


@primitive(xp="arccosh")
def arccosh(x):
    """Inverse hyperbolic cosine, for x ≥ 1.

    x̄ = ḡ / √(x² − 1)
    """


arccosh.defvjp(lambda g, out, x: g / sqrt(x * x - 1), keep="x")


@primitive(xp="arctanh")
def arctanh(x):
    """Inverse hyperbolic tangent, on (−1, 1).

    x̄ = ḡ / (1 − x²)
    """


arctanh.defvjp(lambda g, out, x: g / (1 - x * x), keep="x")


@primitive(xp="sinc")
def sinc(x):
    """The normalised sinc sin(πx) / (πx), 1 at 0 (NumPy's and PyTorch's ``sinc``).

    x̄ = ḡ ⊙ (cos(πx) − out) / x   (0 at x = 0)
    """


def _sinc_grad(g, out, x):
    zero = x == 0
    safe = where(zero, 1, x)
    return g * where(zero, 0, (cos(np.pi * safe) - sinc(safe)) / safe)


sinc.defvjp(_sinc_grad, keep="x")


@primitive(xp="deg2rad")
def deg2rad(x):
    """Degrees to radians: x π / 180.

    x̄ = ḡ π / 180
    """


deg2rad.defvjp(lambda g, out, x: g * (np.pi / 180), keep="")
radians = deg2rad


@primitive(xp="rad2deg")
def rad2deg(x):
    """Radians to degrees: x 180 / π.

    x̄ = ḡ 180 / π
    """


rad2deg.defvjp(lambda g, out, x: g * (180 / np.pi), keep="")
degrees = rad2deg


@primitive(xp="hypot")
def hypot(x, y):
    """√(x² + y²) without overflow.

    x̄ = ḡ ⊙ x / out
    ȳ = ḡ ⊙ y / out
    """


def _hypot_grads(g, out, x, y):
    go = g / out
    return go * x, go * y


hypot.defvjp_all(_hypot_grads, keep="x y out")


# ---------------------------------------------------------------- exponentials and logarithms
@primitive(xp="log1p")
def log1p(x):
    """log(1 + x), accurate for small x.

    x̄ = ḡ / (1 + x)
    """


log1p.defvjp(lambda g, out, x: g / (1 + x), keep="x")


@primitive(xp="expm1")
def expm1(x):
    """eˣ − 1, accurate for small x.

    x̄ = ḡ ⊙ (out + 1)
    """


expm1.defvjp(lambda g, out, x: g * (out + 1), keep="out")


@primitive(xp="log2")
def log2(x):
    """Base-2 logarithm.

    x̄ = ḡ / (x ln 2)
    """


log2.defvjp(lambda g, out, x: g / (x * math.log(2)), keep="x")


@primitive(xp="log10")
def log10(x):
    """Base-10 logarithm.

    x̄ = ḡ / (x ln 10)
    """


log10.defvjp(lambda g, out, x: g / (x * math.log(10)), keep="x")


@primitive(xp="exp2")
def exp2(x):
    """2ˣ.

    x̄ = ḡ ⊙ out ln 2
    """


exp2.defvjp(lambda g, out, x: g * out * math.log(2), keep="out")


@primitive(xp="logaddexp")
def logaddexp(x, y):
    """log(eˣ + eʸ), computed without overflow.

    x̄ = ḡ ⊙ e^(x − out)
    ȳ = ḡ ⊙ e^(y − out)
    """


logaddexp.defvjp(lambda g, out, x, y: g * exp(x - out),
                 lambda g, out, x, y: g * exp(y - out), keep="x y out")  # fmt: skip


@primitive(xp="logaddexp2")
def logaddexp2(x, y):
    """log₂(2ˣ + 2ʸ), computed without overflow.

    x̄ = ḡ ⊙ 2^(x − out)
    ȳ = ḡ ⊙ 2^(y − out)
    """


logaddexp2.defvjp(lambda g, out, x, y: g * exp2(x - out),
                  lambda g, out, x, y: g * exp2(y - out), keep="x y out")  # fmt: skip
