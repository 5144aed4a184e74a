"""The one registry of hidden-unit activations: ``get("relu")``, as Keras's ``activations.get``.

Each :class:`Activation` record holds everything the floors above need to know about one
hidden unit g, so adding an activation touches this file only:

=================  =========================================================================
``name``           the registered name (``"relu"``); ``aliases`` are other accepted names
                   (``"sigmoid"`` for ``"logistic"``, ``"linear"`` for ``"identity"``)
``module``         the :mod:`chainrule.nn` module class (``ReLU``), what the CLI's model
                   builder and the scikit-learn estimators put between their ``Linear`` layers
``function``       the functional form (``F.relu``), same values and gradients as the module
``formula``        ``formula(module)``: g and g' written out in NumPy with the module's
                   settings, and both in words, for :mod:`chainrule.explain` (a :class:`Formula`)
``onnx``           ``onnx(graph, module, x, where)``: adds the module's ONNX node(s) to an
                   export graph and returns the output's name (:mod:`chainrule.onnx`)
=================  =========================================================================

The ``graph`` an ``onnx`` entry receives is the exporter's builder: ``graph.node(op, inputs,
where, **attributes)`` adds a node and returns its output's name, ``graph.const(name, value)``
adds an initializer in the graph's dtype and returns its name, ``graph.dtype`` is that dtype.
Nothing here imports ``onnx``.

>>> get("sigmoid").name, get("relu").module.__name__
('logistic', 'ReLU')
>>> get("tanh").formula().derivative_text
"g'(a) = 1 − g(a)²"
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import UnsupportedModelError
from chainrule.nn import functional as F
from chainrule.nn.activation import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from chainrule.nn.layers import Identity
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["ACTIVATIONS", "Activation", "Formula", "get", "lookup", "names", "of"]


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Formula:
    """A hidden unit g with its derivative g', both written out in NumPy (float64 arrays in,
    arrays of the same shape out), as :mod:`chainrule.explain` shows and checks them.

    ``name`` is the seeds' name (``"logistic"``, ``"gelu_tanh"`` for the tanh GELU),
    ``symbol`` how equations write g (``"σ"``), ``definition`` g in words and
    ``derivative_text`` g' in words, as the seeds derive it.
    """

    name: str
    symbol: str
    g: Callable[[np.ndarray], np.ndarray]
    dg: Callable[[np.ndarray], np.ndarray]
    definition: str
    derivative_text: str


@dataclass(frozen=True)
class Activation:
    """One registered activation: its name, module, function, formulas and ONNX export.

    ``formula(module=None)`` returns the :class:`Formula` of ``module`` (an instance of
    ``module``, with its settings: a ``LeakyReLU``'s slope, a ``GELU``'s ``approximate``);
    ``None`` means the module built with its defaults. ``onnx(graph, module, x, where)``
    adds the ONNX node(s) computing ``module`` on graph value ``x`` and returns the output's
    name (see the module docstring for ``graph``).
    """

    name: str
    module: type[Module]
    function: Callable[..., Tensor]
    make_formula: Callable[[Any], Formula]
    onnx: Callable[[Any, Any, str, str], str]
    aliases: tuple[str, ...] = ()

    def formula(self, module: Module | None = None) -> Formula:
        """g and g' of ``module`` (default: ``self.module()``) as a :class:`Formula`."""
        return self.make_formula(self.module() if module is None else module)


# ---------------------------------------------------------------------------- NumPy forms
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


def _tanh_gelu_inner(a: np.ndarray) -> np.ndarray:
    return np.tanh(_SQRT_2_PI * (a + 0.044715 * a**3))


_LOGISTIC = Formula(
    "logistic",
    "σ",
    _logistic,
    lambda a: _logistic(a) * (1.0 - _logistic(a)),
    "g(a) = 1 / (1 + exp(−a))",
    "g'(a) = g(a) (1 − g(a))",
)
_TANH = Formula(
    "tanh",
    "tanh",
    np.tanh,
    lambda a: 1.0 - np.tanh(a) ** 2,
    "g(a) = (exp(a) − exp(−a)) / (exp(a) + exp(−a))",
    "g'(a) = 1 − g(a)²",
)
_RELU = Formula(
    "relu",
    "ReLU",
    lambda a: np.maximum(a, 0.0),
    lambda a: (a > 0).astype(np.float64),
    "g(a) = max(0, a)",
    "g'(a) = 1 for a > 0, 0 for a ≤ 0 (0 at the kink, as PyTorch)",
)
_LINEAR = Formula("linear", "id", lambda a: a, np.ones_like, "g(a) = a", "g'(a) = 1")
_GELU = Formula(
    "gelu",
    "GELU",
    lambda a: a * _phi_cdf(a),
    lambda a: _phi_cdf(a) + a * _phi_pdf(a),
    "g(a) = a Φ(a), Φ the standard normal CDF",
    "g'(a) = Φ(a) + a φ(a)",
)
_GELU_TANH = Formula(
    "gelu_tanh",
    "GELU",
    lambda a: 0.5 * a * (1.0 + _tanh_gelu_inner(a)),
    lambda a: (
        0.5 * (1.0 + _tanh_gelu_inner(a))
        + 0.5 * a * (1.0 - _tanh_gelu_inner(a) ** 2) * _SQRT_2_PI * (1.0 + 3 * 0.044715 * a * a)
    ),
    "g(a) = a (1 + tanh(√(2/π) (a + 0.044715 a³))) / 2",
    "g'(a) = (1 + t)/2 + a (1 − t²) √(2/π) (1 + 0.134145 a²) / 2, t the tanh above",
)


