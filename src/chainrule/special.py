"""``cr.special``: special functions with gradients (SciPy's ``scipy.special`` names).

Each is a chainrule op (see :mod:`chainrule.ops.special`), computed in NumPy (no SciPy
needed): ``erf``, ``erfc``, ``erfinv``, ``gammaln`` (PyTorch's ``lgamma``), ``digamma``
(``psi``), ``polygamma``, ``xlogy``, ``expit`` (the logistic sigmoid), ``ndtr``
(the normal CDF), ``logsumexp`` and ``softmax`` / ``log_softmax``.

>>> import chainrule as cr
>>> x = cr.tensor([3.0], requires_grad=True)
>>> cr.special.gammaln(x).backward()
>>> round(float(x.grad[0]), 6)  # digamma(3) = 1.5 - Euler's gamma
0.922784
"""

from __future__ import annotations

from chainrule.ops.activation import log_softmax, normal_cdf, sigmoid, softmax
from chainrule.ops.elementwise import expm1, log1p, sinc
from chainrule.ops.reduction import logsumexp
from chainrule.ops.special import digamma, erf, erfc, erfinv, gammaln, polygamma, xlogy

expit = sigmoid
ndtr = normal_cdf
psi = digamma
lgamma = gammaln

__all__ = [
    "digamma", "erf", "erfc", "erfinv", "expit", "expm1", "gammaln", "lgamma", "log1p",
    "log_softmax", "logsumexp", "ndtr", "polygamma", "psi", "sinc", "softmax", "xlogy",
]  # fmt: skip
