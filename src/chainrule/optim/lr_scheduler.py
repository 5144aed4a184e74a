"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: each sets ``group["lr"]`` of an
optimiser's parameter groups once per ``step()``.

Call ``scheduler.step()`` after ``optimizer.step()``. The schedules are written in PyTorch's
recursive ("chainable") form, each new rate computed from the current ``group["lr"]``, so the
values agree with PyTorch's to the last bit and two schedulers may drive one optimiser.
``state_dict()`` holds plain numbers, lists and strings (JSON-ready); the optimiser is saved
separately.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any, SupportsFloat

from chainrule.errors import OptimizerError, StateDictError
from chainrule.optim.optimizer import Optimizer, _finite, _nonnegative

# Keys PyTorch's schedulers keep for their own bookkeeping: accepted and ignored on loading.
_TORCH_ONLY_KEYS = frozenset({"_get_lr_called_within_step", "_is_initial", "verbose"})


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and writes ``get_lr()`` into the groups.

    On construction with ``last_epoch=-1`` each group's ``"initial_lr"`` is set to its current
    ``"lr"`` (these are ``base_lrs``) and one step is taken, so ``last_epoch`` starts at 0. To
    resume, pass the ``last_epoch`` reached (the groups must then hold ``"initial_lr"``) or,
    better, ``load_state_dict``. Raises ``TypeError`` when ``optimizer`` is not an
    :class:`~chainrule.optim.Optimizer` and :class:`~chainrule.errors.OptimizerError` when
    resuming without ``"initial_lr"``.
    """

    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for k, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise OptimizerError(
                        f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                        f"'initial_lr' in parameter group {k}; load the optimiser's and the "
                        "scheduler's state_dict instead"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch: int = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch``, one per group (used by step)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance the schedule by one epoch (or batch) and set each group's ``"lr"``."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimiser, as plain data (numbers, lists, strings)."""
        return {
            k: copy.deepcopy(v)
            for k, v in vars(self).items()
            if k != "optimizer" and k not in _TORCH_ONLY_KEYS
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`. Raises :class:`~chainrule.errors.StateDictError`
        listing missing and unexpected keys (e.g. the state of another kind of scheduler)."""
        mine = set(self.state_dict())
        given = set(state_dict) - _TORCH_ONLY_KEYS
        missing, unexpected = sorted(mine - given), sorted(given - mine)
        if missing or unexpected:
            raise StateDictError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for k in given:
            setattr(self, k, copy.deepcopy(state_dict[k]))


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Raises :class:`~chainrule.errors.OptimizerError` when step_size < 1 or gamma < 0.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        _check(self, "step_size", step_size, _int_at_least(step_size, 1), "an int >= 1")
        _check(self, "gamma", gamma, _nonnegative(gamma), "a finite number >= 0")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each epoch listed in ``milestones`` (by
    ``gamma**n`` at an epoch listed n times).

    Raises :class:`~chainrule.errors.OptimizerError` when gamma < 0.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
    >>> for _ in range(3):
    ...     opt.step()
    ...     sched.step()
    >>> sched.get_last_lr()
    [0.010000000000000002]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        _check(self, "gamma", gamma, _nonnegative(gamma), "a finite number >= 0")
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        n = self.milestones.count(self.last_epoch)
        if n == 0:
            return self._current_lrs()
        return [lr * self.gamma**n for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch.

    Raises :class:`~chainrule.errors.OptimizerError` when gamma < 0.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = ExponentialLR(opt, gamma=0.5)
    >>> opt.step(); sched.step(); opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        _check(self, "gamma", gamma, _nonnegative(gamma), "a finite number >= 0")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from its base value to ``eta_min`` along half a cosine over
    ``T_max`` epochs (then back up, periodically), in PyTorch's recursive form:

    lr_t = eta_min + (lr_{t-1} - eta_min) (1 + cos(π t / T_max)) / (1 + cos(π (t-1) / T_max)),

    which follows eta_min + (base_lr - eta_min)(1 + cos(π t / T_max)) / 2 when nothing else
    changes the rate. Raises :class:`~chainrule.errors.OptimizerError` when T_max < 1.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = CosineAnnealingLR(opt, T_max=2)
    >>> opt.step(); sched.step()
    >>> round(sched.get_last_lr()[0], 12)
    0.5
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        _check(self, "T_max", T_max, _int_at_least(T_max, 1), "an int >= 1")
        _check(self, "eta_min", eta_min, _finite(eta_min), "a finite number")
        self.T_max = int(T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:  # constructed with last_epoch > -1: closed form
            return [
                eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / period)) / 2
                for base in self.base_lrs
            ]
        if (t - 1 - period) % (2 * period) == 0:  # the trough: restart upwards
            return [
                lr + (base - eta_min) * (1 - math.cos(math.pi / period)) / 2
                for lr, base in zip(self._current_lrs(), self.base_lrs)
            ]
        return [
            (1 + math.cos(math.pi * t / period))
            / (1 + math.cos(math.pi * (t - 1) / period))
            * (lr - eta_min)
            + eta_min
            for lr in self._current_lrs()
        ]


class LinearLR(LRScheduler):
    """Warm-up: scale the learning rate by a factor going linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` epochs, then keep it.

    Raises :class:`~chainrule.errors.OptimizerError` unless 0 < start_factor ≤ 1,
    0 ≤ end_factor ≤ 1 and total_iters ≥ 0.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(4):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        ok = _finite(start_factor) and 0 < start_factor <= 1
        _check(self, "start_factor", start_factor, ok, "in (0, 1]")
        ok = _finite(end_factor) and 0 <= end_factor <= 1
        _check(self, "end_factor", end_factor, ok, "in [0, 1]")
        ok = _int_at_least(total_iters, 0)
        _check(self, "total_iters", total_iters, ok, "an int >= 0")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, a, b = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * a for lr in self._current_lrs()]
        if self._is_initial or t > self.total_iters:
            return self._current_lrs()
        ratio = 1.0 + (b - a) / (self.total_iters * a + (t - 1) * (b - a))
        return [lr * ratio for lr in self._current_lrs()]


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
        if isinstance(min_lr, (list, tuple)):
            ok = len(min_lr) == n
            _check(self, "min_lr", min_lr, ok, f"one number or a list of {n} (one per group)")
            self.min_lrs = [float(v) for v in min_lr]
        else:
            self.min_lrs = [float(min_lr)] * n
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


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith): the rate rises from max_lr / div_factor to ``max_lr`` over
    the first ``pct_start`` of the steps, then falls to max_lr / (div_factor ·
    final_div_factor); step it after every batch.

    ``total_steps``, or ``epochs`` and ``steps_per_epoch``, fix the length; ``max_lr``,
    ``base_momentum`` and ``max_momentum`` may be one number or one per group;
    ``anneal_strategy`` is "cos" or "linear"; ``three_phase`` comes back down to the initial
    rate symmetrically before the final annihilation. With ``cycle_momentum`` the momentum
    (SGD, RMSprop) or β1 (Adam) moves inversely between ``max_momentum`` and
    ``base_momentum``.

    Raises :class:`~chainrule.errors.OptimizerError` for a missing or non-positive length,
    pct_start outside [0, 1] or leaving a phase no steps, an unknown anneal_strategy, a list
    of the wrong length, cycle_momentum with an optimiser that has neither momentum nor
    betas, and a ``step()`` beyond ``total_steps``.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=4, pct_start=0.5, anneal_strategy="linear")
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(3):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(round(sched.get_last_lr()[0], 6))
    >>> lrs
    [0.04, 1.0, 0.500002, 4e-06]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        if total_steps is not None:
            ok = _int_at_least(total_steps, 1)
            _check(self, "total_steps", total_steps, ok, "a positive int")
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            _check(self, "epochs", epochs, _int_at_least(epochs, 1), "a positive int")
            ok = _int_at_least(steps_per_epoch, 1)
            _check(self, "steps_per_epoch", steps_per_epoch, ok, "a positive int")
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise OptimizerError(
                "OneCycleLR: give either total_steps or both epochs and steps_per_epoch"
            )
        ok = _finite(pct_start) and 0 <= pct_start <= 1
        _check(self, "pct_start", pct_start, ok, "in [0, 1]")
        ok = anneal_strategy in ("cos", "linear")
        _check(self, "anneal_strategy", anneal_strategy, ok, "'cos' or 'linear'")
        for name, v in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            _check(self, name, v, _finite(v) and v > 0, "a finite number > 0")
        n = self.total_steps
        up = float(pct_start * n) - 1
        if three_phase:
            self._schedule_phases = [
                _phase(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * n) - 2, "max_lr", "initial_lr", "base_momentum",
                       "max_momentum"),
                _phase(n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]  # fmt: skip
        else:
            self._schedule_phases = [
                _phase(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        start = 0.0
        for phase in self._schedule_phases:  # PyTorch would divide by zero mid-schedule
            if phase["end_step"] == start:
                raise OptimizerError(
                    f"OneCycleLR: pct_start={pct_start} with total_steps={n} leaves a phase "
                    f"of the schedule no steps (pct_start * total_steps == 1, or pct_start "
                    "== 1); change pct_start"
                )
            start = phase["end_step"]
        self._anneal_func_type = anneal_strategy
        groups = optimizer.param_groups
        max_lrs = _per_group(self, "max_lr", max_lr, len(groups))
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and not self.use_beta1:
                raise OptimizerError(
                    f"OneCycleLR: cycle_momentum=True needs an optimiser with momentum or "
                    f"betas; {type(optimizer).__name__} has neither (pass cycle_momentum=False)"
                )
            tops = _per_group(self, "max_momentum", max_momentum, len(groups))
            bases = _per_group(self, "base_momentum", base_momentum, len(groups))
            if last_epoch == -1:
                for group, top, base in zip(groups, tops, bases):
                    if self.use_beta1:
                        group["betas"] = (top, *group["betas"][1:])
                    else:
                        group["momentum"] = top
                    group["max_momentum"] = top
                    group["base_momentum"] = base
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:
            raise OptimizerError(
                f"OneCycleLR: tried to step {t} times; the schedule has total_steps="
                f"{self.total_steps}"
            )
        anneal = _anneal_cos if self._anneal_func_type == "cos" else _anneal_linear
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if t <= end or i == last:
                    pct = (t - start) / (end - start)
                    lrs.append(anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        m = anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                        if self.use_beta1:
                            group["betas"] = (m, *group["betas"][1:])
                        else:
                            group["momentum"] = m
                    break
                start = end
        return lrs


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


def _phase(end_step: float, start_lr: str, end_lr: str, start_m: str, end_m: str) -> dict:
    return {
        "end_step": end_step,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "start_momentum": start_m,
        "end_momentum": end_m,
    }


def _per_group(sched: LRScheduler, name: str, value: Any, n: int) -> list[float]:
    if isinstance(value, (list, tuple)):
        ok = len(value) == n
        _check(sched, name, value, ok, f"one number or a list of {n} (one per group)")
        return list(value)
    return [value] * n


def _int_at_least(x: Any, lo: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= lo


def _check(sched: Any, name: str, value: Any, ok: bool, rule: str) -> None:
    if not ok:
        raise OptimizerError(f"{type(sched).__name__}: invalid {name}={value!r}; must be {rule}")


def _check_optimizer(sched: Any, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{type(sched).__name__}: {type(optimizer).__name__} is not a chainrule Optimizer"
        )
