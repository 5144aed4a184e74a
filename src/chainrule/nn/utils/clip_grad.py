"""Gradient clipping, as ``torch.nn.utils``: rescale or clamp the ``.grad`` of parameters in
place between ``backward()`` and the optimiser's ``step()``.

Gradients are a sum over the paths from the loss to a parameter; in deep or recurrent networks
that sum can explode, and one huge step undoes training. Clipping bounds the step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.compile import replayable
from chainrule.errors import NonFiniteError, OptimizerError
from chainrule.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


@replayable  # cr.compile calls it again at each replay
def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The joint norm is that of all gradients concatenated into one vector: the ``norm_type``
    norm (2, 1, ``math.inf`` for the largest absolute value, or any p) of the per-parameter
    norms. Every gradient is multiplied in place by min(1, max_norm / (norm + 1e-6)).
    Parameters without a gradient are skipped. Returns the joint norm before clipping, a
    0-d tensor (0.0 when no parameter has a gradient).

    Raises :class:`~chainrule.errors.OptimizerError` for a negative or NaN ``max_norm``,
    :class:`~chainrule.errors.NonFiniteError` when ``error_if_nonfinite`` is set and the norm
    is NaN or Inf (the gradients are then left unchanged).

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0, 4.0], requires_grad=True)
    >>> w.grad = cr.tensor([3.0, 4.0])
    >>> clip_grad_norm_([w], max_norm=1.0)
    tensor(5., dtype=float32)
    >>> w.grad
    tensor([0.6, 0.8], dtype=float32)
    """
    xp = backend.xp
    grads = [p.grad.data for p in _as_list(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not max_norm >= 0:
        raise OptimizerError(f"clip_grad_norm_: invalid max_norm={max_norm}; must be >= 0")
    if not grads:
        return Tensor._make(xp.asarray(0.0, dtype=backend.get_default_dtype()))
    total = _norm(xp.stack([_norm(g, norm_type) for g in grads]), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise NonFiniteError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients of "
            f"{len(grads)} parameters is {float(total)}, so they cannot be clipped; find where "
            "it comes from (cr.detect_anomaly()) or pass error_if_nonfinite=False to scale "
            "by it anyway"
        )
    with _quiet():
        coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
        if coef != 1.0:  # within max_norm the gradients stay as they are (NaN still spreads)
            for g in grads:
                g *= coef
    return Tensor._make(xp.asarray(total))


@replayable
def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    Parameters without a gradient are skipped. Raises
    :class:`~chainrule.errors.OptimizerError` for a negative or NaN ``clip_value``.

    >>> import chainrule as cr
    >>> w = cr.zeros(3, requires_grad=True)
    >>> w.grad = cr.tensor([-2.0, 0.5, 9.0])
    >>> clip_grad_value_(w, 1.0)
    >>> w.grad
    tensor([-1. ,  0.5,  1. ], dtype=float32)
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise OptimizerError(f"clip_grad_value_: invalid clip_value={clip_value}; must be >= 0")
    xp = backend.xp
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad.data
            xp.clip(g, -clip_value, clip_value, out=g)


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm(x: Any, norm_type: float) -> Any:
    """The ``norm_type`` vector norm of all of ``x``'s elements, a 0-d array of x's dtype."""
    xp = backend.xp
    if x.size == 0:
        return xp.zeros((), dtype=x.dtype)
    with _quiet():
        if norm_type == 2.0:
            flat = x.reshape(-1)
            return xp.sqrt(xp.dot(flat, flat))
        if norm_type == math.inf:
            return xp.max(xp.abs(x))
        if norm_type == -math.inf:
            return xp.min(xp.abs(x))
        if norm_type == 1.0:
            return xp.sum(xp.abs(x))
        if norm_type == 0.0:
            return xp.asarray(xp.count_nonzero(x), dtype=x.dtype)
        return xp.sum(xp.abs(x) ** norm_type) ** (1.0 / norm_type)


def _quiet() -> np.errstate:
    """Overflow to Inf and Inf - Inf are expected here (the result reports them)."""
    return np.errstate(over="ignore", invalid="ignore")
