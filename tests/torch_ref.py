"""Comparing chainrule with PyTorch (CPU, float64): forward values and gradients.

Both frameworks get the same float64 inputs; each output is reduced to a scalar with the same
fixed random weights (so every column of the Jacobian is exercised) and backpropagated; the
values and every input's gradient must agree to ``rtol`` (1e-6 by default).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import chainrule as cr
from strategies import cotangent

RTOL = 1e-6
ATOL = 1e-12


def assert_close(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
    """``actual`` (chainrule tensor or array) equals ``expected`` (torch tensor or array)."""
    a = actual.numpy() if isinstance(actual, cr.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def _as_list(out: Any) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def check_against_torch(
    cr_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    differentiable: Sequence[bool] | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """Run ``cr_fn`` and ``torch_fn`` on the same float64 ``arrays``; compare outputs and the
    gradients of a weighted sum of the outputs w.r.t. every input marked ``differentiable``
    (all by default). The functions may return one tensor or a list of tensors.
    """
    if differentiable is None:
        differentiable = [True] * len(arrays)
    cr_in = [cr.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    t_in = [torch.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    cr_out = _as_list(cr_fn(*cr_in))
    t_out = _as_list(torch_fn(*t_in))
    assert len(cr_out) == len(t_out)
    cr_loss: Any = 0.0
    t_loss: Any = 0.0
    for k, (c, t) in enumerate(zip(cr_out, t_out)):
        assert c.dtype == np.float64, f"output {k} has dtype {c.dtype}"
        assert_close(c, t, rtol, atol)
        w = cotangent(tuple(t.shape), seed=k + 1)
        cr_loss = cr_loss + (c * cr.tensor(w)).sum()
        t_loss = t_loss + (t * torch.tensor(w)).sum()
    cr_loss.backward()
    t_loss.backward()
    for i, (c, t, d) in enumerate(zip(cr_in, t_in, differentiable)):
        if not d:
            continue
        assert c.grad is not None, f"input {i} got no gradient"
        assert c.grad.dtype == np.float64, f"gradient {i} has dtype {c.grad.dtype}"
        assert_close(c.grad, t.grad, rtol, atol)


def hvp(fn: Callable[..., Any], lib: Any, arrays: Sequence[np.ndarray]) -> tuple[list, list]:
    """(first gradients, Hessian-vector products) of sum(v * fn(*x)) in ``lib`` (``cr`` or
    ``torch``), with the same fixed weights v and directions in both."""
    if lib is cr:
        xs = [cr.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*xs)
        loss = (out * cr.tensor(cotangent(out.shape, 1))).sum()
        gs = cr.gradients(loss, xs, create_graph=True)
        dot = sum((g * cr.tensor(cotangent(g.shape, 2 + i))).sum() for i, g in enumerate(gs))
        return list(gs), list(cr.gradients(dot, xs, allow_unused=True))
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    loss = (out * torch.tensor(cotangent(tuple(out.shape), 1))).sum()
    gs = torch.autograd.grad(loss, xs, create_graph=True)
    dot = sum((g * torch.tensor(cotangent(tuple(g.shape), 2 + i))).sum() for i, g in enumerate(gs))
    return list(gs), list(torch.autograd.grad(dot, xs, allow_unused=True))


def tdim(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """NumPy's ``axis`` as PyTorch's ``dim``: ``None`` means every axis."""
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def check_second_order(fn: Callable[..., Any], arrays: Sequence[np.ndarray]) -> None:
    """Second derivatives of ``fn`` against central differences, in float64: the gradient of
    ``sum(v * fn(*x))`` (taken with ``create_graph=True``) is itself checked with
    ``cr.gradcheck``. ``fn`` should be non-linear (e.g. an op cubed) for the check to bite.
    """

    def gradient(*ts: Any) -> Any:
        ts = [t if t.requires_grad else cr.tensor(t.data, requires_grad=True) for t in ts]
        out = fn(*ts)
        loss = (out * cr.tensor(cotangent(out.shape, 1))).sum()
        gs = cr.gradients(loss, ts, create_graph=True, allow_unused=True)
        parts = [cr.zeros(t.shape, dtype=t.dtype) if g is None else g for g, t in zip(gs, ts)]
        return cr.concatenate([p.reshape(-1) for p in parts])

    assert cr.gradcheck(gradient, list(arrays))
