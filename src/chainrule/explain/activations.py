"""The hidden units g of a traced network, each with its derivative g' written out in NumPy
(independently of the engine's rules), and the modules that compute them.

>>> ACTIVATIONS["tanh"].dg(np.array([0.0]))
array([1.])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import UnsupportedModelError
from chainrule.nn import ELU, GELU, Identity, LeakyReLU, Module, ReLU, Sigmoid, Softplus, Tanh

__all__ = ["ACTIVATIONS", "Activation", "activation_of", "derivative"]


@dataclass(frozen=True)
class Activation:
    """A hidden unit g with its derivative g', both written out in NumPy.

    ``name`` is the seeds' name (``"logistic"``), ``symbol`` how equations write g
    (``"σ"``), ``derivative_text`` g' in words, as the seeds derive it.
    """

    name: str
    symbol: str
    g: Callable[[np.ndarray], np.ndarray]
    dg: Callable[[np.ndarray], np.ndarray]
    definition: str
    derivative_text: str


def _logistic(a: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^{-a}), without overflow for large |a|.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_erf = np.vectorize(math.erf, otypes=[np.float64])
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _phi_cdf(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(a / math.sqrt(2.0)))


def _phi_pdf(a: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)


def activation_of(module: Module) -> Activation:
    """The :class:`Activation` ``module`` computes, with its settings (a ``LeakyReLU``'s
    slope, an ``ELU``'s alpha, a ``Softplus``'s beta and threshold, a ``GELU``'s
    approximation).

    Raises :class:`~chainrule.errors.UnsupportedModelError` for a module that is not one of
    the element-wise activations listed there.
    """
    if isinstance(module, Sigmoid):
        return ACTIVATIONS["logistic"]
    if isinstance(module, Tanh):
        return ACTIVATIONS["tanh"]
    if isinstance(module, ReLU):
        return ACTIVATIONS["relu"]
    if isinstance(module, Identity):
        return ACTIVATIONS["linear"]
    if isinstance(module, LeakyReLU):
        s = float(module.negative_slope)
        return Activation(
            "leaky_relu",
            "LeakyReLU",
            lambda a: np.where(a > 0, a, s * a),
            lambda a: np.where(a > 0, 1.0, s),
            f"g(a) = a for a > 0, {s:g} a otherwise",
            f"g'(a) = 1 for a > 0, {s:g} otherwise",
        )
    if isinstance(module, ELU):
        al = float(module.alpha)
        return Activation(
            "elu",
            "ELU",
            lambda a: np.where(a > 0, a, al * np.expm1(np.minimum(a, 0.0))),
            lambda a: np.where(a > 0, 1.0, al * np.exp(np.minimum(a, 0.0))),
            f"g(a) = a for a > 0, {al:g} (exp(a) − 1) otherwise",
            f"g'(a) = 1 for a > 0, {al:g} exp(a) otherwise",
        )
    if isinstance(module, Softplus):
        beta, thr = float(module.beta), float(module.threshold)
        return Activation(
            "softplus",
            "softplus",
            lambda a: np.where(beta * a > thr, a, np.logaddexp(0.0, beta * a) / beta),
            lambda a: np.where(beta * a > thr, 1.0, _logistic(beta * a)),
            f"g(a) = log(1 + exp({beta:g} a)) / {beta:g}",
            f"g'(a) = σ({beta:g} a), the logistic function",
        )
    if isinstance(module, GELU):
        if module.approximate == "tanh":

            def _t(a: np.ndarray) -> np.ndarray:
                return np.tanh(_SQRT_2_PI * (a + 0.044715 * a**3))

            return Activation(
                "gelu_tanh",
                "GELU",
                lambda a: 0.5 * a * (1.0 + _t(a)),
                lambda a: (
                    0.5 * (1.0 + _t(a))
                    + 0.5 * a * (1.0 - _t(a) ** 2) * _SQRT_2_PI * (1.0 + 3 * 0.044715 * a * a)
                ),
                "g(a) = a (1 + tanh(√(2/π) (a + 0.044715 a³))) / 2",
                "g'(a) = (1 + t)/2 + a (1 − t²) √(2/π) (1 + 0.134145 a²) / 2, t the tanh above",
            )
        return ACTIVATIONS["gelu"]
    raise UnsupportedModelError(
        f"trace: {type(module).__name__} is not an element-wise activation it knows; "
        f"supported: {', '.join(sorted({type(m).__name__ for m in _ACTIVATION_MODULES}))}"
    )


ACTIVATIONS: dict[str, Activation] = {
    "logistic": Activation(
        "logistic",
        "σ",
        _logistic,
        lambda a: _logistic(a) * (1.0 - _logistic(a)),
        "g(a) = 1 / (1 + exp(−a))",
        "g'(a) = g(a) (1 − g(a))",
    ),
    "tanh": Activation(
        "tanh",
        "tanh",
        np.tanh,
        lambda a: 1.0 - np.tanh(a) ** 2,
        "g(a) = (exp(a) − exp(−a)) / (exp(a) + exp(−a))",
        "g'(a) = 1 − g(a)²",
    ),
    "relu": Activation(
        "relu",
        "ReLU",
        lambda a: np.maximum(a, 0.0),
        lambda a: (a > 0).astype(np.float64),
        "g(a) = max(0, a)",
        "g'(a) = 1 for a > 0, 0 for a ≤ 0 (0 at the kink, as PyTorch)",
    ),
    "linear": Activation(
        "linear",
        "id",
        lambda a: a,
        np.ones_like,
        "g(a) = a",
        "g'(a) = 1",
    ),
    "gelu": Activation(
        "gelu",
        "GELU",
        lambda a: a * _phi_cdf(a),
        lambda a: _phi_cdf(a) + a * _phi_pdf(a),
        "g(a) = a Φ(a), Φ the standard normal CDF",
        "g'(a) = Φ(a) + a φ(a)",
    ),
}

_ACTIVATION_MODULES = (
    Sigmoid(),
    Tanh(),
    ReLU(),
    Identity(),
    LeakyReLU(),
    ELU(),
    Softplus(),
    GELU(),
)


def derivative(name: str, a: Any) -> np.ndarray:
    """g'(a) of the activation ``name`` (``"logistic"``, ``"tanh"``, ``"relu"``,
    ``"linear"``, ``"gelu"``) at ``a``, element-wise, in float64.

    >>> derivative("logistic", [0.0]), derivative("relu", [-1.0, 2.0])
    (array([0.25]), array([0., 1.]))

    Raises ``KeyError`` for another name.
    """
    return ACTIVATIONS[name].dg(np.asarray(a, dtype=np.float64))
