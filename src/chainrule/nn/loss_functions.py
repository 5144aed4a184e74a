"""The losses of ``cr.nn.functional`` (``F.cross_entropy``, ``F.nll_loss``, ``F.mse_loss``,
...), with PyTorch's names, arguments and reductions.

Each is written with chainrule's differentiable ops and the fused primitives of
:mod:`chainrule.ops.loss` (softmax + cross-entropy in one rule, ``ŷ - q``), and adds the checks
that turn a silent wrong answer into an error naming the mistake: shapes that would broadcast,
class indices out of range, targets outside [0, 1], NaN in the data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.compile import replayable
from chainrule.errors import (
    DomainError,
    DTypeError,
    NonFiniteError,
    ShapeError,
    TargetError,
)
from chainrule.ops.elementwise import abs as _abs
from chainrule.ops.elementwise import where
from chainrule.ops.loss import (
    clamped_binary_cross_entropy,
    class_cross_entropy,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)
from chainrule.ops.reduction import mean as _mean
from chainrule.ops.reduction import sum as _sum
from chainrule.ops.shape import expand_dims, getitem, reshape, transpose
from chainrule.tensor import Tensor

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss",
    "l1_loss", "mse_loss", "nll_loss",
]  # fmt: skip

_REDUCTIONS = ("mean", "sum", "none")


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
    _check_reduction("cross_entropy", reduction)
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
    w = _class_weight("cross_entropy", weight, c, x.dtype)
    if t.dtype.kind in "iu" and not label_smoothing:  # fused, from the indices themselves
        y, row_weight, scale, out_shape = _index_targets(t, x, c, weight, ignore_index, reduction)
        out = class_cross_entropy(x2, y, row_weight, None if reduction == "none" else scale)
        if reduction == "none":
            out = reshape(out, () if unbatched else out_shape)
        _check_logits(out, x)
        return out
    if t.dtype.kind in "iu":
        q, scale, out_shape = _class_targets(
            t, x, c, weight, ignore_index, label_smoothing, reduction
        )
    elif t.dtype.kind == "f" and t.shape == x.shape:
        q, denom, out_shape = _prob_targets(t, x, c, w, label_smoothing)
        scale = 1.0 if reduction == "sum" else 1.0 / denom  # denom: the rows, never 0
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
        out = softmax_cross_entropy(x2, q, scale)
    _check_logits(out, x)
    return out


@replayable  # cr.compile checks again at each replay
def _check_logits(out: Tensor, x: Tensor) -> None:
    """NonFiniteError when cross_entropy's loss is not finite, naming what the logits hold."""
    if not (math.isfinite(out.data) if out.ndim == 0 else backend.xp.isfinite(out.data).all()):
        bad = "NaN" if bool(backend.xp.isnan(x.data).any()) else "Inf"
        if bool(backend.xp.isfinite(x.data).all()):
            bad = "values that overflow"
        raise NonFiniteError(f"cross_entropy: the logits contain {bad}; the loss is not finite")


@replayable  # cr.compile runs it again at each replay: it reads the targets
def _index_targets(
    t: Tensor, x: Tensor, c: int, weight: Any, ignore_index: int, reduction: str
) -> tuple[Any, Any, float, tuple[int, ...]]:
    """The class indices as ``class_cross_entropy`` takes them: ``(y, row_weight, scale,
    shape)``, y (M,) with ignored targets set to 0, row_weight (M,) each row's class weight
    times 0 where ignored (None when every row counts once), the loss's scale (1 / the
    counted weight for the mean, else 1) and the loss's shape. What :func:`_class_targets`
    puts in a one-hot q's rows, without q."""
    w = _class_weight("cross_entropy", weight, c, x.dtype)
    y, valid, expected = class_indices("cross_entropy", t, x.shape, ignore_index)
    row_weight = None
    if w is not None or valid is not None:
        row_weight = w[y] if w is not None else backend.xp.ones(y.shape[0], dtype=x.dtype)
        if valid is not None:
            row_weight = row_weight * valid
    denom = float(y.shape[0]) if row_weight is None else float(row_weight.sum())
    _check_counted(reduction, denom)
    return y, row_weight, 1.0 / denom if reduction == "mean" else 1.0, expected


