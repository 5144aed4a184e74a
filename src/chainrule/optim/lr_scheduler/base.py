"""The base of every learning-rate scheduler, :class:`LRScheduler`, and the checks the
schedulers share."""

from __future__ import annotations

import copy
from typing import Any

from chainrule.compile import replayable
from chainrule.errors import OptimizerError, StateDictError
from chainrule.optim.optimizer import Optimizer

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
    # attributes a subclass saves in its own form: left out of the plain copy and not set back
    _own_state: tuple[str, ...] = ()

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
        self._initial_step()

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch``, one per group (used by step)."""
        raise NotImplementedError

    @replayable  # cr.compile calls it again at each replay
    def step(self) -> None:
        """Advance the schedule by one epoch (or batch) and set each group's ``"lr"``."""
        self._step_count += 1
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _set_lrs(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def _initial_step(self) -> None:
        """Reset the step count and take the constructor's step (``get_lr`` sees
        ``_is_initial``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _closed_form_lr(self) -> list[float] | None:
        """The rates at ``last_epoch`` from ``base_lrs`` alone, for schedules that have such
        a formula (``None`` here: ``get_lr`` is used)."""
        return None

    def _restart_at(self, epoch: int) -> None:
        """Jump to ``epoch`` and set the rates the schedule has there (its closed form where it
        has one), as :class:`SequentialLR` does at a milestone; the step count is kept."""
        self.last_epoch = epoch
        closed = self._closed_form_lr()
        self._set_lrs(closed if closed is not None else self.get_lr())

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimiser, as plain data (numbers, lists, strings)."""
        skip = {"optimizer", *_TORCH_ONLY_KEYS, *self._own_state}
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in skip}

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
        for k in given - set(self._own_state):
            setattr(self, k, copy.deepcopy(state_dict[k]))


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
