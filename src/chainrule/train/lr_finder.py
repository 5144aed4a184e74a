"""The learning-rate range test (Smith, 2015; fastai's ``lr_find``): train a few hundred
batches while the learning rate grows exponentially from tiny to huge, record the loss, and
read a good rate off the curve. The model and optimiser are put back as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.nn import Module
from chainrule.tensor import Tensor
from chainrule.train.batches import DataLike, make_loader

__all__ = ["LRFinderResult", "lr_find"]


@dataclass
class LRFinderResult:
    """What :func:`lr_find` returns.

    ``lrs`` and ``losses`` (the loss smoothed by an exponential moving average, bias-corrected)
    per step, ``raw_losses`` as measured; ``suggestion`` the suggested learning rate (the
    steepest descent of the smoothed loss against log(lr), before its minimum);
    ``lr_min`` the rate of the minimum divided by 10 (the other rule of thumb); ``stopped``
    says whether the sweep stopped early because the loss diverged.
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float
    lr_min: float
    stopped: bool

    def figure(self) -> Any:
        """A matplotlib figure of the loss against the learning rate (log scale), with the
        suggestion marked."""
        from chainrule.train.plots import pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        ax.plot(self.lrs, self.losses, label="loss (smoothed)")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        i = int(np.argmin(np.abs(np.log(self.lrs) - math.log(self.suggestion))))
        ax.plot([self.suggestion], [self.losses[i]], "o", color="C3",
                label=f"suggested {self.suggestion:.3g}")  # fmt: skip
        ax.axvline(self.lr_min, color="0.6", ls=":", label=f"minimum / 10: {self.lr_min:.3g}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        return fig

    def plot(self, path: str | Path) -> Path:
        """Write :meth:`figure` as a PNG to ``path``; returns the path."""
        from chainrule.train.plots import _save

        return _save(self.figure(), path)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (what ``chainrule train --find-lr`` writes to
        ``lr_find.json``): the suggestion, ``lr_min``, ``stopped`` and the sweep's lists."""
        return {
            "suggestion": self.suggestion,
            "lr_min": self.lr_min,
            "stopped": self.stopped,
            "lrs": self.lrs.tolist(),
            "losses": self.losses.tolist(),
            "raw_losses": self.raw_losses.tolist(),
        }

    def __repr__(self) -> str:
        return (
            f"LRFinderResult(suggestion={self.suggestion:.3g}, lr_min={self.lr_min:.3g}, "
            f"{len(self.lrs)} steps from {self.lrs[0]:.3g} to {self.lrs[-1]:.3g}"
            + (", stopped: the loss diverged)" if self.stopped else ")")
        )

    def _repr_html_(self) -> str:
        from chainrule.train.plots import figure_html

        return figure_html(self.figure()) + (
            f"<p>suggested learning rate: <b>{self.suggestion:.3g}</b> "
            f"(minimum / 10: {self.lr_min:.3g})</p>"
        )


def lr_find(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Any,
    train: DataLike,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 200,
    batch_size: int = 32,
    smooth: float = 0.98,
    diverge: float = 4.0,
    seed: int = 0,
) -> LRFinderResult:
    """Sweep the learning rate from ``start_lr`` to ``end_lr`` exponentially over ``num_iter``
    training steps and suggest one.

    Step ``i`` trains one batch with ``lr = start_lr · (end_lr / start_lr)^(i / (num_iter-1))``
    (the data is cycled when it has fewer batches). The sweep stops early once the smoothed
    loss exceeds ``diverge`` times its minimum, or stops being finite. Afterwards the model's
    weights and buffers, the optimiser's state and its learning rates are restored, so
    training can start from where it was.

    ``train`` is what :meth:`Trainer.fit` takes (a dataset, a loader, or ``(X, y)``).
    Returns an :class:`LRFinderResult` (``.suggestion``, ``.plot(path)``; in Jupyter it
    shows its curve). Raises ``ValueError`` for a range that is not increasing and positive
    or fewer than 5 steps; :class:`~chainrule.errors.DataError` for unusable data.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> cr.manual_seed(0)
    >>> X = np.random.default_rng(0).normal(size=(256, 4)); y = (X[:, 0] > 0).astype(int)
    >>> net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    >>> r = lr_find(net, nn.CrossEntropyLoss(), cr.optim.SGD(net.parameters(), lr=0.1), (X, y))
    >>> 1e-4 < r.suggestion < 10
    True
    """
    if not (0 < start_lr < end_lr):
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_iter < 5:
        raise ValueError(f"num_iter must be at least 5, got {num_iter}")
    loader = make_loader(train, model, batch_size, True, seed)
    weights = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()  # copies
    was_training = model.training
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(num_iter) / (num_iter - 1))
    raw: list[float] = []
    smoothed: list[float] = []
    avg, best, stopped = 0.0, math.inf, False
    model.train()
    try:
        batches = iter(loader)
        for i, lr in enumerate(lrs):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(loader)
                x, y = next(batches)
            for group in optimizer.param_groups:
                group["lr"] = float(lr)
            loss = loss_fn(model(x), y)
            value = float(loss.item())
            if not math.isfinite(value):
                stopped = True
                break
            avg = smooth * avg + (1 - smooth) * value
            s = avg / (1 - smooth ** (i + 1))
            raw.append(value)
            smoothed.append(s)
            best = min(best, s)
            if i > 0 and s > diverge * best:
                stopped = True
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(opt_state)
        model.train(was_training)
    n = len(smoothed)
    if n < 2:
        raise ValueError(f"the loss diverged at once (learning rate {lrs[0]:.3g}): lower start_lr")
    lrs, losses = lrs[:n], np.asarray(smoothed)
    return LRFinderResult(
        lrs=lrs,
        losses=losses,
        raw_losses=np.asarray(raw),
        suggestion=_steepest(lrs, losses),
        lr_min=float(lrs[int(np.argmin(losses))] / 10),
        stopped=stopped,
    )


def _steepest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The rate where the loss falls fastest against log(lr), before the loss's minimum. The
    first tenth of the sweep (at least 5 steps) is skipped: there the moving average has seen
    only a few batches, and their differences look like slopes."""
    end = int(np.argmin(losses)) + 1
    start = min(max(5, len(losses) // 10), max(end - 3, 0))
    if end - start < 3:
        return float(lrs[max(end - 1, 0)])
    slope = np.gradient(losses[start:end], np.log(lrs[start:end]))
    return float(lrs[start + int(np.argmin(slope))])
