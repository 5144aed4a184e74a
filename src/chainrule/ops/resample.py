"""Resampling (N, C, *S) -> (N, C, *size): separable linear maps (bilinear interpolation,
adaptive average pooling) as one matrix product per spatial axis, and nearest-neighbour picks
through :func:`chainrule.ops.conv.take_flat` (behind :mod:`chainrule.nn.functional`'s
interpolate and adaptive pooling)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import no_grad
from chainrule.compile import constant
from chainrule.ops.conv import _flat_index, take_flat
from chainrule.ops.linalg import matmul
from chainrule.ops.shape import swapaxes
from chainrule.tensor import Tensor

Ints = tuple[int, ...]


def linear_map(x: Tensor, matrices: list[Any]) -> Tensor:
    """Apply one matrix (out_i, in_i) per spatial axis of x (N, C, *S): separable resampling
    (bilinear interpolation, adaptive average pooling) as matrix products, whose gradients
    are the transposed products."""
    y = x
    for i, a in enumerate(matrices):
        axis = 2 + i
        t = Tensor._make(constant(backend.xp.asarray(a, dtype=x.dtype)))  # from shapes alone
        if axis == x.ndim - 1:
            y = matmul(y, swapaxes(t, 0, 1))
        else:
            y = swapaxes(matmul(swapaxes(y, axis, -1), swapaxes(t, 0, 1)), axis, -1)
    return y


def adaptive_avg_matrix(n: int, m: int) -> np.ndarray:
    """(m, n): row i averages the adaptive window [floor(i n / m), ceil((i + 1) n / m))."""
    i = np.arange(m)
    start, end = (i * n) // m, -((-(i + 1) * n) // m)
    j = np.arange(n)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return inside / (end - start)[:, None]


def linear_matrix(n: int, m: int, align_corners: bool, scale: float | None) -> np.ndarray:
    """(m, n) weights of linear interpolation from n samples to m, PyTorch's source index:
    i (n - 1) / (m - 1) with ``align_corners``, else (i + 0.5) / scale - 0.5 clamped at 0."""
    i = np.arange(m, dtype=np.float64)
    if align_corners:
        src = i * ((n - 1) / (m - 1) if m > 1 else 0.0)
    else:
        ratio = 1.0 / scale if scale else n / m
        src = np.maximum((i + 0.5) * ratio - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    a = np.zeros((m, n))
    np.add.at(a, (np.arange(m), i0), 1.0 - lam)
    np.add.at(a, (np.arange(m), i1), lam)
    return a


def nearest(x: Tensor, size: Ints, scales: tuple[float | None, ...]) -> Tensor:
    """Nearest-neighbour resampling to ``size``: source floor(i n / m) (or floor(i / scale)
    when a scale factor is given), PyTorch's 'nearest'."""
    xp = backend.xp
    nd = len(size)
    coords = []
    for i, (n, m, sc) in enumerate(zip(x.shape[2:], size, scales)):
        ratio = 1.0 / sc if sc else n / m
        src = np.minimum(np.floor(np.arange(m, dtype=np.float32) * np.float32(ratio)), n - 1)
        src = xp.asarray(src.astype(np.int64)).reshape(m, *(1,) * (nd - 1 - i))
        coords.append(xp.broadcast_to(src, (*x.shape[:2], *size)))
    with no_grad():
        index, _ = _flat_index(x.data, tuple(coords))
    return take_flat(x, index)
