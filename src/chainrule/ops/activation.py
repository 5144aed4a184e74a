"""Activation functions g(a) and their derivatives g'(a), as in the seeds (module 4.9).

Each is stable by construction: the logistic never exponentiates a large positive number,
softmax and log-softmax shift by the maximum first.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import ShapeError
from chainrule.ops import _native as native
from chainrule.ops import _special
from chainrule.ops.elementwise import abs as _abs
from chainrule.ops.elementwise import (
    exp,
    maximum,
    minimum,
    negative,
    power,
    std_sqrt,
    tanh,
    where,
)
from chainrule.ops.elementwise.discrete import _raw_unless_graph
from chainrule.ops.reduction import max as _max
from chainrule.ops.reduction import sum as _sum
from chainrule.ops.shape import concatenate, split
from chainrule.tensor import Tensor


@primitive
def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), exact in the tails.

    x̄ = ḡ ⊙ out ⊙ (1 − out)
    """
    return _sigmoid_into(None, x)


def _sigmoid_into(out, x):
    """1 / (1 + exp(−x)) into ``out`` (a new array when None; ``out`` may be x itself): three
    passes in place after the first. ``linear``'s sigmoid activation calls it too."""
    xp = backend.array_module(x)
    # exp(-x) overflows to inf for x below about -709 (-88 in float32), where 1 / inf = 0
    # is the correctly rounded answer: the warning is silenced, no where() is needed
    with np.errstate(over="ignore"):
        t = xp.negative(x, out=out)
        if out is None and (t.ndim == 0 or t.dtype.kind != "f"):  # a NumPy scalar, integers
            return 1 / (1 + xp.exp(t))
        xp.exp(t, out=t)
        t += 1
        return xp.reciprocal(t, out=t)


# the seeds' g'(z) = g(z)(1 - g(z))
sigmoid.defvjp(lambda g, out, x: g * out * (1 - out), keep="out")


@primitive
def relu(x):
    """max(0, x).

    x̄ = ḡ ⊙ [x > 0]
    """
    return _relu_into(None, x)


ZERO_RUN = 1 << 14
"""Elements of the zero row that :func:`_relu_into` takes the maximum against: NumPy's maximum
of an array and a scalar misses its vectorised loop, of two arrays it does not (measured alone,
float32: 524288 elements 194 -> 75 us, 301056 elements 113 -> 44 us; inside training steps,
where the data comes from memory rather than cache, no measurable difference); a row of this
length (64 KiB in float32) broadcast over the array's rows reaches the two-array speed.
(Results from ``_scratch.recycled`` measured slower in the steps: colder in cache.)"""

_zero_rows: dict[Any, np.ndarray] = {}


def _relu_into(out, x):
    """max(x, 0) into ``out`` (a new array when None): against a cached zero row where x is a
    contiguous NumPy float array (the vectorised two-array loop), else against the scalar."""
    xp = backend.xp
    if (
        type(x) is not np.ndarray
        or x.dtype.kind != "f"
        or not x.flags.c_contiguous
        or (out is not None and (out.dtype != x.dtype or not out.flags.c_contiguous))
    ):
        return xp.maximum(x, 0, out=out)
    zeros = _zero_rows.get(x.dtype)
    if zeros is None:
        zeros = _zero_rows[x.dtype] = np.zeros(ZERO_RUN, dtype=x.dtype)
        zeros.flags.writeable = False
    if out is None:
        out = np.empty_like(x)
    n = x.size
    whole = n - n % ZERO_RUN
    xf, of = x.reshape(-1), out.reshape(-1)
    if whole:
        np.maximum(xf[:whole].reshape(-1, ZERO_RUN), zeros,
                   out=of[:whole].reshape(-1, ZERO_RUN))  # fmt: skip
    if whole < n:
        np.maximum(xf[whole:], zeros[: n - whole], out=of[whole:])
    return out


# g' is 0 below the kink and at it, 1 above
relu.defvjp(lambda g, out, x: step_mask(g, out), keep="out")
relu.into = _relu_into  # cr.compile's replay


@primitive
def step_mask(g, a):
    """``g`` where ``a > 0``, else 0: the ReLU's gradient, one op instead of two.

    ḡ = v̄ ⊙ [a > 0]   (v̄: the gradient arriving at this op's output; a gets none)
    """
    if native.usable(g, a) and g.shape == a.shape:  # one pass (NumPy takes three)
        return native.step_mask(g, a)
    return g * (a > 0).astype(g.dtype, copy=False)  # a float mask: faster than a boolean


# The mask is piecewise constant: no gradient flows to ``a``.
step_mask.defvjp(lambda v, out, g, a: step_mask(v, a), None, keep="a")


