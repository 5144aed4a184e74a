"""The one registry of optimisers and of learning-rate schedulers, by name (as Keras's
``optimizers.get``): the CLI's settings, the training run and the estimators look classes up
here, so adding one touches this file and its own module only.

>>> import chainrule as cr
>>> w = cr.zeros(3, requires_grad=True)
>>> opt = get("adam", [w], lr=0.01)
>>> type(opt).__name__, opt.param_groups[0]["lr"]
('Adam', 0.01)
>>> type(get_scheduler("cosine", opt, T_max=10)).__name__
'CosineAnnealingLR'
>>> warm = get_scheduler("linear", opt, start_factor=0.1, total_iters=5)
>>> type(get_scheduler("sequential", opt, schedulers=[warm, get_scheduler("cosine", opt, T_max=20)],
...                    milestones=[5])).__name__
'SequentialLR'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from chainrule.optim import lr_scheduler as _lrs
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = ["OPTIMIZERS", "SCHEDULERS", "get", "get_scheduler"]

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}
"""Every optimiser class by its name (PyTorch's class name in lower case)."""

SCHEDULERS: dict[str, type[_lrs.LRScheduler]] = {
    "step": _lrs.StepLR,
    "multistep": _lrs.MultiStepLR,
    "exponential": _lrs.ExponentialLR,
    "cosine": _lrs.CosineAnnealingLR,
    "linear": _lrs.LinearLR,
    "plateau": _lrs.ReduceLROnPlateau,
    "onecycle": _lrs.OneCycleLR,
    "lambda": _lrs.LambdaLR,
    "sequential": _lrs.SequentialLR,
    "chained": _lrs.ChainedScheduler,
}
"""Every learning-rate scheduler class by a short name (``"cosine"``: CosineAnnealingLR)."""


def get(name: str, params: Iterable[Any], **kwargs: Any) -> Optimizer:
    """The optimiser registered as ``name`` (case ignored), built over ``params`` with
    ``kwargs`` (its own hyper-parameters: ``lr``, ``weight_decay``, ...).

    Raises ``ValueError`` naming the registered optimisers for an unknown name, and what the
    class raises for bad parameters or hyper-parameters (``TypeError`` for an unknown one).
    """
    return _resolve("optimizer", OPTIMIZERS, name)(params, **kwargs)


def get_scheduler(name: str, optimizer: Optimizer, **kwargs: Any) -> _lrs.LRScheduler:
    """The learning-rate scheduler registered as ``name`` (case ignored), built for
    ``optimizer`` with ``kwargs`` (``T_max=...`` for ``"cosine"``, ...).

    Raises ``ValueError`` naming the registered schedulers for an unknown name, and what the
    class raises for bad arguments.
    """
    # by keyword: ChainedScheduler takes its schedulers first, as in PyTorch
    return _resolve("scheduler", SCHEDULERS, name)(optimizer=optimizer, **kwargs)


def _resolve(kind: str, table: dict[str, Any], name: Any) -> Any:
    key = name.lower() if isinstance(name, str) else name
    if key not in table:
        close = difflib.get_close_matches(str(key), list(table), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown {kind} {name!r}{hint}; choose from {', '.join(table)}")
    return table[key]
