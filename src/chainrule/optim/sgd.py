"""Stochastic gradient descent, with momentum, Nesterov momentum and L2 weight decay.

The seeds' update θ ← θ - α(∇l + λ∇Ω(θ)) with Ω(θ) = ½‖θ‖², so that λ∇Ω(θ) = λθ is
``weight_decay``. PyTorch's formulas, step by step (d the gradient, b the momentum buffer)::

    d ← ∇l (negated when maximize) + weight_decay · θ
    b ← d on the first step, else momentum · b + (1 - dampening) · d
    d ← d + momentum · b (nesterov) or b (momentum ≠ 0)
    θ ← θ - lr · d
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    _defaults_from,
    _finite,
    _quarter_max,
)


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    ``lr`` learning rate; ``momentum`` factor (0 for plain SGD); ``dampening`` of the momentum;
    ``weight_decay`` the L2 penalty λ; ``nesterov`` Nesterov momentum (needs momentum > 0 and
    dampening 0); ``maximize`` ascends instead. ``foreach``: None or True (the default) updates a
    parameter group in one multi-tensor step (its settings read once, the same array calls and
    results as one parameter at a time, less Python per parameter); False, one parameter at a
    time, as PyTorch's ``foreach=False``. ``skip_nonfinite``: see
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
        foreach: bool | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        defaults = _defaults_from(locals())
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _check_group(self, group: dict[str, Any], k: int) -> None:
        super()._check_group(group, k)
        self._require(group, k, "dampening", _finite(group["dampening"]), "a finite number")
        self._require(group, k, "foreach", group["foreach"] in (None, True, False),
                      "None, True or False")  # fmt: skip
        if group["nesterov"]:
            self._require(
                group, k, "nesterov",
                float(group["momentum"]) > 0 and float(group["dampening"]) == 0,
                "False unless momentum > 0 and dampening == 0 (Nesterov momentum needs both)",
            )  # fmt: skip

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        d = self._direction(p, g, state, group)
        self._add_scaled(p, -float(group["lr"]), d)

    def _direction(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> Any:
        """The step's direction d (θ ← θ - lr · d): ``g`` itself without momentum, weight
        decay and maximize, else an array of the state or a scratch array."""
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
        return d

    def _update_group(self, k: int, group: dict[str, Any], entries: list[tuple]) -> None:
        # The multi-tensor step: the group's settings read once, then per parameter the
        # same array calls as _update (so the same roundings), with _apply's bound inlined.
        xp = backend.xp
        lr = float(group["lr"])
        alpha = -lr
        plain = (float(group["momentum"]) == 0 and float(group["weight_decay"]) == 0
                 and not group["maximize"])  # fmt: skip
        state, dot, sqrt = self.state, xp.dot, math.sqrt
        for index, j, p, g, square in entries:
            pd = p.data
            s = state[p]
            d = g if plain else self._direction(pd, g, s, group)
            t = self._tmp(pd, 1)
            xp.multiply(d, alpha, out=t)
            if d is g:
                t_norm = sqrt(float(square)) * lr
            else:
                flat = t.reshape(-1)
                t_norm = sqrt(float(dot(flat, flat)))
            flat = pd.reshape(-1)
            if sqrt(float(dot(flat, flat))) + t_norm < _quarter_max(pd.dtype):
                pd += t
            else:  # huge or non-finite values: _apply's checked path
                self._current = (index, k, j, p)
                self._apply(pd, t, None, t_norm)
            p._bump()  # a graph that saved p now sees it was modified
