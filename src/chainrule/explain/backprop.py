"""One forward and backward pass through a feed-forward network, recorded in the seeds'
notation and computed three ways.

For a model ``Sequential(Linear, g, Linear, g, ..., Linear)`` with ``L`` linear layers, the
seeds' network is (module 4.1 and the pseudo-code of module 4.8)::

    h_0 = x
    a_k = b_k + W_k h_{k-1},   h_k = g(a_k)        k = 1 .. L-1
    a_L = b_L + W_L h_{L-1},   ŷ = O(a_L)          O = softmax or the identity (linear output)
    ℒ = −log ŷ_y   (softmax + cross-entropy)   or   ℒ = ‖y − ŷ‖²   (linear + squared error)

and its gradients, from the output down::

    ∇_{a_L} ℒ = −(e(y) − ŷ)            (squared error: −2 (y − ŷ))
    ∇_{W_k} ℒ = ∇_{a_k} ℒ h_{k-1}^T     ∇_{b_k} ℒ = ∇_{a_k} ℒ
    ∇_{h_{k-1}} ℒ = W_k^T ∇_{a_k} ℒ     ∇_{a_{k-1}} ℒ = ∇_{h_{k-1}} ℒ ⊙ g'(a_{k-1})

:func:`trace` computes every one of these quantities

1. with the engine: the real model is called once, forward hooks on its layers catch a_k and
   h_k as graph tensors, and reverse mode (:func:`chainrule.gradients`) returns the gradient
   of the loss with respect to each of them and to every parameter;
2. with the formulas above, written out in NumPy in this module (the derivatives g' are
   written here too, independently of the engine's rules);
3. optionally (``check="fd"``) by central finite differences (:func:`chainrule.numerical_grad`).

**Batches** are row-major, as everywhere in chainrule: ``x`` of shape (N, d) holds one example
per row, and so do a_k, h_k and their gradients, shape (N, n_k). Each row follows the seeds'
per-example equations (their column vectors are the rows here). The loss of a batch is the
sum (``reduction="sum"``) or mean (``"mean"``) of the examples' losses, so the parameter
gradients are the sum of the examples' gradients, "batches whose gradients add up" (seed 002):
∇_{W_k} ℒ = Σ_n ∇_{a_k} ℒ^{(n)} h_{k-1}^{(n)T}, which is ``grad_a.T @ h_prev`` in rows, and
∇_{b_k} ℒ = Σ_n ∇_{a_k} ℒ^{(n)}. With the mean, every example's ∇_{a_L} ℒ carries a factor
1/N (squared error: 1/(N k), the mean over all N k outputs); the trace records it as
``scale``. A single example ``x`` of shape (d,) gives vectors, exactly the seeds' equations.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import gradients, no_grad
from chainrule.check import numerical_grad
from chainrule.errors import ShapeError, TargetError, UnsupportedModelError
from chainrule.nn import (
    ELU,
    GELU,
    CrossEntropyLoss,
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    Module,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.nn import functional as F
from chainrule.ops.activation import softmax as _engine_softmax
from chainrule.ops.linalg import linear as _engine_linear
from chainrule.tensor import Tensor

__all__ = ["ACTIVATIONS", "LayerTrace", "Quantity", "Trace", "derivative", "trace"]


# ---------------------------------------------------------------------------- activations
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


def _activation_of(module: Module) -> Activation:
    """The :class:`Activation` a module computes (with its settings)."""
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


# ---------------------------------------------------------------------------- records
@dataclass
class Quantity:
    """One of the seeds' quantities, computed by the engine, by the formulas and, when asked,
    by finite differences.

    ``key`` names it within its layer (``"a"``, ``"grad_W"``...), ``layer`` is k (0 for the
    network's input and for network-wide quantities such as ŷ and ℒ), ``label`` its name in
    the seeds' notation as text (``"∇_{W_2} ℒ"``). Arrays are float64 (or the traced dtype),
    shaped as described in the module docstring.
    """

    key: str
    layer: int
    label: str
    engine: np.ndarray
    formula: np.ndarray
    fd: np.ndarray | None = None

    @property
    def value(self) -> np.ndarray:
        """The engine's value (what training uses)."""
        return self.engine

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.engine))

    @property
    def disagreement(self) -> float:
        """max |engine − formula| over the entries (0 for an empty array)."""
        return _maxdiff(self.engine, self.formula)

    @property
    def fd_disagreement(self) -> float | None:
        """max |engine − finite differences|, or ``None`` when not computed."""
        return None if self.fd is None else _maxdiff(self.engine, self.fd)

    @property
    def norm(self) -> float:
        """The 2-norm (Frobenius for matrices) of the engine's value."""
        return float(np.linalg.norm(np.asarray(self.engine, dtype=np.float64)))

    def __repr__(self) -> str:
        return (
            f"Quantity({self.label}, shape={self.shape}, norm={self.norm:.4g}, "
            f"|engine - formula| = {self.disagreement:.3g})"
        )


