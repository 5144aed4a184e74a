"""The optional native kernels (``conv.c`` and ``pointwise.c``, built by ``pip install`` where
a C compiler is found, loaded here with ctypes; no Python API), behind
:mod:`chainrule.ops.conv` and, for the ReLU's gradient and batch norm's rule,
:mod:`chainrule.ops.activation` and :mod:`chainrule.ops.normalization`.

Three register-tiled loop nests do a one-group convolution's three products directly on the
zero-padded NCHW input, with no im2col copy and no BLAS call: a tile keeps up to 2 x 12 vectors of
partial sums in registers while the whole reduction over the kernel's rows j = (c, kh, kw) runs
through it, each step one broadcast element times one vector:

    forward     y[n, o, p] = Σⱼ W[o, j] x[n, p + off(j)]          vectors of output channels o
    kernel      W̄[o, j] = Σₙ Σₚ ḡ[n, o, p] x[n, p + off(j)]        vectors of o, tiles of j
    input       x̄[n, c, p + off(t)] += Σₒ ḡ[n, o, p] W[o, c, t]    vectors of c (stride > 1)

with off(j) = c Hp Wp + kh dh Wp + kw dw the offset of row j from a window's corner, p the
windows' corners (stride apart). A stride-1 input gradient is the forward with the flipped,
transposed kernel (:func:`transpose_as_conv` of :mod:`._conv_shift`). Where the library is not
built, or for other dtypes, groups, 3-D convolutions or CuPy arrays, :func:`usable` says no and
the NumPy formulation runs. ``CHAINRULE_NATIVE=0`` in the environment turns the kernels off.

The convolutions' threads: one, unless inside :class:`chainrule.backend.blas_threads` (the
trainer's thread policy), which gives the kernels as many as it gives the BLAS: the batch is
split between them (ctypes releases the GIL during each call).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.machinery
import math
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.ops import _scratch as scratch

Ints = tuple[int, ...]
Pads = tuple[tuple[int, int], ...]

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
NARROW = 8
"""float32 convolutions vectorised over at most this many channels (a forward's or kernel
gradient's output channels, an input gradient's input channels) take the kernels built for
8-lane vectors (measured, interleaved: LeNet-5's kernel gradient of its first layer, 6
channels, 0.96 -> 0.70 ms, the input gradient of its second 1.67 -> 1.49 ms; 16 channels in two
8-lane vectors rather than one of 16 were 1.4x slower in the forward)."""
_ENABLED = [os.environ.get("CHAINRULE_NATIVE", "1") != "0"]


def _load(here: Path | None = None) -> ctypes.CDLL | None:
    """The built library in ``here`` (default: next to this file; any of this Python's
    extension suffixes), or None: not built, or not usable here (with a warning)."""
    here = Path(__file__).resolve().parent if here is None else here
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_conv{suffix}"
        if path.is_file():
            try:
                lib = ctypes.CDLL(str(path))
                args = {"conv_fwd": 6, "conv_dw": 7, "conv_dx": 5, "step_mask": 4,
                        "channel_sums": 6, "channel_affine": 8}  # fmt: skip
                for name, count in args.items():
                    sfxs = ("f32", "f32n", "f64") if name.startswith("conv") else ("f32", "f64")
                    for sfx in sfxs:
                        fn = getattr(lib, f"{name}_{sfx}")
                        fn.argtypes = [ctypes.c_void_p] * count
                        fn.restype = None
            except (OSError, AttributeError) as exc:  # another machine's, or an older build's
                warnings.warn(
                    f"chainrule's native kernels in {path} cannot be used ({exc}); running the "
                    "NumPy formulation. Rebuild them: pip install -e . (or setup.py build_ext "
                    "--inplace)",
                    stacklevel=2,
                )
                return None
            return lib
    return None


_LIB = _load()


def built() -> bool:
    """Whether the native library was built and loaded (whatever ``CHAINRULE_NATIVE`` says)."""
    return _LIB is not None


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Inside the block the NumPy formulation runs even where the kernels are built (tests
    compare the two)."""
    before = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = before


def usable(*arrays: Any, groups: int = 1, nd: int = 2) -> bool:
    """Whether the kernels take these arrays: NumPy arrays, all float32 or all float64, none
    empty (and for a convolution, ``groups`` 1 and ``nd`` 1 or 2 spatial axes)."""
    if _LIB is None or not _ENABLED[0] or groups != 1 or nd not in (1, 2):
        return False
    dtype = getattr(arrays[0], "dtype", None)
    return dtype in _SUFFIX and all(
        type(a) is np.ndarray and a.dtype == dtype and a.size > 0 for a in arrays
    )


