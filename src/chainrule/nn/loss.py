"""Losses l(f(x), y) as modules: ``loss_fn = CrossEntropyLoss(); loss_fn(logits, y)``.

Each holds its settings and calls the function of the same name in
:mod:`chainrule.nn.functional`, which documents shapes and errors. ``reduction`` is
``"mean"`` (default), ``"sum"`` or ``"none"`` (one loss per element or example). Class
weights and ``pos_weight`` are buffers, so they appear in ``state_dict()`` as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction


def _buffer(v: Any) -> Tensor | None:
    if v is None:
        return None
    return Tensor._make(v.data if isinstance(v, Tensor) else backend.xp.asarray(v))


class MSELoss(_Loss):
    """Mean squared error (x - y)^2, the seeds' squared loss; see
    :func:`~chainrule.nn.functional.mse_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |x - y|; see :func:`~chainrule.nn.functional.l1_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Quadratic within ``delta`` of the target, linear beyond; see
    :func:`~chainrule.nn.functional.huber_loss`."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_Loss):
    """Softmax and cross-entropy fused, from logits (N, C) and class indices (N,) or class
    probabilities (N, C); its gradient is softmax(x) - target. See
    :func:`~chainrule.cross_entropy`.

    >>> import chainrule as cr
    >>> loss = cr.nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> float(loss(cr.tensor([[1e4, -1e4]]), cr.tensor([0]))) > 0
    True
    """

    def __init__(
        self,
        weight: Any = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}"
            )
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (e.g. after ``LogSoftmax(dim=1)``) and
    class indices; see :func:`~chainrule.nn.functional.nll_loss`."""

    def __init__(
        self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1]; see
    :func:`~chainrule.nn.functional.binary_cross_entropy`. Prefer :class:`BCEWithLogitsLoss`."""

    def __init__(self, weight: Any = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy fused, from logits: stable for any logit, gradient
    sigmoid(x) - y; see :func:`~chainrule.nn.functional.binary_cross_entropy_with_logits`.

    >>> import chainrule as cr
    >>> cr.nn.BCEWithLogitsLoss()(cr.tensor([0.0]), cr.tensor([1.0]))  # log 2
    tensor(0.6931, dtype=float32)
    """

    def __init__(
        self, weight: Any = None, *, reduction: str = "mean", pos_weight: Any = None
    ) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )
