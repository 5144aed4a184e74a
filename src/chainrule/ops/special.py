"""Special functions and their derivatives (``cr.special``: SciPy's names).

Forwards are NumPy evaluations in :mod:`chainrule.ops._special` (no SciPy needed); each
gradient rule is written with chainrule ops, so higher derivatives work: erf → e^(−x²),
gammaln → digamma → polygamma(1) → polygamma(2) ...
"""

from __future__ import annotations

import math

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.ops import _special
from chainrule.ops.elementwise.discrete import _data
from chainrule.ops.elementwise.transcendental import exp
from chainrule.tensor import Tensor


@primitive
def erf(x):
    """The error function erf x = 2/√π ∫₀ˣ e^(−t²) dt.

    x̄ = ḡ ⊙ 2/√π e^(−x²)
    """
    return _special.erf(x)


erf.defvjp(lambda g, out, x: g * (2 / math.sqrt(math.pi)) * exp(-x * x), keep="x")


@primitive
def erfc(x):
    """The complementary error function 1 − erf x, without cancellation for large x.

    x̄ = −ḡ ⊙ 2/√π e^(−x²)
    """
    return _special.erfc(x)


erfc.defvjp(lambda g, out, x: g * (-2 / math.sqrt(math.pi)) * exp(-x * x), keep="x")


@primitive
def erfinv(x):
    """The inverse error function on (−1, 1) (±inf at ±1).

    x̄ = ḡ ⊙ √π/2 e^(out²)
    """
    return _special.erfinv(x)


erfinv.defvjp(lambda g, out, x: g * (math.sqrt(math.pi) / 2) * exp(out * out), keep="out")


@primitive
def gammaln(x):
    """log|Γ(x)| (SciPy's ``gammaln``, PyTorch's ``lgamma``).

    x̄ = ḡ ⊙ ψ(x)
    """
    return _special.gammaln(x)


gammaln.defvjp(lambda g, out, x: g * digamma(x), keep="x")


@primitive
def digamma(x):
    """The digamma function ψ(x) = d/dx log Γ(x).

    x̄ = ḡ ⊙ ψ′(x)
    """
    return _special.polygamma(0, x)


digamma.defvjp(lambda g, out, x: g * polygamma(1, x), keep="x")


@primitive
def polygamma(n, x):
    """ψ⁽ⁿ⁾(x), the n-th derivative of the digamma function (``n`` a constant integer ≥ 0).

    x̄ = ḡ ⊙ ψ⁽ⁿ⁺¹⁾(x)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"polygamma: n must be an integer >= 0, got {n!r}")
    return _special.polygamma(int(n), x)


polygamma.defvjp(None, lambda g, out, n, x: g * polygamma(n + 1, x), keep="x")


@primitive
def xlogy(x, y):
    """x log y, and 0 where x = 0 (unless y is NaN) (SciPy's and PyTorch's ``xlogy``).

    x̄ = ḡ ⊙ log y   (0 where x = 0)
    ȳ = ḡ ⊙ x / y
    """
    xp = backend.xp
    with np.errstate(divide="ignore", invalid="ignore"):
        out = xp.multiply(x, xp.log(y))
    return xp.where((xp.asarray(x) == 0) & ~xp.isnan(y), 0, out)


def _xlogy_grad_x(g, out, x, y):
    nonzero = Tensor._make(_data(x) != 0)
    return g * xlogy(nonzero, y)


xlogy.defvjp(_xlogy_grad_x, lambda g, out, x, y: g * x / y, keep="x y")