def _maxdiff(a: Any, b: Any) -> float:
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return float(d.max()) if d.size else 0.0


@dataclass
class LayerTrace:
    """Layer k: its parameters, the activation g (``None`` for the output layer L, whose
    output function O belongs to the loss) and its quantities by key:

    ``h_prev`` h_{k-1}, ``a`` a_k, ``h`` h_k (hidden layers), ``grad_h`` ∇_{h_k} ℒ (hidden
    layers), ``grad_a`` ∇_{a_k} ℒ, ``grad_W`` ∇_{W_k} ℒ, ``grad_b`` ∇_{b_k} ℒ (for a layer
    without a bias: the gradient a bias at 0 would get, and ``bias`` is zeros), and ``dg``
    g'(a_k) (hidden layers; the engine's value is the gradient of sum(g(a_k)) by g's own
    backward rule, the formula's the derivative written out in this module).
    """

    k: int
    weight: np.ndarray
    bias: np.ndarray
    activation: Activation | None
    quantities: dict[str, Quantity] = field(default_factory=dict)
    module_names: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Quantity:
        return self.quantities[key]

    def __contains__(self, key: str) -> bool:
        return key in self.quantities

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])


@dataclass
class Trace:
    """What :func:`trace` recorded. See the module docstring for the conventions.

    Attributes:
        layers: one :class:`LayerTrace` per linear layer, k = 1 .. L.
        x: the input h_0, (d,) or (N, d). ``y``: the label(s) or target(s).
        loss: ``"cross_entropy"`` (softmax output) or ``"squared_error"`` (linear output).
        reduction: ``"sum"`` or ``"mean"`` over the batch; ``scale`` the factor it puts on
            every example's ∇_{a_L} ℒ (1 for a single example under cross-entropy).
        batched: whether ``x`` was a batch.
        y_hat, loss_value, grad_input: ŷ, ℒ and ∇_{h_0} ℒ = W_1^T ∇_{a_1} ℒ.
        dtype: the floating dtype the pass ran in.
        fd_checked: whether finite differences were computed.
    """

    layers: list[LayerTrace]
    x: np.ndarray
    y: np.ndarray
    loss: str
    reduction: str
    scale: float
    batched: bool
    y_hat: Quantity
    loss_value: Quantity
    grad_input: Quantity
    dtype: np.dtype
    fd_checked: bool = False
    class_names: list[str] | None = None

    @property
    def L(self) -> int:
        """The number of linear layers (the seeds' L)."""
        return len(self.layers)

    @property
    def sizes(self) -> list[int]:
        """Layer widths: input, hidden..., output."""
        return [self.layers[0].in_features, *(lt.out_features for lt in self.layers)]

    @property
    def output(self) -> str:
        """The output function O: ``"softmax"`` or ``"linear"``."""
        return "softmax" if self.loss == "cross_entropy" else "linear"

    def quantities(self) -> Iterator[Quantity]:
        """Every recorded quantity: ŷ, ℒ, ∇_{h_0} ℒ, then each layer's."""
        yield self.y_hat
        yield self.loss_value
        yield self.grad_input
        for lt in self.layers:
            yield from lt.quantities.values()

    @property
    def max_disagreement(self) -> float:
        """The largest |engine − formula| over every entry of every quantity."""
        return max(q.disagreement for q in self.quantities())

    @property
    def worst(self) -> Quantity:
        """The quantity where engine and formulas disagree most."""
        return max(self.quantities(), key=lambda q: q.disagreement)

    @property
    def max_fd_disagreement(self) -> float | None:
        """The largest |engine − finite differences|, or ``None`` without ``check="fd"``."""
        ds = [q.fd_disagreement for q in self.quantities() if q.fd is not None]
        return max(ds) if ds else None

    @property
    def worst_fd(self) -> Quantity | None:
        """The quantity where engine and finite differences disagree most (or ``None``)."""
        qs = [q for q in self.quantities() if q.fd is not None]
        return max(qs, key=lambda q: q.fd_disagreement or 0.0) if qs else None

    def check(self, tol: float = 1e-10, fd_tol: float = 1e-5) -> None:
        """Raise :class:`~chainrule.errors.GradcheckError` naming the quantity when engine and
        formulas disagree by more than ``tol`` (or finite differences by more than
        ``fd_tol``, relative to max(1, |value|))."""
        from chainrule.errors import GradcheckError

        w = self.worst
        if w.disagreement > tol:
            raise GradcheckError(
                f"trace: engine and the seeds' formulas disagree on {w.label} by "
                f"{w.disagreement:.3g} (tolerance {tol:g})"
            )
        for q in self.quantities():
            if q.fd is None:
                continue
            bound = fd_tol * max(1.0, float(np.abs(q.engine).max(initial=0.0)))
            if q.fd_disagreement > bound:
                raise GradcheckError(
                    f"trace: engine and finite differences disagree on {q.label} by "
                    f"{q.fd_disagreement:.3g} (tolerance {bound:.3g})"
                )

    def summary(self) -> str:
        """One paragraph: the network, the example, ŷ's winner or the loss, the check."""
        from chainrule.explain.views import describe_network

        parts = [describe_network(self)]
        n = len(self.x) if self.batched else 1
        parts.append(f"{n} example{'s' if n != 1 else ''}; ℒ = {float(self.loss_value.engine):.6g}")
        parts.append(
            f"largest |engine − formula| = {self.max_disagreement:.3g} (on {self.worst.label})"
        )
        fd = self.max_fd_disagreement
        if fd is not None:
            parts.append(f"largest |engine − finite differences| = {fd:.3g}")
        return "; ".join(parts)

    # Renderings live in chainrule.explain.views; these are conveniences.
    def to_text(self, width: int | None = None, max_entries: int = 30) -> str:
        """The terminal view as plain text (see :func:`chainrule.explain.views.to_text`); by
        default as wide as its tables need."""
        from chainrule.explain.views import to_text

        return to_text(self, width=width, max_entries=max_entries)

    def to_markdown(self, max_entries: int = 64) -> str:
        """Markdown with LaTeX math (see :func:`chainrule.explain.views.to_markdown`)."""
        from chainrule.explain.views import to_markdown

        return to_markdown(self, max_entries=max_entries)

    def to_latex(self, max_entries: int = 64, standalone: bool = True) -> str:
        """A LaTeX document (see :func:`chainrule.explain.views.to_latex`)."""
        from chainrule.explain.views import to_latex

        return to_latex(self, max_entries=max_entries, standalone=standalone)

    def to_html(self, max_entries: int = 64, title: str | None = None) -> str:
        """A self-contained HTML page (see :func:`chainrule.explain.views.to_html`)."""
        from chainrule.explain.views import to_html

        return to_html(self, max_entries=max_entries, title=title)

    def _repr_html_(self) -> str:
        """Jupyter's view: the HTML walk-through inline, math as MathML."""
        from chainrule.explain.views import html_fragment

        return html_fragment(self)

    def __rich__(self) -> Any:
        from chainrule.explain.views import rich_view

        return rich_view(self)

    def __repr__(self) -> str:
        return f"<Trace {self.summary()}>"


