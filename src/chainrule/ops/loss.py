"""Losses fused into single ops, with the seeds' gradient -(e(y) - ŷ).

Softmax and cross-entropy are one op, and so are the sigmoid and binary cross-entropy.
Fusing matters twice: the forward uses log-softmax / softplus (never the log of a
rounded-to-zero probability), and the backward is the closed form ``ŷ - q`` instead of the
product of the activation's Jacobian and 1/ŷ, which overflows for confident wrong predictions.
The other losses (``cr.nn.functional``) are compositions of ops and need no rule of their own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.compile import replayable
from chainrule.errors import DTypeError, NonFiniteError, ShapeError, TargetError
from chainrule.ops.activation import log_softmax, sigmoid, softmax, softplus
from chainrule.ops.elementwise import log, maximum
from chainrule.ops.reduction import sum as _sum
from chainrule.ops.shape import expand_dims, reshape, transpose
from chainrule.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


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


def cross_entropy(
    input: Tensor,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits and targets, as PyTorch's ``F.cross_entropy``.

    Shapes: ``input`` (N, C), (C,) or (N, C, d1, ...). ``target`` is either class indices
    (integers, shape (N,), () or (N, d1, ...)) or class probabilities (floats, shaped like
    ``input``). ``weight`` (C,) rescales each class; ``label_smoothing`` in [0, 1] mixes the
    target with the uniform distribution; ``reduction`` is ``"mean"``, ``"sum"`` or
    ``"none"``. Targets equal to ``ignore_index`` contribute nothing.

    Raises :class:`~chainrule.errors.ShapeError` for mismatched shapes or an empty batch,
    :class:`~chainrule.errors.TargetError` for class indices out of range or of float dtype,
    probabilities that are negative or do not sum to one, and
    :class:`~chainrule.errors.NonFiniteError` when the logits hold NaN or Inf.

    >>> import chainrule as cr
    >>> logits = cr.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
    >>> loss = cross_entropy(logits, cr.tensor([0]))
    >>> loss.backward()
    >>> bool(abs(logits.grad.numpy() - (logits.softmax().numpy() - [1, 0, 0])).max() < 1e-6)
    True
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
        )
    if x.dtype.kind != "f":
        raise DTypeError(f"cross_entropy: logits must be floating point, got {x.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    t = target if isinstance(target, Tensor) else Tensor(backend.xp.asarray(target))
    unbatched = x.ndim == 1
    if unbatched:
        x = expand_dims(x, 0)
        t = expand_dims(t, 0)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ShapeError(f"cross_entropy: empty batch (input shape {input.shape})")
    c = x.shape[1]
    # Move the class axis last and flatten: (N, C, d...) -> (N*d..., C).
    if x.ndim > 2:
        perm = (0, *range(2, x.ndim), 1)
        x2 = reshape(transpose(x, perm), (-1, c))
    else:
        x2 = x
    w = None
    if weight is not None:
        w = weight.data if isinstance(weight, Tensor) else backend.xp.asarray(weight)
        if w.shape != (c,):
            raise ShapeError(f"cross_entropy: weight has shape {w.shape}, expected ({c},)")
        w = w.astype(x.dtype)
    if t.dtype.kind in "iu":
        q, denom, out_shape = _class_targets(t, x, c, w, ignore_index, label_smoothing)
        if denom is None:  # every target counts once: the count of rows
            denom = float(q.shape[0])
    elif t.dtype.kind == "f" and t.shape == x.shape:
        q, denom, out_shape = _prob_targets(t, x, c, w, label_smoothing)
    elif t.dtype.kind == "f":
        raise TargetError(
            f"cross_entropy: class-index targets must be integers, got {t.dtype} of shape "
            f"{t.shape}; use target.astype('int64') (float targets must be probabilities "
            f"shaped like the input {tuple(x.shape)})"
        )
    else:
        raise TargetError(f"cross_entropy: targets of dtype {t.dtype} are not supported")
    if reduction == "none":
        out = reshape(softmax_cross_entropy(x2, q), out_shape)
        if unbatched:
            out = reshape(out, ())
    else:
        if reduction == "mean" and denom == 0:  # "sum" and "none" are 0 then, as in PyTorch
            raise TargetError(
                "cross_entropy: reduction='mean' over no targets: every target equals "
                "ignore_index (or has weight 0)"
            )
        out = softmax_cross_entropy(x2, q, 1.0 if reduction == "sum" else 1.0 / denom)
    if not (math.isfinite(out.data) if out.ndim == 0 else backend.xp.isfinite(out.data).all()):
        bad = "NaN" if bool(backend.xp.isnan(x.data).any()) else "Inf"
        if bool(backend.xp.isfinite(x.data).all()):
            bad = "values that overflow"
        raise NonFiniteError(f"cross_entropy: the logits contain {bad}; the loss is not finite")
    return out


@replayable  # cr.compile runs it again at each replay: it reads the targets
def _class_targets(
    t: Tensor, x: Tensor, c: int, w: Any, ignore_index: int, smoothing: float
) -> tuple[Any, float | None, tuple[int, ...]]:
    xp = backend.xp
    y, valid, expected = _class_indices("cross_entropy", t, x.shape, ignore_index)
    m = y.shape[0]
    q = xp.zeros((m, c), dtype=x.dtype)
    q[xp.arange(m), y] = 1.0 - smoothing
    if smoothing:
        q += smoothing / c
    if w is not None:
        q *= w
    if valid is not None:
        q *= valid[:, None]
    if w is None and valid is None:
        return q, None, expected  # the denominator is the row count
    wy = w[y] if w is not None else xp.ones(m, dtype=x.dtype)
    denom = float((wy * valid).sum()) if valid is not None else float(wy.sum())
    return q, denom, expected


def _class_indices(
    name: str, t: Tensor, x_shape: tuple[int, ...], ignore_index: int
) -> tuple[Any, Any, tuple[int, ...]]:
    """The integer targets ``t`` of logits shaped ``x_shape`` (N, C, d...), checked and
    flattened: ``(y, valid, shape)`` with ``y`` the class indices (those equal to
    ``ignore_index`` set to 0), ``valid`` the mask of the counted ones (None when all count)
    and ``shape`` the loss's (N, d...). Shared by cross_entropy and nll_loss.

    Raises ShapeError when ``t`` is not shaped (N, d...), TargetError naming the first class
    index out of range.
    """
    c = x_shape[1]
    expected = (x_shape[0], *x_shape[2:])
    if tuple(t.shape) != expected:
        raise ShapeError(
            f"{name}: target shape {tuple(t.shape)} does not fit input shape {x_shape} "
            f"(class indices need shape {expected})"
        )
    y = t.data.reshape(-1)
    # One reduction checks both ends: as unsigned integers, negative labels are huge.
    unsigned = y.view(y.dtype.str.replace("i", "u")) if y.dtype.kind == "i" else y
    if not (0 <= ignore_index < c or (y.size and unsigned.max() >= c)):
        return y, None, expected  # the common case: every target counts
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= c))
    if bool(bad.any()):
        raise TargetError(
            f"{name}: class index {int(y[bad][0])} is out of range for {c} classes "
            f"(valid: 0..{c - 1}, or ignore_index={ignore_index})"
        )
    return backend.xp.where(valid, y, 0), valid, expected


def _prob_targets(
    t: Tensor, x: Tensor, c: int, w: Any, smoothing: float
) -> tuple[Any, float, tuple[int, ...]]:
    p = t.data
    if not bool(backend.xp.isfinite(p).all()):
        raise NonFiniteError("cross_entropy: the probability targets contain NaN or Inf")
    if bool((p < 0).any()):
        raise TargetError("cross_entropy: probability targets must be non-negative")
    sums = p.sum(axis=1)
    tol = 1e-3 if p.dtype != np.float64 else 1e-6
    if not bool((abs(sums - 1) <= tol).all()):
        worst = float(abs(sums - 1).max()) + 1
        raise TargetError(
            f"cross_entropy: probability targets must sum to 1 over the class axis "
            f"(axis 1); found a sum of {worst:.6g}"
        )
    n_rows = x.shape[0] * int(np.prod(x.shape[2:], dtype=np.int64))
    q = t
    if x.ndim > 2:
        q = reshape(transpose(q, (0, *range(2, x.ndim), 1)), (-1, c))
    if smoothing:
        q = q * (1 - smoothing) + smoothing / c
    if w is not None:
        q = q * Tensor._make(w)
    return q, float(n_rows), (x.shape[0], *x.shape[2:])


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
