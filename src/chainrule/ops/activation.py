"""Activation functions g(a) and their derivatives g'(a), as in the seeds (module 4.9).

Each is stable by construction: the logistic never exponentiates a large positive number,
softmax and log-softmax shift by the maximum first.
"""

from __future__ import annotations

import math

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.ops import _special
from chainrule.ops.elementwise import exp, tanh, where
from chainrule.ops.reduction import sum as _sum
from chainrule.tensor import Tensor


@primitive
def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), computed without overflow."""
    xp = backend.xp
    e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


# the seeds' g'(z) = g(z)(1 - g(z))
sigmoid.defvjp(lambda g, out, x: g * out * (1 - out), keep="out")


@primitive
def relu(x):
    """max(0, x)."""
    return backend.xp.maximum(x, 0)


# g' is 0 below the kink and at it, 1 above
relu.defvjp(lambda g, out, x: step_mask(g, out), keep="out")


@primitive
def step_mask(g, a):
    """``g`` where ``a > 0``, else 0: the ReLU's gradient, one op instead of two."""
    return g * (a > 0)


# The mask is piecewise constant: no gradient flows to ``a``.
step_mask.defvjp(lambda v, out, g, a: step_mask(v, a), None, keep="a")


@primitive
def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope * x`` otherwise."""
    return backend.xp.where(x > 0, x, x * negative_slope)


leaky_relu.defvjp(
    lambda g, out, x, negative_slope=0.01: (
        g * Tensor._make(backend.xp.where(x.data > 0, 1.0, negative_slope).astype(x.dtype))
    ),
    keep="x",
)


@primitive
def elu(x, alpha=1.0):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    xp = backend.xp
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


elu.defvjp(lambda g, out, x, alpha=1.0: where(x > 0, g, g * (out + alpha)), keep="x out")


@primitive
def gelu(x, approximate="none"):
    """Gaussian error linear unit x Phi(x) (``approximate="tanh"``: the tanh formula)."""
    xp = backend.xp
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_K * (x + 0.044715 * x**3)))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return x * _special.normal_cdf(x)


_K = math.sqrt(2 / math.pi)


def _gelu_grad(g, out, x, approximate="none"):
    if approximate == "tanh":
        t = tanh(_K * (x + 0.044715 * x * x * x))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _K * (1 + 3 * 0.044715 * x * x))
    return g * (normal_cdf(x) + x * exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)))


gelu.defvjp(_gelu_grad, keep="x")


@primitive
def normal_cdf(x):
    """Phi(x), the standard normal cumulative distribution function."""
    return _special.normal_cdf(x)


normal_cdf.defvjp(lambda g, out, x: g * exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)), keep="x")


@primitive
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (PyTorch's definition)."""
    xp = backend.xp
    bx = x * beta
    return xp.where(bx > threshold, x, xp.logaddexp(0, bx) / beta)


softplus.defvjp(
    lambda g, out, x, beta=1.0, threshold=20.0: where(
        x * beta > threshold, g, g * sigmoid(x * beta)
    ),
    keep="x",
)


@primitive
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis`` (the seeds' softmax output function)."""
    xp = backend.xp
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


softmax.defvjp(
    lambda g, out, x, axis=-1: out * (g - _sum(g * out, axis=axis, keepdims=True)), keep="out"
)


@primitive
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``: log-probabilities, stable for large logits."""
    xp = backend.xp
    s = x - x.max(axis=axis, keepdims=True)
    return s - xp.log(xp.exp(s).sum(axis=axis, keepdims=True))


log_softmax.defvjp(
    lambda g, out, x, axis=-1: g - exp(out) * _sum(g, axis=axis, keepdims=True), keep="out"
)
