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
from chainrule.autograd import primitive
from chainrule.ops.activation import log_softmax, sigmoid, softmax, softplus
from chainrule.ops.elementwise import log, maximum
from chainrule.ops.reduction import sum as _sum
from chainrule.ops.shape import expand_dims


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
