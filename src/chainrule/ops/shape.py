"""Ops that move elements around without changing them: reshape, transpose, indexing, joins.

Their gradients move ``g`` back: reshape it, transpose it back, scatter-add it into zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor

Shape = tuple[int, ...]


@primitive(view=True)
def reshape(x, shape):
    try:
        return x.reshape(shape)
    except ValueError as exc:
        raise ShapeError(
            f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
            f"into shape {tuple(shape) if not isinstance(shape, int) else (shape,)}"
        ) from exc


reshape.defvjp(lambda g, out, x, shape: reshape(g, x.shape), keep="x.shape")


@primitive(view=True)
def transpose(x, axes=None):
    return backend.xp.transpose(x, axes)


def _transpose_grad(g, out, x, axes=None):
    if axes is None:
        return transpose(g)
    return transpose(g, tuple(int(i) for i in np.argsort([a % len(axes) for a in axes])))


transpose.defvjp(_transpose_grad, keep="")


@primitive(view=True)
def swapaxes(x, axis1, axis2):
    return backend.xp.swapaxes(x, axis1, axis2)


swapaxes.defvjp(lambda g, out, x, axis1, axis2: swapaxes(g, axis1, axis2), keep="")


@primitive(view=True)
def expand_dims(x, axis):
    return backend.xp.expand_dims(x, axis)


expand_dims.defvjp(lambda g, out, x, axis: reshape(g, x.shape), keep="x.shape")


@primitive(view=True)
def squeeze(x, axis=None):
    if axis is not None:
        axes = (axis,) if isinstance(axis, int) else axis
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(
                    f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1"
                )
    return backend.xp.squeeze(x, axis)


squeeze.defvjp(lambda g, out, x, axis=None: reshape(g, x.shape), keep="x.shape")


@primitive(view=True)
def broadcast_to(x, shape):
    try:
        return backend.xp.broadcast_to(x, shape)
    except ValueError as exc:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from exc


broadcast_to.defvjp(lambda g, out, x, shape: g, keep="")  # the engine sums it back to x's shape


# ---------------------------------------------------------------------------- indexing
def index_data(index: Any) -> Any:
    """An index with every Tensor in it replaced by its array."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return backend.xp.asarray([i.data if isinstance(i, Tensor) else i for i in index])
    return index


def _is_basic(index: Any) -> bool:
    """True if no element can be picked twice (so a plain assignment inverts the gather)."""
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)):
            continue
        if hasattr(i, "dtype") and i.dtype == bool:
            continue
        return False
    return True


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with NumPy's rules: basic slicing, integer arrays and boolean masks.

    The gradient scatters ``g`` back into zeros of ``x``'s shape, adding where an integer
    index picks the same element more than once. Raises ``IndexError`` for out-of-range
    indices.
    """
    idx = index_data(index)
    out = _getitem(x, idx, x.shape)
    if _is_basic(idx):
        out._version = x._version  # a view of x: in-place changes to one show in the other
    return out


@primitive
def _getitem(x, index, shape):
    return x[index]


_getitem.defvjp(lambda g, out, x, index, shape: _scatter_add(g, index, shape), keep="")


@primitive
def _scatter_add(g, index, shape):
    z = backend.xp.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        z[index] = g
    else:
        backend.xp.add.at(z, index, g)
    return z


_scatter_add.defvjp(lambda g, out, v, index, shape: _getitem(g, index, shape), keep="")


# ---------------------------------------------------------------------------- joins
def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (NumPy's ``concatenate``).

    Raises :class:`~chainrule.errors.ShapeError` naming every shape when they do not fit.
    """
    tensors = list(tensors)
    if not tensors:
        raise ShapeError("concatenate: need at least one tensor")
    return _concatenate(*tensors, axis=axis)


@primitive
def _concatenate(*xs, axis=0):
    try:
        return backend.xp.concatenate(xs, axis=axis)
    except ValueError as exc:
        shapes = ", ".join(str(np.shape(x)) for x in xs)
        raise ShapeError(f"concatenate: shapes {shapes} do not fit along axis {axis}") from exc


def _concatenate_grad(i, g, out, *xs, axis=0):
    ax = axis % out.ndim
    start = 0
    for x in xs[:i]:
        start += x.shape[ax]
    stop = start + xs[i].shape[ax]
    return getitem(g, (slice(None),) * ax + (slice(start, stop),))


_concatenate.defvjp_argnum(_concatenate_grad)


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (NumPy's ``stack``)."""
    tensors = list(tensors)
    if not tensors:
        raise ShapeError("stack: need at least one tensor")
    return _stack(*tensors, axis=axis)


@primitive
def _stack(*xs, axis=0):
    shapes = {np.shape(x) for x in xs}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all shapes must be equal, got {sorted(shapes)}")
    return backend.xp.stack(xs, axis=axis)


def _stack_grad(i, g, out, *xs, axis=0):
    ax = axis % out.ndim
    return getitem(g, (slice(None),) * ax + (i,))


_stack.defvjp_argnum(_stack_grad)


def split(x: Tensor, indices_or_sections: int | Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along ``axis`` (NumPy's ``split``): a number of equal sections or
    the indices where to cut. Each piece is differentiable.
    """
    n = x.shape[axis]
    ax = axis % x.ndim
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ShapeError(
                f"split: axis {axis} of shape {x.shape} has size {n}, "
                f"which does not split into {k} equal sections"
            )
        cuts = [n // k * j for j in range(1, k)]
    else:
        cuts = [int(c) for c in indices_or_sections]
    bounds = [0, *cuts, n]
    lead = (slice(None),) * ax
    return [getitem(x, (*lead, slice(a, b))) for a, b in zip(bounds[:-1], bounds[1:])]


def pad(x: Tensor, pad_width: Any, mode: str = "constant", constant_values: float = 0) -> Tensor:
    """Pad with NumPy's ``pad`` semantics (``pad_width`` per axis as NumPy takes it).

    ``mode="constant"`` fills with ``constant_values``; the other NumPy modes (``"edge"``,
    ``"reflect"``, ``"symmetric"``, ``"wrap"``) gather existing elements, and their gradient
    adds back into every element a padded cell copied.
    """
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    if (widths < 0).any():
        raise ShapeError(f"pad: negative pad widths {pad_width}")
    if mode == "constant":
        return _pad(x, tuple(map(tuple, widths.tolist())), constant_values)
    index = np.ix_(
        *(np.pad(np.arange(n), tuple(w), mode=mode) for n, w in zip(x.shape, widths.tolist()))
    )
    return getitem(x, index)


@primitive
def _pad(x, widths, value):
    return backend.xp.pad(x, widths, mode="constant", constant_values=value)


_pad.defvjp(
    lambda g, out, x, widths, value: getitem(
        g, tuple(slice(a, a + n) for (a, _), n in zip(widths, x.shape))
    ),
    None,
    keep="x.shape",
)


@primitive
def to_device(x, device, source):
    """``x`` copied to ``device`` (a :class:`~chainrule.backend.Device`); ``source`` is the
    device it comes from, which the gradient goes back to. ``Tensor.to`` calls this."""
    return backend.to_device(x, device)


to_device.defvjp(lambda g, out, x, device, source: to_device(g, source, device), keep="")
