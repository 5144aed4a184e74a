"""The error function on arrays, which NumPy lacks (needed by the exact GELU).

Vectorised evaluation of W. J. Cody's near-minimax rational approximations ("Rational Chebyshev
approximations for the error function", Math. Comp. 23, 1969, pp. 631-638): one rational
function for erf on |x| <= 0.46875, and two for erfc on 0.46875 < |x| <= 4 and |x| > 4.
Accurate to a few ulps in float64; float32 inputs are computed in float64 and cast back.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend

# erf(x) ~ x * A(x^2) / B(x^2) for |x| <= 0.46875 (A, B highest coefficient first).
_A = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
      3.77485237685302021e02, 3.20937758913846947e03)  # fmt: skip
_B = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)  # fmt: skip
# erfc(y) ~ exp(-y^2) C(y) / D(y) for 0.46875 < y <= 4.
_C = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
      6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
      1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)  # fmt: skip
_D = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
# erfc(y) ~ exp(-y^2)/y (1/sqrt(pi) - z P(z)/Q(z)), z = 1/y^2, for y > 4.
_P = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
      1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)  # fmt: skip
_Q = (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip
_SQRT_PI_INV = 1.0 / math.sqrt(math.pi)


def _poly(coeffs: tuple[float, ...], x: Any) -> Any:
    r = coeffs[0]
    for c in coeffs[1:]:
        r = r * x + c
    return r


def _exp_neg_sq(y: Any) -> Any:
    # exp(-y^2) split as exp(-t^2) exp(-(y-t)(y+t)) with t = y rounded down to 1/16, which
    # keeps the relative error small for large y (Cody's trick).
    xp = backend.xp
    t = xp.trunc(y * 16.0) / 16.0
    return xp.exp(-t * t) * xp.exp(-(y - t) * (y + t))


def _erfc_abs(y: Any) -> Any:
    """erfc(y) for y >= 0.46875 (float64)."""
    xp = backend.xp
    out = xp.empty_like(y)
    mid = y <= 4.0
    ym = y[mid]
    out[mid] = _exp_neg_sq(ym) * _poly(_C, ym) / _poly(_D, ym)
    yb = y[~mid]
    with_big = xp.minimum(yb, 27.0)  # erfc underflows to 0 beyond ~26.5 anyway
    z = 1.0 / (with_big * with_big)
    r = z * _poly(_P, z) / _poly(_Q, z)
    out[~mid] = xp.where(yb >= 26.543, 0.0, _exp_neg_sq(with_big) * (_SQRT_PI_INV - r) / with_big)
    return out


def erf(x: Any) -> Any:
    """Element-wise erf(x) for a floating array.

    >>> import numpy as np, math
    >>> xs = (0.3, 1.7, -5.0)
    >>> bool(abs(erf(np.array(xs)) - [math.erf(v) for v in xs]).max() < 1e-15)
    True
    """
    return _erf_or_erfc(x, complement=False)


def erfc(x: Any) -> Any:
    """Element-wise erfc(x) = 1 - erf(x), without cancellation for large x."""
    return _erf_or_erfc(x, complement=True)


def normal_cdf(x: Any) -> Any:
    """Phi(x), the standard normal CDF, accurate in the far left tail."""
    return 0.5 * erfc(-x * (1.0 / math.sqrt(2.0)))


def _erf_or_erfc(x: Any, complement: bool) -> Any:
    # Both from the same two pieces: erf on |x| <= 0.46875, erfc(|x|) beyond.
    xp = backend.xp
    x = xp.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else xp.float64
    x64 = x.astype(xp.float64)
    y = xp.abs(x64)
    out = xp.empty_like(x64)
    small = y <= 0.46875
    xs = x64[small]
    z = xs * xs
    erf_small = xs * _poly(_A, z) / _poly(_B, z)
    big = ~small
    erfc_big = _erfc_abs(y[big])
    if complement:
        out[small] = 1.0 - erf_small
        out[big] = xp.where(x64[big] < 0, 2.0 - erfc_big, erfc_big)
    else:
        out[small] = erf_small
        out[big] = xp.sign(x64[big]) * (1.0 - erfc_big)
    out[xp.isnan(x64)] = xp.nan
    return out.astype(dtype, copy=False)
