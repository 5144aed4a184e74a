"""Schedulers made of schedulers, with PyTorch's names and semantics: :class:`SequentialLR`
(one after another, switching at milestones: a warm-up, then a decay) and
:class:`ChainedScheduler` (all of them every step, their factors multiplied)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from chainrule.compile import replayable
from chainrule.errors import OptimizerError
from chainrule.optim.lr_scheduler.base import LRScheduler, _check_optimizer
from chainrule.optim.lr_scheduler.plateau import ReduceLROnPlateau
from chainrule.optim.optimizer import Optimizer


def _no_restart(owner: Any, epoch: int) -> None:
    raise OptimizerError(
        f"SequentialLR cannot restart a {type(owner).__name__} at a milestone (it has no "
        "rates of its own); put it first, or pass its schedulers to the SequentialLR"
    )


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another: the first until epoch ``milestones[0]``, the
    second from there (restarted at its own epoch 0) until ``milestones[1]``, and so on;
    ``len(milestones) == len(schedulers) - 1``. Build the schedulers on ``optimizer`` first;
    this one then resets the rates to each group's ``"initial_lr"`` and starts the first.

    At a milestone the next scheduler takes its epoch-0 rates from its closed form (its
    formula of the epoch and the base rates) where it has one, so a warm-up followed by a
    cosine decay reaches the cosine's base rate exactly, as in PyTorch.

    ``state_dict()`` holds the milestones, ``last_epoch`` and each scheduler's own state
    under ``"_schedulers"``. Raises ``TypeError`` for something that is not a scheduler and
    :class:`~chainrule.errors.OptimizerError` for no schedulers, a
    :class:`ReduceLROnPlateau` (its ``step`` needs a metric), a scheduler of another
    optimiser, or a number of milestones that is not one less than of schedulers.

    >>> import chainrule as cr
    >>> from chainrule.optim.lr_scheduler import CosineAnnealingLR, LinearLR
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> warm = LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> cosine = CosineAnnealingLR(opt, T_max=2)
    >>> sched = SequentialLR(opt, [warm, cosine], milestones=[2])
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(4):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(round(sched.get_last_lr()[0], 6))
    >>> lrs
    [0.5, 0.75, 1.0, 0.5, 0.0]
    """

    _own_state = ("_schedulers",)

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        _check_schedulers(self, schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise OptimizerError(
                f"SequentialLR: {len(schedulers)} schedulers need {len(schedulers) - 1} "
                f"milestones (one where each but the first starts), got {list(milestones)}"
            )
        self._schedulers = list(schedulers)
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:  # undo the step each took when it was built
            _undo_initial_step(scheduler)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    @replayable  # cr.compile calls it again at each replay
    def step(self) -> None:
        """Advance one epoch: step the scheduler whose turn it is (restarting it at epoch 0
        when its milestone is reached)."""
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._restart_at(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    _restart_at = _no_restart

    def state_dict(self) -> dict[str, Any]:
        """``last_epoch``, the milestones, the last rates, and ``"_schedulers"``: the
        schedulers' own state dicts, in order."""
        return _with_schedulers(self, super().state_dict())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`, each scheduler's part by that scheduler. Raises
        :class:`~chainrule.errors.StateDictError` for missing or unexpected keys."""
        super().load_state_dict(state_dict)
        _load_schedulers(self, state_dict)


class ChainedScheduler(LRScheduler):
    """Step every scheduler of ``schedulers`` at each ``step()``, in order, so their changes
    to the rates compose (a warm-up factor times a decay, both written in the chainable
    form). ``optimizer`` defaults to the first scheduler's.

    ``state_dict()`` holds each scheduler's own state under ``"_schedulers"``. Raises
    ``TypeError`` for something that is not a scheduler and
    :class:`~chainrule.errors.OptimizerError` for no schedulers, a
    :class:`ReduceLROnPlateau`, or schedulers of different optimisers.

    >>> import chainrule as cr
    >>> from chainrule.optim.lr_scheduler import ExponentialLR, LinearLR
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = ChainedScheduler([LinearLR(opt, start_factor=0.5, total_iters=2),
    ...                           ExponentialLR(opt, gamma=0.5)])
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(3):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [0.5, 0.375, 0.25, 0.125]
    """

    _own_state = ("_schedulers",)

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None
    ) -> None:
        if len(schedulers) == 0:
            raise OptimizerError("ChainedScheduler: expects at least one scheduler, got none")
        if optimizer is None:
            optimizer = getattr(schedulers[0], "optimizer", None)
        _check_optimizer(self, optimizer)
        _check_schedulers(self, schedulers, optimizer)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = self._current_lrs()

    @replayable  # cr.compile calls it again at each replay
    def step(self) -> None:
        """Step each scheduler once, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._current_lrs()

    _restart_at = _no_restart

    def state_dict(self) -> dict[str, Any]:
        """The last rates and ``"_schedulers"``: the schedulers' own state dicts, in order."""
        return _with_schedulers(self, super().state_dict())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`, each scheduler's part by that scheduler. Raises
        :class:`~chainrule.errors.StateDictError` for missing or unexpected keys."""
        super().load_state_dict(state_dict)
        _load_schedulers(self, state_dict)


def _check_schedulers(owner: Any, schedulers: Sequence[Any], optimizer: Optimizer) -> None:
    name = type(owner).__name__
    if len(schedulers) == 0:
        raise OptimizerError(f"{name}: expects at least one scheduler, got none")
    for k, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(
                f"{name}: schedulers[{k}] is a {type(scheduler).__name__}, not a chainrule "
                "learning-rate scheduler"
            )
        if isinstance(scheduler, ReduceLROnPlateau):
            raise OptimizerError(
                f"{name}: schedulers[{k}] is a ReduceLROnPlateau, whose step needs a metric; "
                "step it on its own"
            )
        if scheduler.optimizer is not optimizer:
            raise OptimizerError(
                f"{name}: schedulers[{k}] ({type(scheduler).__name__}) drives another "
                "optimiser; all must drive the same one"
            )


def _undo_initial_step(scheduler: Any) -> None:
    """Take back the epoch a scheduler's construction counted (in nested ones too)."""
    if hasattr(scheduler, "_schedulers"):
        for inner in scheduler._schedulers:
            _undo_initial_step(inner)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


def _with_schedulers(owner: Any, state: dict[str, Any]) -> dict[str, Any]:
    state["_schedulers"] = [s.state_dict() for s in owner._schedulers]
    return state


def _load_schedulers(owner: Any, state_dict: dict[str, Any]) -> None:
    saved = state_dict["_schedulers"]
    if len(saved) != len(owner._schedulers):
        raise OptimizerError(
            f"{type(owner).__name__}.load_state_dict: the state holds {len(saved)} schedulers, "
            f"this one has {len(owner._schedulers)}"
        )
    for scheduler, state in zip(owner._schedulers, saved):
        scheduler.load_state_dict(state)
