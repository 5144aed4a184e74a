"""Normalisation as one primitive: ``standardize`` takes a tensor to mean 0 and variance 1
over some axes, the core of batch, layer, group and instance norm.

Composed from ops, ``(x − mean) / sqrt(var + eps)`` records seven nodes and its backward
runs about twenty element-wise passes, the scale and shift of the layer four more nodes;
fused, the forward is four or five passes over the data and the rule's training path
(``create_graph=False``) about ten, with the reductions as products with ones (BLAS) or
``einsum``, all on raw arrays. With
``create_graph=True`` the same rule runs on tensors through chainrule's ops, so higher
derivatives still work.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import ShapeError
from chainrule.ops import _native as native
from chainrule.ops import _scratch as scratch
from chainrule.tensor import Tensor


def norm_axes(axes: Any, ndim: int, name: str = "standardize") -> tuple[int, ...]:
    """``axes`` (None: all; an int; a sequence, negatives allowed) as sorted non-negative
    axes. Raises :class:`~chainrule.errors.ShapeError` for an axis out of range or repeated."""
    if axes is None:
        return tuple(range(ndim))
    items = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    out = []
    for a in items:
        if not -ndim <= int(a) < ndim:
            raise ShapeError(f"{name}: axis {a} is out of range for an input with {ndim} axes")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{name}: repeated axis in {axes}")
    return tuple(sorted(out))


def _sum_of(xp: Any, a: Any, axes: tuple[int, ...], b: Any = None) -> Any:
    """The sum of ``a`` (or of ``a ⊙ b``, without forming it) over sorted ``axes``, kept dims.

    Three layouts take a faster road than ``ufunc.reduce``'s strided loop: trailing axes
    (layer, group and instance norm: rows of length k, a matrix-vector product with ones),
    leading axes (a layer norm's weight gradient: columns) and all axes but axis 1 (batch
    norm's channels: (N, C, L) blocks); ``b`` goes through ``vecdot`` (or ``einsum``).
    Anything else, or a non-contiguous array, reduces the plain way.
    """
    nd, shape = a.ndim, a.shape
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    fast = a.flags.c_contiguous and (b is None or b.flags.c_contiguous) and 0 < len(axes)
    s = None
    if fast and axes == tuple(range(nd - len(axes), nd)):  # rows
        a2 = a.reshape(-1, math.prod(shape[nd - len(axes) :]))
        if b is None:
            s = a2 @ xp.ones(a2.shape[1], dtype=a.dtype)
        else:
            s = _dots(xp, a2, b.reshape(a2.shape))
    elif fast and axes == tuple(range(len(axes))):  # columns
        a2 = a.reshape(math.prod(shape[: len(axes)]), -1)
        if b is None:
            s = xp.ones(a2.shape[0], dtype=a.dtype) @ a2
        else:
            s = xp.einsum("ij,ij->j", a2, b.reshape(a2.shape))
    elif fast and nd >= 2 and axes == (0, *range(2, nd)):  # channels
        a3 = a.reshape(shape[0], shape[1], -1)
        if b is None:
            s = (a3 @ xp.ones(a3.shape[2], dtype=a.dtype)).sum(axis=0)
        else:
            s = _dots(xp, a3, b.reshape(a3.shape)).sum(axis=0)
    if s is None:
        return (a if b is None else a * b).sum(axis=axes, keepdims=True)
    return s.reshape(kept)


def _dots(xp: Any, a: Any, b: Any) -> Any:
    """Σ a ⊙ b over the last axis of real arrays of one shape: NumPy 2's ``vecdot`` (measured
    1.5-1.7x ``einsum``'s speed on batch norm's (N, C, L) blocks), else ``einsum``."""
    dot = getattr(xp, "vecdot", None)
    if dot is None:
        return xp.einsum("...i,...i->...", a, b)
    return dot(a, b)


def _mean_of(xp: Any, a: Any, axes: tuple[int, ...], b: Any = None) -> Any:
    """The mean of ``a`` (or ``a ⊙ b``) over ``axes``, kept dims (see :func:`_sum_of`)."""
    s = _sum_of(xp, a, axes, b)
    s /= math.prod(a.shape[i] for i in axes)
    return s


def _sum_to(xp: Any, a: Any, shape: tuple[int, ...], b: Any = None) -> Any:
    """``a`` (or ``a ⊙ b``) summed down to ``shape``, which broadcasts to ``a.shape``."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and a.shape[lead + i] != 1
    )
    if not axes:
        return a if b is None else a * b
    return _sum_of(xp, a, axes, b).reshape(shape)


