"""Reductions over axes (NumPy's ``axis`` / ``keepdims``) and their gradients.

A reduction's gradient spreads ``g`` back over the reduced axes: :func:`_spread` puts the
reduced axes back as size-1 axes and broadcasts to the input's shape.

Every function here also takes PyTorch's spellings ``dim=`` and ``keepdim=`` for ``axis=`` and
``keepdims=`` (giving both spellings of one argument raises ``TypeError``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import Primitive, primitive
from chainrule.errors import DomainError, ShapeError
from chainrule.ops.elementwise import exp, std_sqrt, where
from chainrule.ops.elementwise.discrete import _raw_unless_graph
from chainrule.ops.shape import broadcast_to, getitem, pad, reshape, transpose
from chainrule.tensor import Tensor

Axis = int | tuple[int, ...] | None


class AxisPrimitive(Primitive):
    """A primitive taking ``axis``/``keepdims`` that also accepts ``dim``/``keepdim``.

    The synonyms are renamed before the call is recorded, so forwards and rules only ever see
    ``axis`` and ``keepdims``.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        if "dim" in kwargs or "keepdim" in kwargs:
            kwargs = synonyms(self.name, kwargs)
        return Primitive.__call__(self, *args, **kwargs)


def axis_primitive(forward: Any) -> AxisPrimitive:
    """Decorator: an :class:`AxisPrimitive` (a primitive with ``dim``/``keepdim`` synonyms)."""
    return AxisPrimitive(forward)


