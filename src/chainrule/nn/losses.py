"""One record per loss: its names, module and function, the output function it pairs with,
its formulas in the seeds' notation and its NumPy form. The command line (``chainrule train
--loss``), the training settings and :mod:`chainrule.explain` read these records, so adding
a loss touches this file only.

For one example with output-layer pre-activation a_L (k outputs), output ŷ = O(a_L) and
target y (a class index, or k values), a record's formulas give ŷ, ℒ and ∇_{a_L} ℒ as
notation trees (rendered by :mod:`chainrule.explain`), and its NumPy form computes them,
each line carrying its equation: softmax and cross-entropy, the identity and the squared
error. Losses without them (``mae``, ``huber``) train but are not traced by
:func:`chainrule.explain.trace`.

>>> get("ce").name, get("squared_error").module.__name__, by_output("softmax").name
('cross_entropy', 'MSELoss', 'cross_entropy')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chainrule._notation import Expr, Func, Norm, Num, Op, Paren, Row, Sym
from chainrule.nn import functional as F
from chainrule.nn.loss import CrossEntropyLoss, HuberLoss, L1Loss, MSELoss
from chainrule.nn.module import Module
from chainrule.ops.activation import softmax
from chainrule.tensor import Tensor

__all__ = ["LOSSES", "TASKS", "Loss", "NumpyForm", "aliases", "by_output", "get", "names"]

# The NumPy form: (a_L (N, k), targets: labels (N,) or values (N, k)) ->
# (ŷ (N, k), ℒ summed over the examples, ∇_{a_L} ℒ of each example (N, k)).
NumpyForm = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float, np.ndarray]]


@dataclass(frozen=True)
class Loss:
    """A loss, registered once.

    Attributes:
        name: the registry's key, the value ``chainrule train --loss`` stores.
        title: its name in words (``"cross-entropy"``).
        aliases: other names :func:`get` accepts (lower case, ``_`` between words).
        task: ``"classification"`` (targets are class indices) or ``"regression"``.
        module: the :class:`~chainrule.nn.Module` class computing it.
        function: the engine form, ``function(input, target, reduction=...)``.
        output: the output function O the loss is paired with (``"softmax"`` or
            ``"linear"``); ``output_function`` its engine form on a_L (N, k).
        mean_over_outputs: whether ``reduction="mean"`` divides by every entry (N k) rather
            than by the examples (N).
        formula, output_formula, gradient: ℒ of one example, ŷ as a function of a_L and
            ∇_{a_L} ℒ, as notation trees over the symbols ``a_L``, ``ŷ``, ``ŷ_y``, ``y``
            and ``e(y)`` (``None``: the seeds' formulas are not written for this loss).
        numpy: the NumPy form (see :data:`NumpyForm`), or ``None``.
    """

    name: str
    title: str
    aliases: tuple[str, ...]
    task: str
    module: type[Module]
    function: Callable[..., Tensor]
    output: str
    output_function: Callable[[Tensor], Tensor]
    mean_over_outputs: bool
    formula: Expr | None = None
    output_formula: Expr | None = None
    gradient: Expr | None = None
    numpy: NumpyForm | None = None

    @property
    def labels(self) -> bool:
        """Whether the targets are class indices (else values, one per output)."""
        return self.task == "classification"

    @property
    def adjective(self) -> str:
        """The title as a modifier: ``"squared-error"`` (as in "squared-error targets")."""
        return self.title.replace(" ", "-")

    @property
    def traceable(self) -> bool:
        """Whether the seeds' formulas (and the NumPy form) are written for this loss."""
        return self.numpy is not None

    def engine(self, reduction: str = "mean") -> Callable[[Tensor, Tensor], Tensor]:
        """``loss(output, target)`` by the engine, reduced by ``reduction``."""
        return lambda out, y: self.function(out, y, reduction=reduction)


# ---------------------------------------------------------------------------- NumPy forms
def _softmax_cross_entropy(a_L: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    rows = np.arange(len(Y))
    z = a_L - a_L.max(axis=1, keepdims=True)
    y_hat = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # ŷ = softmax(a_L)
    e_y = np.zeros_like(y_hat)
    e_y[rows, Y] = 1.0  # e(y): the one-hot vector of the label
    log_y_hat = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = float(-(log_y_hat[rows, Y]).sum())  # ℒ = −log ŷ_y
    grad_a_L = -(e_y - y_hat)  # ∇_{a_L} ℒ = −(e(y) − ŷ)
    return y_hat, loss, grad_a_L


def _squared_error(a_L: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    y_hat = a_L  # ŷ = a_L, the linear output
    Yf = Y.astype(np.float64)
    loss = float(((Yf - y_hat) ** 2).sum())  # ℒ = ‖y − ŷ‖²
    grad_a_L = -2.0 * (Yf - y_hat)  # ∇_{a_L} ℒ = −2 (y − ŷ)
    return y_hat, loss, grad_a_L


def _identity(x: Tensor) -> Tensor:
    return x


_A_L, _Y, _Y_HAT = Sym("a", "L"), Sym("y"), Sym("ŷ")

# ---------------------------------------------------------------------------- the records
LOSSES: dict[str, Loss] = {
    rec.name: rec
    for rec in (
        Loss(
            "cross_entropy",
            "cross-entropy",
            ("ce", "crossentropy", "nll", "log_loss", "softmax_cross_entropy"),
            "classification",
            CrossEntropyLoss,
            F.cross_entropy,
            "softmax",
            lambda a: softmax(a, axis=-1),
            mean_over_outputs=False,
            formula=Row(Op("−"), Sym("log"), Sym("ŷ", "y")),
            output_formula=Func("softmax", _A_L),
            gradient=Row(Op("−"), Paren(Row(Func("e", _Y), Op("−"), _Y_HAT))),
            numpy=_softmax_cross_entropy,
        ),
        Loss(
            "mse",
            "squared error",
            ("squared_error", "l2", "se"),
            "regression",
            MSELoss,
            F.mse_loss,
            "linear",
            _identity,
            mean_over_outputs=True,
            formula=Norm(Row(_Y, Op("−"), _Y_HAT), "2"),
            output_formula=_A_L,
            gradient=Row(Op("−"), Num(2), Paren(Row(_Y, Op("−"), _Y_HAT))),
            numpy=_squared_error,
        ),
        Loss(
            "mae",
            "absolute error",
            ("l1", "absolute_error"),
            "regression",
            L1Loss,
            F.l1_loss,
            "linear",
            _identity,
            mean_over_outputs=True,
        ),
        Loss(
            "huber",
            "Huber loss",
            (),
            "regression",
            HuberLoss,
            F.huber_loss,
            "linear",
            _identity,
            mean_over_outputs=True,
        ),
    )
}

TASKS = ("classification", "regression")


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def get(name: str | Loss | Module) -> Loss:
    """The record of a loss given by name or alias (``"cross_entropy"``, ``"ce"``,
    ``"mse"``, ``"squared_error"``, any case, ``-`` or ``_``), by an instance of its module
    (``nn.MSELoss()``), or the record itself.

    Raises ``ValueError`` naming the known losses for anything else.
    """
    if isinstance(name, Loss):
        return name
    if isinstance(name, Module):
        for rec in LOSSES.values():
            if type(name) is rec.module:
                return rec
        raise ValueError(
            f"unknown loss module {type(name).__name__}; known: "
            + ", ".join(rec.module.__name__ for rec in LOSSES.values())
        )
    if isinstance(name, str):
        key = _key(name)
        for rec in LOSSES.values():
            if key == rec.name or key in rec.aliases:
                return rec
    raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")


def names(task: str | None = None) -> tuple[str, ...]:
    """The registered losses' names (those of ``task``, ``"classification"`` or
    ``"regression"``, when given), the task's default first."""
    return tuple(rec.name for rec in LOSSES.values() if task is None or rec.task == task)


def by_output(output: str) -> Loss:
    """The loss with the seeds' formulas for the output function ``output`` (``"softmax"``:
    cross-entropy, ``"linear"``/``"identity"``: the squared error).

    Raises ``ValueError`` for another output function.
    """
    out = "linear" if output == "identity" else output
    for rec in LOSSES.values():
        if rec.output == out and rec.traceable:
            return rec
    raise ValueError(f"no traceable loss for the output function {output!r}")


def aliases() -> dict[str, str]:
    """Every accepted name (names and aliases) mapped to its loss's name."""
    out: dict[str, str] = {}
    for rec in LOSSES.values():
        out.update({a: rec.name for a in (rec.name, *rec.aliases)})
    return out
