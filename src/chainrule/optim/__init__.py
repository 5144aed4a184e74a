"""Floor 4: optimisers and learning-rate schedules, with PyTorch's names and semantics.

``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad`` update parameters in place from their
``.grad``; :mod:`chainrule.optim.lr_scheduler` changes their learning rates over training.
Both are registered by name in :mod:`chainrule.optim.registry`: ``get("adam", params, lr=...)``
and ``get_scheduler("cosine", optimizer, T_max=...)`` (``OPTIMIZERS``, ``SCHEDULERS``).
Gradient clipping lives in :mod:`chainrule.nn.utils` (``clip_grad_norm_``, ``clip_grad_value_``)
as in PyTorch.
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.registry import OPTIMIZERS, SCHEDULERS, get, get_scheduler
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = [
    "OPTIMIZERS", "SCHEDULERS", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop",
    "get", "get_scheduler", "lr_scheduler",
]  # fmt: skip
