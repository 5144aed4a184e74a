"""A Linear layer as one primitive: matrix product, bias and activation, forward and backward.

``linear`` followed by ``relu`` records two nodes, and backward then runs five gradient rules
(the input's, the weight's and the bias's, the activation's, and the engine's sum of the
bias gradient over the batch), each a chainrule op that wraps its array in a Tensor.
:func:`fused_linear` records one node whose single rule computes all three gradients from the
raw arrays in one pass when no graph of the backward is wanted (``create_graph=False``, the
training case), and with chainrule's differentiable ops otherwise, so higher derivatives still
work. The activation is applied in place on the product's buffer, the weight gradient is one
BLAS call (``dot``: an outer product at batch size 1, which ``matmul`` does several times
slower), and only the inputs that require gradients get one.
"""

from __future__ import annotations

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import ShapeError
from chainrule.ops.activation import step_mask
from chainrule.ops.linalg.products import _linear_grad_weight, _mm
from chainrule.tensor import Tensor

ACTIVATIONS = (None, "relu", "tanh", "sigmoid")
"""The activations :func:`fused_linear` applies: their derivatives read only the output."""


@primitive
def fused_linear(x, weight, bias=None, activation=None):
    """``act(x @ weight.T + bias)``: x (..., in), weight (out, in), bias (out,) -> (..., out).

    x̄ = ā weight, where ā = ḡ ⊙ act′ (act′ from out: [out > 0], 1 − out², out ⊙ (1 − out))
    weight̄ = Σ_batch āᵀ x
    bias̄ = Σ_batch ā

    ``act`` is ``activation``: None (the identity), "relu", "tanh" or "sigmoid". Raises
    :class:`~chainrule.errors.ShapeError` when ``x``'s last axis is not ``in`` and
    ``ValueError`` for another activation.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"fused_linear: activation={activation!r}; expected one of {list(ACTIVATIONS)}"
        )
    if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[-1]:
        raise ShapeError(
            f"fused_linear: input of shape {x.shape} does not fit weight of shape "
            f"{weight.shape} (expected a 2-D weight and input's last dimension "
            f"{weight.shape[-1] if weight.ndim else '?'})"
        )
    xp = backend.xp
    out = xp.matmul(x, weight.T)
    if bias is not None:
        out += bias
    if activation == "relu":
        xp.maximum(out, 0, out=out)
    elif activation == "tanh":
        xp.tanh(out, out=out)
    elif activation == "sigmoid":  # ops.activation.sigmoid's formula, in place
        with np.errstate(over="ignore"):
            xp.negative(out, out=out)
            xp.exp(out, out=out)
            out += 1
            xp.reciprocal(out, out=out)
    return out


def _activation_grad(g, out, activation):
    """ā = ḡ ⊙ act′(a), act′ read from the output, as chainrule ops (differentiable)."""
    if activation == "relu":
        return step_mask(g, out)
    if activation == "tanh":
        return g * (1 - out * out)
    if activation == "sigmoid":
        return g * out * (1 - out)
    return g


def _activation_grad_array(g, out, activation):
    """ā = ḡ ⊙ act′(a) on raw arrays (a new array, or ``g`` itself for the identity)."""
    xp = backend.array_module(g)
    if activation == "relu":  # as step_mask: a float mask multiplies 4x faster than where()
        return g * (out > 0).astype(g.dtype, copy=False)
    if activation == "tanh":
        d = out * out
        xp.subtract(1, d, out=d)
        d *= g
        return d
    if activation == "sigmoid":
        d = 1 - out
        d *= out
        d *= g
        return d
    return g


def _wants(t) -> bool:
    """Whether a kept input needs its gradient (constants given as arrays do not)."""
    return isinstance(t, Tensor) and t._requires_grad


def _fused_linear_vjp(g, out, x, weight, bias=None, activation=None):
    if is_grad_enabled():  # create_graph: the rules as ops, so they differentiate again
        a = _activation_grad(g, out, activation)
        gx = _mm(a, weight) if _wants(x) else None
        gw = _linear_grad_weight(a, None, x, weight) if _wants(weight) else None
        return gx, gw, a if bias is not None else None
    # the arrays' own namespace: rules run outside the forward's backend.host() switch
    xp = backend.array_module(g.data)
    a = _activation_grad_array(g.data, out.data, activation)
    xd = x.data if isinstance(x, Tensor) else x
    wd = weight.data if isinstance(weight, Tensor) else weight
    gx = Tensor._make(xp.matmul(a, wd)) if _wants(x) else None
    a2 = a.reshape(-1, a.shape[-1]) if a.ndim != 2 else a
    gw = None
    if _wants(weight):
        x2 = xd.reshape(-1, xd.shape[-1]) if xd.ndim != 2 else xd
        gw = Tensor._make(xp.dot(a2.T, x2))
    gb = Tensor._make(a2.sum(axis=0)) if bias is not None else None
    return gx, gw, gb


fused_linear.defvjp_all(_fused_linear_vjp, keep="x weight out bias.shape")