# ---------------------------------------------------------------------------- trace
def trace(
    model: Module,
    x: Any,
    y: Any,
    loss: Any = "cross_entropy",
    *,
    check: str | None = None,
    dtype: Any = np.float64,
    fd_eps: float = 1e-6,
    fd_max_entries: int = 20_000,
    class_names: list[str] | None = None,
) -> Trace:
    """Run one forward and backward pass of ``model`` on ``(x, y)`` and record the seeds'
    quantities for every layer, by the engine and by the explicit formulas (and by finite
    differences with ``check="fd"``).

    Args:
        model: a :class:`~chainrule.nn.Sequential` (nested ones are flattened) of
            ``Linear`` layers, each followed by at most one element-wise activation
            (``Sigmoid``, ``Tanh``, ``ReLU``, ``Identity``, ``LeakyReLU``, ``ELU``,
            ``Softplus``, ``GELU``); ``Dropout`` is skipped (the pass runs in eval mode).
            The last module is a ``Linear``: its output a_L goes to the output function,
            which the loss supplies. A lone ``Linear`` works too.
        x: one input (d,) or a row-major batch (N, d).
        y: cross-entropy: a class index, or (N,) indices. Squared error: a target (k,) or
            (N, k) (``(N,)`` when k = 1).
        loss: ``"cross_entropy"`` (softmax output; the seeds' −log ŷ_y) or
            ``"squared_error"`` (linear output; ‖y − ŷ‖²), both summed over a batch; or a
            :class:`~chainrule.nn.CrossEntropyLoss` / :class:`~chainrule.nn.MSELoss` (plain
            ones: no class weights or label smoothing), whose ``reduction`` ("mean" or
            "sum") is followed.
        check: ``"fd"`` to also compute every gradient by central finite differences.
        dtype: the floating dtype of the pass; by default float64, on a copy of the model
            (the model itself is left alone). ``None`` runs the model as it is, in its own
            dtype.
        fd_eps: the finite-difference step.
        fd_max_entries: refuse ``check="fd"`` (``ValueError``) when it would perturb more
            entries than this (each costs two forward passes).
        class_names: names of the classes, for the renderings.

    Returns a :class:`Trace`; ``trace.max_disagreement`` is the largest difference between
    engine and formulas (about 1e-16 in float64). A model with a ``Conv2d`` is handed to
    :func:`~chainrule.explain.conv.trace_conv` and gives its :class:`ConvTrace`.

    Raises :class:`~chainrule.errors.UnsupportedModelError` for a model it cannot follow
    layer by layer, :class:`~chainrule.errors.ShapeError` when ``x`` does not fit the first
    layer or ``y`` the output, :class:`~chainrule.errors.TargetError` for class indices out
    of range, ``ValueError`` for an unknown loss or check.

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
    >>> t = trace(net, [0.5, -1.0, 2.0], 1)
    >>> t.max_disagreement < 1e-12, t.layers[0]["grad_W"].shape
    (True, (4, 3))

    A model or data on a GPU is traced on a host copy (the formulas are NumPy's).
    """
    if any(type(m).__name__ == "Conv2d" for m in model.modules()):
        from chainrule.explain.conv import trace_conv  # a convolution: its own walk-through

        return trace_conv(model, x, int(np.asarray(y)), check=check)  # type: ignore[return-value]
    if any(p.device != backend.CPU for p in model.parameters()):
        model = _copy_as(model, None).to("cpu")
    x, y = (v.cpu() if isinstance(v, Tensor) else v for v in (x, y))
    with backend.host():  # every array of the trace on the host, whatever the backend
        return _trace(model, x, y, loss, check, dtype, fd_eps, fd_max_entries, class_names)


