"""The schedules that follow a formula of the epoch: step, multi-step, exponential, cosine,
linear and any function (:class:`LambdaLR`), each with its closed form for
:class:`~chainrule.optim.lr_scheduler.SequentialLR`'s milestones."""

from __future__ import annotations

import bisect
import copy
import math
import types
from collections.abc import Callable, Iterable
from typing import Any

from chainrule.optim.lr_scheduler.base import LRScheduler, _check, _int_at_least
from chainrule.optim.optimizer import Optimizer, _finite, _nonnegative


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
        """The current rates, times ``gamma`` when ``last_epoch`` is a positive multiple
        of ``step_size``."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


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
        """The current rates, times ``gamma**n`` when ``last_epoch`` is listed n times
        in ``milestones``."""
        n = self.milestones.count(self.last_epoch)
        if n == 0:
            return self._current_lrs()
        return [lr * self.gamma**n for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        n = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma**n for base in self.base_lrs]


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
        """The current rates times ``gamma`` (unchanged on the constructor's step)."""
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


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
        """The next rates on the cosine, from the current ones (the recursive form
        above)."""
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

    def _closed_form_lr(self) -> list[float]:
        eta_min, t = self.eta_min, self.last_epoch
        return [
            eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
            for base in self.base_lrs
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
        """The current rates, moved one step of the linear factor from ``start_factor``
        to ``end_factor``."""
        t, a, b = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * a for lr in self._current_lrs()]
        if self._is_initial or t > self.total_iters:
            return self._current_lrs()
        ratio = 1.0 + (b - a) / (self.total_iters * a + (t - 1) * (b - a))
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        a, b, n = self.start_factor, self.end_factor, self.total_iters
        done = min(n, self.last_epoch) / n if n else 0.0
        return [base * (a + (b - a) * done) for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """Set each group's learning rate to its base rate times ``lr_lambda(epoch)``: one
    function of the epoch (an int) returning a float factor, or a list of them, one per
    parameter group.

    ``state_dict()`` keeps no functions: an entry of ``"lr_lambdas"`` is ``None`` for a plain
    function or lambda, and the attributes (``__dict__``) of a callable object, which
    ``load_state_dict`` puts back, as PyTorch does. Raises
    :class:`~chainrule.errors.OptimizerError` for something that is not callable or a list
    whose length is not the number of groups.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = LambdaLR(opt, lambda epoch: 0.5**epoch)
    >>> opt.step(); sched.step(); opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        n = len(getattr(optimizer, "param_groups", ()))
        if isinstance(lr_lambda, (list, tuple)):
            ok = len(lr_lambda) == n and all(callable(f) for f in lr_lambda)
            _check(self, "lr_lambda", lr_lambda, ok, f"a function or a list of {n} functions")
            self.lr_lambdas = list(lr_lambda)
        else:
            _check(self, "lr_lambda", lr_lambda, callable(lr_lambda), "a function of the epoch")
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Each base rate times its ``lr_lambda(last_epoch)``."""
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    _own_state = ("lr_lambdas",)

    def state_dict(self) -> dict[str, Any]:
        """As :meth:`LRScheduler.state_dict`, with ``"lr_lambdas"``: ``None`` for each
        function, a copy of the attributes of each callable object."""
        state = super().state_dict()
        state["lr_lambdas"] = [
            None if isinstance(f, types.FunctionType) else copy.deepcopy(vars(f))
            for f in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the callable objects' attributes included)."""
        super().load_state_dict(state_dict)
        for f, attributes in zip(self.lr_lambdas, state_dict["lr_lambdas"]):
            if attributes is not None:
                vars(f).update(copy.deepcopy(attributes))
