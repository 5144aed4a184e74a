"""``cr.nn.functional`` (imported as ``F``): the layers and losses as plain functions, with
PyTorch's names and arguments (``dim``, not ``axis``, for the softmaxes, as ``F`` has it).

Everything here is written with chainrule's differentiable ops, so gradients come from the
ops' rules; the losses add the checks that turn a silent wrong answer into an error naming
the mistake.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import no_grad
from chainrule.compile import replayable
from chainrule.errors import (
    DTypeError,
    IndexRangeError,
    ShapeError,
    TargetError,
)
from chainrule.nn._spatial import (  # convolution, pooling, resampling, padding, norms
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
from chainrule.nn.loss_functions import (  # the losses, in their own module
    _check_reduction,  # noqa: F401 - nn.loss reads F._check_reduction
    _tensor,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
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
from chainrule.ops.elementwise import tanh, where
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.normalization import moments, standardize
from chainrule.ops.shape import getitem, reshape, swapaxes
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
    return standardize(x, weight, bias, axes=axes, eps=eps)


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
        mu = var = None
        if training and running_mean is not None and running_var is not None:
            mu, var = _update_stats(running_mean, running_var, x, axes, momentum)
        w = None if weight is None else reshape(weight, bshape)
        b = None if bias is None else reshape(bias, bshape)
        return standardize(x, w, b, axes, eps, mu, var)  # the batch's statistics reused
    shift, inv = _running_stats(running_mean, running_var, eps, x.dtype, bshape)
    y = (x - Tensor._make(shift)) * Tensor._make(inv)
    if weight is not None:
        y = y * reshape(weight, bshape)
    if bias is not None:
        y = y + reshape(bias, bshape)
    return y


@replayable  # cr.compile runs it again at each replay
def _update_stats(
    running_mean: Tensor, running_var: Tensor, x: Tensor, axes: tuple[int, ...], momentum: float
) -> tuple[Any, Any]:
    """Move the running statistics toward the batch's mean and unbiased variance over
    ``axes`` of ``x`` (computed from its array: no graph); returns the batch's mean and
    biased variance (kept axes) for the normalisation itself."""
    c = running_mean.shape[0]
    mu, var = moments(x.data, axes)
    n = x.size // c
    with no_grad():
        _update_running(running_mean, mu.reshape(c), momentum)
        _update_running(running_var, var.reshape(c) * (n / (n - 1)), momentum)
    return mu, var


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


# ---------------------------------------------------------------------------- attention
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(Q Kᵀ · scale + M) V with query (..., L, E), key (..., S, E), value (..., S, Ev)
    -> (..., L, Ev); ``scale`` 1/√E by default.

    ``attn_mask`` broadcastable to (..., L, S): boolean (True: the key takes part, as in
    PyTorch's function) or float (added to the scores). ``is_causal`` masks every key after
    the query's position (and then ``attn_mask`` must be None). ``dropout_p`` drops attention
    weights (always, as PyTorch's functional form does; pass 0 in evaluation).

    Raises :class:`~chainrule.errors.ShapeError` for inputs whose last axes do not match or a
    mask that does not broadcast to (..., L, S); ``ValueError`` for ``is_causal`` with a mask.
    """
    q, k, v = (_as_tensor(t) for t in (query, key, value))
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1]:
        raise ShapeError(
            "scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and "
            f"value (..., S, Ev); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ShapeError(
            f"scaled_dot_product_attention: key {tuple(k.shape)} and value {tuple(v.shape)} "
            "must have the same number of positions S"
        )
    length, source = q.shape[-2], k.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: is_causal=True takes no attn_mask")
        attn_mask = np.tril(np.ones((length, source), dtype=bool))
    s = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = matmul(q, swapaxes(k, -2, -1)) * s
    if attn_mask is not None:
        name = "scaled_dot_product_attention"
        mask = _additive(
            name, attn_mask, (length, source), scores.shape, scores.dtype, keep_true=True
        )
        _check_some_key_open(name, mask)
        scores = scores + mask
    weights = _softmax(scores, axis=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return matmul(weights, v)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._make(backend.xp.asarray(x))


def _additive(name: str, mask: Any, want: tuple, shape: tuple, dtype: Any, keep_true: bool) -> Any:
    """A mask as an array in ``dtype`` to add to scores of ``shape``: boolean masks become
    0 / −∞ (``keep_true``: True means the position takes part, else True means it is masked
    out)."""
    m = mask.data if isinstance(mask, Tensor) else backend.xp.asarray(mask)
    if m.ndim < 2 or tuple(m.shape[-2:]) != want:
        try:
            np.broadcast_shapes(tuple(m.shape), tuple(shape))
        except ValueError:
            raise ShapeError(
                f"{name}: attn_mask of shape {tuple(m.shape)} does not fit scores of shape "
                f"{tuple(shape)} (expected (L, S) = {want} or broadcastable)"
            ) from None
    if m.dtype == bool:
        blocked = ~m if keep_true else m
        return backend.xp.where(blocked, -np.inf, 0.0).astype(dtype)
    return m.astype(dtype)


def _check_some_key_open(name: str, mask: Any) -> None:
    """A query whose every key is masked has no softmax (0/0): refuse rather than give NaN."""
    shut = backend.xp.isneginf(mask).all(axis=-1)
    if bool(shut.any()):
        where = tuple(int(i) for i in np.argwhere(backend.to_numpy(shut))[0])
        raise ValueError(
            f"{name}: the masks leave no key for a query (mask index {where}, last axis all "
            "masked); its attention weights would be NaN"
        )


# ---------------------------------------------------------------------------- helpers
def _shape_tuple(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
