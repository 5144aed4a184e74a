"""Reduce the learning rate when a metric stops improving, :class:`ReduceLROnPlateau`."""

from __future__ import annotations

import math
from typing import SupportsFloat

from chainrule.compile import replayable
from chainrule.optim.lr_scheduler.base import (
    LRScheduler,
    _check,
    _check_optimizer,
    _int_at_least,
    _per_group,
)
from chainrule.optim.optimizer import Optimizer, _nonnegative


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving for more
    than ``patience`` epochs; ``step(metric)`` takes the epoch's metric.

    ``mode`` "min" (lower is better) or "max"; an improvement must beat the best value by
    ``threshold``, relative (``threshold_mode="rel"``: best · (1 ∓ threshold)) or absolute
    ("abs": best ∓ threshold). After a reduction, ``cooldown`` epochs pass before bad epochs
    count again. Rates never go below ``min_lr`` (one number, or one per group) and changes
    smaller than ``eps`` are ignored.

    Raises :class:`~chainrule.errors.OptimizerError` for factor outside [0, 1), an unknown
    mode or threshold_mode, a negative patience or cooldown, or a min_lr list whose length is
    not the number of groups.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.5, 2.4, 2.2]:
    ...     sched.step(loss)
    >>> sched.get_last_lr()   # two epochs without beating 2.0: halved once
    [0.5]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: list[float] | float = 0,
        eps: float = 1e-8,
    ) -> None:
        _check_optimizer(self, optimizer)
        _check(self, "factor", factor, _nonnegative(factor) and factor < 1, "in [0, 1)")
        _check(self, "mode", mode, mode in ("min", "max"), "'min' or 'max'")
        ok = threshold_mode in ("rel", "abs")
        _check(self, "threshold_mode", threshold_mode, ok, "'rel' or 'abs'")
        _check(self, "threshold", threshold, _nonnegative(threshold), "a finite number >= 0")
        _check(self, "patience", patience, _int_at_least(patience, 0), "an int >= 0")
        _check(self, "cooldown", cooldown, _int_at_least(cooldown, 0), "an int >= 0")
        _check(self, "eps", eps, _nonnegative(eps), "a finite number >= 0")
        n = len(optimizer.param_groups)
        self.min_lrs = [float(v) for v in _per_group(self, "min_lr", min_lr, n)]
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = int(patience)
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = int(cooldown)
        self.eps = eps
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = self._current_lrs()

    @replayable  # cr.compile calls it again at each replay
    def step(self, metrics: SupportsFloat) -> None:  # type: ignore[override]
        """Record one epoch's metric and reduce the rates if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < best * (1.0 - th) if self.threshold_mode == "rel" else a < best - th
        return a > best * (th + 1.0) if self.threshold_mode == "rel" else a > best + th
