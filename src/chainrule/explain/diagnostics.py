"""Gradient-flow diagnostics: how well the gradient reaches every layer during training.

:class:`GradientFlow` is a training callback. For every layer with a weight matrix (each
``Linear``) it records per epoch

* ``grad_norm``: the 2-norm of ∇_{W_k} ℒ, averaged over the epoch's batches (measured after
  ``backward()``, before clipping and before the optimiser's step);
* ``weight_norm``: the 2-norm of W_k at the end of the epoch;
* ``update_ratio``: ‖ΔW_k‖ / ‖W_k‖ of one optimiser step, averaged over the epoch (the
  weights are copied before the step and compared after it; about 1e-3 is healthy, much
  less means the layer barely learns, much more that it is thrown around);
* ``dead_fraction``: for a layer followed by a ``ReLU``, the fraction of its units that
  were never positive on any training example of the epoch ("dead" units pass no gradient).

It warns (:class:`VanishingGradientWarning`, :class:`ExplodingGradientWarning`, both
:class:`GradientFlowWarning`, a ``UserWarning``) when gradients vanish (a layer's gradient
norm below ``vanishing_norm``, or below ``vanishing_ratio`` times the largest layer's) or
explode (above ``exploding_norm``, or not finite): once per kind and training run, naming
the epoch and the layers, while ``warnings`` records every epoch it happened. It saves
``gradient_flow.json`` and plots ``gradient_flow.png`` (matplotlib, Agg) into ``folder``
when training ends.

The classic demonstration (seeds: the logistic function's derivative is at most 1/4): in a
10-layer logistic-sigmoid network the first layer's gradient is orders of magnitude smaller
than the last's, while a ReLU network with He (kaiming) initialisation keeps them alike.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend
from chainrule._atomic import atomic_write_bytes, atomic_write_json
from chainrule.autograd import gradients
from chainrule.nn import Module, ReLU
from chainrule.tensor import Tensor
from chainrule.train.callbacks import Callback
from chainrule.train.checkpoint import json_safe, read_json

__all__ = [
    "ExplodingGradientWarning", "GradientFlow", "GradientFlowWarning",
    "VanishingGradientWarning", "gradient_norms", "load_gradient_flow", "plot_gradient_flow",
]  # fmt: skip

FORMAT = "chainrule-gradient-flow/1"
JSON_NAME = "gradient_flow.json"
PNG_NAME = "gradient_flow.png"


class GradientFlowWarning(UserWarning):
    """Base class of the gradient-flow warnings."""


class VanishingGradientWarning(GradientFlowWarning):
    """A layer's gradient is vanishingly small: it (and the layers below it) barely learn."""


class ExplodingGradientWarning(GradientFlowWarning):
    """A layer's gradient is huge or not finite: training will diverge."""


def _weighted_layers(model: Module) -> list[tuple[str, Module]]:
    """Modules holding a weight matrix, in registration (forward) order."""
    return [(name or type(m).__name__, m) for name, m in model.named_modules() if _weighted(m)]


def _relus_after(model: Module) -> dict[str, str]:
    """ReLU module name -> the weighted layer before it (in registration order)."""
    last = None
    out = {}
    for name, m in model.named_modules():
        if _weighted(m):
            last = name or type(m).__name__
        elif isinstance(m, ReLU) and last is not None:
            out[name] = last
    return out


def _weighted(m: Module) -> bool:
    """Whether ``m`` holds a weight matrix (a ``weight`` parameter of 2 or more axes)."""
    w = m._parameters.get("weight") if hasattr(m, "_parameters") else None
    return w is not None and w.ndim >= 2


def _norm(a: Any) -> float:
    """The 2-norm of ``a``, accumulated in float64 (one dot product, no temporaries for
    float64 data: this runs for every layer on every measured batch)."""
    flat = np.asarray(backend.to_numpy(a), dtype=np.float64).ravel()  # GPU data: copied
    return math.sqrt(float(np.dot(flat, flat)))


