"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: each sets ``group["lr"]`` of an
optimiser's parameter groups once per ``step()``.

Call ``scheduler.step()`` after ``optimizer.step()``. The schedules are written in PyTorch's
recursive ("chainable") form, each new rate computed from the current ``group["lr"]``, so the
values agree with PyTorch's to the last bit and two schedulers may drive one optimiser
(:class:`ChainedScheduler`), or run one after another (:class:`SequentialLR`: a warm-up, then
a decay). ``state_dict()`` holds plain numbers, lists and strings (JSON-ready); the optimiser
is saved separately. The schedulers are registered by name in
:data:`chainrule.optim.SCHEDULERS`.

=========================  =================================================================
``base``                   :class:`LRScheduler`, the base class
``decay``                  ``StepLR``, ``MultiStepLR``, ``ExponentialLR``,
                           ``CosineAnnealingLR``, ``LinearLR``, ``LambdaLR``
``plateau``                ``ReduceLROnPlateau``
``one_cycle``              ``OneCycleLR``
``composite``              ``SequentialLR``, ``ChainedScheduler``
=========================  =================================================================
"""

from chainrule.optim.lr_scheduler.base import LRScheduler
from chainrule.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from chainrule.optim.lr_scheduler.decay import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    StepLR,
)
from chainrule.optim.lr_scheduler.one_cycle import OneCycleLR
from chainrule.optim.lr_scheduler.plateau import ReduceLROnPlateau

__all__ = [
    "ChainedScheduler", "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR",
    "LinearLR", "MultiStepLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "StepLR",
]  # fmt: skip