# ---------------------------------------------------------------------------- helpers
def _kernel(name: str, dtype: Any, channels: int) -> tuple[Any, int]:
    """The library's function ``name`` for ``dtype`` and vectors of ``channels`` channels, and
    its lanes (elements per vector): the 8-lane float32 build for NARROW channels or fewer."""
    if dtype == np.float32 and channels <= NARROW:
        return getattr(_LIB, f"{name}_f32n"), 8
    return getattr(_LIB, f"{name}_{_SUFFIX[np.dtype(dtype)]}"), _lanes(dtype)


def _lanes(dtype: Any) -> int:
    """Elements per 64-byte vector: the kernels' channel blocks are padded to a multiple."""
    return 64 // np.dtype(dtype).itemsize


def _up(n: int, lanes: int) -> int:
    return -(-n // lanes) * lanes


def _as_2d(a: Any) -> Any:
    """(N, C, L) -> (N, C, 1, L); 2-D arrays unchanged."""
    return a[:, :, None, :] if a.ndim == 3 else a


def _pair(t: tuple, fill: Any) -> tuple:
    return (fill, *t) if len(t) == 1 else tuple(t)


def _layout(x: Any, padding: Pads) -> tuple[Any, Ints, Ints]:
    """x (N, C, H, W) cropped where the padding is negative, C-contiguous; the padded planes'
    (Hp, Wp); and (H, W, ph, pw): its planes and the zero padding before them, which the
    kernels add one example at a time (into :func:`_pads`' buffers)."""
    crop = tuple(slice(max(-lo, 0), m - max(-hi, 0)) for m, (lo, hi) in zip(x.shape[2:], padding))
    x = np.ascontiguousarray(x[(slice(None), slice(None), *crop)])
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in padding]
    plane = tuple(m + lo + hi for m, (lo, hi) in zip(x.shape[2:], grow))
    return x, plane, (*x.shape[2:], *(lo for lo, _ in grow))


def _pads(x: Any, plane: Ints, where: Ints, count: int) -> list[Any]:
    """One zero-bordered (C, Hp, Wp) buffer per thread for the kernels to pad an example into
    (scratch arrays: the border stays zero between calls), or None each where x needs none."""
    if tuple(plane) == tuple(x.shape[2:]):
        return [None] * count
    tag = ("native-pad", where)
    return [scratch.take((x.shape[1], *plane), x.dtype, tag) for _ in range(count)]


def _give_pads(pads: list[Any], where: Ints) -> None:
    for a in pads:
        if a is not None:
            scratch.give(a, ("native-pad", where))


@functools.lru_cache(maxsize=256)
def _offsets(c: int, kernel: Ints, dilation: Ints, plane: Ints) -> np.ndarray:
    """off(j) for each row j = (c, kh, kw) of the flattened kernel: c Hp Wp + kh dh Wp + kw dw."""
    (kh, kw), (dh, dw), (hp, wp) = kernel, dilation, plane
    c_, h_, w_ = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
    off = (c_ * hp * wp + h_ * dh * wp + w_ * dw).reshape(-1).astype(np.intp)
    off.flags.writeable = False
    return off


def _fits(plane: Ints, kernel: Ints, stride: Ints, dilation: Ints, size: Ints) -> bool:
    """Whether every window of ``size`` output positions lies inside the padded plane."""
    return all(
        (m - 1) * s + d * (k - 1) < p
        for p, k, s, d, m in zip(plane, kernel, stride, dilation, size)
    )


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))


if hasattr(os, "register_at_fork"):  # a forked child has none of the pool's threads: a new one
    os.register_at_fork(after_in_child=_pool.cache_clear)


THREAD_WORK = 16_000_000
"""Multiply-adds a call must have per thread before its batch is split (below, handing work
to the pool costs more than it saves: LeNet-5's layers, 2-15 million each, ran no faster on
two threads; the ResNet's, 19-75 million, 1.7x faster alone)."""