def _step_mask_into(out, g, a):
    """``step_mask`` into ``out`` (cr.compile's replay): the float mask, then the product."""
    xp = backend.xp
    if out.dtype != g.dtype or np.shape(g) != out.shape:  # (broadcast or promoted: as eager)
        return xp.multiply(g, (a > 0).astype(g.dtype, copy=False), out=out)
    if native.usable(g, a, out) and g.shape == a.shape and out.flags.c_contiguous:
        return native.step_mask(g, a, out)
    xp.greater(a, 0, out=out)
    return xp.multiply(g, out, out=out)


step_mask.into = _step_mask_into


@primitive
def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope * x`` otherwise.

    x̄ = ḡ ⊙ (1 if x > 0 else negative_slope)
    """
    return backend.xp.where(x > 0, x, x * negative_slope)


leaky_relu.defvjp(
    lambda g, out, x, negative_slope=0.01: (
        g * Tensor._make(backend.xp.where(x.data > 0, 1.0, negative_slope).astype(x.dtype))
    ),
    keep="x",
)


@primitive
def elu(x, alpha=1.0):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    x̄ = ḡ where x > 0, else ḡ ⊙ (out + alpha)
    """
    xp = backend.xp
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


elu.defvjp(lambda g, out, x, alpha=1.0: where(x > 0, g, g * (out + alpha)), keep="x out")


@primitive
def gelu(x, approximate="none"):
    """Gaussian error linear unit x Phi(x) (``approximate="tanh"``: the tanh formula).

    x̄ = ḡ ⊙ (Φ(x) + x φ(x))   (approximate='tanh': the derivative of the tanh formula)
    """
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
    """Phi(x), the standard normal cumulative distribution function.

    x̄ = ḡ ⊙ φ(x) = ḡ ⊙ e^(−x²/2) / √(2π)
    """
    return _special.normal_cdf(x)


normal_cdf.defvjp(lambda g, out, x: g * exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)), keep="x")


@primitive
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (PyTorch's definition).

    x̄ = ḡ ⊙ σ(beta x), and ḡ where beta x > threshold
    """
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
    """exp(x) / sum(exp(x)) along ``axis`` (the seeds' softmax output function).

    x̄ = out ⊙ (ḡ − Σ_axis ḡ ⊙ out)
    """
    xp = backend.xp
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


softmax.defvjp(
    lambda g, out, x, axis=-1: out * (g - _sum(g * out, axis=axis, keepdims=True)), keep="out"
)


@primitive
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``: log-probabilities, stable for large logits.

    x̄ = ḡ − exp(out) ⊙ Σ_axis ḡ
    """
    xp = backend.xp
    s = x - x.max(axis=axis, keepdims=True)
    return s - xp.log(xp.exp(s).sum(axis=axis, keepdims=True))


log_softmax.defvjp(
    lambda g, out, x, axis=-1: g - exp(out) * _sum(g, axis=axis, keepdims=True), keep="out"
)


# ---------------------------------------------------------------- issue 9: PyTorch's other units
def _mask(cond, like):
    """A 0/1 mask in ``like``'s dtype: g times a float mask is several times faster than
    g times a boolean one, and than ``where(cond, g, 0)``, on random masks."""
    return Tensor._make(cond.astype(like.dtype, copy=False))


@primitive
def silu(x):
    """x σ(x), the sigmoid-weighted linear unit (also called swish).

    x̄ = ḡ ⊙ σ(x) ⊙ (1 + x (1 − σ(x)))
    """
    with np.errstate(over="ignore"):  # x / inf = -0 far left, as PyTorch's
        return x / (1 + backend.xp.exp(-x))


def _silu_grad(g, out, x):
    s = sigmoid(x)
    return g * s * (1 + x * (1 - s))


silu.defvjp(_silu_grad, keep="x")


@primitive
def mish(x):
    """x tanh(softplus(x)).

    x̄ = ḡ ⊙ (tanh sp + x σ(x) (1 − tanh² sp)),   sp = softplus(x)
    """
    xp = backend.xp
    return x * xp.tanh(xp.logaddexp(0, x))


def _mish_grad(g, out, x):
    t = tanh(softplus(x))
    return g * (t + x * sigmoid(x) * (1 - t * t))


mish.defvjp(_mish_grad, keep="x")

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@primitive
def selu(x):
    """scale · (x if x > 0 else alpha (eˣ − 1)), with the self-normalising constants
    alpha ≈ 1.6733, scale ≈ 1.0507.

    x̄ = ḡ ⊙ scale where x > 0, else ḡ ⊙ scale alpha eˣ
    """
    xp = backend.xp
    return _SELU_SCALE * xp.where(x > 0, x, _SELU_ALPHA * xp.expm1(xp.minimum(x, 0)))


def _selu_grad(g, out, x):
    pos = _mask(x.data > 0, g)
    neg = _mask(x.data <= 0, g)
    return g * (pos * _SELU_SCALE + neg * (_SELU_SCALE * _SELU_ALPHA) * exp(minimum(x, 0)))


selu.defvjp(_selu_grad, keep="x")


@primitive
def celu(x, alpha=1.0):
    """x if x > 0 else alpha (e^(x/alpha) − 1), continuously differentiable for every alpha.

    x̄ = ḡ where x > 0, else ḡ ⊙ e^(x/alpha)
    """
    xp = backend.xp
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0) / alpha))


