"""The error function on arrays, which NumPy lacks (needed by the exact GELU).

Vectorised evaluation of W. J. Cody's near-minimax rational approximations ("Rational Chebyshev
approximations for the error function", Math. Comp. 23, 1969, pp. 631-638): one rational
function for erf on |x| <= 0.46875, and two for erfc on 0.46875 < |x| <= 4 and |x| > 4.
Accurate to a few ulps in float64; float32 inputs are computed in float64 and cast back.

The erfinv, log-gamma and polygamma evaluations below are NumPy too, so the core needs
nothing else. When SciPy is installed (the ``special`` extra) and the backend is NumPy,
``scipy.special``'s compiled versions of the same functions are used instead (erf, erfc,
erfinv, gammaln, digamma; not polygamma, slower there): the same values to ~1e-15, 5-20x
faster. Set ``USE_SCIPY = False`` to force the NumPy code (the tests run
both).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

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


USE_SCIPY = True
"""Use ``scipy.special`` when it is installed and the backend is NumPy."""
_scipy_modules: dict[str, Any] = {}


def scipy_attr(module: str, name: str) -> Any:
    """``scipy.<module>.<name>`` when SciPy is installed, else None; the import is tried once
    per module (the linear-algebra rules' host fast paths use it too)."""
    mod = _scipy_modules.get(module)
    if mod is None:
        try:
            mod = importlib.import_module(f"scipy.{module}")
        except ImportError:
            mod = False
        _scipy_modules[module] = mod
    return getattr(mod, name) if mod else None


def _scipy(name: str) -> Any:
    """``scipy.special.<name>`` when SciPy may and can be used, else None."""
    if not USE_SCIPY or backend.xp is not np:
        return None
    return scipy_attr("special", name)


def _in_float64(fn: Any, x: Any, *args: Any) -> Any:
    """``fn(*args, x)`` evaluated in float64 and returned in x's floating dtype."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    return np.asarray(fn(*args, x.astype(np.float64, copy=False))).astype(dtype, copy=False)


def _scipy_first(name: str) -> Callable[[Callable], Callable]:
    """Decorator: the function computes with ``scipy.special.<name>`` (in float64, returned in
    the input's floating dtype) when SciPy may and can be used, else with its own NumPy code."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def evaluate(x: Any) -> Any:
            fast = _scipy(name)
            return fn(x) if fast is None else _in_float64(fast, x)

        return evaluate

    return decorate


def _float64(x: Any) -> tuple[Any, Any]:
    """``(x as a float64 array, the dtype to return)``: the NumPy evaluations below compute in
    float64 and give back x's floating dtype (float64 for integer input)."""
    x = backend.xp.asarray(x)
    return x.astype(backend.xp.float64), (x.dtype if x.dtype.kind == "f" else backend.xp.float64)


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


@_scipy_first("erf")
def erf(x: Any) -> Any:
    """Element-wise erf(x) for a floating array.

    >>> import numpy as np, math
    >>> xs = (0.3, 1.7, -5.0)
    >>> bool(abs(erf(np.array(xs)) - [math.erf(v) for v in xs]).max() < 1e-15)
    True
    """
    return _erf_or_erfc(x, complement=False)


@_scipy_first("erfc")
def erfc(x: Any) -> Any:
    """Element-wise erfc(x) = 1 - erf(x), without cancellation for large x."""
    return _erf_or_erfc(x, complement=True)


def normal_cdf(x: Any) -> Any:
    """Phi(x), the standard normal CDF, accurate in the far left tail."""
    return 0.5 * erfc(-x * (1.0 / math.sqrt(2.0)))


def _erf_or_erfc(x: Any, complement: bool) -> Any:
    # Both from the same two pieces: erf on |x| <= 0.46875, erfc(|x|) beyond.
    xp = backend.xp
    x64, dtype = _float64(x)
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


# ---------------------------------------------------------------- erfinv
# M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): a single-precision
# starting point in w = -log(1 - y^2), refined by Halley steps on erf for |y| <= 1/2 and by
# Newton steps on log erfc in the tails, where c = 1 - |y| is exact.
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  2.1858087e-04, -1.25372503e-03, -4.17768164e-03, 2.46640727e-01,
                  1.50140941e00)  # fmt: skip
_GILES_TAIL = (-2.00214257e-04, 1.00950558e-04, 1.34934322e-03, -3.67342844e-03,
               5.73950773e-03, -7.6224613e-03, 9.43887047e-03, 1.00167406e00,
               2.83297682e00)  # fmt: skip
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@_scipy_first("erfinv")
def erfinv(y: Any) -> Any:
    """Element-wise inverse error function on (-1, 1); +-inf at +-1, NaN outside.

    >>> import numpy as np
    >>> bool(abs(erf(erfinv(np.array([-0.999, 0.1, 0.7]))) - [-0.999, 0.1, 0.7]).max() < 1e-15)
    True
    """
    xp = backend.xp
    y64, dtype = _float64(y)
    shape = y64.shape
    y64 = y64.ravel()  # 1-d: 0-d arrays would become scalars below
    a = xp.abs(y64)
    inside = a < 1.0
    a_in = xp.where(inside, a, 0.5)
    w = -xp.log((1.0 - a_in) * (1.0 + a_in))
    x = xp.where(
        w < 5.0, _poly(_GILES_CENTRAL, w - 2.5), _poly(_GILES_TAIL, xp.sqrt(xp.maximum(w, 5.0)) - 3)
    )
    x = x * a_in
    central = a_in <= 0.5
    xc, ac = x[central], a_in[central]
    for _ in range(2):  # Halley on f = erf(x) - a: x - f / (f' + x f)
        f = erf(xc) - ac
        xc = xc - f / (_TWO_OVER_SQRT_PI * xp.exp(-xc * xc) + xc * f)
    tail = ~central
    xt, log_c = x[tail], xp.log(1.0 - a_in[tail])  # 1 - a exact for a > 1/2 (Sterbenz)
    for _ in range(3):  # Newton on log erfc(x) - log c, nearly quadratic in x
        e = erfc(xt)
        xt = xt + (xp.log(e) - log_c) * e / (_TWO_OVER_SQRT_PI * xp.exp(-xt * xt))
    x[central] = xc
    x[tail] = xt
    out = xp.where(inside, x, xp.where(a == 1.0, xp.inf, xp.nan))
    return (xp.sign(y64) * out).astype(dtype, copy=False).reshape(shape)


# ---------------------------------------------------------------- log-gamma
# Lanczos' approximation (g = 7, nine terms; Numerical Recipes' published coefficients) for
# x >= 1/2, and the reflection log|Gamma(x)| = log(pi / |sin(pi x)|) - log Gamma(1 - x) below.
_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)  # fmt: skip
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _sinpi(x: Any) -> Any:
    """sin(pi x) with the argument reduced exactly first (accurate for large |x|)."""
    xp = backend.xp
    r = xp.fmod(x, 2.0)
    return xp.where(r == xp.round(r), 0.0, xp.sin(math.pi * r))  # exactly 0 at the integers


