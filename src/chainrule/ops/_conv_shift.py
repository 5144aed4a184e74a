"""Stride-1 convolutions without im2col: the "shift-sum" kernels behind :mod:`.conv`.

Lay the zero-padded input out channel-major on its padded grid, ``X`` (C, N * P) with P the
padded plane's size. A kernel offset t (dh, dw) then reads every output position's input at
one constant shift s(t) = dh d Wp + dw d of the flattened grid, so

    out[:, m] = Σₜ W[:, :, t] X[:, m + s(t)]              (O, C) @ (C, N P) per offset
    W̄[:, :, t] = Σₘ ḡ[:, m] X[:, m + s(t)]ᵀ = Ḡ X[:, s(t) : s(t) + N P]ᵀ

each a BLAS product on a strided slice of X, with no copy of the receptive fields (im2col
writes the input out prod(kernel) times). Outputs are computed on the whole padded grid and the
positions that straddle an edge dropped. The input's gradient of a stride-1 convolution is the
same kind of convolution (of ḡ with the flipped, transposed kernel), so one forward kernel and
one weight kernel serve all three ops; with few output channels the input's gradient is
scattered instead (:func:`conv_transpose`). A few extra columns past the grid's end (the
largest shift) keep every slice in bounds. Grids and product buffers are scratch arrays
reused across calls (:mod:`._scratch`).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

from chainrule import backend
from chainrule.ops._scratch import give as _give
from chainrule.ops._scratch import take as _take

Ints = tuple[int, ...]
Pads = tuple[tuple[int, int], ...]

MIN_CHANNELS = 8
"""Fewer input or output channels than this and im2col's one product beats the per-offset
products of a convolution's forward (measured: 2-10x slower with 1-6 channels); the kernel
gradient takes the shift-sum at any small channel count (as fast or faster, and no im2col
copy; up to WEIGHT_CHANNELS), and a transposed convolution with few channels the scatter
(:func:`conv_transpose`: as fast as im2col and col2im, up to 1.6x faster)."""


FORWARD_OUTPUT = 1 << 19
"""The forward's shift-sum pays up to this many output elements (O N L) and with no more output
than input channels; past that im2col's one product with a 9C-long inner axis wins (measured:
ResNet's 16 and 32 channels at batch 32, 1.3-2x faster by shift; 32 -> 64 channels or batch
128 at 14x14, 1.2-1.6x slower)."""

WEIGHT_CHANNELS = 1024
"""The kernel gradient's shift-sum pays up to this many channel pairs O C (measured: 16x16 to
32x32, 1.3-1.7x faster than im2col; 32x64 and 64x64, 1.2-1.3x slower)."""


def forward_pays(c: int, o: int, n: int, size: Ints) -> bool:
    """Whether a forward from c to o channels, n examples, ``size`` positions, takes the
    shift-sum (given :func:`usable`)."""
    return o <= c and o * n * math.prod(size) <= FORWARD_OUTPUT


SINGLE_CHANNEL_OFFSETS = 25
"""With one input channel each offset's kernel-gradient product is a matrix-vector product:
from this many kernel offsets on, im2col's one product wins (measured, 64 examples at 28x28:
5x5 kernels to 6 and 32 channels 1.2-1.6x faster by im2col; 3x3 to 16 and 32 channels
1.1-1.3x slower)."""


def weight_pays(c: int, o: int, offsets: int = 1) -> bool:
    """Whether a kernel gradient between c and o channels, ``offsets`` kernel offsets, takes
    the shift-sum."""
    return o * c <= WEIGHT_CHANNELS and (c > 1 or offsets < SINGLE_CHANNEL_OFFSETS)


SMALL_PRODUCT = 999_999
"""The kernel gradient's products are cut into column blocks of fewer multiply-adds than this
(m n k): OpenBLAS takes its faster small-matrix kernel below about a million."""


SCATTER_BLOCK = 1 << 22
"""Elements of the scattered transposed convolution's product per column block (16 MiB in
float32): a cap on its memory; smaller blocks measured slower (more, smaller additions)."""


def scatter_block(rows: int) -> int:
    """Columns per block of the scattered transposed convolution's (rows, block) product."""
    return max(SCATTER_BLOCK // max(rows, 1), 256)


def forward_block(o: int, c: int, cols: int) -> int:
    """How many columns each of the forward's per-offset products takes: blocks under
    SMALL_PRODUCT where they are at least 2048 wide (16 channels: 3906 columns, the whole
    layer's sum built block by block in cache, measured 25% faster), else all at once (at 32
    channels the 976-column blocks measured no faster)."""
    block = SMALL_PRODUCT // max(o * c, 1)
    return block if 2048 <= block < cols else max(cols, 1)


def column_block(o: int, c: int, cols: int) -> int:
    """How many columns each of the kernel gradient's products takes: blocks with o c block
    under SMALL_PRODUCT, which OpenBLAS's small-matrix kernel runs 2-3x faster than one long
    product over every column; all columns at once where such blocks would be tiny."""
    block = SMALL_PRODUCT // max(o * c, 1)
    return block if block >= 256 else max(cols, 1)


def usable(
    x: Any, channels: int, stride: Ints, groups: int, size: Ints, thin: bool = False
) -> bool:
    """Whether a shift kernel applies (and pays) for a convolution of x (N, C, *S) to
    ``channels`` output channels at ``size`` positions: stride 1, one group, and (unless
    ``thin``: the kernel gradient and the scattered transposed convolution, which pay at any
    channel count) MIN_CHANNELS or more on both sides."""
    least = min(x.shape[1], channels)
    return (
        groups == 1
        and all(s == 1 for s in stride)
        and (thin or least >= MIN_CHANNELS)
        and least > 0
        and x.shape[0] > 0
        and all(m > 0 for m in size)
    )


def _layout(sp: Ints, padding: Pads, reach: Ints, out: Ints) -> tuple[list, list, Ints]:
    """Where an input of spatial size ``sp`` lies on the padded grid: the input's slices
    used, the grid's slices they fill, and the grid's shape. Negative padding crops; the grid
    is widened where the output needs it (``reach``: the kernel's span - 1 per axis; ``out``:
    output positions)."""
    src, dst, grid = [], [], []
    for m, (lo, hi), r, o in zip(sp, padding, reach, out):
        a = max(-lo, 0)  # first input row used
        b = min(m, m + hi)  # one past the last
        g = max(o + r, max(lo, 0) + max(b - a, 0))
        src.append(slice(a, b))
        dst.append(slice(max(lo, 0), max(lo, 0) + max(b - a, 0)))
        grid.append(g)
    return src, dst, tuple(grid)


def _grid(x: Any, padding: Pads, reach: Ints, out: Ints, dtype: Any) -> tuple[Any, Ints, int]:
    """x (N, C, *S) as (C, N P + tail) in ``dtype``, zero-padded channel-major on the padded
    grid (see :func:`_layout`; a scratch array: :func:`_give` it back with tag ``("x",
    grid)``), the grid's shape and its plane size P."""
    xp = backend.xp
    n, c, *sp = x.shape
    src, dst, grid = _layout(sp, padding, reach, out)
    plane = math.prod(grid)
    tail = sum(r * st for r, st in zip(reach, _strides(grid)))
    tag = ("x", tuple((d.start, d.stop) for d in dst), grid)
    buf = _take((c, n * plane + tail), dtype, tag)
    view = buf[:, : n * plane].reshape(c, n, *grid)
    every = (slice(None), slice(None))
    view[(*every, *dst)] = xp.swapaxes(x[(*every, *src)], 0, 1)
    return buf, tag, plane


def _on_grid(g: Any, grid: Ints, dtype: Any) -> tuple[Any, Any]:
    """g (N, O, *L) placed channel-major at the start of each plane of a zero grid, (O, N P)
    in ``dtype`` (a scratch array, with its tag)."""
    n, o, *lsize = g.shape
    tag = ("g", tuple(lsize), grid)
    buf = _take((o, n * math.prod(grid)), dtype, tag)
    out = buf.reshape(o, n, *grid)
    out[(slice(None), slice(None), *(slice(0, m) for m in lsize))] = backend.xp.swapaxes(g, 0, 1)
    return buf, tag


def _strides(grid: Ints) -> Ints:
    return tuple(math.prod(grid[i + 1 :]) for i in range(len(grid)))


def _shifts(kernel: Ints, dilation: Ints, grid: Ints) -> tuple[int, ...]:
    """The flat shift of each kernel offset (row-major) on the padded grid."""
    return _shift_table(tuple(kernel), tuple(dilation), tuple(grid))


@functools.lru_cache(maxsize=256)
def _shift_table(kernel: Ints, dilation: Ints, grid: Ints) -> tuple[int, ...]:
    st = _strides(grid)
    return tuple(
        sum(k * d * s for k, d, s in zip(ks, dilation, st))
        for ks in itertools.product(*map(range, kernel))
    )


def conv(x: Any, weight: Any, padding: Pads, dilation: Ints, size: Ints) -> Any:
    """The stride-1, one-group correlation of x (N, C, *S) with weight (O, C, *K), ``size``
    output positions per axis -> (N, O, *size)."""
    xp = backend.xp
    n = x.shape[0]
    o, kernel = weight.shape[0], weight.shape[2:]
    reach = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    dtype = xp.result_type(x.dtype, weight.dtype)
    buf, tag, plane = _grid(x, padding, reach, size, dtype)
    grid = tag[-1]
    cols = n * plane
    wk = xp.ascontiguousarray(xp.moveaxis(weight.reshape(o, weight.shape[1], -1), 2, 0))
    wk = wk.astype(dtype, copy=False)
    shifts = _shifts(kernel, dilation, grid)
    block = forward_block(o, weight.shape[1], cols)
    y, tmp = _take((o, cols), dtype), _take((o, block), dtype)
    for j in range(0, cols, block):  # each block's sum accumulated while it is in cache
        width = min(block, cols - j)
        yj, part = y[:, j : j + width], tmp[:, :width]
        xp.matmul(wk[0], buf[:, shifts[0] + j : shifts[0] + j + width], out=yj)
        for i in range(1, len(shifts)):
            s = shifts[i] + j
            xp.matmul(wk[i], buf[:, s : s + width], out=part)
            yj += part
    out = xp.empty((n, o, *size), dtype=dtype)
    crop = y.reshape(o, n, *grid)[(slice(None), slice(None), *(slice(0, m) for m in size))]
    out[...] = xp.swapaxes(crop, 0, 1)
    _give(buf, tag)
    _give(y)
    _give(tmp)
    return out


def conv_weight(x: Any, gy: Any, kernel: Ints, padding: Pads, dilation: Ints) -> Any:
    """The stride-1, one-group kernel gradient: Σ over batch and positions of gy (N, O, *L)
    times x's (N, C, *S) windows -> (O, C, *kernel)."""
    xp = backend.xp
    n, o, *lsize = gy.shape
    c = x.shape[1]
    reach = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    dtype = xp.result_type(x.dtype, gy.dtype)
    buf, tag, plane = _grid(x, padding, reach, tuple(lsize), dtype)
    grid = tag[-1]
    cols = n * plane
    g, gtag = _on_grid(gy, grid, dtype)
    shifts = _shifts(kernel, dilation, grid)
    block = column_block(o, c, cols)
    w = xp.zeros((len(shifts), o, c), dtype=dtype)
    part = xp.empty((o, c), dtype=dtype)
    for j in range(0, cols, block):
        gj = g[:, j : j + block]
        for i, s in enumerate(shifts):
            xp.matmul(gj, buf[:, s + j : s + j + gj.shape[1]].T, out=part)
            w[i] += part
    _give(buf, tag)
    _give(g, gtag)
    return xp.ascontiguousarray(xp.moveaxis(w, 0, 2)).reshape(o, c, *kernel)


def conv_transpose(y: Any, weight: Any, padding: Pads, dilation: Ints, size: Ints) -> Any:
    """The stride-1, one-group transposed convolution of y (N, O, *L) with weight (O, C, *K)
    to spatial ``size`` -> (N, C, *size), scattered: one product Wᵀ ȳ (K C, O) @ (O, block)
    per column block, each offset's rows added back at its shift on the padded grid (for few
    output channels C, where :func:`transpose_as_conv`'s per-offset products are thin)."""
    xp = backend.xp
    n, o, *lsize = y.shape
    c, kernel = weight.shape[1], weight.shape[2:]
    reach = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    src, dst, grid = _layout(size, padding, reach, tuple(lsize))
    cols = n * math.prod(grid)
    shifts = _shifts(kernel, dilation, grid)
    dtype = xp.result_type(y.dtype, weight.dtype)
    g, gtag = _on_grid(y, grid, dtype)
    wz = xp.ascontiguousarray(xp.moveaxis(weight.reshape(o, c, -1), 2, 0).swapaxes(1, 2))
    wz = wz.reshape(-1, o).astype(dtype, copy=False)  # (K C, O): offset-major rows
    xg = _take((c, cols + shifts[-1]), dtype)
    xg.fill(0)
    block = scatter_block(wz.shape[0])
    for j in range(0, cols, block):
        z = (wz @ g[:, j : j + block]).reshape(len(shifts), c, -1)
        width = z.shape[-1]
        for i, s in enumerate(shifts):
            xg[:, s + j : s + j + width] += z[i]
    view = xg[:, :cols].reshape(c, n, *grid)
    every = (slice(None), slice(None))
    x = xp.zeros((n, c, *size), dtype=dtype)
    x[(*every, *src)] = xp.swapaxes(view[(*every, *dst)], 0, 1)
    _give(g, gtag)
    _give(xg)
    return x


def transpose_as_conv(
    weight: Any, padding: Pads, dilation: Ints, lsize: Ints, size: Ints
) -> tuple[Any, Pads]:
    """A stride-1 transposed convolution as a convolution: the kernel (C, O, *K) flipped and
    transposed, and the padding d (k - 1) - lo before, whatever reaches ``size`` after."""
    nd = weight.ndim - 2
    flipped = weight[(slice(None), slice(None), *(slice(None, None, -1),) * nd)]
    w = backend.xp.swapaxes(flipped, 0, 1)
    pads = []
    for k, d, (lo, _), m, s in zip(weight.shape[2:], dilation, padding, lsize, size):
        before = d * (k - 1) - lo
        pads.append((before, s + d * (k - 1) - m - before))
    return w, tuple(pads)