def _celu_grad(g, out, x, alpha=1.0):
    pos = _mask(x.data > 0, g)
    return g * (pos + (1 - pos) * exp(minimum(x, 0) / alpha))


celu.defvjp(_celu_grad, keep="x")


@primitive
def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x clipped to [min_val, max_val]; the gradient is 0 at the bounds, as in PyTorch.

    x̄ = ḡ ⊙ [min_val < x < max_val]
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is above max_val {max_val}")
    return backend.xp.clip(x, min_val, max_val)


def _masked(g, cond, scale=None):
    """ḡ ⊙ cond (⊙ scale): as ops under create_graph, else one new array filled in place."""
    m = _mask(cond, g)
    if is_grad_enabled():
        return g * (m if scale is None else m * scale)
    d = m.data if m.data is not cond else m.data.copy()
    if scale is not None:
        d *= scale
    d *= g.data
    return Tensor._make(d)


hardtanh.defvjp(
    lambda g, out, x, min_val=-1.0, max_val=1.0: _masked(
        g, (x.data > min_val) & (x.data < max_val)
    ),
    keep="x",
)


def relu6(x: Tensor) -> Tensor:
    """min(max(0, x), 6): :func:`hardtanh` on [0, 6] (PyTorch's definition, gradient 0 at
    both kinks)."""
    return hardtanh(x, 0.0, 6.0)


@primitive
def hardsigmoid(x):
    """relu6(x + 3) / 6, the piecewise-linear sigmoid.

    x̄ = ḡ / 6 ⊙ [−3 < x < 3]
    """
    return backend.xp.clip(x / 6 + 0.5, 0, 1)


hardsigmoid.defvjp(lambda g, out, x: _masked(g, (x.data > -3) & (x.data < 3), 1 / 6), keep="x")


@primitive
def hardswish(x):
    """x · relu6(x + 3) / 6.

    x̄ = 0 where x < −3, ḡ ⊙ (x/3 + 1/2) where −3 ≤ x ≤ 3, ḡ where x > 3
    """
    return x * backend.xp.clip(x / 6 + 0.5, 0, 1)


def _hardswish_grad_as_ops(g, out, x):
    mid = _mask((x.data >= -3) & (x.data <= 3), g)
    return g * (mid * (x / 3 + 0.5) + _mask(x.data > 3, g))


@_raw_unless_graph(_hardswish_grad_as_ops)
def _hardswish_grad(g, out, x):
    xd = x.data
    xp = backend.array_module(xd)
    d = xp.divide(xd, 3, out=xp.empty_like(g.data))  # one new array, then in place
    d += 0.5
    xp.copyto(d, 0.0, where=xd < -3)
    xp.copyto(d, 1.0, where=xd > 3)
    d *= g.data
    return d


hardswish.defvjp(_hardswish_grad, keep="x")


@primitive
def softsign(x):
    """x / (1 + |x|).

    x̄ = ḡ / (1 + |x|)²
    """
    return x / (1 + backend.xp.abs(x))


def _softsign_grad(g, out, x):
    d = 1 + _abs(x)
    return g / (d * d)


softsign.defvjp(_softsign_grad, keep="x")


@primitive
def logsigmoid(x):
    """log σ(x) = −softplus(−x), computed without overflow.

    x̄ = ḡ ⊙ σ(−x)
    """
    xp = backend.xp
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


logsigmoid.defvjp(lambda g, out, x: g * sigmoid(negative(x)), keep="x")


def _axis_or_dim(name: str, axis: Any, dim: Any, default: Any) -> Any:
    if axis is not None and dim is not None and axis != dim:
        raise ValueError(f"{name}: give axis or dim, not both ({axis} and {dim})")
    if axis is not None:
        return axis
    return default if dim is None else dim


@primitive
def softmin(x, axis=None, dim=None):
    """softmax(−x) along ``axis`` (the last by default; PyTorch's ``dim`` accepted), shifted
    by the minimum.

    x̄ = out ⊙ (Σ_axis ḡ ⊙ out − ḡ)
    """
    ax = _axis_or_dim("softmin", axis, dim, -1)
    e = backend.xp.exp(x.min(axis=ax, keepdims=True) - x)
    return e / e.sum(axis=ax, keepdims=True)