def _trace(
    model: Module,
    x: Any,
    y: Any,
    loss: Any,
    check: str | None,
    dtype: Any,
    fd_eps: float,
    fd_max_entries: int,
    class_names: list[str] | None,
) -> Trace:
    if check not in (None, "fd"):
        raise ValueError(f"trace: check must be None or 'fd', got {check!r}")
    kind, reduction = _loss_kind(loss)
    src_layers = _layers_of(model)
    work = model
    if dtype is not None:
        dt = backend.as_dtype(dtype)
        work = _copy_as(model, dt)
        layers = _layers_of(work)
    else:
        layers = src_layers
        dt = layers[0][0].weight.data.dtype
    if dt.kind != "f":
        raise ValueError(f"trace: dtype must be floating, got {dt}")

    X, batched = _inputs(x, layers[0][0].in_features, dt)
    Y = _targets(y, kind, len(X), layers[-1][0].out_features, dt)
    n, k_out = len(X), layers[-1][0].out_features
    scale = 1.0
    if reduction == "mean":
        scale = 1.0 / n if kind == "cross_entropy" else 1.0 / (n * k_out)
    loss_fn = _engine_loss(kind, reduction)

    engine = _engine_pass(work, layers, X, Y, loss_fn, kind)
    params = [(lin.weight.data.astype(np.float64), _bias(lin)) for lin, _, _ in layers]
    acts: list[Activation | None] = [
        _activation_of(act) if act is not None else ACTIVATIONS["linear"] for _, act, _ in layers
    ]
    acts[-1] = None  # the output layer's O comes from the loss
    formula = _formula_pass(params, acts, X.astype(np.float64), Y, kind, scale)
    fd = _fd_pass(layers, params, X, Y, loss_fn, fd_eps, fd_max_entries) if check == "fd" else None

    squeeze = (lambda a: a[0]) if not batched else (lambda a: a)
    L = len(layers)
    out_layers = []
    for i, ((_lin, _act, names), (W, b), g) in enumerate(zip(layers, params, acts)):
        k = i + 1
        lt = LayerTrace(k, W, b, g, module_names=names)
        rows = [("h_prev", f"h_{k - 1}", "h", i, True), ("a", f"a_{k}", "a", i, True)]
        if k < L:
            rows += [
                ("h", f"h_{k}", "h", k, True),
                ("dg", f"g'(a_{k})", "dg", i, True),
                ("grad_h", f"∇_{{h_{k}}} ℒ", "grad_h", k, True),
            ]
        rows += [
            ("grad_a", f"∇_{{a_{k}}} ℒ", "grad_a", i, True),
            ("grad_W", f"∇_{{W_{k}}} ℒ", "grad_W", i, False),
            ("grad_b", f"∇_{{b_{k}}} ℒ", "grad_b", i, False),
        ]
        for key, label, src, j, per_example in rows:
            s = squeeze if per_example else np.asarray
            fdv = None if fd is None or src not in fd else fd[src][j]
            lt.quantities[key] = Quantity(
                key,
                k,
                label,
                s(engine[src][j]),
                s(formula[src][j]),
                None if fdv is None else s(fdv),
            )
        out_layers.append(lt)

    y_hat = Quantity("y_hat", L, "ŷ", squeeze(engine["y_hat"]), squeeze(formula["y_hat"]))
    loss_q = Quantity("loss", L, "ℒ", np.asarray(engine["loss"]), np.asarray(formula["loss"]))
    grad_in = Quantity(
        "grad_input",
        0,
        "∇_{h_0} ℒ",
        squeeze(engine["grad_h"][0]),
        squeeze(formula["grad_h"][0]),
        None if fd is None else squeeze(fd["grad_h"][0]),
    )
    y_out = Y if batched else Y[0]
    return Trace(
        layers=out_layers,
        x=squeeze(X.astype(np.float64)),
        y=np.asarray(y_out),
        loss=kind,
        reduction=reduction,
        scale=scale,
        batched=batched,
        y_hat=y_hat,
        loss_value=loss_q,
        grad_input=grad_in,
        dtype=np.dtype(dt),
        fd_checked=fd is not None,
        class_names=class_names,
    )


