"""Convolution, pooling and resampling over N-d signals (N, C, *spatial), whole arrays only.

A convolution is a matrix product in disguise: ``im2col`` lays every receptive field of the
(padded) input out as a column through a strided view (no Python loop over pixels or
examples), and one matrix product with the kernel, flattened to rows, gives every output
position at once. Its gradients are convolutions again, so the family closes on three ops:

    out = conv(x, W)                    the correlation of x with the kernel W
    x̄   = conv_transpose(ḡ, W)          the full convolution of ḡ with the flipped kernel
    W̄   = conv_weight(x, ḡ)             the correlation of x with ḡ

each of which has the other two as its gradient (the seeds' "most of the computation can be
reused": backprop through a convolution is a convolution). Where they are built, the native
kernels of :mod:`._native` compute all three for one-group 1-D and 2-D convolutions of NumPy
float32/float64 arrays (a strided transposed convolution only without negative padding); what
follows is the NumPy formulation, which runs everywhere else.
Stride-1, one-group convolutions with enough channels skip the im2col copy: :mod:`._conv_shift`
sums one product per kernel offset on shifted slices of the padded input (chosen per call from
the shapes). ``col2im``, the adjoint of ``im2col``, adds each column back into the window it
came from, one strided slice per kernel offset.

Parameters arrive normalised by :mod:`chainrule.nn.functional`: ``stride`` and ``dilation``
tuples with one entry per spatial axis, ``padding`` one ``(before, after)`` pair per axis.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.compile import replayable
from chainrule.ops import _conv_lastcols as lastcols
from chainrule.ops import _conv_shift as shift
from chainrule.ops import _native as native
from chainrule.ops import _scratch as scratch
from chainrule.ops.elementwise import multiply
from chainrule.ops.normalization import _rows, _sum_of
from chainrule.ops.reduction import sum as _sum
from chainrule.tensor import Tensor

Ints = tuple[int, ...]
Pads = tuple[tuple[int, int], ...]


# ---------------------------------------------------------------------------- sizes
def conv_size(size: Ints, kernel: Ints, stride: Ints, padding: Pads, dilation: Ints) -> Ints:
    """The output's spatial size: floor((S + lo + hi - d (k - 1) - 1) / s) + 1 per axis."""
    return tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(size, kernel, stride, padding, dilation)
    )


def pool_size(
    size: Ints, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints, ceil_mode: bool
) -> Ints:
    """A pooling layer's output size, PyTorch's rule: with ``ceil_mode`` the division rounds
    up, but a last window that would start in the right padding is dropped."""
    out = []
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        m = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (m - 1) * s >= n + p:
            m -= 1
        out.append(m)
    return tuple(out)


# ---------------------------------------------------------------------------- im2col
def _padded(x: Any, padding: Pads, value: float = 0.0) -> Any:
    if not any(lo or hi for lo, hi in padding):
        return x
    # a filled array and one slice assignment: several times faster than np.pad
    shape = (*x.shape[:2], *(m + lo + hi for m, (lo, hi) in zip(x.shape[2:], padding)))
    out = backend.xp.full(shape, value, dtype=x.dtype)
    inner = tuple(slice(lo, lo + m) for m, (lo, _) in zip(x.shape[2:], padding))
    out[(slice(None), slice(None), *inner)] = x
    return out


def _windows(xpad: Any, kernel: Ints, stride: Ints, dilation: Ints, size: Ints) -> Any:
    """A read-only strided view (N, C, *kernel, *size) of every window of ``xpad``."""
    st = xpad.strides[2:]
    shape = (*xpad.shape[:2], *kernel, *size)
    strides = (
        *xpad.strides[:2],
        *(s * d for s, d in zip(st, dilation)),
        *(s * t for s, t in zip(st, stride)),
    )
    return backend.xp.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)