def _leaky_relu_formula(m: LeakyReLU) -> Formula:
    s = float(m.negative_slope)
    return Formula(
        "leaky_relu",
        "LeakyReLU",
        lambda a: np.where(a > 0, a, s * a),
        lambda a: np.where(a > 0, 1.0, s),
        f"g(a) = a for a > 0, {s:g} a otherwise",
        f"g'(a) = 1 for a > 0, {s:g} otherwise",
    )


def _elu_formula(m: ELU) -> Formula:
    al = float(m.alpha)
    return Formula(
        "elu",
        "ELU",
        lambda a: np.where(a > 0, a, al * np.expm1(np.minimum(a, 0.0))),
        lambda a: np.where(a > 0, 1.0, al * np.exp(np.minimum(a, 0.0))),
        f"g(a) = a for a > 0, {al:g} (exp(a) − 1) otherwise",
        f"g'(a) = 1 for a > 0, {al:g} exp(a) otherwise",
    )


def _softplus_formula(m: Softplus) -> Formula:
    beta, thr = float(m.beta), float(m.threshold)
    return Formula(
        "softplus",
        "softplus",
        lambda a: np.where(beta * a > thr, a, np.logaddexp(0.0, beta * a) / beta),
        lambda a: np.where(beta * a > thr, 1.0, _logistic(beta * a)),
        f"g(a) = log(1 + exp({beta:g} a)) / {beta:g}",
        f"g'(a) = σ({beta:g} a), the logistic function",
    )


# ---------------------------------------------------------------------------- ONNX forms
def _onnx_op(op: str) -> Callable[[Any, Any, str, str], str]:
    """The export of a unit that is one attribute-free ONNX op."""

    def emit(graph: Any, module: Any, x: str, where: str) -> str:
        return graph.node(op, [x], where)

    return emit


def _onnx_identity(graph: Any, module: Any, x: str, where: str) -> str:
    return x


def _where_positive(graph: Any, x: str, otherwise: str, where: str) -> str:
    """x where x > 0, else ``otherwise``."""
    positive = graph.node("Greater", [x, graph.const(f"{where[1:]}.zero", 0)], where)
    return graph.node("Where", [positive, x, otherwise], where)


def _onnx_leaky_relu(graph: Any, m: LeakyReLU, x: str, where: str) -> str:
    if graph.dtype == np.float64:  # the alpha attribute is a float32
        slope = graph.const(f"{where[1:]}.negative_slope", m.negative_slope)
        return _where_positive(graph, x, graph.node("Mul", [x, slope], where), where)
    return graph.node("LeakyRelu", [x], where, alpha=float(m.negative_slope))


def _onnx_elu(graph: Any, m: ELU, x: str, where: str) -> str:
    if graph.dtype == np.float64:  # onnxruntime has no double Elu; alpha is float32
        tag = where[1:]
        low = graph.node("Min", [x, graph.const(f"{tag}.zero", 0)], where)
        e = graph.node("Exp", [low], where)
        em1 = graph.node("Sub", [e, graph.const(f"{tag}.one", 1)], where)
        neg = graph.node("Mul", [em1, graph.const(f"{tag}.alpha", m.alpha)], where)
        return _where_positive(graph, x, neg, where)
    return graph.node("Elu", [x], where, alpha=float(m.alpha))


def _onnx_gelu(graph: Any, m: GELU, x: str, where: str) -> str:
    tag = where[1:]
    if m.approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = graph.node("Mul", [x, graph.node("Mul", [x, x], where)], where)
        cubic = graph.node("Mul", [cube, graph.const(f"{tag}.c", 0.044715)], where)
        inner = graph.node("Add", [x, cubic], where)
        k = graph.const(f"{tag}.k", math.sqrt(2 / math.pi))
        t = graph.node("Tanh", [graph.node("Mul", [inner, k], where)], where)
    else:  # x Φ(x) = 0.5 x (1 + erf(x / sqrt 2))
        scaled = graph.node("Div", [x, graph.const(f"{tag}.sqrt2", math.sqrt(2.0))], where)
        t = graph.node("Erf", [scaled], where)
    hx = graph.node("Mul", [x, graph.const(f"{tag}.half", 0.5)], where)
    one_plus_t = graph.node("Add", [t, graph.const(f"{tag}.one", 1.0)], where)
    return graph.node("Mul", [hx, one_plus_t], where)


