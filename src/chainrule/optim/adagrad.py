"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients.

PyTorch's formulas at step t (d the gradient, s the running sum)::

    d ← ∇l (negated when maximize) + weight_decay · θ
    s ← s + d²            (s starts at initial_accumulator_value)
    θ ← θ - lr / (1 + (t - 1) · lr_decay) · d / (sqrt(s) + eps)
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.optim.optimizer import Optimizer, ParamsT, _defaults_from


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as ``torch.optim.Adagrad``.

    ``lr`` learning rate; ``lr_decay`` its decay per step; ``weight_decay`` L2 penalty;
    ``initial_accumulator_value`` the starting sum of squares; ``eps`` added to the
    denominator; ``maximize`` ascends. ``skip_nonfinite``: see
    :class:`~chainrule.optim.Optimizer`. State per parameter: ``"step"``, ``"sum"``.

    Raises :class:`~chainrule.errors.OptimizerError` naming the setting for a negative lr,
    lr_decay, weight_decay, initial_accumulator_value or eps.

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0], requires_grad=True)
    >>> opt = cr.optim.Adagrad([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()   # 3 - 0.5 · 6 / sqrt(36)
    >>> w
    tensor([2.5], dtype=float32, requires_grad=True)
    """

    _nonnegative_keys = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = _defaults_from(locals())
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p, group["initial_accumulator_value"])
        state["step"] += 1
        clr = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        d = self._decayed_grad(p, g, float(group["weight_decay"]), group["maximize"])
        s = state["sum"]
        t = self._tmp(p, 1)
        xp.multiply(d, d, out=t)
        s += t
        xp.sqrt(s, out=t)
        t += group["eps"]
        xp.divide(d, t, out=t)
        self._add_scaled(p, -clr, t)
