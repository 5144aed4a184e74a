"""Reductions over axes (NumPy's ``axis`` / ``keepdims``) and their gradients.

A reduction's gradient spreads ``g`` back over the reduced axes: :func:`_spread` puts the
reduced axes back as size-1 axes and broadcasts to the input's shape.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import ShapeError
from chainrule.ops.elementwise import exp, sqrt
from chainrule.ops.shape import broadcast_to, reshape
from chainrule.tensor import Tensor

Axis = int | tuple[int, ...] | None


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < (ndim or 1):  # not max(): this module's max is the reduction
            raise ShapeError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def _kept_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _keep(g: Tensor, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Tensor:
    """``g`` with the reduced axes of an input of ``shape`` restored as size 1."""
    return g if keepdims else reshape(g, _kept_shape(shape, axis))


def _spread(g: Tensor, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Tensor:
    return broadcast_to(_keep(g, shape, axis, keepdims), shape)


def _count(shape: tuple[int, ...], axis: Axis) -> int:
    n = 1
    for a in _axes(axis, len(shape)):
        n *= shape[a]
    return n


@primitive
def sum(x, axis=None, keepdims=False):
    return backend.xp.asarray(x).sum(axis=axis, keepdims=keepdims)


sum.defvjp(
    lambda g, out, x, axis=None, keepdims=False: _spread(g, x.shape, axis, keepdims), keep="x.shape"
)


@primitive
def mean(x, axis=None, keepdims=False):
    if x.size == 0:
        raise ShapeError(f"mean of an empty tensor of shape {x.shape}")
    return x.mean(axis=axis, keepdims=keepdims)


mean.defvjp(
    lambda g, out, x, axis=None, keepdims=False: (
        _spread(g, x.shape, axis, keepdims) / _count(x.shape, axis)
    ),
    keep="x.shape",
)


def var(x: Tensor, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance over ``axis`` with NumPy's ``ddof`` (0 by default: the biased estimate).

    Written with differentiable ops, so its gradient needs no rule of its own.
    """
    n = _count(x.shape, axis)
    if n - ddof <= 0:
        raise ShapeError(f"var: {n} element(s) over axis {axis} with ddof={ddof}")
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, keepdims=keepdims) / (n - ddof)


def std(x: Tensor, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation: ``sqrt(var(x, axis, ddof, keepdims))``."""
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


@primitive
def max(x, axis=None, keepdims=False):
    _nonempty("max", x, axis)
    return x.max(axis=axis, keepdims=keepdims)


@primitive
def min(x, axis=None, keepdims=False):
    _nonempty("min", x, axis)
    return x.min(axis=axis, keepdims=keepdims)


def _extremum_grad(g, out, x, axis=None, keepdims=False):
    # Ties share the gradient equally (like PyTorch's amax/amin and full max()).
    hit = x.data == _keep(out, x.shape, axis, keepdims).data
    share = hit / hit.sum(axis=axis, keepdims=True)
    return _spread(g, x.shape, axis, keepdims) * Tensor._make(share.astype(x.dtype))


max.defvjp(_extremum_grad)
min.defvjp(_extremum_grad)


def _nonempty(name: str, x: Any, axis: Axis) -> None:
    if x.size == 0:
        raise ShapeError(f"{name} of an empty tensor of shape {x.shape} (axis={axis})")


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Indices of the maxima (int64, no gradient)."""
    return Tensor._make(backend.xp.argmax(x.data, axis=axis, keepdims=keepdims))


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Indices of the minima (int64, no gradient)."""
    return Tensor._make(backend.xp.argmin(x.data, axis=axis, keepdims=keepdims))


@primitive
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed stably by shifting by the maximum."""
    xp = backend.xp
    _nonempty("logsumexp", x, axis)
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    s = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return s if keepdims else s.reshape(_reduced_shape(x.shape, axis))


logsumexp.defvjp(
    lambda g, out, x, axis=None, keepdims=False: (
        _spread(g, x.shape, axis, keepdims) * exp(x - _keep(out, x.shape, axis, keepdims))
    ),
    keep="x out",
)


def _reduced_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    axes = _axes(axis, len(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)
