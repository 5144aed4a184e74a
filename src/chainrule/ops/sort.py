"""Sorting and searching: sort, argsort, topk, partition, searchsorted, unique.

Sorted values are a permutation of the input, so their gradient puts ``g`` back where each
value came from. Integer outputs (``argsort``, ``argpartition``, ``searchsorted``, the
indices of ``topk`` and ``unique``) carry no gradient.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import ShapeError
from chainrule.ops.indexing import _gather_along, _scatter_add, take
from chainrule.ops.shape import accepts_dim, as_tensor, normalize_axis
from chainrule.tensor import Tensor

TopK = namedtuple("TopK", ["values", "indices"])
TopK.__doc__ = "What :func:`topk` returns: ``(values, indices)``, as PyTorch's ``topk``."


@accepts_dim
def sort(
    x: Tensor,
    axis: int | None = -1,
    kind: str | None = None,
    *,
    stable: bool | None = None,
    descending: bool = False,
) -> Tensor:
    """``x`` sorted along ``axis`` (NumPy's ``sort``; ``None``: the flattened tensor),
    ascending, or descending with PyTorch's ``descending=True``. NaNs sort last, as in
    NumPy. The gradient puts ``ḡ`` back at each value's original position. ``kind`` and
    ``stable`` are accepted for NumPy's signature; sorted values do not depend on them.

    Raises :class:`~chainrule.errors.ShapeError` for an axis out of range.
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), -1
    ax = normalize_axis("sort", axis, x.ndim)
    return _sort(x, ax, bool(descending))


@primitive
def _sort(x, axis, descending):
    """``x`` sorted along ``axis`` (reversed when ``descending``).

    x̄ = ḡ put back through the sorting permutation: x̄[argsort(x)] = ḡ
    """
    out = backend.xp.sort(x, axis=axis)
    return backend.xp.flip(out, axis) if descending else out


def _sort_grad(g, out, x, axis, descending):
    # any permutation that sorts x gives the same values; the fastest (not stable) will do
    order = backend.xp.argsort(x.data, axis=axis)
    if descending:
        order = backend.xp.flip(order, axis)
    return _unpermute(g, order, axis)


_sort.defvjp(_sort_grad, keep="x")