def _check_counted(reduction: str, denom: float) -> None:
    if reduction == "mean" and denom == 0:  # "sum" and "none" are 0 then, as in PyTorch
        raise TargetError(
            "cross_entropy: reduction='mean' over no targets: every target equals "
            "ignore_index (or has weight 0)"
        )


@replayable  # cr.compile runs it again at each replay: it reads the targets
def _class_targets(
    t: Tensor, x: Tensor, c: int, weight: Any, ignore_index: int, smoothing: float, reduction: str
) -> tuple[Any, float, tuple[int, ...]]:
    """The targets as rows of q (one-hot, smoothed, weighted, 0 where ignored), the loss's
    scale (1 / the counted weight for the mean, else 1) and the loss's shape."""
    xp = backend.xp
    w = _class_weight("cross_entropy", weight, c, x.dtype)
    y, valid, expected = class_indices("cross_entropy", t, x.shape, ignore_index)
    m = y.shape[0]
    q = xp.zeros((m, c), dtype=x.dtype)
    q[xp.arange(m), y] = 1.0 - smoothing
    if smoothing:
        q += smoothing / c
    if w is not None:
        q *= w
    if valid is not None:
        q *= valid[:, None]
    if w is None and valid is None:  # every target counts once: the count of rows
        denom = float(m)
    else:
        wy = w[y] if w is not None else xp.ones(m, dtype=x.dtype)
        denom = float((wy * valid).sum()) if valid is not None else float(wy.sum())
    _check_counted(reduction, denom)
    return q, 1.0 / denom if reduction == "mean" else 1.0, expected