# ---------------------------------------------------------------------------- model
def _leaves(model: Module, prefix: str = "") -> list[tuple[str, Module]]:
    if isinstance(model, Sequential):
        out = []
        for name, child in model.named_children():
            out.extend(_leaves(child, f"{prefix}{name}."))
        return out
    return [(prefix.rstrip(".") or type(model).__name__, model)]


def _layers_of(model: Module) -> list[tuple[Linear, Module | None, tuple[str, ...]]]:
    """Group a Sequential into (Linear, activation or None, module names) per layer."""
    if not isinstance(model, (Sequential, Linear)):
        raise UnsupportedModelError(
            f"trace follows a Sequential of Linear layers and activations, got "
            f"{type(model).__name__}"
        )
    leaves = [(n, m) for n, m in _leaves(model) if not isinstance(m, Dropout)]
    layers: list[tuple[Linear, Module | None, tuple[str, ...]]] = []
    for name, m in leaves:
        if isinstance(m, Linear):
            layers.append((m, None, (name,)))
            continue
        if isinstance(m, Softmax):
            raise UnsupportedModelError(
                f"trace: module {name} is a Softmax; the output function comes from the loss "
                "(cross-entropy applies the softmax to the last layer's a_L), so end the model "
                "with its last Linear layer"
            )
        _activation_of(m)  # raises for modules that are not supported activations
        if not layers:
            raise UnsupportedModelError(
                f"trace: the model starts with {type(m).__name__} (module {name}); it must "
                "start with a Linear layer"
            )
        lin, act, names = layers[-1]
        if act is not None:
            raise UnsupportedModelError(
                f"trace: two activations in a row ({type(act).__name__}, "
                f"{type(m).__name__} at module {name}); one g per layer"
            )
        layers[-1] = (lin, m, (*names, name))
    if not layers:
        raise UnsupportedModelError("trace: the model has no Linear layer")
    if layers[-1][1] is not None:
        raise UnsupportedModelError(
            f"trace: the model ends with an activation ({type(layers[-1][1]).__name__}); "
            "the seeds' output function O (softmax or linear) comes from the loss, so end "
            "the model with its last Linear layer"
        )
    for (a, _, na), (b, _, nb) in zip(layers[:-1], layers[1:]):
        if a.out_features != b.in_features:
            raise UnsupportedModelError(
                f"trace: layer {na[0]} gives {a.out_features} features but layer {nb[0]} "
                f"takes {b.in_features}"
            )
    return layers