@accepts_dim
def argsort(
    x: Any,
    axis: int | None = -1,
    kind: str | None = None,
    *,
    stable: bool | None = None,
    descending: bool = False,
) -> Tensor:
    """The indices that sort ``x`` along ``axis`` (NumPy's ``argsort``; ``None``: the
    flattened tensor), as an int64 tensor; ``descending=True`` as PyTorch's. As in NumPy
    and PyTorch, ties keep their order only when asked: ``stable=True`` or
    ``kind="stable"`` / ``"mergesort"``. Not differentiable."""
    data = _data(x)
    if axis is None:
        data, axis = data.reshape(-1), -1
    ax = normalize_axis("argsort", axis, data.ndim)
    if stable or kind in ("stable", "mergesort"):
        return Tensor._make(_argsort_data(data, ax, descending))
    order = backend.xp.argsort(data, axis=ax, kind=kind)
    return Tensor._make(backend.xp.flip(order, ax) if descending else order)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopK:
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` and their
    indices, as PyTorch's ``topk``: a ``(values, indices)`` named tuple, values
    differentiable, sorted when ``sorted``.

    Raises :class:`~chainrule.errors.ShapeError` unless ``0 <= k <= x.shape[dim]``.
    """
    x = as_tensor(x)
    if x.ndim == 0:
        x = x.reshape(1)
    ax = normalize_axis("topk", dim, x.ndim)
    n = x.shape[ax]
    if not 0 <= k <= n:
        raise ShapeError(
            f"topk: k={k} is out of range for dimension {dim} of size {n} (shape {x.shape}); "
            f"expected 0 <= k <= {n}"
        )
    xp = backend.xp
    key = -x.data if largest else x.data
    if k < n:
        part = xp.argpartition(key, k - 1 if k else 0, axis=ax)
        idx = xp.take(part, xp.arange(k), axis=ax)
    else:
        idx = xp.broadcast_to(
            xp.arange(n).reshape((-1,) + (1,) * (x.ndim - ax - 1)), x.shape
        ).copy()
    if sorted and k:
        order = xp.argsort(xp.take_along_axis(key, idx, axis=ax), axis=ax, kind="stable")
        idx = xp.take_along_axis(idx, order, axis=ax)
    return TopK(_gather_along(x, idx, ax), Tensor._make(idx))


@accepts_dim
def partition(x: Tensor, kth: int | Any, axis: int | None = -1) -> Tensor:
    """``x`` rearranged along ``axis`` so that the element at each ``kth`` position is the
    one a full sort would put there, smaller ones before it and larger ones after (NumPy's
    ``partition``). Differentiable: the gradient goes back to where each value came from.
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), -1
    ax = normalize_axis("partition", axis, x.ndim)
    _check_kth("partition", kth, x.shape, axis)
    return _partition(x, kth, ax)


@primitive
def _partition(x, kth, axis):
    """``x`` partitioned along ``axis`` around the ``kth`` positions (NumPy's).

    x̄ = ḡ put back through the permutation: x̄[argpartition(x, kth)] = ḡ
    """
    return backend.xp.partition(x, kth, axis=axis)


def _partition_grad(g, out, x, kth, axis):
    # NumPy's partition and argpartition run the same selection: x[argpartition] == out
    return _unpermute(g, backend.xp.argpartition(x.data, kth, axis=axis), axis)


_partition.defvjp(_partition_grad, keep="x")


@accepts_dim
def argpartition(x: Any, kth: int | Any, axis: int | None = -1) -> Tensor:
    """The indices that :func:`partition` ``x`` (NumPy's ``argpartition``). Not
    differentiable.

    Raises :class:`~chainrule.errors.ShapeError` for ``kth`` out of range.
    """
    data = _data(x)
    if axis is None:
        data, axis = data.reshape(-1), -1
    ax = normalize_axis("argpartition", axis, data.ndim)
    _check_kth("argpartition", kth, data.shape, axis)
    return Tensor._make(backend.xp.argpartition(data, kth, axis=ax))


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Tensor:
    """Indices where the elements of ``v`` would be inserted into the sorted 1-D ``a`` to
    keep it sorted (NumPy's ``searchsorted``; ``side="right"`` puts equal values after).
    An int64 tensor shaped like ``v``. Not differentiable.

    Raises :class:`~chainrule.errors.ShapeError` unless ``a`` is 1-D, ``ValueError`` for
    another ``side``.
    """
    a_data = _data(a)
    if a_data.ndim != 1:
        raise ShapeError(f"searchsorted: the sorted sequence must be 1-D, got shape {a_data.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    srt = None if sorter is None else _data(sorter)
    return Tensor._make(backend.xp.searchsorted(a_data, _data(v), side=side, sorter=srt))


@accepts_dim
def unique(
    x: Tensor,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: int | None = None,
) -> Tensor | tuple[Tensor, ...]:
    """The sorted unique elements of ``x`` (NumPy's ``unique``; with ``axis``, the unique
    slices along it), and optionally the first index of each, the inverse indices and the
    counts, as int64 tensors. The values are differentiable: each is taken from its first
    occurrence, which gets the gradient (as JAX does).
    """
    x = as_tensor(x)
    data = x.data
    if axis is not None:
        axis = normalize_axis("unique", axis, data.ndim)
    elif not (return_index or return_inverse or return_counts):
        return _unique(x)  # NumPy's own call forward; the first occurrences found backward
    res = backend.xp.unique(
        data,
        return_index=True,
        return_inverse=return_inverse,
        return_counts=return_counts,
        axis=axis,
    )
    first = res[1]
    values = take(x, first, axis=axis)
    extra = []
    if return_index:
        extra.append(Tensor._make(first))
    extra += [Tensor._make(r) for r in res[2:]]
    return (values, *extra) if extra else values


@primitive
def _unique(x):
    """The sorted unique elements of ``x`` (flattened), as NumPy's ``unique``.

    x̄ = ḡ at the first occurrence of each unique value, 0 elsewhere
    """
    return backend.xp.unique(x)


def _unique_grad(g, out, x):
    xp = backend.xp
    flat = x.data.reshape(-1)
    which = xp.searchsorted(out.data, flat)  # the unique value each element equals
    first = xp.empty(out.shape[0], dtype=np.int64)
    first[which[::-1]] = xp.arange(flat.size - 1, -1, -1)  # last write wins: the first
    return _scatter_add(g, first, (flat.size,)).reshape(x.shape)


_unique.defvjp(_unique_grad, keep="x out")


# ---------------------------------------------------------------------------- helpers
def _check_kth(op: str, kth: Any, shape: tuple, axis: int) -> None:
    n = shape[axis]
    ks = np.atleast_1d(np.asarray(kth))
    if ks.dtype.kind not in "iu" or (ks.size and (ks.min() < -n or ks.max() >= n)):
        raise ShapeError(
            f"{op}: kth {kth!r} is out of range for axis {axis} of size {n} "
            f"(shape {shape}); expected integers {-n} <= kth < {n}"
        )


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else backend.xp.asarray(x)


def _argsort_data(data: Any, axis: int, descending: bool) -> Any:
    xp = backend.xp
    if not descending:
        return xp.argsort(data, axis=axis, kind="stable")
    # descending and stable: sort the reversed array ascending, then map indices back
    n = data.shape[axis]
    rev = xp.argsort(xp.flip(data, axis), axis=axis, kind="stable")
    return xp.flip(n - 1 - rev, axis)


def _unpermute(g: Tensor, order: Any, axis: int) -> Tensor:
    """``ḡ`` put back through a permutation along ``axis``: ``x̄[order] = ḡ``."""
    from chainrule.ops.indexing import _positions

    shape = order.shape
    pos = _positions(shape, order, axis, list(shape), shape)
    return _scatter_add(g, pos, (g.size,)).reshape(order.shape)