def _lanczos_lgamma(x: Any) -> Any:
    """log Gamma(x) for x >= 1/2."""
    xp = backend.xp
    z = x - 1.0
    s = xp.full_like(z, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        s += c / (z + i)
    t = z + (_LANCZOS_G + 0.5)
    return _HALF_LOG_2PI + (z + 0.5) * xp.log(t) - t + xp.log(s)


@_scipy_first("gammaln")
def gammaln(x: Any) -> Any:
    """Element-wise log|Gamma(x)| (SciPy's gammaln, PyTorch's lgamma); +inf at the poles
    0, -1, -2, ...

    >>> import numpy as np, math
    >>> xs = (0.3, 4.5, -2.5, 170.2)
    >>> got = gammaln(np.array(xs))
    >>> bool(np.allclose(got, [math.lgamma(v) for v in xs], rtol=1e-13))
    True
    """
    xp = backend.xp
    x64, dtype = _float64(x)
    big = x64 >= 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        right = _lanczos_lgamma(xp.where(big, x64, 1.0 - x64))
        s = xp.abs(_sinpi(x64))
        left = xp.log(math.pi / s) - right
        out = xp.where(big, right, left)
    out = xp.where(xp.isinf(x64), xp.inf, out)
    return out.astype(dtype, copy=False)


# ---------------------------------------------------------------- polygamma
# psi^(n) for x >= 10 from its asymptotic series (ten Bernoulli terms); smaller x shifted up with
# psi^(n)(x) = psi^(n)(x + 1) - (-1)^n n! / x^(n+1); negative x reflected with
# (-1)^n psi^(n)(1 - x) - psi^(n)(x) = pi d^n/dx^n cot(pi x).
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
              43867 / 798, -174611 / 330)  # fmt: skip