def _copy_as(model: Module, dt: np.dtype) -> Module:
    """A deep copy of ``model`` cast to ``dt``, without the original's forward hooks (a
    diagnostics callback must not see the trace's pass)."""
    c = copy.deepcopy(model)
    for m in c.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
    return c.to(dt)


def _bias(lin: Linear) -> np.ndarray:
    if lin.bias is None:
        return np.zeros(lin.out_features)
    return lin.bias.data.astype(np.float64)


# ---------------------------------------------------------------------------- inputs
def _loss_kind(loss: Any) -> tuple[str, str]:
    if isinstance(loss, str):
        key = loss.lower().replace("-", "_").replace(" ", "_")
        if key in ("cross_entropy", "ce", "softmax", "softmax_cross_entropy"):
            return "cross_entropy", "sum"
        if key in ("squared_error", "mse", "se", "linear", "squared"):
            return "squared_error", "sum"
        raise ValueError(
            f"trace: unknown loss {loss!r}; use 'cross_entropy' (softmax output) or "
            "'squared_error' (linear output), or a CrossEntropyLoss / MSELoss module"
        )
    if isinstance(loss, CrossEntropyLoss):
        if loss.weight is not None or loss.label_smoothing:
            raise UnsupportedModelError(
                "trace: the seeds' ∇_{a_L} ℒ = −(e(y) − ŷ) is for a plain cross-entropy; "
                "this CrossEntropyLoss has class weights or label smoothing"
            )
        return "cross_entropy", _reduction(loss.reduction)
    if isinstance(loss, MSELoss):
        return "squared_error", _reduction(loss.reduction)
    raise ValueError(
        f"trace: loss must be 'cross_entropy', 'squared_error', CrossEntropyLoss or MSELoss, "
        f"got {type(loss).__name__}"
    )


def _reduction(r: str) -> str:
    if r not in ("mean", "sum"):
        raise ValueError(f"trace: the loss's reduction must be 'mean' or 'sum', got {r!r}")
    return r


def _inputs(x: Any, d: int, dt: np.dtype) -> tuple[np.ndarray, bool]:
    X = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=dt)
    batched = X.ndim == 2
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != d or X.shape[0] == 0:
        raise ShapeError(
            f"trace: x must have shape ({d},) or (N, {d}) with N >= 1 for the first layer, "
            f"got {np.shape(x.data if isinstance(x, Tensor) else x)}"
        )
    return X, batched


def _targets(y: Any, kind: str, n: int, k: int, dt: np.dtype) -> np.ndarray:
    raw = np.asarray(y.data if isinstance(y, Tensor) else y)
    if kind == "cross_entropy":
        if raw.dtype.kind == "f":
            if not np.all(raw == np.round(raw)):
                raise TargetError(f"trace: cross-entropy labels must be class indices, got {raw}")
        Y = raw.astype(np.int64).reshape(-1)
        if Y.shape != (n,):
            raise ShapeError(f"trace: expected {n} class label(s), got shape {raw.shape}")
        if Y.min() < 0 or Y.max() >= k:
            raise TargetError(f"trace: class labels must lie in [0, {k}), got {Y.tolist()}")
        return Y
    Y = raw.astype(dt)
    if Y.shape in ((k,), ()) and n == 1:
        Y = Y.reshape(1, k)
    elif Y.shape == (n,) and k == 1:
        Y = Y.reshape(n, 1)
    if Y.shape != (n, k):
        raise ShapeError(
            f"trace: squared-error targets must have shape ({n}, {k}), got {raw.shape}"
        )
    return Y


def _engine_loss(kind: str, reduction: str) -> Callable[[Tensor, Tensor], Tensor]:
    if kind == "cross_entropy":
        return lambda out, y: F.cross_entropy(out, y, reduction=reduction)
    return lambda out, y: F.mse_loss(out, y, reduction=reduction)