def _im2col(x: Any, kernel: Ints, stride: Ints, padding: Pads, dilation: Ints, size: Ints) -> Any:
    """(N, C, *S) -> (C * prod(kernel), N * prod(size)): every receptive field as a column,
    the examples side by side, so that one matrix product serves the whole batch."""
    c = x.shape[1]
    w = _windows(_padded(x, padding), kernel, stride, dilation, size)  # (N, C, *K, *L)
    nd = len(kernel)
    order = (1, *range(2, 2 + nd), 0, *range(2 + nd, 2 + 2 * nd))  # (C, *K, N, *L)
    t = backend.xp.transpose(w, order)
    cols = scratch.take(t.shape, t.dtype)  # a scratch array: give it back after the product
    cols[...] = t
    return cols.reshape(c * math.prod(kernel), -1)


def _col2im(
    cols: Any, shape: Ints, kernel: Ints, stride: Ints, padding: Pads, dilation: Ints, size: Ints
) -> Any:
    """The adjoint of the windows view: add each window of ``cols`` (any (N, C, *kernel,
    *size) view) back into a zero input of ``shape``; one strided slice per kernel offset
    (never per pixel)."""
    n, c = shape[:2]
    padded = tuple(m + lo + hi for m, (lo, hi) in zip(shape[2:], padding))
    z = backend.xp.zeros((n, c, *padded), dtype=cols.dtype)
    every = (slice(None), slice(None))
    for ks in itertools.product(*map(range, kernel)):
        window = tuple(
            slice(k * d, k * d + s * (m - 1) + 1, s)
            for k, d, s, m in zip(ks, dilation, stride, size)
        )
        z[every + window] += cols[every + ks]
    crop = tuple(slice(lo, lo + m) for (lo, _), m in zip(padding, shape[2:]))
    return z[every + crop] if any(lo or hi for lo, hi in padding) else z


def _cols_view(cols: Any, c: int, kernel: Ints, n: int, size: Ints) -> Any:
    """Columns (C * prod(kernel), N * prod(size)) seen as (N, C, *kernel, *size)."""
    nd = len(kernel)
    v = cols.reshape(c, *kernel, n, *size)
    return backend.xp.transpose(v, (1 + nd, 0, *range(1, 1 + nd), *range(2 + nd, 2 + 2 * nd)))


CHUNK_ELEMENTS = 1 << 17
"""im2col's columns are made a chunk of examples at a time, about this many elements (at least
one example), multiplied while in cache (LeNet-5's first layer's forward 1.17 -> 0.74 ms, a 16 ->
32 channel stride-2 layer's 2.5 -> 2.0 ms); an input this small is zero-padded once for all its
chunks (LeNet-5's first layer: forward and kernel gradient 40-120 us faster each)."""


