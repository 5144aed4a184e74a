"""Normalisation as one primitive: ``standardize`` takes a tensor to mean 0 and variance 1
over some axes, the core of batch, layer, group and instance norm.

Composed from ops, ``(x − mean) / sqrt(var + eps)`` records seven nodes and its backward
runs about twenty element-wise passes; fused, the forward is five passes over the data and the
rule's training path (``create_graph=False``) about ten, all on raw arrays. With
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


def _mean_of(xp: Any, a: Any, axes: tuple[int, ...], b: Any = None) -> Any:
    """The mean of ``a`` (or of ``a ⊙ b``, without forming it) over ``axes``, kept dims.

    Two layouts take a faster road than ``ufunc.reduce``'s strided loop: trailing axes (layer,
    group and instance norm: rows of length k, a matrix-vector product with ones) and all
    axes but axis 1 (batch norm's channels: (N, C, L) blocks); ``b`` goes through ``einsum``'s
    sum of products. Anything else, or a non-contiguous array, reduces the plain way.
    """
    nd, shape = a.ndim, a.shape
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    contiguous = a.flags.c_contiguous and (b is None or b.flags.c_contiguous)
    if contiguous and axes == tuple(range(nd - len(axes), nd)):
        k = math.prod(shape[nd - len(axes) :])
        a2 = a.reshape(-1, k)
        if b is None:
            s = a2 @ xp.ones(k, dtype=a.dtype)
        else:
            s = xp.einsum("ij,ij->i", a2, b.reshape(-1, k))
        return (s / k).reshape(kept)
    if contiguous and nd >= 2 and axes == (0, *range(2, nd)):
        n, c = shape[0], shape[1]
        k = a.size // c
        a3 = a.reshape(n, c, -1)
        if b is None:
            s = (a3 @ xp.ones(a3.shape[2], dtype=a.dtype)).sum(axis=0)
        else:
            s = xp.einsum("ncl,ncl->c", a3, b.reshape(n, c, -1))
        return (s / k).reshape(kept)
    return (a if b is None else a * b).mean(axis=axes, keepdims=True)


def _centre(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x − mean(x)`` over ``axes`` (a new array)."""
    return xp.subtract(x, _mean_of(xp, x, axes))


def _rstd(xp: Any, d: Any, axes: tuple[int, ...], eps: float) -> Any:
    """1 / sqrt(mean(d²) + eps) over ``axes`` (kept), from the centred data ``d``."""
    var = _mean_of(xp, d, axes, d)
    var += eps
    xp.sqrt(var, out=var)
    return xp.reciprocal(var, out=var)


@primitive
def standardize(x, axes=None, eps=1e-5):
    """``(x − mean(x)) / sqrt(var(x) + eps)`` over ``axes`` (biased variance, kept shape).

    x̄ = (ḡ − mean(ḡ) − out ⊙ mean(ḡ ⊙ out)) / sqrt(var(x) + eps), means over ``axes``

    The normalisation of batch norm (axes: all but the channels), layer norm (the trailing
    axes), group and instance norm. ``axes`` None means every axis. Raises
    :class:`~chainrule.errors.ShapeError` for an axis out of range.
    """
    xp = backend.xp
    ax = norm_axes(axes, x.ndim)
    if x.size == 0:
        return xp.empty_like(x)
    d = _centre(xp, x, ax)
    d *= _rstd(xp, d, ax, eps)
    return d


def _standardize_vjp(g, out, x, axes=None, eps=1e-5):
    ax = norm_axes(axes, x.ndim)
    if is_grad_enabled():  # create_graph: the rule as ops, so it differentiates again
        from chainrule.ops.elementwise import sqrt
        from chainrule.ops.reduction import mean

        d = x - mean(x, axis=ax, keepdims=True)
        r = 1 / sqrt(mean(d * d, axis=ax, keepdims=True) + eps)
        gx = g - mean(g, axis=ax, keepdims=True) - out * mean(g * out, axis=ax, keepdims=True)
        return (gx * r,)
    # the arrays' own namespace: rules run outside the forward's backend.host() switch
    gd, od, xd = g.data, out.data, x.data
    xp = backend.array_module(gd)
    if gd.size == 0:
        return (Tensor._make(xp.zeros_like(xd)),)
    d = _centre(xp, xd, ax)
    r = _rstd(xp, d, ax, eps)
    m2 = _mean_of(xp, gd, ax, od)  # mean(ḡ ⊙ out)
    xp.multiply(od, m2, out=d)  # reuse d's buffer
    xp.subtract(gd, d, out=d)
    d -= _mean_of(xp, gd, ax)
    d *= r
    return (Tensor._make(d),)


standardize.defvjp_all(_standardize_vjp, keep="x out")