def _onnx_softplus(graph: Any, m: Softplus, x: str, where: str) -> str:
    """chainrule's softplus: log(1 + exp(beta x)) / beta, and x where beta x > threshold."""
    tag = where[1:]
    beta = float(m.beta)
    b = None if beta == 1.0 else graph.const(f"{tag}.beta", beta)  # one initializer, used twice
    bx = x if b is None else graph.node("Mul", [x, b], where)
    if graph.dtype == np.float64:  # no double Softplus in onnxruntime: relu(z) + log1p(e^-|z|)
        neg_abs = graph.node("Neg", [graph.node("Abs", [bx], where)], where)
        one = graph.const(f"{tag}.one", 1.0)
        e = graph.node("Exp", [neg_abs], where)
        log1p = graph.node("Log", [graph.node("Add", [e, one], where)], where)
        sp = graph.node("Add", [graph.node("Relu", [bx], where), log1p], where)
    else:
        sp = graph.node("Softplus", [bx], where)
    if b is not None:
        sp = graph.node("Div", [sp, b], where)
    if not math.isfinite(m.threshold):
        return sp
    limit = graph.const(f"{tag}.threshold", float(m.threshold))
    return graph.node("Where", [graph.node("Greater", [bx, limit], where), x, sp], where)


def identity(input: Tensor) -> Tensor:
    """g(a) = a: returns ``input`` itself, shape unchanged (the functional form of
    :class:`~chainrule.nn.Identity`)."""
    return input


# ---------------------------------------------------------------------------- the registry
_RECORDS = (
    Activation("relu", ReLU, F.relu, lambda m: _RELU, _onnx_op("Relu")),
    Activation("tanh", Tanh, F.tanh, lambda m: _TANH, _onnx_op("Tanh")),
    Activation(
        "logistic", Sigmoid, F.sigmoid, lambda m: _LOGISTIC, _onnx_op("Sigmoid"), ("sigmoid",)
    ),
    Activation("leaky_relu", LeakyReLU, F.leaky_relu, _leaky_relu_formula, _onnx_leaky_relu),
    Activation("elu", ELU, F.elu, _elu_formula, _onnx_elu),
    Activation(
        "gelu",
        GELU,
        F.gelu,
        lambda m: _GELU_TANH if m.approximate == "tanh" else _GELU,
        _onnx_gelu,
    ),
    Activation("softplus", Softplus, F.softplus, _softplus_formula, _onnx_softplus),
    Activation("identity", Identity, identity, lambda m: _LINEAR, _onnx_identity, ("linear",)),
)

ACTIVATIONS: dict[str, Activation] = {r.name: r for r in _RECORDS}
"""Every registered activation by its name (aliases not included: see :func:`names`)."""

_BY_NAME: dict[str, Activation] = {n: r for r in _RECORDS for n in (r.name, *r.aliases)}
_BY_MODULE: dict[type, Activation] = {r.module: r for r in _RECORDS}


def names(aliases: bool = True) -> tuple[str, ...]:
    """Every accepted name, each record's name followed by its aliases (``aliases=False``:
    the registered names only), in registration order.

    >>> names()[:4]
    ('relu', 'tanh', 'logistic', 'sigmoid')
    """
    return tuple(_BY_NAME) if aliases else tuple(ACTIVATIONS)


def get(name: str) -> Activation:
    """The :class:`Activation` registered as ``name`` or one of its aliases (case and ``-``
    versus ``_`` ignored).

    Raises ``ValueError`` naming the accepted names (and the closest one) for another name.
    """
    record = lookup(name)
    if record is None:
        close = difflib.get_close_matches(str(name), list(_BY_NAME), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown activation {name!r}{hint}; choose from {', '.join(_BY_NAME)}")
    return record


def lookup(name: Any) -> Activation | None:
    """The :class:`Activation` registered as ``name`` or one of its aliases, or ``None``."""
    if not isinstance(name, str):
        return None
    return _BY_NAME.get(name.lower().replace("-", "_"))


def of(module: Module | type) -> Activation:
    """The :class:`Activation` whose module class is exactly ``module``'s class (or
    ``module`` itself, given a class); subclasses are not matched, their forward may differ.

    Raises :class:`~chainrule.errors.UnsupportedModelError` naming the registered classes.
    """
    kind = module if isinstance(module, type) else type(module)
    record = _BY_MODULE.get(kind)
    if record is None:
        known = ", ".join(r.module.__name__ for r in _RECORDS)
        raise UnsupportedModelError(
            f"{kind.__name__} is not a registered activation; registered: {known}"
        )
    return record
