"""The regulariser Omega(theta) of the seeds (SGD step: Delta = -grad l - lambda grad Omega),
as differentiable terms to add to a loss.

Convention: ``l2_penalty`` is the plain sum of squares, Omega = sum_i theta_i^2, with no 1/2,
so grad Omega = 2 theta. Adding ``lam * l2_penalty(params)`` to the loss therefore equals an
optimiser's ``weight_decay = 2 * lam``; equivalently, ``weight_decay = wd`` is
``(wd / 2) * l2_penalty(params)``. The seeds regularise the weights, not the biases: pass
``[p for name, p in model.named_parameters() if name.endswith("weight")]`` to do the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrule import backend
from chainrule.ops.elementwise import abs as _abs
from chainrule.ops.reduction import sum as _sum
from chainrule.tensor import Tensor


def l2_penalty(params: Iterable[Tensor] | Any) -> Tensor:
    """Omega(theta) = sum over all given tensors of the sum of their squared entries.

    ``params``: an iterable of tensors (e.g. ``model.parameters()``) or a module. Returns a
    scalar tensor whose gradient w.r.t. each parameter is 2 * theta (0 for no tensors).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> penalty = l2_penalty([w])
    >>> penalty.backward()
    >>> float(penalty), w.grad
    (5.0, tensor([ 2., -4.], dtype=float32))
    """
    return _total(params, lambda p: _sum(p * p))


def l1_penalty(params: Iterable[Tensor] | Any) -> Tensor:
    """Omega(theta) = sum over all given tensors of the sum of their absolute entries.

    Its gradient is sign(theta) (0 at 0), which pushes weights to exactly zero (sparsity).
    ``params`` as :func:`l2_penalty`.

    >>> import chainrule as cr
    >>> l1_penalty([cr.tensor([1.0, -2.0]), cr.tensor([0.5])])
    tensor(3.5, dtype=float32)
    """
    return _total(params, lambda p: _sum(_abs(p)))


def _total(params: Any, term: Any) -> Tensor:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    elif isinstance(params, Tensor):
        params = [params]
    total = None
    for p in params:
        t = term(p)
        total = t if total is None else total + t
    if total is None:  # the empty sum
        return Tensor._make(backend.xp.zeros((), dtype=backend.get_default_dtype()))
    return total