_SHIFT_TO = 10.0


def _cot_derivative(n: int) -> Any:
    """Coefficients (lowest first) of P_n with d^n/dx^n cot(pi x) = P_n(cot(pi x))."""
    p = np.polynomial.Polynomial([0.0, 1.0])
    for _ in range(n):
        p = -math.pi * np.polynomial.Polynomial([1.0, 0.0, 1.0]) * p.deriv()
    return p.coef


def _polygamma_large(n: int, x: Any) -> Any:
    xp = backend.xp
    inv = 1.0 / x
    z = inv * inv
    coef = [  # the asymptotic series' coefficients, highest first, evaluated by Horner
        _BERNOULLI[k - 1] / (2 * k)
        if n == 0
        else _BERNOULLI[k - 1] * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
        for k in range(len(_BERNOULLI), 0, -1)
    ]
    s = xp.full_like(z, coef[0])
    for c in coef[1:]:  # in place: no new array per term
        s *= z
        s += c
    s *= z
    if n == 0:
        return xp.log(x) - 0.5 * inv - s
    lead = s
    lead += math.factorial(n) * 0.5 * inv
    lead += math.factorial(n - 1)
    lead *= inv**n
    return lead if n % 2 else xp.negative(lead, out=lead)


def polygamma(n: int, x: Any) -> Any:
    """Element-wise n-th derivative of the digamma function (n = 0: digamma itself).

    >>> import numpy as np
    >>> got = polygamma(0, np.array([1.0, 0.5, -0.5]))  # -gamma, -gamma - 2 log 2, ...
    >>> bool(np.allclose(got, [-0.5772156649015329, -1.9635100260214235, 0.03648997397857652]))
    True
    """
    # SciPy's digamma is compiled; its polygamma goes through the Hurwitz zeta function,
    # slower than the NumPy code below
    fast = _scipy("digamma") if n == 0 else None
    if fast is not None:
        return _in_float64(fast, x)
    xp = backend.xp
    x64, dtype = _float64(x)
    neg = x64 < 0.5
    y = xp.where(neg, 1.0 - x64, x64)  # >= 0.5 everywhere
    acc = xp.zeros_like(y)
    sign_fact = (-1) ** n * math.factorial(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # every element shifted by the same number of steps (the recurrence holds for any
        # x > 0): no masks, and the smallest reaches the series' range
        lo = float(y.min()) if y.size else math.inf
        if not math.isfinite(lo):  # NaN or inf somewhere: the least finite element
            finite = y[xp.isfinite(y)]
            lo = float(finite.min()) if finite.size else math.inf
        steps = int(max(0.0, math.ceil(_SHIFT_TO - lo))) if math.isfinite(lo) else 0
        inv = xp.empty_like(y)
        for _ in range(steps):  # Σ 1/yᵏ⁺¹ in place: three arrays however many steps
            xp.divide(1.0, y, out=inv)
            if n == 1:
                inv *= inv
            elif n:
                xp.power(inv, n + 1, out=inv)
            acc += inv
            y += 1.0
        acc *= -sign_fact
        out = _polygamma_large(n, y) + acc
        if bool(neg.any()):
            r = x64 - xp.round(x64)  # cot has period 1
            cot = 1.0 / xp.tan(math.pi * r)
            reflected = (-1) ** n * out - math.pi * _polyval(_cot_derivative(n), cot)
            pole = r == 0
            at_pole = -xp.inf if n == 0 else xp.inf
            at_pole = xp.where(x64 == 0, at_pole, xp.nan) if n == 0 else at_pole
            out = xp.where(neg, xp.where(pole, at_pole, reflected), out)
    out = xp.where(xp.isnan(x64), xp.nan, out)
    return out.astype(dtype, copy=False)


def _polyval(coef_low_first: Any, u: Any) -> Any:
    r = 0.0
    for c in coef_low_first[::-1]:
        r = r * u + c
    return r
