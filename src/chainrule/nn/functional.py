"""``cr.nn.functional`` (imported as ``F``): the layers and losses as plain functions, with
PyTorch's names and arguments (``dim``, not ``axis``, for the softmaxes, as ``F`` has it).

Everything here is written with chainrule's differentiable ops, so gradients come from the
ops' rules; the losses add the checks that turn a silent wrong answer into an error naming
the mistake.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import no_grad
from chainrule.compile import replayable
from chainrule.errors import (
    DomainError,
    DTypeError,
    IndexRangeError,
    NonFiniteError,
    ShapeError,
    TargetError,
)
from chainrule.ops import activation as _act
from chainrule.ops.activation import (
    elu,
    gelu,
    leaky_relu,
    logsigmoid,
    relu,
    sigmoid,
    softplus,
    softsign,
)
from chainrule.ops.activation import log_softmax as _log_softmax
from chainrule.ops.activation import softmax as _softmax
from chainrule.ops.elementwise import abs as _abs
from chainrule.ops.elementwise import sqrt, tanh, where
from chainrule.ops.linalg import linear
from chainrule.ops.loss import (
    _class_indices,
    clamped_binary_cross_entropy,
    cross_entropy,
    sigmoid_binary_cross_entropy,
)
from chainrule.ops.reduction import mean as _mean
from chainrule.ops.reduction import sum as _sum
from chainrule.ops.shape import getitem, reshape, transpose
from chainrule.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "cross_entropy",
    "dropout",
    "dropout1d",
    "dropout2d",
    "elu",
    "embedding",
    "fold",
    "gelu",
    "group_norm",
    "huber_loss",
    "instance_norm",
    "interpolate",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool1d",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "pad",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
    "unfold",
]  # fmt: skip
__all__ += [
    "celu",
    "glu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "logsigmoid",
    "mish",
    "normalize",
    "relu6",
    "selu",
    "silu",
    "softmin",
    "softsign",
]

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------- activations
def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """Softmax along ``dim``: exp(x) / sum(exp(x)), any shape in, same shape out.

    ``dim=None`` picks PyTorch's legacy implicit axis (0 for 0-, 1- and 3-D input, else 1)
    with a warning; pass ``dim`` explicitly.
    """
    return _softmax(input, axis=_softmax_dim("softmax", input, dim))


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """Log of the softmax along ``dim``, computed stably (see :func:`softmax` for ``dim``)."""
    return _log_softmax(input, axis=_softmax_dim("log_softmax", input, dim))


def _softmax_dim(name: str, x: Any, dim: int | None) -> int:
    if dim is not None:
        return dim
    ndim = np.ndim(x.data if isinstance(x, Tensor) else x)
    chosen = 0 if ndim in (0, 1, 3) else 1
    warnings.warn(
        f"{name} with dim=None picks dim={chosen} implicitly (PyTorch's legacy rule); "
        "pass dim explicitly",
        UserWarning,
        stacklevel=3,
    )
    return chosen


# PyTorch's other activations. ``inplace`` is accepted for code that passes it; the result
# is always a new tensor with the same values and gradients.
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x σ(x) (swish)."""
    return _act.silu(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x))."""
    return _act.mish(input)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """The self-normalising ELU, scale (x if x > 0 else alpha (eˣ − 1))."""
    return _act.selu(input)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha (e^(x/alpha) − 1)."""
    return _act.celu(input, alpha)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x clipped to [min_val, max_val] (gradient 0 at the bounds)."""
    return _act.hardtanh(input, min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6)."""
    return _act.relu6(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    return _act.hardsigmoid(input)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x relu6(x + 3) / 6."""
    return _act.hardswish(input)


def softmin(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """softmax(−x) along ``dim`` (see :func:`softmax` for ``dim=None``), in ``dtype`` if
    given."""
    x = input if dtype is None else input.astype(dtype)
    return _act.softmin(x, axis=_softmax_dim("softmin", input, dim))


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a σ(b) for the halves a, b of ``input`` along ``dim``; raises
    :class:`~chainrule.errors.ShapeError` when its size is odd."""
    return _act.glu(input, axis=dim)


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None
) -> Tensor:
    """input / max(‖input‖_p, eps) along ``dim`` (a zero vector stays zero). ``out`` must
    be None."""
    if out is not None:
        raise TypeError("normalize: out= is not supported (chainrule ops return new tensors)")
    return _act.normalize(input, p, axis=dim, eps=eps)


