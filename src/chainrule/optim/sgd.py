"""Stochastic gradient descent, with momentum, Nesterov momentum and L2 weight decay.

The seeds' update θ ← θ - α(∇l + λ∇Ω(θ)) with Ω(θ) = ½‖θ‖², so that λ∇Ω(θ) = λθ is
``weight_decay``. PyTorch's formulas, step by step (d the gradient, b the momentum buffer)::

    d ← ∇l (negated when maximize) + weight_decay · θ
    b ← d on the first step, else momentum · b + (1 - dampening) · d
    d ← d + momentum · b (nesterov) or b (momentum ≠ 0)
    θ ← θ - lr · d
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.optim.optimizer import Optimizer, ParamsT, _defaults_from, _finite


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    ``lr`` learning rate; ``momentum`` factor (0 for plain SGD); ``dampening`` of the momentum;
    ``weight_decay`` the L2 penalty λ; ``nesterov`` Nesterov momentum (needs momentum > 0 and
    dampening 0); ``maximize`` ascends instead. ``skip_nonfinite``: see
    :class:`~chainrule.optim.Optimizer`. State per parameter: ``"momentum_buffer"`` (when
    momentum ≠ 0).

    Raises :class:`~chainrule.errors.OptimizerError` naming the setting for a negative (or
    non-finite) lr, momentum or weight_decay, and for nesterov without momentum or with
    dampening.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> round(float(w.data[0]), 4)   # 1 - 0.2 = 0.8, then 0.8 - 0.1 * (0.9 * 2 + 1.6)
    0.46
    """

    _velocity_keys = ("momentum_buffer",)
    _nonnegative_keys = ("momentum", "weight_decay")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = _defaults_from(locals())
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _check_group(self, group: dict[str, Any], k: int) -> None:
        super()._check_group(group, k)
        self._require(group, k, "dampening", _finite(group["dampening"]), "a finite number")
        if group["nesterov"]:
            self._require(
                group, k, "nesterov",
                float(group["momentum"]) > 0 and float(group["dampening"]) == 0,
                "False unless momentum > 0 and dampening == 0 (Nesterov momentum needs both)",
            )  # fmt: skip

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp
        momentum = float(group["momentum"])
        d = self._decayed_grad(p, g, float(group["weight_decay"]), group["maximize"])
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.array(d, copy=True)
            else:
                buf *= momentum
                dampening = float(group["dampening"])
                if dampening == 0:
                    buf += d
                else:
                    t = self._tmp(p, 1)
                    xp.multiply(d, 1 - dampening, out=t)
                    buf += t
            if group["nesterov"]:
                t = self._tmp(p, 1)
                xp.multiply(buf, momentum, out=t)
                xp.add(d, t, out=t)
                d = t
            else:
                d = buf
        self._add_scaled(p, -float(group["lr"]), d)
