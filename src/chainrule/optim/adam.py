"""Adam and AdamW: moving averages of the gradient and of its square, bias-corrected.

PyTorch's formulas at step t (d the gradient, m and v the averages)::

    θ ← θ (1 - lr · weight_decay)                    AdamW only (decoupled decay)
    d ← ∇l (negated when maximize) + weight_decay · θ   Adam only (L2 decay)
    m ← m + (1 - β1)(d - m)
    v ← β2 v + (1 - β2) d²
    v̂ ← max(v̂, v) with amsgrad, else v
    θ ← θ - lr / (1 - β1^t) · m / (sqrt(v̂) / sqrt(1 - β2^t) + eps)
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.optim.optimizer import Optimizer, ParamsT, _defaults_from, _nonnegative


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``.

    ``lr`` learning rate; ``betas`` (β1, β2) the averaging coefficients, each in [0, 1);
    ``eps`` added to the denominator; ``weight_decay`` L2 penalty added to the gradient (or,
    with ``decoupled_weight_decay=True``, applied to θ directly as AdamW); ``amsgrad`` keeps
    the running maximum of v; ``maximize`` ascends. ``skip_nonfinite``: see
    :class:`~chainrule.optim.Optimizer`. State per parameter: ``"step"``, ``"exp_avg"``,
    ``"exp_avg_sq"``, ``"max_exp_avg_sq"`` (amsgrad).

    Raises :class:`~chainrule.errors.OptimizerError` naming the setting for a negative lr,
    eps or weight_decay, or a beta outside [0, 1).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = cr.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()   # the first step moves each weight by about lr against its gradient
    >>> w
    tensor([ 0.9, -0.9], dtype=float32, requires_grad=True)
    """

    _nonnegative_keys = ("eps", "weight_decay")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        betas = tuple(betas) if isinstance(betas, list) else betas
        defaults = _defaults_from(locals())
        super().__init__(params, defaults, skip_nonfinite=skip_nonfinite)

    def _check_group(self, group: dict[str, Any], k: int) -> None:
        super()._check_group(group, k)
        betas = group["betas"]
        self._require(
            group, k, "betas",
            isinstance(betas, (tuple, list)) and len(betas) == 2
            and all(_nonnegative(b) and float(b) < 1 for b in betas),
            "a pair (beta1, beta2), each in [0, 1)",
        )  # fmt: skip

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.xp
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        weight_decay = float(group["weight_decay"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        step = state["step"]
        decay = None  # decoupled weight decay: θ ← θ (1 - lr λ) + update, applied by _apply
        if group["decoupled_weight_decay"]:
            if weight_decay != 0:
                decay = 1 - lr * weight_decay
            weight_decay = 0.0
        d = self._decayed_grad(p, g, weight_decay, group["maximize"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = self._tmp(p, 1)
        xp.subtract(d, m, out=t)  # m ← m + (1 - β1)(d - m)
        t *= 1 - beta1
        m += t
        self._average_square(v, d, beta2, p)  # v ← β2 v + (1 - β2) d²
        if group["amsgrad"]:
            vmax = self._zeros(state, "max_exp_avg_sq", p)
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        step_size = lr / (1 - beta1**step)
        xp.sqrt(v, out=t)  # denominator sqrt(v̂ / (1 - β2^t)) + eps, as PyTorch rounds it
        t /= (1 - beta2**step) ** 0.5
        t += group["eps"]
        xp.divide(m, t, out=t)
        t *= -step_size
        self._apply(p, t, decay)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    The same as :class:`Adam` except that ``weight_decay`` (default 1e-2) shrinks θ by
    ``lr · weight_decay`` each step instead of being added to the gradient. Raises as
    :class:`Adam`.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = cr.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = cr.tensor([0.0])
    >>> opt.step()   # zero gradient: only the decay acts, 1 · (1 - 0.1 · 0.5)
    >>> w
    tensor([0.95], dtype=float32, requires_grad=True)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
            decoupled_weight_decay=True, skip_nonfinite=skip_nonfinite,
        )  # fmt: skip