def _batches(n: int, work: int) -> list[tuple[int, int]]:
    """The batch of n examples split between the kernels' threads, (first, count) each: as
    many as :func:`chainrule.backend.kernel_threads` allows with ``work`` multiply-adds in all
    and at least THREAD_WORK each."""
    k = max(1, min(backend.kernel_threads(), n, work // THREAD_WORK))
    step = -(-n // k)
    return [(i, min(step, n - i)) for i in range(0, n, step)]


def _run(call: Any, parts: list[tuple[int, int]], *per_part: list[Any]) -> None:
    """call(first, count, *extras) for each part (with that part's entry of each list in
    ``per_part``): on the calling thread alone, or one part a thread."""
    args = [(*p, *extra) for p, *extra in zip(parts, *per_part)]
    if len(args) == 1:
        call(*args[0])
        return
    futures = [_pool().submit(call, *a) for a in args]
    try:
        for f in futures:
            f.result()
    finally:  # interrupted: no thread may still write into arrays handed out again later
        for f in futures:
            f.cancel()
        wait(futures)


def _ptr(a: np.ndarray | None) -> int:
    return 0 if a is None else a.ctypes.data


def _params(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _input(x: Any, kernel: Ints, stride: Ints, padding: Pads, dilation: Ints, size: Ints,
           op: str) -> tuple:  # fmt: skip
    """x (N, C, *S) as the kernels read it, for a 2-D ``kernel`` and ``size`` output positions:
    (x cropped and C-contiguous (N, C, H, W), the padded plane, where x lies in it, stride and
    dilation as pairs, the kernel rows' offsets). Raises ValueError (an internal error) where a
    window would overrun the padded plane."""
    stride, dilation = _pair(stride, 1), _pair(dilation, 1)
    xc, plane, where = _layout(_as_2d(x), _pair(padding, (0, 0)))
    if not _fits(plane, kernel, stride, dilation, size):
        raise ValueError(f"native {op}: windows of {size} positions overrun the input {plane}")
    return xc, plane, where, stride, dilation, _offsets(xc.shape[1], kernel, dilation, plane)


# ---------------------------------------------------------------------------- the three ops
def conv(x: Any, weight: Any, stride: Ints, padding: Pads, dilation: Ints, size: Ints) -> Any:
    """The one-group correlation of x (N, C, *S) with weight (O, C, *K) -> (N, O, *size), S
    and K 1-D or 2-D (see :func:`usable`)."""
    nd = x.ndim - 2
    w2 = _as_2d(weight)
    o, kernel, size = w2.shape[0], w2.shape[2:], _pair(size, 1)
    xc, plane, where, stride, dilation, off = _input(
        x, kernel, stride, padding, dilation, size, "conv"
    )
    n, c = xc.shape[:2]
    fn, lanes = _kernel("conv_fwd", x.dtype, o)
    j = c * math.prod(kernel)
    wt = np.zeros((j, _up(o, lanes)), dtype=x.dtype)
    wt[:, :o] = w2.reshape(o, j).T
    y = scratch.recycled((n, o, *size), x.dtype)
    parts = _batches(n, n * o * j * math.prod(size))
    pads = _pads(xc, plane, where, len(parts))

    def call(i: int, m: int, pad: Any) -> None:
        p = _params(m, c, *plane, o, wt.shape[1], j, *size, *stride, *where)
        fn(_ptr(xc[i:]), _ptr(wt), _ptr(off), _ptr(y[i:]), _ptr(pad), _ptr(p))

    _run(call, parts, pads)
    _give_pads(pads, where)
    return y.reshape(n, o, *size[2 - nd :]) if nd == 1 else y


def conv_weight(x: Any, gy: Any, kernel: Ints, stride: Ints, padding: Pads, dilation: Ints) -> Any:
    """The one-group kernel gradient: x (N, C, *S) against gy (N, O, *L) -> (O, C, *kernel)."""
    g2 = np.ascontiguousarray(_as_2d(gy))
    k2 = _pair(tuple(kernel), 1)
    o, size = g2.shape[1], g2.shape[2:]
    xc, plane, where, stride, dilation, off = _input(
        x, k2, stride, padding, dilation, size, "conv_weight"
    )
    n, c = xc.shape[:2]
    fn, lanes = _kernel("conv_dw", x.dtype, o)
    j, op = c * math.prod(k2), _up(o, lanes)
    parts = _batches(n, n * o * j * math.prod(size))
    pads = _pads(xc, plane, where, len(parts))
    sums = [np.zeros((j, op), dtype=x.dtype) for _ in parts]  # per thread, added at the end
    # per thread, one example's gradient channels last (zero past o: kept between calls)
    gtag = ("native-g", o)
    bufs = [scratch.take((*size, op), x.dtype, gtag) for _ in parts]

    def call(i: int, m: int, pad: Any, out: np.ndarray, buf: np.ndarray) -> None:
        p = _params(m, c, *plane, o, op, j, *size, *stride, *where)
        fn(_ptr(xc[i:]), _ptr(g2[i:]), _ptr(off), _ptr(out), _ptr(buf), _ptr(pad), _ptr(p))

    _run(call, parts, pads, sums, bufs)
    _give_pads(pads, where)
    for b in bufs:
        scratch.give(b, gtag)
    total = sums[0] if len(sums) == 1 else np.sum(sums, axis=0)
    return np.ascontiguousarray(total[:, :o].T).reshape(o, c, *kernel)


def conv_transpose(
    y: Any, weight: Any, stride: Ints, padding: Pads, dilation: Ints, size: Ints
) -> Any:
    """The one-group transposed convolution of y (N, O, *L) with weight (O, C, *K) ->
    (N, C, *size): stride 1 as the forward with the flipped, transposed kernel; larger strides
    scattered, each window's Σₒ ḡ W added back at its place."""
    from chainrule.ops._conv_shift import transpose_as_conv

    nd = y.ndim - 2
    if all(s == 1 for s in stride):
        w, pads = transpose_as_conv(weight, padding, dilation, y.shape[2:], size)
        return conv(y, np.ascontiguousarray(w), stride, pads, dilation, size)
    y2, w2 = _as_2d(y), _as_2d(weight)
    stride, dilation = _pair(stride, 1), _pair(dilation, 1)
    padding, size2 = _pair(padding, (0, 0)), _pair(size, 1)
    n, o, *lsize = y2.shape
    c, kernel = w2.shape[1], w2.shape[2:]
    # the padded grid every window reaches, the output at offset (lo_h, lo_w) inside it
    grid = tuple(
        max((m - 1) * s + d * (k - 1) + 1, lo + q)
        for m, s, d, k, (lo, _), q in zip(lsize, stride, dilation, kernel, padding, size2)
    )
    fn, lanes = _kernel("conv_dx", y.dtype, c)
    cp = _up(c, lanes)
    taps = math.prod(kernel)
    wt = np.zeros((taps, o, cp), dtype=y.dtype)
    wt[..., :c] = np.moveaxis(w2.reshape(o, c, taps), 2, 0)
    toff = _offsets(1, kernel, dilation, grid)  # each kernel offset's, in the grid's pixels
    dx = scratch.take((n, *grid, cp), y.dtype)
    dx.fill(0)
    yc = np.ascontiguousarray(y2)

    def call(i: int, m: int) -> None:
        p = _params(m, c, *grid, o, cp, taps, *lsize, *stride)
        fn(_ptr(yc[i:]), _ptr(wt), _ptr(toff), _ptr(dx[i:]), _ptr(p))

    _run(call, _batches(n, n * o * c * taps * math.prod(lsize)))
    inner = tuple(slice(lo, lo + q) for (lo, _), q in zip(padding, size2))
    out = scratch.recycled((n, c, *size2), y.dtype)
    out[...] = np.moveaxis(dx[(slice(None), *inner, slice(0, c))], -1, 1)
    scratch.give(dx)
    return out.reshape(n, c, *size) if nd == 1 else out


# ---------------------------------------------------------------------------- whole arrays
def step_mask(g: Any, a: Any, out: Any = None) -> Any:
    """g ⊙ [a > 0] (the ReLU's gradient) in one pass, into ``out`` (when None or not
    C-contiguous, a result array recycled once nothing holds it: a fresh multi-megabyte one
    page-faults in every step; the ResNet's six masks 3.5 -> 1.3-1.5 ms a step): g and a NumPy
    arrays of one shape and dtype (see :func:`usable`)."""
    shape = np.shape(g)  # (ascontiguousarray makes a 0-d array 1-d)
    g, a = np.ascontiguousarray(g), np.ascontiguousarray(a)
    if out is None or not out.flags.c_contiguous:
        out = scratch.recycled(shape, g.dtype)
    fn = getattr(_LIB, f"step_mask_{_SUFFIX[g.dtype]}")
    fn(_ptr(g), _ptr(a), _ptr(out), _ptr(_params(g.size)))
    return out


def channel_norm_grad(g: Any, x: Any, mean: Any, r: Any, w: Any) -> tuple[Any, Any, Any]:
    """Batch norm's rule over x, g (N, C, *S) with the channels' mean, r = 1 / sqrt(var + eps)
    and weight w (each (C,); float64 for r and w): two passes, the per-channel sums Σḡ and
    Σḡ⊙d (d = x − mean) then x̄ = A ḡ + B d + K with A = w r, B = −A r² Σḡ⊙d / n,
    K = −A Σḡ / n (n = N prod(S)). Returns x̄ and the sums (float64, (C,))."""
    g, x = np.ascontiguousarray(g), np.ascontiguousarray(x)
    n_, c = g.shape[:2]
    per = math.prod(g.shape[2:])
    p = _params(n_, c, per)
    m = np.ascontiguousarray(mean.reshape(c), dtype=g.dtype)
    sg, sgd = np.empty(c), np.empty(c)
    sfx = _SUFFIX[g.dtype]
    getattr(_LIB, f"channel_sums_{sfx}")(_ptr(g), _ptr(x), _ptr(m), _ptr(sg), _ptr(sgd), _ptr(p))
    n = n_ * per
    a = w * r
    b = -a * r * r * sgd / n
    k = -a * sg / n
    coef = [np.ascontiguousarray(v, dtype=g.dtype) for v in (a, b, k)]
    out = np.empty_like(g)
    getattr(_LIB, f"channel_affine_{sfx}")(
        _ptr(g), _ptr(x), _ptr(m), *(_ptr(v) for v in coef), _ptr(out), _ptr(p)
    )
    return out, sg, sgd
