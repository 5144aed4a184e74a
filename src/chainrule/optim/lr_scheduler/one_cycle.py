"""The 1cycle policy, :class:`OneCycleLR`, stepped after every batch."""

from __future__ import annotations

import math

from chainrule.errors import OptimizerError
from chainrule.optim.lr_scheduler.base import (
    LRScheduler,
    _check,
    _check_optimizer,
    _int_at_least,
    _per_group,
)
from chainrule.optim.optimizer import Optimizer, _finite


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
        """The rates of step ``last_epoch`` of the cycle (and, with ``cycle_momentum``,
        sets the momentum or β1). Raises :class:`~chainrule.errors.OptimizerError` past
        ``total_steps``."""
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