def _chunks(x: Any, padding: Pads, kernel: Ints, size: Ints) -> tuple[Any, Pads, list]:
    """x (padded once if small; the padding left to apply), each chunk's (first, count)."""
    n, per = x.shape[0], x.shape[1] * math.prod(kernel) * math.prod(size)
    step = max(1, min(n, CHUNK_ELEMENTS // max(per, 1)))
    if x.size <= CHUNK_ELEMENTS:
        x, padding = _padded(x, padding), tuple((0, 0) for _ in padding)
    return x, padding, [(i, min(step, n - i)) for i in range(0, n, step)]


def _channel_major(g: Any, groups: int) -> Any:
    """(N, O, *size) -> (groups, O / groups, N * prod(size)), the layout of the columns."""
    n, o = g.shape[:2]
    t = backend.xp.swapaxes(g.reshape(n, o, -1), 0, 1).reshape(o, -1)
    return t.reshape(groups, o // groups, -1)


def _channel_axes(ndim: int) -> tuple[int, ...]:
    return (0, *range(2, ndim))


# ---------------------------------------------------------------------------- convolution
@primitive
def conv(x, weight, bias=None, stride=(1,), padding=((0, 0),), dilation=(1,), groups=1, size=None):
    """N-d cross-correlation (PyTorch's convNd): x (N, C, *S), weight (O, C/groups, *K),
    bias (O,) -> (N, O, *L); ``size`` (default: all of them) caps the output positions L.
    x̄ = conv_transpose(ḡ, weight): the full convolution of ḡ with the flipped kernel
    weight̄ = conv_weight(x, ḡ): the correlation of x with ḡ, Σₙ ḡₙ colsₙᵀ
    bias̄ = Σ ḡ over the batch and every position
    """
    kernel = weight.shape[2:]
    if size is None:
        size = conv_size(x.shape[2:], kernel, stride, padding, dilation)
    if native.usable(x, weight, groups=groups, nd=len(kernel)):
        y = native.conv(x, weight, stride, padding, dilation, size)
    else:
        y = _numpy_conv(x, weight, stride, padding, dilation, groups, size)
    if bias is not None:
        y += _per_channel(bias, y.shape)
    return y


def _numpy_conv(
    x: Any, weight: Any, stride: Ints, padding: Pads, dilation: Ints, groups: int, size: Ints
) -> Any:
    """The NumPy formulation's forward: the channels-last rows, the shift-sum or im2col,
    whichever was measured faster for these shapes."""
    n, c = x.shape[:2]
    o, kernel = weight.shape[0], weight.shape[2:]
    rows = lastcols.pays(c, kernel, dilation, padding, groups)
    by_shift = shift.usable(x, o, stride, groups, size) and shift.forward_pays(c, o, n, size)
    if rows and (lastcols.wide(c, kernel) or not by_shift):
        return lastcols.conv(x, weight, stride, padding, dilation, size)
    if by_shift:
        return shift.conv(x, weight, padding, dilation, size)
    return _im2col_conv(x, weight, stride, padding, dilation, groups, size)


def _per_channel(bias: Any, shape: Ints) -> Any:
    """bias (C,) spread over the rows of (N, C, *L): NumPy's contiguous loop (55 -> 37 us)."""
    return _rows(backend.xp, bias.reshape(1, -1, *(1,) * (len(shape) - 2)), shape)


def _im2col_conv(
    x: Any, weight: Any, stride: Ints, padding: Pads, dilation: Ints, groups: int, size: Ints
) -> Any:
    """The convolution as im2col's columns times the kernel, a chunk of examples at a time."""
    n, o, kernel = x.shape[0], weight.shape[0], weight.shape[2:]
    wm = weight.reshape(groups, o // groups, -1)
    y = backend.xp.empty((n, o, *size), dtype=backend.xp.result_type(x.dtype, weight.dtype))
    x, padding, chunks = _chunks(x, padding, kernel, size)
    for i, k in chunks:  # a chunk of examples' columns, in cache
        cols = _im2col(x[i : i + k], kernel, stride, padding, dilation, size)  # (C K, k L)
        part = wm @ cols.reshape(groups, -1, cols.shape[-1])  # one product per group
        scratch.give(cols.base)
        y[i : i + k] = backend.xp.swapaxes(part.reshape(o, k, *size), 0, 1)
    return y


def _conv_grad_x(g, out, x, weight, bias=None, **p):
    # ∇x: the gradient of a convolution w.r.t. its input is a convolution, of ∇out with the
    # flipped kernel, stride turned into dilation of ∇out (a transposed convolution).
    return conv_transpose(g, weight, **_params(p), size=x.shape[2:])


def _conv_grad_weight(g, out, x, weight, bias=None, **p):
    # ∇W = ∇a h^T of the seeds, for every position: the correlation of x with ∇out.
    return conv_weight(x, g, kernel=weight.shape[2:], **_params(p))


def _bias_grad(g, out, x, weight, bias=None, **p):
    if is_grad_enabled():  # ∇b = ∇a summed where b was broadcast; create_graph: as an op
        return _sum(g, axis=_channel_axes(g.ndim))
    gd = g.data  # training: normalisation's sum over all axes but the channels (BLAS)
    return Tensor._make(_sum_of(backend.array_module(gd), gd, _channel_axes(gd.ndim)).ravel())


conv.defvjp(_conv_grad_x, _conv_grad_weight, _bias_grad, keep="x weight")


@primitive
def conv_transpose(
    y, weight, bias=None, stride=(1,), padding=((0, 0),), dilation=(1,), groups=1, size=None
):
    """The adjoint of :func:`conv` w.r.t. its input (PyTorch's conv_transposeNd): y (N, O, *L),
    weight (O, C/groups, *K), bias (C,) -> (N, C, *size), ``size`` the spatial size wanted.
    ȳ = conv(ḡ, weight)
    weight̄ = conv_weight(ḡ, y)
    bias̄ = Σ ḡ over the batch and every position
    """
    n, o = y.shape[:2]
    cg, kernel = weight.shape[1], weight.shape[2:]
    c = cg * groups
    lsize = y.shape[2:]
    if native.usable(y, weight, groups=groups, nd=len(kernel)) and (
        all(s == 1 for s in stride) or all(lo >= 0 for lo, _ in padding)
    ):
        x = native.conv_transpose(y, weight, stride, padding, dilation, size)
        if bias is not None:
            x += _per_channel(bias, x.shape)
        return x
    if shift.usable(y, c, stride, groups, size, thin=True):
        if shift.usable(y, c, stride, groups, size):  # the flipped kernel's convolution
            w, pads = shift.transpose_as_conv(weight, padding, dilation, lsize, size)
            if lastcols.wide(o, kernel) and lastcols.pays(o, kernel, dilation, pads, 1):
                x = lastcols.conv(y, w, stride, pads, dilation, size)
            else:
                x = shift.conv(y, w, pads, dilation, size)
        else:  # few channels: one product, scattered back
            x = shift.conv_transpose(y, weight, padding, dilation, size)
        if bias is not None:
            x += _per_channel(bias, x.shape)
        return x
    wm = weight.reshape(groups, o // groups, -1)
    ym = _channel_major(y, groups)
    # Wᵀ y per group, as 2-D products: a stacked product with a transposed operand misses BLAS
    part = [wm[i].T @ ym[i] for i in range(groups)]
    cols = part[0] if groups == 1 else backend.xp.concatenate(part)  # (C K, N L)
    view = _cols_view(cols, c, kernel, n, lsize)
    x = _col2im(view, (n, c, *size), kernel, stride, padding, dilation, lsize)
    if bias is not None:
        x += _per_channel(bias, x.shape)
    return x


conv_transpose.defvjp(
    # ∇y: the adjoint of the adjoint is the convolution itself.
    lambda g, out, y, weight, bias=None, **p: conv(g, weight, **_params(p), size=y.shape[2:]),
    # ∇W: the correlation of ∇out (on the large side) with y.
    lambda g, out, y, weight, bias=None, **p: conv_weight(
        g, y, kernel=weight.shape[2:], **_params(p)
    ),
    _bias_grad,
    keep="y weight",
)


@primitive
def conv_weight(x, gy, kernel=(1,), stride=(1,), padding=((0, 0),), dilation=(1,), groups=1):
    """The gradient of :func:`conv` w.r.t. its kernel: the correlation of x (N, C, *S) with
    gy (N, O, *L) -> (O, C/groups, *kernel), Σₙ gyₙ colsₙᵀ with one matrix product per example.
    x̄ = conv_transpose(gy, ḡ)
    gȳ = conv(x, ḡ)
    """
    if native.usable(x, gy, groups=groups, nd=len(kernel)):
        return native.conv_weight(x, gy, kernel, stride, padding, dilation)
    c, o, lsize, offsets = x.shape[1], gy.shape[1], gy.shape[2:], math.prod(kernel)
    rows = lastcols.pays(c, kernel, dilation, padding, groups)
    by_shift = shift.weight_pays(c, o, offsets) and not (rows and lastcols.weight_wins(o, offsets))
    if by_shift and shift.usable(x, o, stride, groups, lsize, thin=True):
        return shift.conv_weight(x, gy, kernel, padding, dilation)
    if rows:
        return lastcols.conv_weight(x, gy, kernel, stride, padding, dilation)
    xp = backend.xp
    ck = c // groups * math.prod(kernel)
    w = xp.zeros((groups, ck, o // groups), dtype=xp.result_type(x.dtype, gy.dtype))
    part = xp.empty_like(w[0])
    x, padding, chunks = _chunks(x, padding, kernel, lsize)
    for i, k in chunks:  # a chunk of examples' columns, in cache
        cols = _im2col(x[i : i + k], kernel, stride, padding, dilation, lsize)  # (C K, k L)
        cols = cols.reshape(groups, -1, cols.shape[-1])
        gm = _channel_major(gy[i : i + k], groups)
        # one product per group (a stacked product with a transposed operand misses BLAS),
        # as (cols gᵀ)ᵀ: OpenBLAS runs this shape (long inner axis k L) several times faster
        for j in range(groups):
            w[j] += xp.matmul(cols[j], gm[j].T, out=part)
        scratch.give(cols.base)
    return xp.ascontiguousarray(xp.swapaxes(w, 1, 2)).reshape(o, c // groups, *kernel)


conv_weight.defvjp(
    lambda v, out, x, gy, kernel=(1,), **p: conv_transpose(gy, v, **_params(p), size=x.shape[2:]),
    lambda v, out, x, gy, kernel=(1,), **p: conv(x, v, **_params(p), size=gy.shape[2:]),
    keep="x gy",
)


def _params(p: dict) -> dict:
    return {k: p[k] for k in ("stride", "padding", "dilation", "groups") if k in p}


# ---------------------------------------------------------------------------- unfold / fold
@primitive
def unfold(x, kernel=(1,), stride=(1,), padding=((0, 0),), dilation=(1,)):
    """im2col (PyTorch's unfold): x (N, C, *S) -> (N, C * prod(kernel), L), each column one
    receptive field.
    x̄ = fold(ḡ): every column added back into the window it came from
    """
    n, c = x.shape[:2]
    size = conv_size(x.shape[2:], kernel, stride, padding, dilation)
    w = _windows(_padded(x, padding), kernel, stride, dilation, size)
    return w.reshape(n, c * math.prod(kernel), math.prod(size))


unfold.defvjp(lambda g, out, x, **p: fold(g, x.shape[2:], **p), keep="x.shape")


@primitive
def fold(cols, size, kernel=(1,), stride=(1,), padding=((0, 0),), dilation=(1,)):
    """col2im (PyTorch's fold): cols (N, C * prod(kernel), L) -> (N, C, *size), overlapping
    windows summed.
    cols̄ = unfold(ḡ)
    """
    n, ck = cols.shape[:2]
    lsize = conv_size(size, kernel, stride, padding, dilation)
    c = ck // math.prod(kernel)
    view = cols.reshape(n, c, *kernel, *lsize)
    return _col2im(view, (n, c, *size), kernel, stride, padding, dilation, lsize)


fold.defvjp(lambda g, out, cols, size, **p: unfold(g, **p), keep="")


# ---------------------------------------------------------------------------- gathers
@primitive
def take_flat(x, index):
    """``x.reshape(-1)[index]``: picks elements by flat position (max pooling's winners,
    nearest-neighbour resampling); ``index`` an integer array of any shape.
    x̄ = put_flat(ḡ, index): ḡ added back at each picked position
    """
    return x.reshape(-1)[index]


take_flat.defvjp(lambda g, out, x, index: put_flat(g, index, x.shape), None, keep="x.shape")


@primitive
def put_flat(g, index, shape):
    """Zeros of ``shape`` with ``g`` added at the flat positions ``index`` (repeats add up):
    the adjoint of :func:`take_flat`, one ``bincount`` rather than a loop.
    ḡ = take_flat(v̄, index)
    """
    xp = backend.xp
    total = math.prod(shape)
    flat = xp.bincount(index.reshape(-1), weights=g.reshape(-1), minlength=total)
    return flat.astype(g.dtype, copy=False).reshape(shape)


put_flat.defvjp(lambda v, out, g, index, shape: take_flat(v, index), None, keep="")


def _flat_index(x: Any, coords: tuple[Any, ...]) -> Any:
    """Flat positions in x (N, C, *S) of the per-plane spatial ``coords`` (each (N, C, *L))."""
    xp = backend.xp
    n, c, *sp = x.shape
    plane = xp.zeros(coords[0].shape, dtype=np.int64)
    for k, m in zip(coords, sp):
        plane = plane * m + k
    base = xp.arange(n * c, dtype=np.int64).reshape(n, c, *(1,) * len(sp)) * math.prod(sp)
    return base + plane, plane


# ---------------------------------------------------------------------------- pooling
def max_pool(
    x: Tensor,
    kernel: Ints,
    stride: Ints,
    padding: Ints,
    dilation: Ints,
    ceil_mode: bool = False,
) -> tuple[Tensor, Any]:
    """Max over each window of x (N, C, *S) -> (out (N, C, *L), indices): the winners are found
    without recording (an argmax over the strided windows, padding at -inf) and picked with
    :func:`take_flat`, so the gradient goes to the position that won each window.
    ``indices`` holds each winner's flat position in its input plane, as PyTorch returns them.
    """
    index, plane = _max_pool_winners(x, kernel, stride, padding, dilation, ceil_mode)
    return take_flat(x, index), plane


@replayable  # cr.compile finds the winners again at each replay
def _max_pool_winners(
    x: Tensor, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints, ceil_mode: bool
) -> tuple[Any, Any]:
    """Where each window's maximum is: (index into x's flat data, position in its plane)."""
    xp = backend.xp
    xd = x.data
    sp = xd.shape[2:]
    kernel, nd = tuple(kernel), len(kernel)
    size = pool_size(sp, kernel, stride, padding, dilation, ceil_mode)
    pads = tuple(
        (p, max(p, (m - 1) * s + d * (k - 1) + 1 - n - p))
        for n, k, s, p, d, m in zip(sp, kernel, stride, padding, dilation, size)
    )
    fill = -xp.inf if xd.dtype.kind == "f" else xp.iinfo(xd.dtype).min
    win = _windows(_padded(xd, pads, fill), kernel, stride, dilation, size)
    order = (0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
    flat = xp.transpose(win, order).reshape(*xd.shape[:2], *size, -1)
    arg = flat.argmax(axis=-1)
    offs = xp.unravel_index(arg, kernel) if nd > 1 else (arg,)
    coords = []
    for i in range(nd):
        pos = xp.arange(size[i], dtype=np.int64).reshape(size[i], *(1,) * (nd - 1 - i))
        coords.append(pos * stride[i] + offs[i] * dilation[i] - padding[i])
    coords = [xp.broadcast_to(k, arg.shape) for k in coords]
    return _flat_index(xd, tuple(coords))


def adaptive_max_pool(x: Tensor, size: Ints) -> tuple[Tensor, Any]:
    """Max over adaptive windows [floor(i S / L), ceil((i + 1) S / L)) per axis (PyTorch's
    adaptive_max_poolNd) -> (out (N, C, *size), indices in the input plane)."""
    xp = backend.xp
    xd = x.data
    sp = xd.shape[2:]
    nd = len(size)
    picks = []
    for n, m in zip(sp, size):
        i = np.arange(m)
        start, end = (i * n) // m, -((-(i + 1) * n) // m)
        width = int((end - start).max())
        # windows padded to one width by repeating their last position: the max is unchanged
        picks.append(np.minimum(start[:, None] + np.arange(width), end[:, None] - 1))
    grids = np.ix_(*[p.reshape(-1) for p in picks])
    g = xd[(slice(None), slice(None), *(xp.asarray(a) for a in grids))]
    widths = [p.shape[1] for p in picks]
    g = g.reshape(*xd.shape[:2], *[s for m, w in zip(size, widths) for s in (m, w)])
    order = (0, 1, *range(2, 2 + 2 * nd, 2), *range(3, 3 + 2 * nd, 2))
    flat = xp.transpose(g, order).reshape(*xd.shape[:2], *size, -1)
    arg = flat.argmax(axis=-1)
    offs = xp.unravel_index(arg, tuple(widths)) if nd > 1 else (arg,)
    coords = []
    for i in range(nd):
        shape = (size[i], *(1,) * (nd - 1 - i))
        table = xp.asarray(picks[i])  # (L_i, width_i)
        rows = xp.arange(size[i]).reshape(shape)
        coords.append(table[xp.broadcast_to(rows, arg.shape), offs[i]])
    index, plane = _flat_index(xd, tuple(coords))
    return take_flat(x, index), plane


@primitive
def window_sum(x, kernel=(1,), stride=(1,), padding=((0, 0),)):
    """The sum over each window of x (N, C, *S) -> (N, C, *L), zero padding (average pooling
    divides it).
    x̄ = window_sum_adjoint(ḡ): each ḡ spread over the window it summed
    """
    nd = len(kernel)
    size = conv_size(x.shape[2:], kernel, stride, padding, (1,) * nd)
    win = _windows(_padded(x, padding), kernel, stride, (1,) * nd, size)
    return win.sum(axis=tuple(range(2, 2 + nd)))


window_sum.defvjp(
    lambda g, out, x, **p: window_sum_adjoint(g, x.shape[2:], **p), keep="x.shape"
)  # fmt: skip


@primitive
def window_sum_adjoint(g, size, kernel=(1,), stride=(1,), padding=((0, 0),)):
    """The adjoint of :func:`window_sum`: g (N, C, *L) spread back over each window of an input
    of spatial ``size``, overlaps added.
    ḡ = window_sum(v̄)
    """
    nd = len(kernel)
    bshape = (*g.shape[:2], *kernel, *g.shape[2:])
    cols = backend.xp.broadcast_to(g.reshape(*g.shape[:2], *(1,) * nd, *g.shape[2:]), bshape)
    return _col2im(cols, (*g.shape[:2], *size), kernel, stride, padding, (1,) * nd, g.shape[2:])


window_sum_adjoint.defvjp(lambda v, out, g, size, **p: window_sum(v, **p), None, keep="")


def avg_pool(
    x: Tensor,
    kernel: Ints,
    stride: Ints,
    padding: Ints,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each window of x (N, C, *S) -> (N, C, *L), PyTorch's avg_poolNd: the window
    sum divided by the window's size (counting the zero padding, but never the part past it
    that ``ceil_mode`` adds, with ``count_include_pad``; only real elements without)."""
    sp = x.shape[2:]
    size = pool_size(sp, kernel, stride, padding, (1,) * len(kernel), ceil_mode)
    pads = tuple(
        (p, max(p, (m - 1) * s + k - n - p))
        for n, k, s, p, m in zip(sp, kernel, stride, padding, size)
    )
    total = window_sum(x, kernel=tuple(kernel), stride=tuple(stride), padding=pads)
    if divisor_override:
        return total * (1.0 / divisor_override)
    inv = _pool_divisor(sp, kernel, stride, padding, size, count_include_pad, x.dtype)
    return multiply(total, Tensor._make(inv))


@replayable  # cr.compile makes it again at each replay
def _pool_divisor(
    sp: Ints, kernel: Ints, stride: Ints, padding: Ints, size: Ints, with_pad: bool, dtype: Any
) -> Any:
    """1 / the number of elements each window of avg_pool averages (L...)."""
    counts = np.ones((), dtype=np.float64)
    for n, k, s, p, m in zip(sp, kernel, stride, padding, size):
        start = np.arange(m) * s - p
        end = np.minimum(start + k, n + p)
        if not with_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        counts = np.multiply.outer(counts, end - start)
    return backend.xp.asarray(1.0 / counts, dtype=dtype)
