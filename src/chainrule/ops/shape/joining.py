"""Ops that join and split: concatenate, stack and their NumPy spellings (hstack, vstack,
dstack, column_stack, block), split and its spellings, unstack, append, insert, delete,
compress.

Their gradients move ``g`` back: reshape it, transpose it back, cut it, sum the copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import ShapeError
from chainrule.ops._axes import accepts_dim
from chainrule.ops.indexing import getitem
from chainrule.ops.shape.reshaping import (
    as_tensor,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    normalize_axis,
    ravel,
    reshape,
)
from chainrule.tensor import Tensor


# ---------------------------------------------------------------------------- joins
def concatenate(tensors: Any, axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis (NumPy's ``concatenate``; ``axis=None`` joins
    them flattened).

    Raises :class:`~chainrule.errors.ShapeError` naming every shape when they do not fit.
    """
    tensors = list(tensors)
    if not tensors:
        raise ShapeError("concatenate: need at least one tensor")
    if axis is None:
        tensors, axis = [ravel(t) for t in tensors], 0
    return _concatenate(*tensors, axis=axis)


@primitive
def _concatenate(*xs, axis=0):
    """The inputs joined along an existing ``axis``.

    x̄ᵢ = ḡ[..., offsetᵢ : offsetᵢ + xᵢ.shape[axis], ...] (the slice of ḡ along axis where xᵢ sits)
    """
    try:
        return backend.xp.concatenate(xs, axis=axis)
    except ValueError as exc:
        shapes = ", ".join(str(np.shape(x)) for x in xs)
        raise ShapeError(f"concatenate: shapes {shapes} do not fit along axis {axis}") from exc


def _concatenate_grads(g, out, *xs, axis=0):
    ax = axis % g.ndim
    bounds = [0]
    for x in xs:
        bounds.append(bounds[-1] + x.shape[ax])
    lead = (slice(None),) * ax
    if is_grad_enabled():  # create_graph: as ops
        return tuple(getitem(g, (*lead, slice(a, b))) for a, b in zip(bounds, bounds[1:]))
    gd = g.data
    return tuple(Tensor._make(gd[(*lead, slice(a, b))]) for a, b in zip(bounds, bounds[1:]))