softmin.defvjp(
    lambda g, out, x, axis=None, dim=None: (
        out * (_sum(g * out, axis=_axis_or_dim("softmin", axis, dim, -1), keepdims=True) - g)
    ),
    keep="out",
)


def _glu_axis(x: Any, axis: Any, dim: Any) -> int:
    ax = _axis_or_dim("glu", axis, dim, -1)
    if x.ndim == 0 or not -x.ndim <= ax < x.ndim:
        raise ShapeError(f"glu: axis {ax} is out of range for a tensor of shape {x.shape}")
    if x.shape[ax] % 2:
        raise ShapeError(
            f"glu: axis {ax} of shape {x.shape} has size {x.shape[ax]}; it must be even "
            "(it is halved into a value and a gate)"
        )
    return ax


@primitive
def glu(x, axis=None, dim=None):
    """The gated linear unit a ⊙ σ(b), where a and b are the two halves of ``x`` along
    ``axis`` (the last by default; PyTorch's ``dim`` accepted). Raises
    :class:`~chainrule.errors.ShapeError` when that axis has an odd size.

    x̄ = concatenate(ḡ ⊙ σ(b), ḡ ⊙ a ⊙ σ(b) ⊙ (1 − σ(b)))   (a, b: the halves of x)
    """
    a, b = backend.xp.split(x, 2, axis=_glu_axis(x, axis, dim))
    return a * sigmoid.forward(b)


def _glu_grad(g, out, x, axis=None, dim=None):
    ax = _glu_axis(x, axis, dim)
    a, b = split(x, 2, axis=ax)
    s = sigmoid(b)
    ga = g * s
    return concatenate([ga, ga * a * (1 - s)], axis=ax)


glu.defvjp(_glu_grad, keep="x")


def normalize(
    x: Tensor,
    p: float = 2.0,
    axis: int | tuple[int, ...] | None = None,
    eps: float = 1e-12,
    *,
    dim: int | tuple[int, ...] | None = None,
) -> Tensor:
    """x / max(‖x‖_p, eps) along ``axis`` (PyTorch's ``F.normalize``: ``dim=1`` by default).

    The norm is clamped below by ``eps``: a zero vector gives zeros (and the gradient ḡ / eps,
    as PyTorch's). Raises ``ValueError`` for p ≤ 0.
    """
    ax = _axis_or_dim("normalize", axis, dim, 1)
    if p == 2:
        return l2_normalize(x, ax, eps)
    if p == float("inf"):
        denom = maximum(_max(_abs(x), axis=ax, keepdims=True), eps)
    elif p > 0:
        s = _sum(power(_abs(x), p), axis=ax, keepdims=True)
        denom = power(maximum(s, eps**p), 1.0 / p)
    else:
        raise ValueError(f"normalize: p must be positive, got {p}")
    return x / denom


@primitive
def l2_normalize(x, axis=1, eps=1e-12):
    """x / max(‖x‖₂, eps) along ``axis``: :func:`normalize` with p = 2, in one op.

    x̄ = (ḡ − out ⊙ Σ_axis ḡ ⊙ out) / ‖x‖₂ where ‖x‖₂ > eps, else ḡ / eps
    """
    xp = backend.xp
    return x / xp.maximum(xp.sqrt((x * x).sum(axis=axis, keepdims=True)), eps)


def _l2_normalize_grad_as_ops(g, out, x, axis=1, eps=1e-12):
    norm = std_sqrt(_sum(x * x, axis=axis, keepdims=True))  # gradient 0 at a zero vector
    inside = _mask(norm.data > eps, g)
    return (g - inside * out * _sum(g * out, axis=axis, keepdims=True)) / maximum(norm, eps)


@_raw_unless_graph(_l2_normalize_grad_as_ops)
def _l2_normalize_grad(g, out, x, axis=1, eps=1e-12):
    xp = backend.array_module(g.data)  # one array, reused
    gd, od = g.data, out.data
    buf = xp.empty_like(gd)
    norm = xp.sqrt(_dot_along(xp, x.data, x.data, axis, buf))
    dot = _dot_along(xp, gd, od, axis, buf)
    dot *= norm > eps
    xp.multiply(od, dot, out=buf)
    xp.subtract(gd, buf, out=buf)
    buf /= xp.maximum(norm, eps)
    return buf


def _dot_along(xp, a, b, axis, buf):
    """Σ_axis a ⊙ b, axis kept: NumPy's vecdot where it has one (no temporary), else the
    product written into ``buf`` and summed."""
    if isinstance(axis, int) and hasattr(xp, "vecdot"):
        return xp.expand_dims(xp.vecdot(a, b, axis=axis), axis)
    return xp.multiply(a, b, out=buf).sum(axis=axis, keepdims=True)


l2_normalize.defvjp(_l2_normalize_grad, keep="x out")