def class_indices(
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
    unsigned = y.view(_UNSIGNED[y.dtype.itemsize]) if y.dtype.kind == "i" else y
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


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # by itemsize: y.view(...)
# (a type, not a dtype string: parsing one took 15 µs of a compiled batch-128 step, cold)


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


def mse_loss(input: Tensor, target: Any, *, reduction: str = "mean") -> Tensor:
    """Squared error (x - y)^2 (the seeds' squared loss), reduced by ``reduction``
    (``"mean"``, ``"sum"`` or ``"none"``). ``input`` and ``target`` have the same shape.

    Raises :class:`~chainrule.errors.ShapeError` when the shapes differ (no broadcasting: a
    (N, 1) prediction against a (N,) target is almost always a bug) and
    :class:`~chainrule.errors.NonFiniteError` when an input holds NaN or Inf.

    >>> import chainrule as cr
    >>> mse_loss(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 4.0]))
    tensor(2., dtype=float32)
    """
    x, t = _regression_pair("mse_loss", input, target, reduction)
    d = x - t
    return _finite("mse_loss", _reduce(d * d, reduction), x, t)


def l1_loss(input: Tensor, target: Any, *, reduction: str = "mean") -> Tensor:
    """Absolute error |x - y|, reduced by ``reduction``; shapes and errors as
    :func:`mse_loss`."""
    x, t = _regression_pair("l1_loss", input, target, reduction)
    return _finite("l1_loss", _reduce(_abs(x - t), reduction), x, t)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = x - y.

    Quadratic near zero, linear (so robust to outliers) beyond ``delta`` > 0. Shapes and
    errors as :func:`mse_loss`; ``ValueError`` for ``delta <= 0``.
    """
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _regression_pair("huber_loss", input, target, reduction)
    d = x - t
    a = _abs(d)
    losses = where(a.data < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    return _finite("huber_loss", _reduce(losses, reduction), x, t)


def nll_loss(
    input: Tensor,
    target: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood ``-w[y] * input[y]`` of log-probabilities (e.g. the output of
    :func:`log_softmax`) and class indices.

    Shapes: input (N, C), (C,) or (N, C, d1, ...); target (N,), () or (N, d1, ...) integers.
    ``weight`` (C,) rescales classes; ``"mean"`` divides by the total weight of the counted
    targets; targets equal to ``ignore_index`` count for nothing.

    Raises :class:`~chainrule.errors.ShapeError` for mismatched shapes,
    :class:`~chainrule.errors.TargetError` for non-integer or out-of-range targets (or all
    ignored) and :class:`~chainrule.errors.NonFiniteError` for NaN in the input.
    """
    x = _float_input("nll_loss", input)
    _check_reduction("nll_loss", reduction)
    t = _tensor(target)
    if t.dtype.kind not in "iu":
        raise TargetError(
            f"nll_loss: targets must be integer class indices, got {t.dtype}; "
            "use target.astype('int64')"
        )
    unbatched = x.ndim == 1
    if unbatched:
        x = reshape(x, (1, x.shape[0]))
        t = reshape(t, (1, *t.shape))
    if x.ndim < 2 or x.shape[0] == 0:
        raise ShapeError(f"nll_loss: expected input (N, C), (C,) or (N, C, d...), got {x.shape}")
    c = x.shape[1]
    rows, y, wy, denom, expected = _nll_targets(t, x.shape, x.dtype, weight, ignore_index,
                                                reduction)  # fmt: skip
    x2 = reshape(transpose(x, (0, *range(2, x.ndim), 1)), (-1, c)) if x.ndim > 2 else x
    losses = -getitem(x2, (rows, y))
    if wy is not None:
        losses = losses * Tensor._make(wy)
    if reduction == "none":
        out = reshape(losses, () if unbatched else expected)
    elif reduction == "sum":
        out = _sum(losses)
    else:
        out = _sum(losses) / denom
    return _finite("nll_loss", out, x)


@replayable  # cr.compile runs it again at each replay: it reads the targets
def _nll_targets(
    t: Tensor, x_shape: tuple, dtype: Any, weight: Any, ignore_index: int, reduction: str
) -> tuple[Any, Any, Any, float, tuple[int, ...]]:
    """nll_loss's rows and class indices to pick, the per-target weights (None in the common
    case, where every target counts once), the mean's denominator and the loss's shape."""
    y, valid, expected = class_indices("nll_loss", t, x_shape, ignore_index)
    xp = backend.xp
    w = _class_weight("nll_loss", weight, x_shape[1], dtype)
    wy = None
    if w is not None or valid is not None:
        wy = w[y] if w is not None else xp.ones(y.shape, dtype=dtype)
        if valid is not None:
            wy = wy * valid
    denom = float(y.shape[0]) if wy is None else float(wy.sum())
    if reduction == "mean" and denom == 0:
        raise TargetError("nll_loss: every target equals ignore_index (or has weight 0)")
    return xp.arange(y.shape[0]), y, wy, denom, expected


def binary_cross_entropy(
    input: Tensor, target: Any, weight: Any = None, *, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy -w (y log p + (1 - y) log(1 - p)) of probabilities p in [0, 1]
    and targets y in [0, 1] of the same shape; the logs are clamped at -100 as PyTorch's.

    ``weight`` broadcasts against the input. Prefer :func:`binary_cross_entropy_with_logits`
    on logits: it is stable where this one saturates.

    Raises :class:`~chainrule.errors.ShapeError` when the shapes differ,
    :class:`~chainrule.errors.DomainError` for inputs outside [0, 1] (logits passed by
    mistake), :class:`~chainrule.errors.TargetError` for targets outside [0, 1] and
    :class:`~chainrule.errors.NonFiniteError` for NaN.
    """
    name = "binary_cross_entropy"
    x, t = _regression_pair(name, input, target, reduction)
    if _outside_unit_interval(x):
        raise DomainError(
            f"{name}: inputs must be probabilities in [0, 1], found values in "
            f"{_value_range(x)}; for logits use binary_cross_entropy_with_logits "
            "(BCEWithLogitsLoss)"
        )
    _check_unit_interval(name, t)
    losses = clamped_binary_cross_entropy(x, t)
    losses = _apply_weight(name, losses, weight)
    return _finite(name, _reduce(losses, reduction), x, t)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Any,
    weight: Any = None,
    *,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Binary cross-entropy of sigmoid(x) and y, fused: computed from the logits x with
    softplus, so it is finite for any finite logit, and its gradient is sigmoid(x) - y.

    ``pos_weight`` (broadcasting against the last axis, e.g. (C,)) weighs the positive term
    of each class: loss = -w (pos_weight y log s(x) + (1 - y) log(1 - s(x))). Shapes and
    errors as :func:`binary_cross_entropy` (any logit is allowed).

    >>> import chainrule as cr
    >>> binary_cross_entropy_with_logits(cr.tensor([1e4, -1e4]), cr.tensor([1.0, 0.0]))
    tensor(0., dtype=float32)
    """
    name = "binary_cross_entropy_with_logits"
    x, t = _regression_pair(name, input, target, reduction)
    _check_unit_interval(name, t)
    pw = None
    if pos_weight is not None:
        pw = _constant(pos_weight, x.dtype)
        _check_broadcast(name, "pos_weight", pw.shape, x.shape)
    losses = sigmoid_binary_cross_entropy(x, t, pos_weight=pw)
    losses = _apply_weight(name, losses, weight)
    return _finite(name, _reduce(losses, reduction), x, t)


# ---------------------------------------------------------------------------- helpers
def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(backend.xp.asarray(x))


def _constant(v: Any, dtype: Any) -> Any:
    arr = v.data if isinstance(v, Tensor) else backend.xp.asarray(v)
    return arr.astype(dtype, copy=False)


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _float_input(name: str, input: Any) -> Tensor:
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise DTypeError(f"{name}: input must be floating point, got {x.dtype}")
    return x


def _regression_pair(name: str, input: Any, target: Any, reduction: str) -> tuple[Tensor, Any]:
    """The input as a float tensor and the target in its dtype, after checking both."""
    _check_reduction(name, reduction)
    x = _float_input(name, input)
    t = _tensor(target)
    if tuple(t.shape) != tuple(x.shape):
        hint = ""
        if x.ndim == t.ndim + 1 and x.shape[-1] == 1:
            hint = f"; squeeze the input's last axis or reshape the target to {x.shape}"
        elif t.ndim == x.ndim + 1 and t.shape[-1] == 1:
            hint = f"; squeeze the target's last axis or reshape the input to {t.shape}"
        raise ShapeError(
            f"{name}: input shape {x.shape} and target shape {tuple(t.shape)} differ "
            f"(they must be equal; broadcasting them is almost always a bug){hint}"
        )
    if t.dtype != x.dtype:
        t = t.astype(x.dtype) if t.dtype.kind == "f" else Tensor._make(t.data.astype(x.dtype))
    return x, t


def _check_unit_interval(name: str, t: Tensor) -> None:
    if _outside_unit_interval(t):
        raise TargetError(
            f"{name}: targets must be in [0, 1] (0/1 labels or probabilities), found values "
            f"in {_value_range(t)}"
        )


def _outside_unit_interval(t: Tensor) -> bool:
    d = t.data
    return bool(((d < 0) | (d > 1)).any())


def _value_range(t: Tensor) -> str:
    """``[min, max]`` of ``t``'s values (NaN left out), for error messages."""
    d = backend.to_numpy(t.data)
    return f"[{float(np.nanmin(d)):.4g}, {float(np.nanmax(d)):.4g}]"


def _check_broadcast(name: str, what: str, shape: tuple, to: tuple) -> None:
    try:
        ok = np.broadcast_shapes(shape, to) == tuple(to)
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"{name}: {what} of shape {shape} does not broadcast to the input {to}")


def _apply_weight(name: str, losses: Tensor, weight: Any) -> Tensor:
    if weight is None:
        return losses
    w = _constant(weight, losses.dtype)
    _check_broadcast(name, "weight", w.shape, losses.shape)
    return losses * Tensor._make(w)


def _class_weight(name: str, weight: Any, c: int, dtype: Any) -> Any:
    if weight is None:
        return None
    w = _constant(weight, dtype)
    if w.shape != (c,):
        raise ShapeError(f"{name}: weight has shape {w.shape}, expected ({c},), one per class")
    return w


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return _mean(losses)
    if reduction == "sum":
        return _sum(losses)
    return losses


@replayable  # cr.compile checks again at each replay
def _finite(name: str, out: Tensor, *inputs: Any) -> Tensor:
    """``out``, or NonFiniteError naming which input holds NaN or Inf."""
    xp = backend.array_module(out.data)
    if bool(xp.isfinite(out.data).all()):
        return out
    for label, t in zip(("input", "target"), inputs):
        d = t.data if isinstance(t, Tensor) else xp.asarray(t)
        if d.dtype.kind == "f" and not bool(xp.isfinite(d).all()):
            what = "NaN" if bool(xp.isnan(d).any()) else "Inf"
            raise NonFiniteError(
                f"{name}: the {label} contains {what} (shape {d.shape}); the loss is not "
                "finite. Check the data, or lower the learning rate if training diverged"
            )
    raise NonFiniteError(f"{name}: the loss overflowed to a non-finite value")
