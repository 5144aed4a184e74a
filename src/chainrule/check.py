"""Floor 3: checking the engine's gradients against central finite differences.

``numerical_grad`` perturbs each input element by ±eps and takes (f(x+eps) - f(x-eps)) / 2eps,
in float64; ``gradcheck`` compares that with reverse mode and names the worst entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import gradients
from chainrule.errors import GradcheckError, ShapeError
from chainrule.tensor import Tensor


def numerical_grad(
    f: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6
) -> list[np.ndarray]:
    """Central finite-difference gradients of a one-element ``f(*inputs)``, in float64.

    Returns one float64 array per input, shaped like it.
    Raises :class:`~chainrule.errors.ShapeError` if ``f`` does not return one element.
    """
    xs = [_as_float64(x) for x in inputs]
    grads = []
    for i, x in enumerate(xs):
        g = np.zeros(x.shape)
        flat = x.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            plus = _scalar(f, xs)
            flat[k] = old - eps
            minus = _scalar(f, xs)
            flat[k] = old
            g.reshape(-1)[k] = (plus - minus) / (2 * eps)
        grads.append(g)
        xs[i] = x
    return grads


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check reverse-mode gradients of ``f`` against central finite differences, in float64.

    ``f`` takes tensors and returns a tensor of any shape; a non-scalar output is reduced
    with a fixed random weighting ``sum(v * f(x))``, which tests every column of the
    Jacobian at once. Inputs are converted to float64 leaf tensors.

    Returns True, or raises :class:`~chainrule.errors.GradcheckError` naming the input,
    the index and both values of the worst entry.

    >>> import chainrule as cr
    >>> gradcheck(lambda x: (x * x).sum(), [cr.randn(3)])
    True
    """
    arrays = [_as_float64(x) for x in inputs]
    out = f(*[Tensor(a) for a in arrays])
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=np.shape(out.data))

    def objective(*ts: Tensor) -> Tensor:
        return (f(*ts) * Tensor._make(weights)).sum()

    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    value = objective(*leaves)
    analytical = gradients(value, leaves, allow_unused=True) if value.requires_grad else []
    if not analytical:
        analytical = [None] * len(leaves)
    numerical = numerical_grad(objective, arrays, eps=eps)
    worst: tuple[float, int, tuple, float, float] | None = None
    for i, (a, n) in enumerate(zip(analytical, numerical)):
        a = np.zeros_like(n) if a is None else backend.to_numpy(a.data)
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and (excess.max() > 0 or not np.isfinite(a).all()):
            k = int(np.nanargmax(np.where(np.isfinite(a), excess, np.inf)))
            idx = np.unravel_index(k, n.shape)
            cand = (float(excess.reshape(-1)[k]), i, tuple(int(j) for j in idx),
                    float(a.reshape(-1)[k]), float(n.reshape(-1)[k]))  # fmt: skip
            if worst is None or not cand[0] <= worst[0]:
                worst = cand
    if worst is not None:
        _, i, idx, a, n = worst
        raise GradcheckError(
            f"gradcheck failed for input {i} at index {idx}: analytical {a:.10g}, "
            f"numerical {n:.10g} (|difference| {abs(a - n):.3g} > atol + rtol*|numerical| "
            f"= {atol + rtol * abs(n):.3g})"
        )
    return True


def _as_float64(x: Any) -> np.ndarray:
    a = x.data if isinstance(x, Tensor) else x
    return np.array(backend.to_numpy(a), dtype=np.float64, order="C")  # reshape(-1) is a view


def _scalar(f: Callable[..., Tensor], xs: list[np.ndarray]) -> float:
    out = f(*[Tensor(x) for x in xs])
    if out.data.size != 1:
        raise ShapeError(f"numerical_grad needs f to return one element, got shape {out.shape}")
    return float(out.data)
