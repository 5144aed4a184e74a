"""Losses fused into single ops, with the seeds' gradient -(e(y) - ŷ).

Softmax and cross-entropy are one op, and so are the sigmoid and binary cross-entropy.
Fusing matters twice: the forward uses log-softmax / softplus (never the log of a
rounded-to-zero probability), and the backward is the closed form ``ŷ - q`` instead of the
product of the activation's Jacobian and 1/ŷ, which overflows for confident wrong predictions.
The losses themselves (``cr.cross_entropy``, ``nll_loss``, ``binary_cross_entropy``...: the
checks on targets, weights, reductions) are :mod:`chainrule.nn.functional`'s, built on these.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.ops._ones_sum import SHORT_ROWS, ones_sum
from chainrule.ops.activation import log_softmax, sigmoid, softmax, softplus
from chainrule.ops.elementwise import log, maximum
from chainrule.ops.reduction import sum as _sum
from chainrule.ops.shape import expand_dims
from chainrule.tensor import Tensor


@primitive
def softmax_cross_entropy(x, q, scale=None):
    """Cross-entropy ``-sum_c q[i, c] log softmax(x)[i, c]`` of logits x (M, C), targets q (M, C).

    x̄ = ḡ ⊙ (softmax(x) Σ_c q − q), ḡ times scale when one is given (the seeds' ŷ − e(y))
    q̄ = −ḡ ⊙ log softmax(x), ḡ times scale when one is given

    ``q`` is a target distribution per row (one-hot for a class label, possibly weighted or
    smoothed). With ``scale=None`` the result is the (M,) row losses; otherwise the scalar
    ``scale * sum(row losses)`` (so a mean is one op, not three).
    """
    logp = log_softmax.forward(x)
    if scale is None:
        return -(q * logp).sum(axis=-1)
    return (q * logp).sum() * -scale


def _per_row(g, scale):
    return expand_dims(g, -1) if scale is None else g * scale


softmax_cross_entropy.defvjp(
    # seeds, module 4.5: ∇_{a_L} L = -(e(y) - ŷ), here for a general target q
    lambda g, out, x, q, scale=None: _per_row(g, scale) * softmax_minus(x, q),
    lambda g, out, x, q, scale=None: -_per_row(g, scale) * log_softmax(x),
    keep="x q scale",
)


@primitive
def softmax_minus(x, q):
    """Row-wise ``sum(q) * softmax(x) - q``: the cross-entropy gradient ŷ - q in one op.

    x̄ = (Σ_c q) p ⊙ (ḡ − Σ_c ḡ ⊙ p), with p = softmax(x) (rows, over the last axis)
    q̄ = Σ_c (ḡ ⊙ p) − ḡ, with p = softmax(x)
    """
    return q.sum(axis=-1, keepdims=True) * softmax.forward(x) - q


def _softmax_minus_grad_x(g, out, x, q):
    p = softmax(x)
    return _sum(q, axis=-1, keepdims=True) * p * (g - _sum(g * p, axis=-1, keepdims=True))


softmax_minus.defvjp(
    _softmax_minus_grad_x,
    lambda g, out, x, q: _sum(g * softmax(x), axis=-1, keepdims=True) - g,
    keep="x q",
)


# ---------------------------------------------------------------------------- class indices
@primitive
def class_cross_entropy(x, y, weight=None, scale=None):
    """Cross-entropy ``-w[i] log softmax(x)[i, y[i]]`` of logits x (M, C) at class indices y (M,).

    x̄ = ḡ ⊙ w ⊙ (softmax(x) − e(y)), ḡ times scale when one is given (the seeds' ŷ − e(y))
    ȳ = 0 (integer class indices)

    ``weight`` (M,) weighs each row (a class weight, 0 for an ignored target; None: 1), ``y``
    holds integers in [0, C) (neither gets a gradient). With ``scale=None`` the result is the
    (M,) row losses; otherwise the scalar ``scale * sum(row losses)``. The targets are never
    made into a dense (M, C) array, and the softmax is computed once: while gradients are
    recorded, the forward also writes the gradient ``w (softmax(x) − e(y))`` (times
    ``scale``), which the rule reads instead of computing it again (how it finds it: "The
    saved gradient" below, :func:`_loss_and_grad` and :func:`_saved_grad`).
    """
    xp = backend.xp
    m, c = x.shape
    out, grad = _loss_and_grad(xp, m if scale is None else 1, x.shape, x.dtype, is_grad_enabled())
    z = x - _row_max(xp, x)
    e = xp.exp(z)
    s = ones_sum(xp, e, -1)[:, None]  # (M, 1)
    at = xp.arange(0, m * c, c)  # the flat positions of the targets, x[i, y[i]]
    at += y
    picked = z.reshape(-1)[at]  # (1-D indices: 2.5x faster than z[rows, y] here)
    picked -= xp.log(s[:, 0])  # log softmax(x)[i, y[i]]
    if weight is not None:
        picked *= weight
    if scale is None:
        xp.negative(picked, out=out)
    else:
        out[0] = picked.sum() * -scale
        out = out.reshape(())  # (a view of the same buffer still)
    if grad is not None:
        _class_ce_grad(xp, e, s, at, weight, scale, grad)
    return out


# The saved gradient. A rule receives its op's output and inputs (``keep=`` chooses which a
# node holds) and nothing else the forward made; so class_cross_entropy's forward hands its
# gradient to the rule inside its output. It allocates one 1-D buffer,
#     [ loss: k values (M row losses, or 1 for a scaled sum) | gradient: M x C values ],
# and returns the loss as a view of the buffer's head; the rule, given that output (keep="out"),
# finds the gradient as the tail of the output's base. _loss_and_grad (the forward's end) and
# _saved_grad (the rule's end) are the only two places that know this layout: change them
# together. tests/ops/test_loss.py checks that the rule reads the saved gradient (a rule that
# stopped finding it would still be right, computing it again, only slower, so the tests of
# values alone would not see the two ends drift apart).
def _loss_and_grad(xp, k, shape, dtype, with_grad):
    """The forward's arrays: the loss's (k,) and, when ``with_grad``, the gradient's
    ``shape`` (M, C) behind it in the same buffer (None without)."""
    if not with_grad:
        return xp.empty(k, dtype=dtype), None
    m, c = shape
    buf = xp.empty(k + m * c, dtype=dtype)
    return buf[:k], buf[k:].reshape(m, c)


def _saved_grad(out, shape):
    """The gradient (M, C) ``shape`` that class_cross_entropy's forward wrote behind its loss
    ``out``, or None when it wrote none (a forward while gradients were not recorded: its
    buffer holds the loss alone). Only that forward's output reaches the rule, so a base of
    the loss's dtype, 1-D, with exactly M x C values behind the loss is that buffer."""
    base = out.base
    n = math.prod(shape)
    if base is None or base.ndim != 1 or base.size != out.size + n or base.dtype != out.dtype:
        return None
    return base[out.size :].reshape(shape)


def _row_max(xp, x):
    """``x.max(axis=-1, keepdims=True)`` of x (M, C). NumPy reduces a short last axis one
    row at a time (16 µs for 128 x 10 float32); for short rows the maximum of a transposed
    copy's rows, taken element-wise across all M at once, is the same values (NaN
    propagating as max does) in a third of that."""
    if xp is not np or x.shape[-1] > SHORT_ROWS or x.shape[-1] == 0:
        return x.max(axis=-1, keepdims=True)
    return np.maximum.reduce(np.ascontiguousarray(x.T), axis=0)[:, None]


def _class_ce_grad(xp, e, s, at, weight, scale, out):
    """``w (e / s − e(y))``, times ``scale`` when given, into ``out`` (M, C, C-contiguous):
    the loss's gradient from the softmax's exponentials e, their row sums s and the targets'
    flat positions ``at`` (i C + y[i])."""
    xp.divide(e, s, out=out)
    out.reshape(-1)[at] -= 1
    if weight is not None:
        out *= weight[:, None]
    if scale is not None:
        out *= scale
    return out


def _class_ce_vjp(g, out, x, y, weight=None, scale=None):
    if is_grad_enabled():  # create_graph: as ops, differentiable again
        d = softmax(x) - backend.xp.eye(x.shape[-1], dtype=x.dtype)[y]
        if weight is not None:
            d = d * backend.xp.expand_dims(weight, -1)
        if scale is not None:
            d = d * scale
        return _per_row(g, None) * d if scale is None else g * d, None, None, None
    gx = _class_ce_vjp_into((None,), g.data, out.data, x.data, y, weight, scale)[0]
    return Tensor._make(gx), None, None, None


def _class_ce_vjp_into(outs, g, out, x, y, weight=None, scale=None):
    """``class_cross_entropy``'s gradient on raw arrays, ḡ times the saved one, written into
    ``outs[0]`` (None: a new array): the training case of the rule, and what ``cr.compile``'s
    replay calls with a buffer of its own."""
    xp = backend.array_module(g)
    saved = _saved_grad(out, x.shape)  # what the forward wrote (see "The saved gradient")
    if saved is None:  # (a forward run while gradients were not recorded)
        e = xp.exp(x - _row_max(xp, x))
        s = ones_sum(xp, e, -1)[:, None]  # (M, 1)
        m, c = x.shape
        saved = _class_ce_grad(xp, e, s, xp.arange(0, m * c, c) + y, weight, scale, e)
    gx = xp.multiply(saved, g if scale is not None else g[:, None], out=outs[0])
    return gx, None, None, None


# "out": the loss, and through it the saved gradient; "x": the softmax again where there is
# none, or with create_graph
class_cross_entropy.defvjp_all(_class_ce_vjp, keep="x out")
_class_ce_vjp.into = _class_ce_vjp_into


# ---------------------------------------------------------------------------- binary
@primitive
def sigmoid_binary_cross_entropy(x, y, pos_weight=None):
    """Element-wise binary cross-entropy of sigmoid(x) against y, from the logits x.

    x̄ = ḡ ⊙ ((1 − y) − (1 + (p − 1) y) σ(−x)), p = pos_weight (ḡ ⊙ (σ(x) − y) when p = 1)
    ȳ = ḡ ⊙ ((p − 1) softplus(−x) − x), p = pos_weight (−ḡ ⊙ x when p = 1)

    With log s(x) = -softplus(-x) and log(1 - s(x)) = -x - softplus(-x), the loss
    -(p y log s(x) + (1 - y) log(1 - s(x))) is (1 - y) x + (1 + (p - 1) y) softplus(-x),
    finite for every finite x (``p`` is ``pos_weight``, 1 when None).
    """
    with np.errstate(invalid="ignore"):  # NaN logits: the caller reports them
        sp = backend.xp.logaddexp(0, -x)  # softplus(-x), never overflows
    if pos_weight is None:
        return (1 - y) * x + sp
    return (1 - y) * x + (1 + (pos_weight - 1) * y) * sp


def _sigmoid_bce_grad_x(g, out, x, y, pos_weight=None):
    if pos_weight is None:
        return g * (sigmoid(x) - y)  # the seeds' ŷ - y
    return g * ((1 - y) - (1 + (pos_weight - 1) * y) * sigmoid(-x))


def _sigmoid_bce_grad_y(g, out, x, y, pos_weight=None):
    if pos_weight is None:
        return -g * x
    return g * ((pos_weight - 1) * softplus(-x, 1.0, math.inf) - x)


sigmoid_binary_cross_entropy.defvjp(_sigmoid_bce_grad_x, _sigmoid_bce_grad_y, keep="x y pos_weight")


@primitive
def clamped_binary_cross_entropy(p, y):
    """Element-wise -(y log p + (1 - y) log(1 - p)) for probabilities p, each log clamped
    at -100 as PyTorch's, so p = 0 or 1 gives a large finite loss instead of Inf.

    p̄ = ḡ ⊙ (p − y) / max(p (1 − p), 10⁻¹²)
    ȳ = ḡ ⊙ (max(log(1 − p), −100) − max(log p, −100))
    """
    xp = backend.xp
    with np.errstate(divide="ignore"):
        log_p = xp.maximum(xp.log(p), -100.0)
        log_q = xp.maximum(xp.log1p(-p), -100.0)
    return -(y * log_p + (1 - y) * log_q)


clamped_binary_cross_entropy.defvjp(
    # d/dp = (p - y) / (p (1 - p)), the denominator kept off zero as PyTorch does
    lambda g, out, p, y: g * (p - y) / maximum(p * (1 - p), 1e-12),
    lambda g, out, p, y: g * (log(maximum(1 - p, _E100)) - log(maximum(p, _E100))),
    keep="p y",
)

_E100 = math.exp(-100.0)  # log(max(p, e^-100)) = max(log p, -100)