class GradientFlow(Callback):
    """Record per-layer gradient flow while training (see the module docstring).

    Args:
        folder: where to write ``gradient_flow.json`` and ``gradient_flow.png`` when training
            ends (``None``: keep the records in memory only; call :meth:`save`).
        vanishing_norm: warn when a layer's mean gradient norm in an epoch is below this.
        vanishing_ratio: warn when a layer's gradient norm is below this fraction of the
            largest layer's.
        exploding_norm: warn when a layer's gradient norm exceeds this (or is not finite).
        every: measure every ``every``-th batch (1: all), to save time on big models.
        plot: also write the PNG.

    Attributes after training: ``epochs`` (list of epoch numbers), ``layers`` (names),
    ``records[name][quantity]`` lists (one value per epoch, ``None`` where not defined),
    ``warnings`` (what was warned, per epoch).

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(2, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    >>> flow = GradientFlow()
    >>> X, y = cr.randn(32, 2).numpy(), (cr.randn(32).numpy() > 0).astype("int64")
    >>> _ = cr.train.fit(net, cr.nn.CrossEntropyLoss(), cr.optim.SGD(net.parameters(), lr=0.1),
    ...                  (X, y), epochs=2, batch_size=8, callbacks=[flow], progress=False)
    >>> flow.layers, len(flow.records["0"]["grad_norm"])
    (['0', '2'], 2)
    """

    QUANTITIES = ("grad_norm", "weight_norm", "update_ratio", "dead_fraction")

    def __init__(
        self,
        folder: str | Path | None = None,
        *,
        vanishing_norm: float = 1e-7,
        vanishing_ratio: float = 1e-4,
        exploding_norm: float = 1e3,
        every: int = 1,
        plot: bool = True,
    ) -> None:
        if every < 1:
            raise ValueError(f"GradientFlow: every must be >= 1, got {every}")
        self.folder = None if folder is None else Path(folder)
        self.vanishing_norm = float(vanishing_norm)
        self.vanishing_ratio = float(vanishing_ratio)
        self.exploding_norm = float(exploding_norm)
        self.every = int(every)
        self.plot = plot
        self.epochs: list[int] = []
        self.layers: list[str] = []
        self.shapes: dict[str, list[int]] = {}
        self.relu_of: dict[str, str] = {}
        self.records: dict[str, dict[str, list[float | None]]] = {}
        self.warnings: list[dict[str, Any]] = []
        self._handles: list[Any] = []
        self._warned = set()
        self._reset_epoch()

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, trainer: Any) -> None:
        model = trainer.model
        found = _weighted_layers(model)
        self._modules = dict(found)
        names = [n for n, _ in found]
        if self.layers and self.layers != names:
            raise ValueError(
                f"GradientFlow: the model's layers {names} differ from the recorded {self.layers}"
            )
        self.layers = names
        self._warned: set[str] = set()
        self.shapes = {n: list(m.weight.shape) for n, m in found}
        relus = _relus_after(model)
        self.relu_of = {layer: relu for relu, layer in relus.items()}
        for n in names:
            self.records.setdefault(n, {q: [] for q in self.QUANTITIES})
        self._remove_hooks()
        for relu_name, layer in relus.items():
            mod = model.get_submodule(relu_name)
            self._handles.append(mod.register_forward_hook(self._alive_hook(layer)))
        self._reset_epoch()

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        self._reset_epoch()

    def on_after_backward(self, trainer: Any) -> None:
        self._batch += 1
        if (self._batch - 1) % self.every:
            self._before = None
            return
        self._before = {}
        for n, m in self._modules.items():
            w = m.weight
            if w.grad is not None:
                self._grad[n].append(_norm(w.grad.data))
            before = np.array(backend.to_numpy(w.data), dtype=np.float64, copy=True)
            self._before[n] = (before, _norm(before))

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        if self._before:
            for n, m in self._modules.items():
                before, denom = self._before[n]
                now = backend.to_numpy(m.weight.data)
                step = np.subtract(now, before, out=before)  # ΔW, in the copy's buffer
                self._ratio[n].append(_norm(step) / denom if denom > 0 else math.inf)
            self._before = None
        # The epoch is summed up after its last step rather than in on_epoch_end, so that a
        # checkpoint written by a callback that runs before this one already holds it.
        total = int(getattr(trainer, "batches_per_epoch", 0) or 0)
        if total and batch == total - 1:
            self._finish_epoch(int(trainer.epoch) + 1)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if not self.epochs or self.epochs[-1] != epoch:
            self._finish_epoch(int(epoch))

    def _finish_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)
        for n, m in self._modules.items():
            r = self.records[n]
            r["grad_norm"].append(_mean(self._grad[n]))
            r["weight_norm"].append(_norm(m.weight.data))
            r["update_ratio"].append(_mean(self._ratio[n]))
            alive = self._alive.get(n)
            r["dead_fraction"].append(None if alive is None else float(1.0 - alive.mean()))
        self._check(epoch)

    def on_train_end(self, trainer: Any) -> None:
        self._remove_hooks()
        if self.folder is not None and self.epochs:
            self.save(self.folder)

    # ------------------------------------------------------------------ results
    def to_dict(self) -> dict[str, Any]:
        """The records as a JSON-ready dict (what ``gradient_flow.json`` holds)."""
        return {
            "format": FORMAT,
            "epochs": list(self.epochs),
            "layers": [
                {"name": n, "shape": self.shapes.get(n, []), "relu": self.relu_of.get(n)}
                for n in self.layers
            ],
            "records": {n: {q: list(v) for q, v in r.items()} for n, r in self.records.items()},
            "thresholds": {
                "vanishing_norm": self.vanishing_norm,
                "vanishing_ratio": self.vanishing_ratio,
                "exploding_norm": self.exploding_norm,
            },
            "warnings": list(self.warnings),
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``gradient_flow.json`` (and ``gradient_flow.png`` when ``plot``) into
        ``folder``; returns the JSON's path."""
        folder = Path(folder)
        data = self.to_dict()
        path = atomic_write_json(folder / JSON_NAME, json_safe(data, nonfinite=repr))
        if self.plot:
            plot_gradient_flow(data, folder / PNG_NAME)
        return path

    def state_dict(self) -> dict[str, Any]:
        return json_safe(self.to_dict(), nonfinite=repr)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs = [int(e) for e in state.get("epochs", [])]
        self.layers = [d["name"] for d in state.get("layers", [])]
        self.shapes = {d["name"]: list(d.get("shape", [])) for d in state.get("layers", [])}
        self.relu_of = {d["name"]: d["relu"] for d in state.get("layers", []) if d.get("relu")}
        self.records = {
            n: {q: list(v) for q, v in r.items()} for n, r in state.get("records", {}).items()
        }
        self.warnings = list(state.get("warnings", []))

    # ------------------------------------------------------------------ internals
    def _reset_epoch(self) -> None:
        names = self.layers
        self._grad: dict[str, list[float]] = {n: [] for n in names}
        self._ratio: dict[str, list[float]] = {n: [] for n in names}
        self._alive: dict[str, np.ndarray] = {}
        self._before: dict[str, tuple[np.ndarray, float]] | None = None
        self._batch = 0

    def _alive_hook(self, layer: str) -> Callable[[Module, tuple, Any], None]:
        def hook(module: Module, args: tuple, out: Any) -> None:
            if not module.training or not isinstance(out, Tensor) or out.ndim == 0:
                return
            data = backend.to_numpy(out.data)
            active = (data.reshape(-1, data.shape[-1]) > 0).any(axis=0)
            prev = self._alive.get(layer)
            self._alive[layer] = active if prev is None else (prev | active)

        return hook

    def _remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _check(self, epoch: int) -> None:
        norms = {n: self.records[n]["grad_norm"][-1] for n in self.layers}
        finite = {n: v for n, v in norms.items() if v is not None and math.isfinite(v)}
        big = {
            n: v
            for n, v in norms.items()
            if v is not None and (not math.isfinite(v) or v > self.exploding_norm)
        }
        if big:
            self._warn(
                ExplodingGradientWarning,
                epoch,
                big,
                f"epoch {epoch}: exploding gradients in layer(s) {_listing(big)} "
                f"(‖∇W‖ > {self.exploding_norm:g} or not finite); lower the learning rate, "
                "clip gradients (grad_clip), or check the initialisation",
            )
        if not finite:
            return
        top = max(finite.values())
        small = {
            n: v
            for n, v in finite.items()
            if v < self.vanishing_norm or (top > 0 and v < self.vanishing_ratio * top)
        }
        if small:
            self._warn(
                VanishingGradientWarning,
                epoch,
                small,
                f"epoch {epoch}: vanishing gradients in layer(s) {_listing(small)} (largest "
                f"layer ‖∇W‖ = {top:.3g}); saturating units (logistic, tanh) or a poor "
                "initialisation starve the layers below: try ReLU with He initialisation, or "
                "normalisation",
            )

    def _warn(self, cls: type[Warning], epoch: int, layers: dict[str, float], msg: str) -> None:
        kind = "exploding" if cls is ExplodingGradientWarning else "vanishing"
        self.warnings.append({"epoch": epoch, "kind": kind, "layers": dict(layers), "message": msg})
        if kind not in self._warned:  # once per kind and training run; all are recorded
            self._warned.add(kind)
            warnings.warn(msg, cls, stacklevel=3)


def _listing(layers: dict[str, float]) -> str:
    return ", ".join(f"{n} (‖∇W‖ = {v:.3g})" for n, v in layers.items())


def _mean(v: list[float]) -> float | None:
    return float(np.mean(v)) if v else None


def _num(v: Any) -> float:
    # None (no value) as NaN; "nan", "inf", "-inf" (how the JSON holds them) parse as floats
    return math.nan if v is None else float(v)


def load_gradient_flow(path: str | Path) -> dict[str, Any]:
    """Read a ``gradient_flow.json`` (a path to it, or to the folder holding it).

    Raises ``ValueError`` when the file is not a gradient-flow record (a
    :class:`~chainrule.errors.CheckpointError`, itself a ``ValueError``, when it is not JSON),
    ``OSError`` when it cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        path = path / JSON_NAME
    data = read_json(path, str(path))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a chainrule gradient-flow record")
    return data


def plot_gradient_flow(data: dict[str, Any] | GradientFlow, path: str | Path) -> Path:
    """Four panels: the gradient norm by depth (one line per epoch, log scale: vanishing
    gradients fall off to the left), gradient norm per epoch, update/weight ratio per epoch
    (with the 1e-3 rule of thumb), and the dead-ReLU fraction per epoch. Writes a PNG.

    Raises ``ValueError`` when there is nothing recorded.
    """
    from chainrule.train.plots import pyplot

    if isinstance(data, GradientFlow):
        data = data.to_dict()
    epochs = data.get("epochs", [])
    layers = [d["name"] for d in data.get("layers", [])]
    if not epochs or not layers:
        raise ValueError("plot_gradient_flow: nothing recorded")
    rec = data["records"]
    plt = pyplot()
    fig, grid = plt.subplots(2, 2, figsize=(11, 7.2))
    axes = grid.reshape(-1)
    depth = np.arange(1, len(layers) + 1)
    picks = sorted({0, len(epochs) // 2, len(epochs) - 1})
    viridis = plt.get_cmap("viridis")

    def cmap(x: float) -> Any:
        return viridis(0.85 * x)  # stop before the pale yellow end

    def line(ax: Any, x: Any, values: list[Any], i: int, n: int, label: str) -> None:
        """One series, the i-th of n, coloured along the colour map."""
        ax.plot(
            x,
            [_num(v) for v in values],
            marker="o",
            ms=3,
            color=cmap(i / max(1, n - 1)),
            label=label,
        )

    ax = axes[0]
    for j, e in enumerate(picks):
        vals = [rec[n]["grad_norm"][e] for n in layers]
        line(ax, depth, vals, j, len(picks), f"epoch {epochs[e]}")
    ax.set_yscale("log")
    ax.set_xlabel("layer k (1 = input side)")
    ax.set_title("‖∇W_k‖ by depth")
    ax.set_xticks(depth)
    ax.legend(fontsize=8)
    for ax, q, title in (
        (axes[1], "grad_norm", "‖∇W_k‖ per epoch"),
        (axes[2], "update_ratio", "‖ΔW_k‖ / ‖W_k‖ per step"),
    ):
        for i, n in enumerate(layers):
            line(ax, epochs, rec[n][q], i, len(layers), f"layer {i + 1} ({n})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(title)
    axes[2].axhline(1e-3, color="grey", ls="--", lw=0.8)
    if len(layers) <= 12:
        axes[1].legend(fontsize=7)
    ax = axes[3]
    any_relu = False
    for i, n in enumerate(layers):
        vals = rec[n]["dead_fraction"]
        if any(v is not None for v in vals):
            any_relu = True
            line(ax, epochs, vals, i, len(layers), f"layer {i + 1}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("epoch")
    ax.set_title("dead ReLU units (fraction)")
    if not any_relu:
        ax.text(0.5, 0.5, "no ReLU layers", ha="center", va="center", transform=ax.transAxes)
    from matplotlib.ticker import MaxNLocator

    for a in axes[1:]:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def gradient_norms(
    model: Module, x: Any, y: Any, loss_fn: Callable[[Tensor, Tensor], Tensor]
) -> dict[str, float]:
    """‖∇_{W_k} ℒ‖ for each weighted layer, from one forward and backward pass of ``model``
    on ``(x, y)`` (``.grad`` is left untouched). Keys are module names, input side first.

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
    >>> sorted(gradient_norms(net, cr.randn(5, 3), cr.tensor([0, 1, 0, 1, 1]),
    ...                       cr.nn.CrossEntropyLoss()))
    ['0', '2']
    """
    found = _weighted_layers(model)
    xt = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    yt = y if isinstance(y, Tensor) else Tensor(np.asarray(y))
    loss = loss_fn(model(xt), yt)
    grads = gradients(loss, [m.weight for _, m in found], allow_unused=True)
    return {n: 0.0 if g is None else _norm(g.data) for (n, _), g in zip(found, grads)}