_concatenate.defvjp_all(_concatenate_grads)  # all at once: one call, not one per input


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (NumPy's ``stack``)."""
    tensors = list(tensors)
    if not tensors:
        raise ShapeError("stack: need at least one tensor")
    return _stack(*tensors, axis=axis)


@primitive
def _stack(*xs, axis=0):
    """The same-shaped inputs joined along a new ``axis``.

    x̄ᵢ = ḡ[..., i, ...] (index i along axis)
    """
    try:
        if axis == 0 and backend.xp is np:  # NumPy's array stacks them faster
            return np.array(xs)
        return backend.xp.stack(xs, axis=axis)
    except ValueError:
        shapes = {np.shape(x) for x in xs}
        if len(shapes) > 1:
            raise ShapeError(f"stack: all shapes must be equal, got {sorted(shapes)}") from None
        raise


def _stack_grads(g, out, *xs, axis=0):
    ax = axis % g.ndim
    if is_grad_enabled():  # create_graph: as ops
        return tuple(getitem(g, (slice(None),) * ax + (i,)) for i in range(len(xs)))
    return tuple(Tensor._make(p) for p in backend.array_module(g.data).moveaxis(g.data, ax, 0))


_stack.defvjp_all(_stack_grads, keep="")  # all at once; reads none of the inputs


@accepts_dim
def split(x: Tensor, indices_or_sections: int | Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along ``axis`` (NumPy's ``split``): a number of equal sections or
    the indices where to cut. Each piece is differentiable.

    Raises :class:`~chainrule.errors.ShapeError` when the sections are not equal.
    """
    x = as_tensor(x)
    ax = normalize_axis("split", axis, x.ndim)
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ShapeError(
                f"split: axis {axis} of shape {x.shape} has size {n}, "
                f"which does not split into {k} equal sections"
            )
        return _pieces(x, [n // k * j for j in range(1, k)], ax)
    return _pieces(x, indices_or_sections, ax)


@accepts_dim
def array_split(x: Tensor, indices_or_sections: int | Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along ``axis`` as NumPy's ``array_split``: like :func:`split`, but
    ``k`` sections need not be equal (the first ``n % k`` get one element more).

    Raises :class:`~chainrule.errors.ShapeError` for ``k <= 0``.
    """
    x = as_tensor(x)
    ax = normalize_axis("array_split", axis, x.ndim)
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ShapeError(f"array_split: the number of sections must be > 0, got {k}")
        each, extra = divmod(x.shape[ax], k)
        sizes = [each + 1] * extra + [each] * (k - extra)
        return _pieces(x, np.cumsum(sizes)[:-1].tolist(), ax)
    return _pieces(x, indices_or_sections, ax)


def hsplit(x: Tensor, indices_or_sections: int | Any) -> list[Tensor]:
    """:func:`split` along axis 1 (axis 0 for 1-D tensors), as NumPy's ``hsplit``."""
    x = as_tensor(x)
    if x.ndim == 0:
        raise ShapeError("hsplit: needs a tensor with at least 1 dimension, got shape ()")
    return split(x, indices_or_sections, axis=1 if x.ndim > 1 else 0)


def vsplit(x: Tensor, indices_or_sections: int | Any) -> list[Tensor]:
    """:func:`split` along axis 0 of a tensor with at least 2 dimensions (NumPy's)."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"vsplit: needs a tensor with at least 2 dimensions, got {x.shape}")
    return split(x, indices_or_sections, axis=0)


def _pieces(x: Tensor, cuts: Any, ax: int) -> list[Tensor]:
    """``x`` cut along ``ax`` before each index in ``cuts`` (clipped like NumPy's slices)."""
    bounds = [0, *(int(c) for c in cuts), x.shape[ax]]
    lead = (slice(None),) * ax
    return [getitem(x, (*lead, slice(a, b))) for a, b in zip(bounds[:-1], bounds[1:])]


# ---------------------------------------------------------------------------- joins
def hstack(tensors: Any) -> Tensor:
    """Join along axis 1 (axis 0 for 1-D inputs), as NumPy's ``hstack``."""
    ts = [atleast_1d(t) for t in tensors]
    if not ts:
        raise ShapeError("hstack: need at least one tensor")
    return concatenate(ts, axis=0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Any) -> Tensor:
    """Join along axis 0 after making every input at least 2-D, as NumPy's ``vstack``."""
    ts = [atleast_2d(t) for t in tensors]
    if not ts:
        raise ShapeError("vstack: need at least one tensor")
    return concatenate(ts, axis=0)


def dstack(tensors: Any) -> Tensor:
    """Join along axis 2 after making every input at least 3-D, as NumPy's ``dstack``."""
    ts = [atleast_3d(t) for t in tensors]
    if not ts:
        raise ShapeError("dstack: need at least one tensor")
    return concatenate(ts, axis=2)


def column_stack(tensors: Any) -> Tensor:
    """1-D inputs as columns, 2-D inputs as they are, joined along axis 1 (NumPy's)."""
    ts = []
    for t in tensors:
        t = as_tensor(t)
        ts.append(reshape(t, (-1, 1)) if t.ndim < 2 else t)
    if not ts:
        raise ShapeError("column_stack: need at least one tensor")
    return concatenate(ts, axis=1)


def block(arrays: Any) -> Tensor:
    """A tensor assembled from nested lists of blocks, as NumPy's ``block``: the innermost
    lists are joined along the last axis, the next ones along the second to last, and so on
    (``cr.block([[A, B], [C, D]])`` is the 2 x 2 block matrix). Blocks with fewer
    dimensions get leading size-1 axes.

    Raises :class:`~chainrule.errors.ShapeError` for lists nested to different depths, empty
    lists, or blocks that do not fit.
    """
    depth = _block_depth(arrays)
    ndim = max(depth, _block_ndim(arrays))

    def assemble(obj: Any, level: int) -> Tensor:
        if isinstance(obj, list):
            return concatenate([assemble(o, level + 1) for o in obj], axis=level - depth)
        t = as_tensor(obj)
        return t if t.ndim == ndim else reshape(t, (1,) * (ndim - t.ndim) + t.shape)

    return assemble(arrays, 0)


def _block_depth(obj: Any) -> int:
    if not isinstance(obj, list):
        if isinstance(obj, tuple):
            raise ShapeError("block: use lists, not tuples, to nest the blocks (as NumPy)")
        return 0
    if not obj:
        raise ShapeError("block: a list of blocks is empty")
    depths = {_block_depth(o) for o in obj}
    if len(depths) > 1:
        raise ShapeError(f"block: lists are nested to different depths {sorted(depths)}")
    return depths.pop() + 1


def _block_ndim(obj: Any) -> int:
    if isinstance(obj, list):
        return max(_block_ndim(o) for o in obj)
    return np.ndim(obj.data if isinstance(obj, Tensor) else obj)


def dsplit(x: Tensor, indices_or_sections: int | Any) -> list[Tensor]:
    """:func:`split` along axis 2 of a tensor with at least 3 dimensions (NumPy's)."""
    x = as_tensor(x)
    if x.ndim < 3:
        raise ShapeError(f"dsplit: needs a tensor with at least 3 dimensions, got {x.shape}")
    return split(x, indices_or_sections, axis=2)


def unstack(x: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis``, as NumPy's ``unstack`` (PyTorch's ``unbind``)."""
    x = as_tensor(x)
    ax = normalize_axis("unstack", axis, x.ndim)
    lead = (slice(None),) * ax
    return tuple(getitem(x, (*lead, i)) for i in range(x.shape[ax]))


def append(x: Tensor, values: Any, axis: int | None = None) -> Tensor:
    """``values`` joined to the end of ``x`` (NumPy's ``append``: both flattened when
    ``axis`` is ``None``, else :func:`concatenate` along ``axis``)."""
    if axis is None:
        return concatenate([ravel(x), ravel(values)])
    return concatenate([x, values], axis=axis)


def insert(x: Tensor, obj: Any, values: Any, axis: int | None = None) -> Tensor:
    """``values`` inserted before the indices ``obj`` along ``axis`` (NumPy's ``insert``, with
    all its rules for ``obj`` and for broadcasting ``values``; ``None``: the flattened
    tensor). A value broadcast to several places gets the sum of their gradients.

    Raises what NumPy's ``insert`` raises for ``obj`` and ``values`` that do not fit, as
    :class:`~chainrule.errors.ShapeError` naming ``insert``.
    """
    x, v = as_tensor(x), as_tensor(values)
    ix = np.arange(x.size).reshape(x.shape)
    iv = np.arange(x.size, x.size + v.size).reshape(v.shape)
    obj = backend.to_numpy(obj.data) if isinstance(obj, Tensor) else obj
    try:
        order = np.insert(ix, obj, iv, axis=axis)
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"insert: into shape {x.shape} along axis {axis}: {exc}") from exc
    if v.dtype != x.dtype:
        v = v.astype(x.dtype)  # NumPy converts values to the array's dtype
    both = concatenate([ravel(x), ravel(v)])
    return getitem(both, backend.xp.asarray(order))


def delete(x: Tensor, obj: Any, axis: int | None = None) -> Tensor:
    """``x`` without the entries ``obj`` (an index, a slice, indices or a boolean mask) along
    ``axis`` (NumPy's ``delete``; ``None``: the flattened tensor).

    Raises what NumPy's ``delete`` raises for ``obj`` out of range, as
    :class:`~chainrule.errors.ShapeError` naming ``delete``.
    """
    x = as_tensor(x)
    obj = backend.to_numpy(obj.data) if isinstance(obj, Tensor) else obj
    try:
        keep = np.delete(np.arange(x.size).reshape(x.shape), obj, axis=axis)
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"delete: from shape {x.shape} along axis {axis}: {exc}") from exc
    return getitem(ravel(x), backend.xp.asarray(keep))


def compress(condition: Any, x: Tensor, axis: int | None = None) -> Tensor:
    """The slices of ``x`` along ``axis`` where the 1-D boolean ``condition`` is true (NumPy's
    ``compress``; ``None``: the flattened tensor)."""
    x = as_tensor(x)
    cond = backend.to_numpy(condition.data) if isinstance(condition, Tensor) else condition
    try:
        keep = np.compress(cond, np.arange(x.size).reshape(x.shape), axis=axis)
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"compress: shape {x.shape} along axis {axis}: {exc}") from exc
    return getitem(ravel(x), backend.xp.asarray(keep))