# ---------------------------------------------------------------------------- engine
def _engine_pass(
    model: Module,
    layers: list[tuple[Linear, Module | None, tuple[str, ...]]],
    X: np.ndarray,
    Y: np.ndarray,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    kind: str,
) -> dict[str, Any]:
    """The real model on the real graph: forward hooks catch a_k and h_k, reverse mode gives
    the gradient of the loss with respect to each of them and to every parameter."""
    caught: dict[int, Tensor] = {}
    handles = []
    for lin, act, _ in layers:
        for m in (lin, act):
            if m is not None:
                handles.append(m.register_forward_hook(_catch(caught, id(m))))
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    x = Tensor(X, requires_grad=True)
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, t in was_training:
            m.training = t
    if not isinstance(out, Tensor) or id(layers[-1][0]) not in caught:
        raise UnsupportedModelError("trace: the model's forward did not call its layers in order")
    loss = loss_fn(out, Tensor(Y))
    a_t = [caught[id(lin)] for lin, _, _ in layers]
    h_t = [x] + [caught[id(act)] if act is not None else caught[id(lin)] for lin, act, _ in layers]
    weights = [lin.weight for lin, _, _ in layers]
    biases = [lin.bias for lin, _, _ in layers if lin.bias is not None]
    wanted = [*a_t, *h_t[:-1], *weights, *biases]
    grads = gradients(loss, wanted, allow_unused=True)
    L = len(layers)

    def arr(t: Tensor | None, like: Tensor) -> np.ndarray:
        if t is None:  # not used by the loss: its gradient is zero
            return np.zeros(like.shape)
        return backend.to_numpy(t.data).astype(np.float64)

    ga = [arr(g, t) for g, t in zip(grads[:L], a_t)]
    gh = [arr(g, t) for g, t in zip(grads[L : 2 * L], h_t[:-1])]
    gW = [arr(g, t) for g, t in zip(grads[2 * L : 3 * L], weights)]
    gb_iter = iter(grads[3 * L :])
    # A layer without a bias parameter: record the gradient a bias would get (b_k = 0), the
    # engine's ∇_{a_k} ℒ summed over the batch, so that every layer reads the same.
    gb = [
        arr(next(gb_iter), lin.bias) if lin.bias is not None else g.reshape(-1, g.shape[-1]).sum(0)
        for (lin, _, _), g in zip(layers, ga)
    ]
    with no_grad():
        y_hat = _engine_softmax(out, axis=-1).data if kind == "cross_entropy" else out.data
    # g'(a_k) by the engine's own rule for g: the gradient of sum(g(a)) is g'(a) element-wise.
    dg = []
    for (_, act, _), a in zip(layers[:-1], a_t[:-1]):
        leaf = Tensor(a.data, requires_grad=True)
        (d,) = gradients((act(leaf) if act is not None else leaf).sum(), [leaf])
        dg.append(backend.to_numpy(d.data).astype(np.float64))
    return {
        "a": [backend.to_numpy(t.data).astype(np.float64) for t in a_t],
        "h": [backend.to_numpy(t.data).astype(np.float64) for t in h_t],
        "grad_a": ga,
        "grad_h": gh,
        "grad_W": gW,
        "grad_b": gb,
        "dg": dg,
        "y_hat": backend.to_numpy(y_hat).astype(np.float64),
        "loss": float(loss.item()),
    }


def _catch(store: dict[int, Tensor], key: int) -> Callable[[Module, tuple, Any], None]:
    def hook(module: Module, args: tuple, out: Any) -> None:
        store[key] = out

    return hook


# ---------------------------------------------------------------------------- formulas
def _formula_pass(
    params: list[tuple[np.ndarray, np.ndarray]],
    acts: list[Activation | None],
    X: np.ndarray,
    Y: np.ndarray,
    kind: str,
    scale: float,
) -> dict[str, Any]:
    """The seeds' forward and backward propagation, written out in NumPy (float64).

    Rows are examples: a_k = b_k + W_k h_{k-1} for each row is ``h @ W.T + b``.
    """
    L = len(params)
    h = [X]
    a = []
    for (W, b), g in zip(params, acts):
        a_k = b + h[-1] @ W.T  # a_k = b_k + W_k h_{k-1}
        a.append(a_k)
        if g is not None:
            h.append(g.g(a_k))  # h_k = g(a_k)
    a_L = a[-1]
    if kind == "cross_entropy":
        z = a_L - a_L.max(axis=1, keepdims=True)
        y_hat = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # ŷ = softmax(a_L)
        e_y = np.zeros_like(y_hat)
        e_y[np.arange(len(Y)), Y] = 1.0  # e(y): the one-hot vector of the label
        log_y_hat = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = scale * float(-(log_y_hat[np.arange(len(Y)), Y]).sum())  # ℒ = −log ŷ_y
        grad_a_L = scale * -(e_y - y_hat)  # ∇_{a_L} ℒ = −(e(y) − ŷ)
    else:
        y_hat = a_L  # linear output
        Yf = Y.astype(np.float64)
        loss = scale * float(((Yf - y_hat) ** 2).sum())  # ℒ = ‖y − ŷ‖²
        grad_a_L = scale * -2.0 * (Yf - y_hat)  # ∇_{a_L} ℒ = −2 (y − ŷ)
    grad_a: list[np.ndarray] = [np.empty(0)] * L
    grad_h: list[np.ndarray] = [np.empty(0)] * L
    grad_W: list[np.ndarray] = [np.empty(0)] * L
    grad_b: list[np.ndarray] = [np.empty(0)] * L
    dg: list[np.ndarray] = [np.empty(0)] * L
    grad_a[L - 1] = grad_a_L
    for k in range(L, 0, -1):  # k = L .. 1, as the seeds' loop
        i = k - 1
        grad_W[i] = grad_a[i].T @ h[i]  # ∇_{W_k} ℒ = ∇_{a_k} ℒ h_{k-1}^T, summed over rows
        grad_b[i] = grad_a[i].sum(axis=0)  # ∇_{b_k} ℒ = ∇_{a_k} ℒ, summed over rows
        grad_h[i] = grad_a[i] @ params[i][0]  # ∇_{h_{k-1}} ℒ = W_k^T ∇_{a_k} ℒ
        if k > 1:
            dg[i - 1] = acts[i - 1].dg(a[i - 1])  # g'(a_{k-1})
            grad_a[i - 1] = grad_h[i] * dg[i - 1]  # ∇_{a_{k-1}} ℒ = ∇_{h_{k-1}} ℒ ⊙ g'(a_{k-1})
    return {
        "a": a,
        "h": h,
        "grad_a": grad_a,
        "grad_h": grad_h,
        "grad_W": grad_W,
        "grad_b": grad_b,
        "dg": dg,
        "y_hat": y_hat,
        "loss": loss,
    }