def _rows(xp: Any, c: Any, shape: tuple[int, ...]) -> Any:
    """``c`` (a per-slice coefficient in kept shape, size 1 along axis 0, e.g. batch norm's
    (1, C, 1, 1)) spread over every axis of ``shape`` but the first: an operand NumPy would
    broadcast with stride 0 along the rows takes its slower loop (measured, (32, 16, 32, 32)
    float32: a subtraction 141 -> 77 us, a product 109 -> 74 us); the spread one, 1 / N of
    the data, runs the contiguous loop. Anything else is returned as it is."""
    if (
        xp is not np
        or type(c) is not np.ndarray
        or c.ndim != len(shape)
        or c.ndim < 2
        or c.shape[0] != 1
        or shape[0] < 2
        or c.size == math.prod(shape[1:])
    ):
        return c
    return np.ascontiguousarray(np.broadcast_to(c, (1, *shape[1:])))


def _centre(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x − mean(x)`` over ``axes`` (a new array)."""
    return xp.subtract(x, _rows(xp, _mean_of(xp, x, axes), x.shape))


def _rstd(xp: Any, d: Any, axes: tuple[int, ...], eps: float) -> Any:
    """1 / sqrt(mean(d²) + eps) over ``axes`` (kept), from the centred data ``d``."""
    var = _mean_of(xp, d, axes, d)
    var += eps
    xp.sqrt(var, out=var)
    return xp.reciprocal(var, out=var)


def _centred(xp: Any, x: Any, ax: tuple[int, ...], eps: float, mean: Any, var: Any,
             dtype: Any) -> tuple[Any, Any]:  # fmt: skip
    """d = x − mean (a new array in ``dtype``) and r = 1 / sqrt(var + eps) over ``ax``, from
    the caller's ``mean`` and ``var`` where both are given, else computed."""
    if mean is None or var is None:
        d = _centre(xp, x, ax).astype(dtype, copy=False)
        return d, _rstd(xp, d, ax, eps)
    d = xp.subtract(x, _rows(xp, mean.astype(dtype, copy=False), x.shape), dtype=dtype)
    return d, xp.reciprocal(xp.sqrt(var + eps)).astype(dtype, copy=False)


def moments(x: Any, axes: Any = None, ddof: int = 0) -> tuple[Any, Any]:
    """The mean and variance of array ``x`` over ``axes`` (None: all; kept as size-1 axes),
    the variance divided by n − ``ddof`` (``ddof=1``: unbiased, batch norm's running
    variance). Plain arrays, no graph, with :func:`standardize`'s fast reductions."""
    xp = backend.array_module(x)
    ax = norm_axes(axes, x.ndim, "moments")
    mu = _mean_of(xp, x, ax)
    d = scratch.take(x.shape, np.result_type(x.dtype, mu.dtype))
    xp.subtract(x, _rows(xp, mu, x.shape), out=d)
    var = _sum_of(xp, d, ax, d)
    scratch.give(d)
    var /= math.prod(x.shape[i] for i in ax) - ddof
    return mu, var


def _dtype(*arrays: Any) -> Any:
    """The promoted dtype of NumPy or CuPy arrays (read from their dtypes)."""
    return np.result_type(*(a.dtype for a in arrays))


def _fits(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` without growing it."""
    if len(shape) > len(target):
        return False
    return all(n in (1, m) for n, m in zip(shape[::-1], target[::-1]))


@primitive
def standardize(x, weight=None, bias=None, axes=None, eps=1e-5, mean=None, var=None):
    """``(x − mean(x)) / sqrt(var(x) + eps) ⊙ weight + bias`` over ``axes`` (biased variance).

    x̄ = (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)) / sqrt(var(x) + eps), ĝ = ḡ ⊙ weight, x̂ the standardized x
    weight̄ = Σ ḡ ⊙ x̂ over the axes weight is broadcast along
    bias̄ = Σ ḡ over the axes bias is broadcast along

    The normalisation of batch norm (axes: all but the channels), layer norm (the trailing
    axes), group and instance norm, with their optional scale and shift (``weight`` and
    ``bias`` broadcast against x, e.g. (1, C, 1, 1) or (D,)). ``axes`` None means every
    axis; means and variance are over ``axes``, kept as size-1 axes. ``mean`` and ``var``
    (plain arrays, kept shape) are x's own mean and biased variance over ``axes`` where the
    caller has them already (batch norm computes them for its running statistics): they
    spare the forward and the rule a pass or three and never change the result. Raises
    :class:`~chainrule.errors.ShapeError` for an axis out of range.
    """
    xp = backend.xp
    ax = norm_axes(axes, x.ndim)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and not _fits(p.shape, x.shape):
            raise ShapeError(
                f"standardize: {name} of shape {p.shape} does not broadcast to the input's "
                f"shape {x.shape}"
            )
    if x.size == 0:
        parts = [p for p in (x, weight, bias) if p is not None]
        return xp.empty(np.broadcast_shapes(*(p.shape for p in parts)), _dtype(*parts))
    if mean is None and _is_layer_norm(x, x, weight, bias, ax):
        return _layer_norm_forward(xp, x, weight, bias, eps)
    d, r = _centred(xp, x, ax, eps, mean, var, x.dtype)
    if weight is not None:
        d = d.astype(_dtype(d, weight), copy=False)
        if math.prod(np.broadcast_shapes(r.shape, weight.shape)) < d.size:
            r = r * weight  # one small array: one pass over the data
        else:
            d *= weight
    d *= _rows(xp, r, d.shape)
    if bias is not None:
        d = d.astype(_dtype(d, bias), copy=False)
        d += _rows(xp, bias, d.shape)
    return d


def _standardize_vjp(g, out, x, weight=None, bias=None, axes=None, eps=1e-5, mean=None, var=None):
    ax = norm_axes(axes, x.ndim)
    # bias is kept as its shape only: its gradient is given whenever it exists
    wants_w, wants_b = isinstance(weight, Tensor) and weight._requires_grad, bias is not None
    if is_grad_enabled():  # create_graph: the rule as ops, so it differentiates again
        from chainrule.ops.elementwise import sqrt
        from chainrule.ops.reduction import mean

        d = x - mean(x, axis=ax, keepdims=True)
        r = 1 / sqrt(mean(d * d, axis=ax, keepdims=True) + eps)
        xh = d * r
        gy = g if weight is None else g * weight
        m1, m2 = mean(gy, axis=ax, keepdims=True), mean(gy * xh, axis=ax, keepdims=True)
        gx = (gy - m1 - xh * m2) * r
        # the engine sums what broadcasting spread over x's shape back to weight's and bias's
        return gx, g * xh if wants_w else None, g if wants_b else None
    # the arrays' own namespace: rules run outside the forward's backend.host() switch
    gd, xd = g.data, x.data
    xp = backend.array_module(gd)
    wd = weight.data if isinstance(weight, Tensor) else weight
    if gd.size == 0:
        return (
            Tensor._make(xp.zeros_like(xd)),
            Tensor._make(xp.zeros(wd.shape, gd.dtype)) if wants_w else None,
            Tensor._make(xp.zeros(bias.shape, gd.dtype)) if wants_b else None,
        )
    kept = tuple(1 if i in ax else n for i, n in enumerate(xd.shape))
    if all(p is None or _lead_ones(p.shape, len(kept)) == kept for p in (wd, bias)):
        # weight and bias constant along the axes (batch, group, instance norm)
        return _per_slice_vjp(xp, gd, xd, wd, bias, ax, kept, eps, mean, var, wants_w, wants_b)
    if mean is None and _is_layer_norm(gd, xd, wd, bias, ax):
        gx, gw, gb = _layer_norm_vjp(xp, gd, xd, wd, eps, wants_w, wants_b)
        make = Tensor._make
        return (make(gx), make(gw.reshape(wd.shape)) if wants_w else None,
                make(gb.reshape(bias.shape)) if wants_b else None)  # fmt: skip
    xh = _centre(xp, xd, ax)
    r = _rstd(xp, xh, ax, eps)
    xh *= r
    gw = Tensor._make(_sum_to(xp, gd, wd.shape, xh)) if wants_w else None
    gb = Tensor._make(_sum_to(xp, gd, bias.shape)) if wants_b else None
    gy = gd if wd is None else gd * wd
    m2 = _mean_of(xp, gy, ax, xh)  # mean(ĝ ⊙ x̂)
    xp.multiply(xh, m2, out=xh)  # reuse x̂'s buffer
    xp.subtract(gy, xh, out=xh)
    xh -= _mean_of(xp, gy, ax)
    xh *= r
    return Tensor._make(xh), gw, gb


def _is_layer_norm(gd: Any, xd: Any, wd: Any, bias: Any, ax: tuple[int, ...]) -> bool:
    """Whether the rule can take :func:`_layer_norm_vjp`: a layer norm's layout (the trailing
    axes normalised, weight and bias either absent or one value per element of those axes),
    contiguous float arrays of one dtype."""
    nd = xd.ndim
    if not ax or ax != tuple(range(nd - len(ax), nd)) or wd is None:
        return False
    row = tuple(xd.shape[ax[0] :])
    if _lead_ones(wd.shape, nd)[ax[0] :] != row or math.prod(wd.shape) != math.prod(row):
        return False
    if bias is not None and (
        _lead_ones(bias.shape, nd)[ax[0] :] != row or math.prod(bias.shape) != math.prod(row)
    ):
        return False
    return (
        isinstance(gd, np.ndarray)
        and xd.dtype == gd.dtype == wd.dtype == getattr(bias, "dtype", xd.dtype)
        and xd.dtype.kind == "f"
        and xd.flags.c_contiguous
        and gd.flags.c_contiguous
    )


def _row_stats(xp: Any, x2: Any, eps: float, d: Any) -> Any:
    """Per row of ``x2`` (m, k): d = x − mean written into ``d`` (the mean a matrix-vector
    product with ones); returns 1 / sqrt(var + eps)."""
    k = x2.shape[1]
    mu = x2 @ xp.ones(k, dtype=x2.dtype)
    mu /= k
    xp.subtract(x2, mu[:, None], out=d)
    r = _dots(xp, d, d)
    r /= k
    r += eps
    xp.sqrt(r, out=r)
    return xp.reciprocal(r, out=r)


def _layer_norm_forward(xp: Any, x: Any, weight: Any, bias: Any, eps: float) -> Any:
    """standardize's forward for a layer norm's layout (see :func:`_is_layer_norm`) on (M, k)
    rows: (x − mean) ⊙ r ⊙ w + b in six passes, without the general path's bookkeeping.
    (Taking the rows in blocks that stay in cache measured no faster.)"""
    k = math.prod(weight.shape)
    x2 = x.reshape(-1, k)
    d = xp.empty(x2.shape, dtype=x.dtype)
    r = _row_stats(xp, x2, eps, d)
    d *= r[:, None]
    d *= weight.reshape(k)
    if bias is not None:
        d += bias.reshape(k)
    return d.reshape(x.shape)


def _layer_norm_vjp(xp: Any, gd: Any, xd: Any, wd: Any, eps: float, wants_w: bool, wants_b: bool):
    """The rule's training path for a layer norm (see :func:`_is_layer_norm`), on (M, k) rows:
    with d = x − mean, r = 1 / sqrt(var + eps), ĝ = ḡ ⊙ w and per-row sums Σĝ = ḡ w and
    Σĝ⊙d = (ḡ⊙d) w (matrix-vector products),
    x̄ = r ĝ − r Σĝ / k − r³ (Σĝ⊙d / k) d, weight̄ = rᵀ (ḡ⊙d), bias̄ = 1ᵀ ḡ: ten passes over the
    data, four of them BLAS matrix-vector products, against the general path's sixteen or so.
    Returns x̄ (x's shape) and weight̄ and bias̄ as flat (k,) arrays (None when not wanted)."""
    k = math.prod(wd.shape)
    x2, g2, w = xd.reshape(-1, k), gd.reshape(-1, k), wd.reshape(k)
    d = scratch.take(x2.shape, xd.dtype)
    r = _row_stats(xp, x2, eps, d)
    gx = xp.multiply(g2, d)  # ḡ ⊙ d, in x̄'s array until ĝ replaces it
    gw = r @ gx if wants_w else None
    sgd = gx @ w  # Σ ĝ ⊙ d per row
    gb = xp.ones(g2.shape[0], dtype=xd.dtype) @ g2 if wants_b else None
    sg = g2 @ w  # Σ ĝ per row
    sgd *= r
    sgd *= r
    sgd /= k  # r² Σĝ⊙d / k
    sg /= k
    xp.multiply(g2, w, out=gx)  # ĝ
    d *= sgd[:, None]
    gx -= d
    scratch.give(d)
    gx -= sg[:, None]
    gx *= r[:, None]
    return gx.reshape(xd.shape), gw, gb


def _lead_ones(shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    return (1,) * (ndim - len(shape)) + tuple(shape)


def _per_slice_vjp(xp, gd, xd, wd, bias, ax, kept, eps, mean, var, wants_w, wants_b):
    """The rule's training path when weight and bias (if any) are constant along ``axes``:
    with d = x − mean, r = 1 / sqrt(var + eps), n the count over the axes and per-slice sums
    Σḡ and Σḡ⊙d, x̄ = w r (ḡ − Σḡ / n) − w r³ (Σḡ⊙d / n) d, weight̄ = r Σḡ⊙d, bias̄ = Σḡ:
    six passes over the data (seven without the forward's statistics)."""
    dtype = _dtype(gd, xd) if wd is None else _dtype(gd, xd, wd)
    n = math.prod(xd.shape[i] for i in ax)
    if (
        mean is not None
        and var is not None
        and xd.ndim >= 2
        and ax == (0, *range(2, xd.ndim))
        and native.usable(gd, xd)
        and (wd is None or wd.dtype == gd.dtype)
    ):  # batch norm: the native kernels' two passes
        c = xd.shape[1]
        r64 = 1.0 / np.sqrt(np.asarray(var, dtype=np.float64).reshape(c) + eps)
        w64 = np.ones(c) if wd is None else np.asarray(wd, dtype=np.float64).reshape(c)
        gx, sg64, sgd64 = native.channel_norm_grad(gd, xd, mean, r64, w64)
        gw = Tensor._make((r64 * sgd64).astype(dtype).reshape(wd.shape)) if wants_w else None
        gb = Tensor._make(sg64.astype(dtype).reshape(bias.shape)) if wants_b else None
        return Tensor._make(gx), gw, gb
    d, r = _centred(xp, xd, ax, eps, mean, var, dtype)
    sg = _sum_of(xp, gd, ax).astype(dtype, copy=False)  # Σ ḡ
    sgd = _sum_of(xp, gd, ax, d).astype(dtype, copy=False)  # Σ ḡ ⊙ d
    w = r if wd is None else r * wd.reshape(kept).astype(dtype, copy=False)  # w r
    gw = Tensor._make((r * sgd).reshape(wd.shape)) if wants_w else None
    gb = Tensor._make(sg.reshape(bias.shape)) if wants_b else None
    t = scratch.take(gd.shape, dtype)
    xp.subtract(gd, _rows(xp, sg / n, t.shape), out=t, dtype=dtype)
    t *= _rows(xp, w, t.shape)
    d *= _rows(xp, -(w * r * r * sgd / n), d.shape)
    d += t
    scratch.give(t)
    return Tensor._make(d), gw, gb


standardize.defvjp_all(_standardize_vjp, keep="x weight bias.shape mean var")
