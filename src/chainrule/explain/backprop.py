"""One forward and backward pass through a feed-forward network, recorded in the seeds'
notation and computed three ways.

For a model ``Sequential(Linear, g, Linear, g, ..., Linear)`` with ``L`` linear layers, the
seeds' network is (module 4.1 and the pseudo-code of module 4.8)::

    h_0 = x
    a_k = b_k + W_k h_{k-1},   h_k = g(a_k)        k = 1 .. L-1
    a_L = b_L + W_L h_{L-1},   ŷ = O(a_L)

where the output function O, the loss ℒ and its gradient ∇_{a_L} ℒ come from the loss's
record in :mod:`chainrule.nn.losses` (softmax and cross-entropy, or the identity and the
squared error), and its gradients, from the output down::

    ∇_{a_L} ℒ                          (the loss record's gradient)
    ∇_{W_k} ℒ = ∇_{a_k} ℒ h_{k-1}^T     ∇_{b_k} ℒ = ∇_{a_k} ℒ
    ∇_{h_{k-1}} ℒ = W_k^T ∇_{a_k} ℒ     ∇_{a_{k-1}} ℒ = ∇_{h_{k-1}} ℒ ⊙ g'(a_{k-1})

:func:`trace` computes every one of these quantities

1. with the engine: the real model is called once, forward hooks on its layers catch a_k and
   h_k as graph tensors, and reverse mode (:func:`chainrule.gradients`) returns the gradient
   of the loss with respect to each of them and to every parameter;
2. with the formulas above, written out in NumPy (:mod:`chainrule.explain.passes`; the
   derivatives g' in the activations' records in :mod:`chainrule.nn.activations`,
   independently of the engine's rules);
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

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.explain.passes import (
    _bias,
    _copy_as,
    _engine_pass,
    _fd_pass,
    _formula_pass,
    _inputs,
    _layers_of,
    _loss_kind,
    _targets,
    activation_of,
)
from chainrule.nn import Module, activations, losses
from chainrule.nn.activations import Formula
from chainrule.nn.losses import Loss
from chainrule.tensor import Tensor

__all__ = ["ACTIVATIONS", "LayerTrace", "Quantity", "Trace", "derivative", "trace"]

ACTIVATIONS: dict[str, Formula] = {
    f.name: f for f in (record.formula() for record in activations.ACTIVATIONS.values())
}
"""g and g' of every activation of :mod:`chainrule.nn.activations` (with its module's
defaults), by the seeds' name: ``"logistic"``, ``"tanh"``, ``"relu"``, ``"linear"``,
``"gelu"``, ``"leaky_relu"``, ``"elu"``, ``"softplus"``."""


def derivative(name: str, a: Any) -> np.ndarray:
    """g'(a) of the activation ``name`` (a key of :data:`ACTIVATIONS`: ``"logistic"``,
    ``"tanh"``, ``"relu"``, ``"linear"``, ``"gelu"``...) at ``a``, element-wise, in float64;
    the shape of ``a``.

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
        """The quantity's shape: (n_k,) for one example, (N, n_k) for a batch, W's shape
        (n_k, n_{k-1}) for ∇_{W_k} ℒ, () for ℒ."""
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
    backward rule, the formula's g' written out in NumPy in the activation's record).
    """

    k: int
    weight: np.ndarray
    bias: np.ndarray
    activation: Formula | None
    quantities: dict[str, Quantity] = field(default_factory=dict)
    module_names: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Quantity:
        """The quantity ``key`` (``"a"``, ``"grad_W"``...); ``KeyError`` when not recorded."""
        return self.quantities[key]

    def __contains__(self, key: str) -> bool:
        return key in self.quantities

    @property
    def in_features(self) -> int:
        """n_{k-1}, the width of the layer's input h_{k-1}."""
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        """n_k, the width of a_k."""
        return int(self.weight.shape[0])


@dataclass
class Trace:
    """What :func:`trace` recorded. See the module docstring for the conventions.

    Attributes:
        layers: one :class:`LayerTrace` per linear layer, k = 1 .. L.
        x: the input h_0, (d,) or (N, d). ``y``: the label(s) or target(s).
        loss: the name of the loss's record in :mod:`chainrule.nn.losses`:
            ``"cross_entropy"`` (softmax output) or ``"mse"`` (the squared error, linear
            output); ``loss_record`` is the record.
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
        return self.loss_record.output

    @property
    def loss_record(self) -> Loss:
        """The loss's record (:class:`chainrule.nn.losses.Loss`): its formulas and forms."""
        return losses.get(self.loss)

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
        from chainrule.explain.walkthrough import describe_network

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
        """The terminal view as plain text (see :func:`chainrule.explain.terminal.to_text`); by
        default as wide as its tables need."""
        from chainrule.explain.terminal import to_text

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
        from chainrule.explain.terminal import rich_view

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
        loss: a loss of :mod:`chainrule.nn.losses` with the seeds' formulas, by name:
            ``"cross_entropy"`` (softmax output; the seeds' −log ŷ_y) or
            ``"squared_error"``/``"mse"`` (linear output; ‖y − ŷ‖²), both summed over a
            batch; or a
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
    rec, reduction = _loss_kind(loss)
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
    Y = _targets(y, rec, len(X), layers[-1][0].out_features, dt)
    n, k_out = len(X), layers[-1][0].out_features
    scale = 1.0
    if reduction == "mean":
        scale = 1.0 / (n * k_out) if rec.mean_over_outputs else 1.0 / n
    loss_fn = rec.engine(reduction)

    engine = _engine_pass(work, layers, X, Y, loss_fn, rec.output_function)
    params = [(lin.weight.data.astype(np.float64), _bias(lin)) for lin, _, _ in layers]
    acts: list[Formula | None] = [
        activation_of(act) if act is not None else ACTIVATIONS["linear"] for _, act, _ in layers
    ]
    acts[-1] = None  # the output layer's O comes from the loss
    formula = _formula_pass(params, acts, X.astype(np.float64), Y, rec, scale)
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
        loss=rec.name,
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