# ---------------------------------------------------------------------------- layers
def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the
    rest by 1 / (1 - p), so the expected value is unchanged and evaluation is the identity.

    Any shape; the mask is drawn from chainrule's generator (:func:`chainrule.manual_seed`).
    Raises ``ValueError`` unless 0 <= p <= 1.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    x = _tensor(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return x * Tensor._make(_dropout_mask(x.shape, x.dtype, p))


@replayable  # cr.compile draws it again at each replay
def _dropout_mask(shape: tuple[int, ...], dtype: Any, p: float) -> Any:
    """Inverted dropout's mask: 0 with probability ``p``, else 1 / (1 - p)."""
    xp = backend.xp
    rdtype = np.float64 if dtype == np.float64 else np.float32
    keep = xp.asarray(backend.rng().random(shape, dtype=rdtype)) >= p
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


def layer_norm(
    input: Tensor,
    normalized_shape: int | tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes to mean 0 and variance 1 (the
    biased variance, as PyTorch), then scale by ``weight`` and shift by ``bias`` (both shaped
    ``normalized_shape``). Input (..., *normalized_shape), output the same shape.

    Raises :class:`~chainrule.errors.ShapeError` when the input's trailing shape differs.
    """
    shape = _shape_tuple(normalized_shape)
    x = _tensor(input)
    k = len(shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ShapeError(
            f"layer_norm: input of shape {x.shape} does not end with normalized_shape {shape}"
        )
    axes = tuple(range(x.ndim - k, x.ndim))
    y, _, _ = _standardize(x, axes, eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of input (N, C, *) per channel C (BatchNorm1d's (N, C) or
    (N, C, L), BatchNorm2d's (N, C, H, W)).

    In training (or without running statistics) each channel is normalised with the batch's
    mean and biased variance, and the running statistics, when given, are updated in place:
    ``running = (1 - momentum) * running + momentum * batch`` with the *unbiased* batch
    variance, as PyTorch. Otherwise the running statistics are used. ``weight`` and ``bias``
    (C,) scale and shift.

    Raises :class:`~chainrule.errors.ShapeError` for input with fewer than 2 axes, whose
    channel count differs from the statistics', or (in training) with one value per channel.
    """
    x = _tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C, *), got {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(
                f"batch_norm: input has {c} channels (shape {x.shape}) but {name} has "
                f"shape {tuple(t.shape)}"
            )
    axes = (0, *range(2, x.ndim))
    bshape = (1, c, *(1,) * (x.ndim - 2))
    if training or running_mean is None or running_var is None:
        n = x.size // c if c else 0
        if training and n <= 1:
            raise ShapeError(
                f"batch_norm: expected more than 1 value per channel when training, got input "
                f"of shape {x.shape}; use a batch of at least 2 or call .eval()"
            )
        y, mu, var = _standardize(x, axes, eps)
        if training and running_mean is not None and running_var is not None:
            _update_stats(running_mean, running_var, mu, var, n, momentum)
    else:
        shift, inv = _running_stats(running_mean, running_var, eps, x.dtype, bshape)
        y = (x - Tensor._make(shift)) * Tensor._make(inv)
    if weight is not None:
        y = y * reshape(weight, bshape)
    if bias is not None:
        y = y + reshape(bias, bshape)
    return y


@replayable  # cr.compile runs it again at each replay
def _update_stats(
    running_mean: Tensor, running_var: Tensor, mu: Tensor, var: Tensor, n: int, momentum: float
) -> None:
    """Move the running statistics toward the batch's mean and unbiased variance."""
    c = running_mean.shape[0]
    with no_grad():
        _update_running(running_mean, mu.data.reshape(c), momentum)
        unbiased = var.data.reshape(c) * (n / (n - 1))
        _update_running(running_var, unbiased, momentum)


@replayable  # cr.compile reads the running statistics again at each replay
def _running_stats(running_mean: Any, running_var: Any, eps: float, dtype: Any, bshape: tuple):
    """The running mean and 1 / sqrt(running variance + eps), shaped ``bshape``."""
    xp = backend.xp
    rm = running_mean.data if isinstance(running_mean, Tensor) else xp.asarray(running_mean)
    rv = running_var.data if isinstance(running_var, Tensor) else xp.asarray(running_var)
    inv = (1.0 / xp.sqrt(rv + eps)).astype(dtype, copy=False).reshape(bshape)
    return rm.astype(dtype, copy=False).reshape(bshape), inv


def _update_running(stat: Any, batch: Any, momentum: float) -> None:
    arr = stat.data if isinstance(stat, Tensor) else stat
    arr *= 1.0 - momentum
    arr += momentum * batch
    if isinstance(stat, Tensor):
        stat._bump()


def _standardize(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(x - mean) / sqrt(var + eps)`` over ``axes``, with the mean and the biased variance
    (kept dimensions) it used."""
    mu = _mean(x, axis=axes, keepdims=True)
    d = x - mu
    var = _mean(d * d, axis=axes, keepdims=True)
    return d / sqrt(var + eps), mu, var


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by integer indices of any
    shape: output ``input.shape + (embedding_dim,)``. Rows at ``padding_idx`` get no gradient.

    Raises :class:`~chainrule.errors.DTypeError` for non-integer indices and
    :class:`~chainrule.errors.IndexRangeError` for indices outside [0, num_embeddings).
    """
    idx = input.data if isinstance(input, Tensor) else backend.xp.asarray(input)
    num = weight.shape[0]
    if idx.dtype.kind not in "iu":
        raise DTypeError(
            f"embedding: indices must be integers, got {idx.dtype}; use .astype('int64')"
        )
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexRangeError(
            f"embedding: index {bad} is out of range for a table of {num} rows "
            f"(valid: 0..{num - 1})"
        )
    rows = getitem(weight, idx)
    if padding_idx is None or not rows.requires_grad:
        return rows
    pad = padding_idx % num
    keep = (idx != pad)[..., None]
    # Same values either way; the detached branch carries no gradient to the padding row.
    return where(keep, rows, rows.detach())


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Class indices of any shape to int64 one-hot vectors: output ``shape + (num_classes,)``.

    ``num_classes=-1`` uses ``max(tensor) + 1``. Raises
    :class:`~chainrule.errors.TargetError` for non-integer input or indices outside
    [0, num_classes).

    >>> import chainrule as cr
    >>> one_hot(cr.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    xp = backend.xp
    y = tensor.data if isinstance(tensor, Tensor) else xp.asarray(tensor)
    if y.dtype.kind not in "iu":
        raise TargetError(f"one_hot: class indices must be integers, got {y.dtype}")
    if num_classes == -1:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise TargetError(
            f"one_hot: class values must be in [0, {num_classes}), got min {int(y.min())} "
            f"and max {int(y.max())}"
        )
    return Tensor._make((y[..., None] == xp.arange(num_classes)).astype(xp.int64))


# ---------------------------------------------------------------------------- losses
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
    y, valid, expected = _class_indices("nll_loss", t, x.shape, ignore_index)
    xp = backend.xp
    x2 = reshape(transpose(x, (0, *range(2, x.ndim), 1)), (-1, c)) if x.ndim > 2 else x
    w = _class_weight("nll_loss", weight, c, x.dtype)
    losses = -getitem(x2, (xp.arange(y.shape[0]), y))
    wy = None  # per-target weights; None in the common case, where every target counts once
    if w is not None or valid is not None:
        wy = w[y] if w is not None else xp.ones(y.shape, dtype=x.dtype)
        if valid is not None:
            wy = wy * valid
        losses = losses * Tensor._make(wy)
    if reduction == "none":
        out = reshape(losses, () if unbatched else expected)
    elif reduction == "sum":
        out = _sum(losses)
    else:
        denom = float(y.shape[0]) if wy is None else float(wy.sum())
        if denom == 0:
            raise TargetError("nll_loss: every target equals ignore_index (or has weight 0)")
        out = _sum(losses) / denom
    return _finite("nll_loss", out, x)


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


def _shape_tuple(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


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


# Convolution, pooling, resampling, padding, channel norms and dropout: in their own module;
# scaled_dot_product_attention is defined beside MultiheadAttention. Both are imported last
# because those modules build on this one.
from chainrule.nn._spatial import (  # noqa: E402
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    dropout1d,
    dropout2d,
    fold,
    group_norm,
    instance_norm,
    interpolate,
    max_pool1d,
    max_pool2d,
    pad,
    unfold,
)
from chainrule.nn.attention import scaled_dot_product_attention  # noqa: E402, F401