# ---------------------------------------------------------------------------- finite differences
def _fd_pass(
    layers: list[tuple[Linear, Module | None, tuple[str, ...]]],
    params: list[tuple[np.ndarray, np.ndarray]],
    X: np.ndarray,
    Y: np.ndarray,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    eps: float,
    max_entries: int,
) -> dict[str, Any]:
    """Every gradient again by central differences of the loss (float64): with respect to
    the input and the parameters ``params`` (each layer's W_k and b_k in float64), and to
    each a_k and h_k (running the network from there)."""
    L = len(layers)
    Ws = [W for W, _ in params]
    bs = [b for _, b in params]
    acts = [act for _, act, _ in layers]
    X64 = X.astype(np.float64)
    Yt = Tensor(Y if Y.dtype.kind in "iu" else Y.astype(np.float64))
    n, sizes = len(X), [lin.out_features for lin, _, _ in layers]
    total = X.size + sum(w.size + b.size for w, b in zip(Ws, bs)) + n * (2 * sum(sizes) - sizes[-1])
    if total > max_entries:
        raise ValueError(
            f"trace: check='fd' would perturb {total} entries ({2 * total} forward passes), more "
            f"than fd_max_entries={max_entries}; trace a smaller batch or raise the limit"
        )

    def run(h: Tensor, start: int, stage: str, Wt: list, bt: list) -> Tensor:
        # From h_{start} (stage "h") or a_{start+1}... (stage "a": h is a_{start}) to ℒ.
        k = start
        if stage == "a":
            if acts[k - 1] is not None:
                h = acts[k - 1](h)
        for i in range(k, L):
            h = _engine_linear(h, Wt[i], bt[i])
            if acts[i] is not None:
                h = acts[i](h)
        return loss_fn(h, Yt)

    with no_grad():
        flat = numerical_grad(
            lambda x, *p: run(x, 0, "h", list(p[:L]), list(p[L:])), [X64, *Ws, *bs], eps=eps
        )
        Wt = [Tensor(w) for w in Ws]
        bt = [Tensor(b) for b in bs]
        hs = [X64]
        as_ = []
        for i in range(L):
            a_i = _engine_linear(Tensor(hs[-1]), Wt[i], bt[i]).data
            as_.append(a_i)
            hs.append(acts[i](Tensor(a_i)).data if acts[i] is not None else a_i)
        grad_a = [
            numerical_grad(lambda a, k=k: run(a, k, "a", Wt, bt), [as_[k - 1]], eps=eps)[0]
            for k in range(1, L + 1)
        ]
        grad_h = [flat[0]] + [
            numerical_grad(lambda h, k=k: run(h, k, "h", Wt, bt), [hs[k]], eps=eps)[0]
            for k in range(1, L)
        ]
    return {"grad_h": grad_h, "grad_a": grad_a, "grad_W": flat[1 : L + 1], "grad_b": flat[L + 1 :]}
