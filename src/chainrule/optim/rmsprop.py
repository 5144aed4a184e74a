"""RMSprop: divide the gradient by a running root mean square of its recent values.

PyTorch's formulas (d the gradient, v the mean square, ḡ the mean, b the momentum buffer)::

    d ← ∇l (negated when maximize) + weight_decay · θ
    v ← α v + (1 - α) d²
    ḡ ← ḡ + (1 - α)(d - ḡ);  s ← sqrt(v - ḡ²) + eps     centered
    s ← sqrt(v) + eps                                  otherwise
    b ← momentum · b + d / s;  θ ← θ - lr · b          momentum > 0
    θ ← θ - lr · d / s                                 otherwise
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.optim.optimizer import Optimizer, ParamsT, _defaults_from


class RMSprop(Optimizer):
    """RMSprop (Hinton), as ``torch.optim.RMSprop``.

    ``lr`` learning rate; ``alpha`` smoothing constant of the mean square; ``eps`` added to
    the denominator; ``weight_decay`` L2 penalty; ``momentum`` factor; ``centered`` divides by
    an estimate of the variance instead of the raw second moment; ``maximize`` ascends.
    ``skip_nonfinite``: see :class:`~chainrule.optim.Optimizer`. State per parameter:
    ``"step"``, ``"square_avg"``, ``"momentum_buffer"`` (momentum > 0), ``"grad_avg"``
    (centered).

    Raises :class:`~chainrule.errors.OptimizerError` naming the setting for a negative lr,
    alpha, eps, momentum or weight_decay.

    >>> import chainrule as cr
    >>> w = cr.tensor([2.0], requires_grad=True)
    >>> opt = cr.optim.RMSprop([w], lr=0.01, alpha=0.75)
    >>> (w * w).sum().backward()
    >>> opt.step()   # 2 - 0.01 · 4 / sqrt(0.25 · 16)
    >>> w
    tensor([1.98], dtype=float32, requires_grad=True)
    """

    _velocity_keys = ("momentum_buffer",)
    _nonnegative_keys = ("alpha", "eps", "momentum", "weight_decay")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = _defaults_from(locals())
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp
        alpha = float(group["alpha"])
        momentum = float(group["momentum"])
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
        state["step"] += 1
        d = self._decayed_grad(p, g, float(group["weight_decay"]), group["maximize"])
        v = state["square_avg"]
        t = self._tmp(p, 1)
        self._average_square(v, d, alpha, p)  # v ← α v + (1 - α) d²
        if group["centered"]:
            mean = self._zeros(state, "grad_avg", p)
            xp.subtract(d, mean, out=t)  # ḡ ← ḡ + (1 - α)(d - ḡ)
            t *= 1 - alpha
            mean += t
            xp.multiply(mean, mean, out=t)
            xp.subtract(v, t, out=t)
            xp.sqrt(t, out=t)
        else:
            xp.sqrt(v, out=t)
        t += group["eps"]
        xp.divide(d, t, out=t)
        if momentum > 0:
            buf = self._zeros(state, "momentum_buffer", p)
            buf *= momentum
            buf += t
            t = buf
        self._add_scaled(p, -float(group["lr"]), t)