def synonyms(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``dim`` renamed ``axis`` and ``keepdim`` renamed ``keepdims``.

    Raises ``TypeError`` when both spellings of one argument are given.
    """
    kwargs = dict(kwargs)
    for torch_name, numpy_name in (("dim", "axis"), ("keepdim", "keepdims")):
        if torch_name in kwargs:
            if kwargs.get(numpy_name) is not None and kwargs.get(numpy_name) is not False:
                raise TypeError(
                    f"{name}: got both {numpy_name}= and {torch_name}= (the same argument "
                    "spelled the NumPy and the PyTorch way); give one"
                )
            kwargs[numpy_name] = kwargs.pop(torch_name)
    return kwargs


def pick_axis(
    name: str, axis: Any, dim: Any, keepdims: Any = False, keepdim: Any = None
) -> tuple[Any, bool]:
    """``(axis, keepdims)`` from a function taking both NumPy's and PyTorch's spellings.

    Raises ``TypeError`` when ``axis`` and ``dim`` are both given.
    """
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}: got both axis= and dim= (synonyms); give one")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def _axes(axis: Axis, ndim: int, name: str = "") -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        # a 0-d tensor takes axis 0 or -1, as NumPy's sum and max do (not max(): this
        # module's max is the reduction)
        if not -(ndim or 1) <= a < (ndim or 1):
            raise ShapeError(
                f"{name}{': ' if name else ''}axis {a} is out of range for a tensor with "
                f"{ndim} dimensions"
            )
        out.append(int(a) % ndim if ndim else 0)
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


@axis_primitive
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (NumPy's ``sum``; every axis when ``None``).

    x̄ = broadcast(ḡ)
    """
    return backend.xp.asarray(x).sum(axis=axis, keepdims=keepdims)


sum.defvjp(
    lambda g, out, x, axis=None, keepdims=False: _spread(g, x.shape, axis, keepdims), keep="x.shape"
)


@axis_primitive
def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis`` (NumPy's ``mean``); n elements per output.

    x̄ = broadcast(ḡ) / n
    """
    if x.size == 0 and _count(x.shape, axis) == 0:
        raise ShapeError(f"mean over no elements: shape {x.shape}, axis {axis}")
    return x.mean(axis=axis, keepdims=keepdims)


mean.defvjp(
    lambda g, out, x, axis=None, keepdims=False: (
        _spread(g, x.shape, axis, keepdims) / _count(x.shape, axis)
    ),
    keep="x.shape",
)


def var(
    x: Tensor,
    axis: Axis = None,
    ddof: int = 0,
    keepdims: bool = False,
    *,
    dim: Axis = None,
    keepdim: bool | None = None,
    correction: int | None = None,
) -> Tensor:
    """Variance over ``axis`` with NumPy's ``ddof`` (0 by default: the biased estimate).

    PyTorch's ``dim``, ``keepdim`` and ``correction`` are accepted for ``axis``, ``keepdims``
    and ``ddof``. Written with differentiable ops, so its gradient needs no rule of its own.
    Raises :class:`~chainrule.errors.ShapeError` when ``ddof`` leaves no degree of freedom.
    """
    axis, keepdims = pick_axis("var", axis, dim, keepdims, keepdim)
    if correction is not None:
        ddof = correction
    n = _count(x.shape, axis)
    if n - ddof <= 0:
        raise ShapeError(f"var: {n} element(s) over axis {axis} with ddof={ddof}")
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, keepdims=keepdims) / (n - ddof)


def std(
    x: Tensor,
    axis: Axis = None,
    ddof: int = 0,
    keepdims: bool = False,
    *,
    dim: Axis = None,
    keepdim: bool | None = None,
    correction: int | None = None,
) -> Tensor:
    """Standard deviation: ``sqrt(var(x, axis, ddof, keepdims))`` (same synonyms as var)."""
    axis, keepdims = pick_axis("std", axis, dim, keepdims, keepdim)
    if correction is not None:
        ddof = correction
    # sqrt whose gradient is 0 where the variance is 0 (PyTorch's), not inf * 0 = NaN
    return std_sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


@axis_primitive
def max(x, axis=None, keepdims=False):
    """Largest element over ``axis`` (NumPy's ``max``, PyTorch's ``amax``); ties share ḡ.

    x̄ = broadcast(ḡ) ⊙ [x = out] / (number of ties)
    """
    _nonempty("max", x, axis)
    return x.max(axis=axis, keepdims=keepdims)


@axis_primitive
def min(x, axis=None, keepdims=False):
    """Smallest element over ``axis`` (NumPy's ``min``, PyTorch's ``amin``); ties share ḡ.

    x̄ = broadcast(ḡ) ⊙ [x = out] / (number of ties)
    """
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


@axis_primitive
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed stably by shifting by the maximum.

    x̄ = broadcast(ḡ) ⊙ exp(x − out)
    """
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


# ---------------------------------------------------------------------------- products
@axis_primitive
def prod(x, axis=None, keepdims=False):
    """Product of the elements over ``axis`` (NumPy's ``prod``), exact where some are zero.

    x̄ = broadcast(ḡ) ⊙ Π_{j≠i} x_j   (out / x without zeros; else products before and after i)
    """
    _axes(axis, x.ndim, "prod")
    return backend.xp.prod(x, axis=axis, keepdims=keepdims)


def _prod_grad(g, out, x, axis=None, keepdims=False):
    if backend.xp.count_nonzero(x.data) == x.size:  # no zeros: ḡ out / x, one pass over x
        return _keep(g * out, x.shape, axis, keepdims) / x
    return _spread(g, x.shape, axis, keepdims) * _others_product(x, axis)


def _others_product(x: Tensor, axis: Axis) -> Tensor:
    """Π_{j≠i} x_j over the reduced axes, exact with zeros (and differentiable again): the
    running product of the elements before i times that of the elements after i."""
    from chainrule.ops.scan import cumprod  # scan builds on this module

    axes = _axes(axis, x.ndim)
    rest = [i for i in range(x.ndim) if i not in axes]
    order = (*rest, *axes)
    y = reshape(transpose(x, order), (*[x.shape[i] for i in rest], -1))
    lead = ((0, 0),) * (y.ndim - 1)
    before = cumprod(
        pad(getitem(y, (..., slice(None, -1))), (*lead, (1, 0)), constant_values=1), -1
    )
    flipped = getitem(y, (..., slice(None, 0, -1)))  # y reversed, without its first element
    after = getitem(
        cumprod(pad(flipped, (*lead, (1, 0)), constant_values=1), -1), (..., slice(None, None, -1))
    )
    both = reshape(before * after, [x.shape[i] for i in order])
    return transpose(both, tuple(int(i) for i in np.argsort(order)))


prod.defvjp(_prod_grad, keep="x out")


# ---------------------------------------------------------------------------- NaN-aware, weighted
def nansum(
    x: Tensor,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    dim: Axis = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Sum over ``axis`` treating NaN as zero (NumPy's ``nansum``); NaNs get gradient 0."""
    axis, keepdims = pick_axis("nansum", axis, dim, keepdims, keepdim)
    return sum(where(backend.xp.isnan(x.data), 0, x), axis=axis, keepdims=keepdims)


def nanmean(
    x: Tensor,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    dim: Axis = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Mean over ``axis`` of the non-NaN elements (NumPy's ``nanmean``; NaN for a slice that
    holds only NaNs); NaNs get gradient 0."""
    axis, keepdims = pick_axis("nanmean", axis, dim, keepdims, keepdim)
    nan = backend.xp.isnan(x.data)
    n = (~nan).sum(axis=_axes(axis, x.ndim), keepdims=keepdims).astype(x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sum(where(nan, 0, x), axis=axis, keepdims=keepdims) / Tensor._make(n)


def average(
    a: Tensor,
    axis: Axis = None,
    weights: Any = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Weighted mean over ``axis`` (NumPy's ``average``): ``sum(a * w) / sum(w)``.

    ``weights`` has ``a``'s shape, or is 1-D along a single ``axis``; it may be a tensor that
    requires grad (both get gradients). With ``returned=True`` also returns the sum of the
    weights, broadcast like the result. Raises :class:`~chainrule.errors.ShapeError` for
    weights of the wrong shape and :class:`~chainrule.errors.DomainError` when they sum to 0.
    """
    a = a if isinstance(a, Tensor) else Tensor(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return avg
        return avg, Tensor._make(backend.xp.full(avg.shape, _count(a.shape, axis), a.dtype))
    w = weights if isinstance(weights, Tensor) else Tensor(backend.xp.asarray(weights))
    if w.shape != a.shape:
        if axis is None or not isinstance(axis, (int, np.integer)) or w.ndim != 1:
            raise ShapeError(
                f"average: weights of shape {w.shape} differ from a's {a.shape}; give weights "
                "of a's shape, or 1-D weights with one integer axis"
            )
        ax = _axes(axis, a.ndim)[0]
        if w.shape[0] != a.shape[ax]:
            raise ShapeError(
                f"average: 1-D weights of length {w.shape[0]} do not fit axis {axis} of "
                f"shape {a.shape} (size {a.shape[ax]})"
            )
        w = reshape(w, tuple(-1 if i == ax else 1 for i in range(a.ndim)))
    if not returned:
        return _weighted_mean(a, w, axis=axis, keepdims=keepdims)
    scale = sum(broadcast_to(w, a.shape), axis=axis, keepdims=keepdims)
    if np.any(scale.data == 0):
        raise DomainError(f"average: weights sum to zero along axis {axis}; cannot normalise")
    return sum(a * w, axis=axis, keepdims=keepdims) / scale, scale


def _weight_sum(w: Any, shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """Σ w over ``axes`` of ``w`` broadcast to ``shape``, axes kept, from ``w`` alone (an axis
    where w has size 1 counts its element that many times): no array of ``shape``."""
    w = w.reshape((1,) * (len(shape) - w.ndim) + w.shape)
    s = w.sum(axis=tuple(i for i in axes if w.shape[i] != 1), keepdims=True)
    factor = 1
    for i in axes:
        if w.shape[i] == 1:
            factor *= shape[i]
    return s * factor if factor != 1 else s


@primitive
def _weighted_mean(a, w, axis=None, keepdims=False):
    """Σ a ⊙ w / Σ w over ``axis``, ``w`` broadcast against ``a``: :func:`average` with
    weights, in one op. Raises :class:`~chainrule.errors.DomainError` where the weights sum
    to zero.

    ā = broadcast(ḡ) ⊙ w / Σ w
    w̄ = broadcast(ḡ) ⊙ (a − out) / Σ w
    """
    axes = _axes(axis, a.ndim, "average")
    scale = _weight_sum(w, a.shape, axes)
    if (scale == 0).any():
        raise DomainError(f"average: weights sum to zero along axis {axis}; cannot normalise")
    out = (a * w).sum(axis=axes, keepdims=True) / scale
    return (
        out if keepdims else out.reshape(tuple(n for i, n in enumerate(out.shape) if i not in axes))
    )


def _weighted_mean_grads_as_ops(g, out, a, w, axis=None, keepdims=False):
    axes = _axes(axis, a.ndim, "average")
    gs = _keep(g, a.shape, axes, keepdims) / sum(broadcast_to(w, a.shape), axis=axes, keepdims=True)
    return broadcast_to(gs * w, a.shape), gs * (a - _keep(out, a.shape, axes, keepdims))


@_raw_unless_graph(_weighted_mean_grads_as_ops)
def _weighted_mean_grads(g, out, a, w, axis=None, keepdims=False):
    axes = _axes(axis, a.ndim, "average")
    xp = backend.array_module(g.data)
    wd = w.data if isinstance(w, Tensor) else w
    kept = _kept_shape(a.shape, axes)
    gs = g.data.reshape(kept) / _weight_sum(wd, a.shape, axes)
    gw = None
    if isinstance(w, Tensor) and w._requires_grad:
        gw = xp.subtract(a.data, out.data.reshape(kept))  # a − out first: no cancellation
        n = a.shape[-1] if a.ndim else 1
        if a.ndim and axes == (a.ndim - 1,) and wd.size == n:
            # 1-D weights along the last axis, as in most uses: Σ over the rows as a
            # vector-matrix product, and the array of a's shape freed before ā's
            gw = xp.matmul(gs.reshape(-1), gw.reshape(-1, n)).reshape(wd.shape)
        else:
            gw *= gs
    ga = xp.multiply(gs, wd)
    if ga.shape != a.shape:
        ga = xp.broadcast_to(ga, a.shape)
    return ga, gw


_weighted_mean.defvjp_all(_weighted_mean_grads, keep="a w out")


def median(
    x: Tensor,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    dim: Axis = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Median over ``axis`` (NumPy's ``median``: the mean of the two middle values when the
    count is even; NaN for a slice holding NaN). The gradient goes to the middle element(s),
    half each when there are two.

    Raises :class:`~chainrule.errors.ShapeError` for an empty slice.
    """
    axis, keepdims = pick_axis("median", axis, dim, keepdims, keepdim)
    axes = _axes(axis, x.ndim, "median")
    n = _count(x.shape, axis)
    if n == 0:
        raise ShapeError(f"median of an empty slice: shape {x.shape}, axis {axis}")
    rest = [i for i in range(x.ndim) if i not in axes]
    flat = reshape(transpose(x, (*rest, *axes)), (*[x.shape[i] for i in rest], n))
    lo, hi = (n - 1) // 2, n // 2
    order = backend.xp.argpartition(flat.data, (lo, hi) if lo != hi else lo, axis=-1)
    lead = tuple(
        backend.xp.arange(s).reshape((-1,) + (1,) * (flat.ndim - 2 - i))
        for i, s in enumerate(flat.shape[:-1])
    )
    mid = getitem(flat, (*lead, order[..., lo]))
    if hi != lo:
        mid = (mid + getitem(flat, (*lead, order[..., hi]))) / 2
    nan = backend.xp.isnan(flat.data).any(axis=-1)
    if nan.any():  # NumPy: a slice holding NaN has median NaN (no gradient flows there)
        mid = where(nan, np.nan, mid)
    return reshape(mid, _kept_shape(x.shape, axis)) if keepdims else mid


# ---------------------------------------------------------------------------- no gradient
def _no_gradient(name: str, doc: str, dtype: Any = None) -> Any:
    """A reduction that gives no gradient: NumPy's ``name`` on the array over ``axis``, cast
    to ``dtype`` when one is given. Raises ShapeError (naming the op) for an axis out of
    range and TypeError for both spellings of an argument."""

    def reduce(
        x: Any,
        axis: Axis = None,
        keepdims: bool = False,
        *,
        dim: Axis = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        axis, keepdims = pick_axis(name, axis, dim, keepdims, keepdim)
        data = x.data if isinstance(x, Tensor) else backend.xp.asarray(x)
        _axes(axis, data.ndim, name)
        out = getattr(backend.xp, name)(data, axis=axis, keepdims=keepdims)
        return Tensor._make(out if dtype is None else backend.xp.asarray(out, dtype=dtype))

    reduce.__name__ = reduce.__qualname__ = name
    reduce.__doc__ = doc
    return reduce


all = _no_gradient(
    "all", "Whether every element over ``axis`` is true (nonzero): a bool tensor, no gradient."
)
any = _no_gradient(
    "any", "Whether some element over ``axis`` is true (nonzero): a bool tensor, no gradient."
)
count_nonzero = _no_gradient(
    "count_nonzero", "Number of nonzero elements over ``axis`` (int64, no gradient).", np.int64
)
argmax = _no_gradient(
    "argmax",
    "Indices of the maxima along ``axis`` (into the flattened tensor when ``axis`` is None), "
    "the first of ties: int64, no gradient.",
    np.int64,
)
argmin = _no_gradient(
    "argmin",
    "Indices of the minima along ``axis`` (into the flattened tensor when ``axis`` is None), "
    "the first of ties: int64, no gradient.",
    np.int64,
)
