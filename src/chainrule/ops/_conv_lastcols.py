"""Channels-last im2col: the receptive fields as rows, for convolutions with enough channels
along the kernel's last axis (behind :mod:`.conv`).

With the input laid out channels-last on its zero-padded grid, ``X`` (N, *padded, C), the
kernel's last axis and the channels of one window row are one contiguous run of
k_last * C elements, so copying the windows out (N L rows of C prod(kernel)) moves runs of
that length instead of the channels-first columns' runs of one output row (measured: LeNet-5's
6 -> 16 channel 5x5 layer's forward 1.13 -> 0.64-0.73 ms, 30-element runs; a 16 -> 32 channel
3x3 stride-2 layer's 2.1 -> 1.9 ms; with 12 or fewer elements per run, 1 to 4 channels,
1.2-2x slower). Then

    out (N L, O) = cols (N L, C K) @ Wᵀ (C K, O)
    W̄ᵀ (C K, O) = colsᵀ ḡ (N L, O)

one product per chunk of examples, the chunk's rows made while the last chunk's product has
left the cache warm (about CHUNK_ELEMENTS elements of rows each).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from chainrule import backend
from chainrule.ops._scratch import give as _give
from chainrule.ops._scratch import take as _take

Ints = tuple[int, ...]
Pads = tuple[tuple[int, int], ...]

LAST_RUN = 24
"""The channels-last rows pay when the kernel's last axis times the channels reaches this
many elements (measured: 30 and more faster, 12 and fewer slower)."""

WIDE_RUN = 96
"""From this many elements per run (k_last * c) on, the rows beat the shift-sum forward of
:mod:`._conv_shift` too (measured, 3x3 stride 1, batch 32: 32 channels at 8x8, 16x16 and
32x32 positions 1.2-1.5x faster; 16 channels as fast at 16x16, 1.2x slower at 32x32)."""

CHUNK_ELEMENTS = 1 << 17
"""Elements of rows made per chunk of examples (at least one example)."""


WEIGHT_OFFSETS = 25
WEIGHT_OUT = 16
"""With this many kernel offsets (5x5) and output channels or more the rows' one product beats
the shift-sum's kernel gradient (measured, 5x5: 6 -> 16 channels at 14x14, batch 64, 0.94 ->
0.82 ms; 16 -> 32 at 16x16 and 14x14 1.2x faster; with 8 output channels 2.2x slower, and
3x3 kernels (9 offsets) 1.5x slower)."""


def weight_wins(o: int, offsets: int) -> bool:
    """Whether a kernel gradient to o output channels over ``offsets`` kernel offsets takes the
    rows even where the shift-sum applies (given :func:`pays`)."""
    return offsets >= WEIGHT_OFFSETS and o >= WEIGHT_OUT


ALIAS_BYTES = 4096
"""Input planes whose size is a multiple of this many bytes are copied to a padded layout
before the channels-last transposition (see :func:`_grid`)."""


def pays(c: int, kernel: Ints, dilation: Ints, padding: Pads, groups: int) -> bool:
    """Whether a convolution with c input channels takes the channels-last rows: one group,
    no dilation along the last axis, no negative padding, and k_last * c >= LAST_RUN."""
    return (
        groups == 1
        and dilation[-1] == 1
        and all(lo >= 0 and hi >= 0 for lo, hi in padding)
        and c * kernel[-1] >= LAST_RUN
    )


def wide(c: int, kernel: Ints) -> bool:
    """Whether the rows beat the shift-sum forward (given :func:`pays`): k_last * c >=
    WIDE_RUN."""
    return c * kernel[-1] >= WIDE_RUN


def _grid(x: Any, padding: Pads, dtype: Any) -> tuple[Any, Any]:
    """x (N, C, *S) channels-last on its zero-padded grid (N, *padded, C) in ``dtype``: a
    scratch array, with its tag (the padding stays zero between calls of one shape)."""
    n, c, *sp = x.shape
    grid = tuple(m + lo + hi for m, (lo, hi) in zip(sp, padding))
    tag = ("last", tuple(padding), tuple(sp))
    buf = _take((n, *grid, c), dtype, tag)
    inner = tuple(slice(lo, lo + m) for m, (lo, _) in zip(sp, padding))
    plane = math.prod(sp)
    if c >= 8 and plane * x.itemsize % ALIAS_BYTES == 0 and x.flags.c_contiguous:
        # planes a multiple of 4 KiB apart: the channels' reads alias in the cache; copied
        # first to planes one cache line further apart (16 -> 32 channels at 32x32: the grid
        # 496 -> 267 us, 64 examples 1075 -> 736 us)
        tmp = _take((n, c, plane + 16), x.dtype)
        tmp[:, :, :plane] = x.reshape(n, c, plane)
        buf[(slice(None), *inner)] = backend.xp.moveaxis(tmp[:, :, :plane].reshape(x.shape), 1, -1)
        _give(tmp)
    else:
        buf[(slice(None), *inner)] = backend.xp.moveaxis(x, 1, -1)
    return buf, tag


def _windows(grid: Any, kernel: Ints, stride: Ints, dilation: Ints, size: Ints) -> Any:
    """A read-only view (N, *size, *kernel[:-1], kernel[-1] * C) of every window of the
    channels-last grid, the last kernel axis and the channels one contiguous run."""
    st = grid.strides
    nd = len(kernel)
    shape = (grid.shape[0], *size, *kernel[:-1], kernel[-1] * grid.shape[-1])
    strides = (
        st[0],
        *(s * t for s, t in zip(st[1 : 1 + nd], stride)),
        *(s * d for s, d in zip(st[1:nd], dilation[:-1])),
        st[-1],
    )
    return backend.xp.lib.stride_tricks.as_strided(grid, shape, strides, writeable=False)


def _row_chunks(
    x: Any, kernel: Ints, stride: Ints, padding: Pads, dilation: Ints, size: Ints, dtype: Any
) -> Iterator[tuple[int, int, Any]]:
    """(first example, count, rows (count prod(size), C prod(kernel))) for each chunk of x's
    examples, the rows copied out of the channels-last grid into one reused scratch array."""
    n, c = x.shape[:2]
    k = c * math.prod(kernel)
    grid, tag = _grid(x, padding, dtype)
    win = _windows(grid, kernel, stride, dilation, size)
    step = max(1, min(n, CHUNK_ELEMENTS // max(k * math.prod(size), 1)))
    rows = _take((step, *win.shape[1:]), dtype)
    for i in range(0, n, step):
        m = min(step, n - i)
        rows[:m] = win[i : i + m]
        yield i, m, rows[:m].reshape(-1, k)
    _give(grid, tag)
    _give(rows)


def conv(x: Any, weight: Any, stride: Ints, padding: Pads, dilation: Ints, size: Ints) -> Any:
    """The one-group correlation of x (N, C, *S) with weight (O, C, *K) -> (N, O, *size)."""
    xp = backend.xp
    n, c = x.shape[:2]
    o, kernel = weight.shape[0], tuple(weight.shape[2:])
    dtype = xp.result_type(x.dtype, weight.dtype)
    k, length = c * math.prod(kernel), math.prod(size)
    wt = xp.ascontiguousarray(xp.moveaxis(weight, (0, 1), (-1, -2)).reshape(k, o), dtype=dtype)
    y = _take((min(n, max(1, CHUNK_ELEMENTS // max(k * length, 1))) * length, o), dtype)
    out = xp.empty((n, o, *size), dtype=dtype)
    for i, m, rows in _row_chunks(x, kernel, stride, padding, dilation, size, dtype):
        part = xp.matmul(rows, wt, out=y[: m * length])  # (m L, O)
        out[i : i + m] = xp.swapaxes(part.reshape(m, length, o), 1, 2).reshape(m, o, *size)
    _give(y)
    return out


def conv_weight(x: Any, gy: Any, kernel: Ints, stride: Ints, padding: Pads, dilation: Ints) -> Any:
    """The one-group kernel gradient: x (N, C, *S) against gy (N, O, *L) -> (O, C, *kernel)."""
    xp = backend.xp
    c = x.shape[1]
    o, size = gy.shape[1], tuple(gy.shape[2:])
    dtype = xp.result_type(x.dtype, gy.dtype)
    k, length = c * math.prod(kernel), math.prod(size)
    w = xp.zeros((k, o), dtype=dtype)
    part = xp.empty((k, o), dtype=dtype)
    for i, m, rows in _row_chunks(x, tuple(kernel), stride, padding, dilation, size, dtype):
        g = xp.swapaxes(gy[i : i + m].reshape(m, o, length), 1, 2).reshape(-1, o)  # (m L, O)
        w += xp.matmul(rows.T, g, out=part)
    return xp.ascontiguousarray(xp.moveaxis(w.reshape(*kernel, c, o), (-1, -2), (0, 1)))
