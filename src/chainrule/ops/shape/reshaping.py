"""Ops that reshape and reorder without changing the elements: reshape, transpose, swapaxes,
expand_dims, squeeze, broadcast_to, ravel, flatten, atleast_*d, moveaxis, flips, rolls; and
the axis helpers the other shape files share.

Their gradients move ``g`` back: reshape it, transpose it back, cut it, sum the copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import ShapeError
from chainrule.ops._axes import accepts_dim
from chainrule.ops.indexing import getitem
from chainrule.tensor import Tensor

Shape = tuple[int, ...]


@primitive(view=True)
def reshape(x, shape):
    """``x`` with a new ``shape`` of the same size (NumPy's ``reshape``; one ``-1`` inferred).

    x̄ = reshape(ḡ, x.shape)
    """
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
    """``x`` with its axes permuted by ``axes`` (reversed when ``None``), as NumPy's.

    x̄ = transpose(ḡ, argsort(axes))
    """
    return backend.xp.transpose(x, axes)


def _transpose_grad(g, out, x, axes=None):
    if axes is None:
        return transpose(g)
    n = len(axes)
    return transpose(g, tuple(sorted(range(n), key=lambda i: axes[i] % n)))  # argsort(axes)


transpose.defvjp(_transpose_grad, keep="")


@primitive(view=True)
def swapaxes(x, axis1, axis2):
    """``x`` with axes ``axis1`` and ``axis2`` interchanged.

    x̄ = swapaxes(ḡ, axis1, axis2)
    """
    return backend.xp.swapaxes(x, axis1, axis2)


swapaxes.defvjp(lambda g, out, x, axis1, axis2: swapaxes(g, axis1, axis2), keep="")


@primitive(view=True)
def expand_dims(x, axis):
    """``x`` with a new size-1 axis inserted at ``axis``.

    x̄ = reshape(ḡ, x.shape)
    """
    return backend.xp.expand_dims(x, axis)


expand_dims.defvjp(lambda g, out, x, axis: reshape(g, x.shape), keep="x.shape")


@primitive(view=True)
def squeeze(x, axis=None):
    """``x`` without its size-1 axes (only ``axis`` when given; it must have size 1).

    x̄ = reshape(ḡ, x.shape)
    """
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
    """``x`` broadcast (a read-only view) to ``shape``, with NumPy's broadcasting rules.

    x̄ = Σ over the broadcast axes of ḡ (summed down to x.shape)
    """
    try:
        return backend.xp.broadcast_to(x, shape)
    except ValueError as exc:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from exc


broadcast_to.defvjp(lambda g, out, x, shape: g, keep="")  # the engine sums it back to x's shape


@primitive
def to_device(x, device, source):
    """``x`` copied to ``device`` (a :class:`~chainrule.backend.Device`); ``source`` is the
    device it comes from, which the gradient goes back to. ``Tensor.to`` calls this.

    x̄ = to_device(ḡ, source)
    """
    return backend.to_device(x, device)


to_device.defvjp(lambda g, out, x, device, source: to_device(g, source, device), keep="")


# ---------------------------------------------------------------------------- helpers
def as_tensor(x: Any) -> Tensor:
    """``x`` itself if it is a Tensor, else a Tensor wrapping it (NumPy's dtype rules for
    arrays, the default float dtype for Python floats)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def normalize_axis(op: str, axis: Any, ndim: int) -> int:
    """``axis`` as a non-negative int below ``ndim``.

    Raises :class:`~chainrule.errors.ShapeError` naming ``op`` when it is out of range or
    not an integer.
    """
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ShapeError(f"{op}: axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions "
            f"(expected {-ndim} <= axis < {ndim})"
            if ndim
            else f"{op}: axis {axis} given for a 0-d tensor, which has no axes"
        )
    return int(axis) % ndim


def _axes_tuple(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """An int, a sequence of ints or ``None`` (all axes) as a tuple of distinct axes."""
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(normalize_axis(op, a, ndim) for a in items)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return axes


# ---------------------------------------------------------------------------- reshaping
def ravel(x: Tensor) -> Tensor:
    """All elements as a 1-D tensor, in C order (NumPy's ``ravel``; a view when possible)."""
    return reshape(as_tensor(x), (-1,))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Axes ``start_dim`` to ``end_dim`` merged into one (PyTorch's ``flatten``; by default
    all of them: a 1-D tensor, as NumPy's ``ndarray.flatten``). A 0-d tensor becomes 1-D.

    Raises :class:`~chainrule.errors.ShapeError` for axes out of range or in the wrong order.
    """
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    a = normalize_axis("flatten", start_dim, x.ndim)
    b = normalize_axis("flatten", end_dim, x.ndim)
    if a > b:
        raise ShapeError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of "
            f"shape {x.shape}"
        )
    merged = int(np.prod(x.shape[a : b + 1]))  # not -1: ambiguous with size-0 axes
    return reshape(x, (*x.shape[:a], merged, *x.shape[b + 1 :]))


def atleast_1d(*tensors: Any) -> Tensor | list[Tensor]:
    """Each input with at least 1 dimension (0-d becomes shape ``(1,)``), as NumPy's:
    one tensor for one input, a list for several."""
    return _atleast(tensors, lambda s: s if len(s) >= 1 else (1,))


def atleast_2d(*tensors: Any) -> Tensor | list[Tensor]:
    """Each input with at least 2 dimensions: ``()`` → ``(1, 1)``, ``(n,)`` → ``(1, n)``."""
    return _atleast(tensors, lambda s: s if len(s) >= 2 else (1,) * (2 - len(s)) + s)


def atleast_3d(*tensors: Any) -> Tensor | list[Tensor]:
    """Each input with at least 3 dimensions, as NumPy's: ``()`` → ``(1, 1, 1)``,
    ``(n,)`` → ``(1, n, 1)``, ``(m, n)`` → ``(m, n, 1)``."""

    def shape3(s: Shape) -> Shape:
        if len(s) == 0:
            return (1, 1, 1)
        if len(s) == 1:
            return (1, s[0], 1)
        return (*s, 1) if len(s) == 2 else s

    return _atleast(tensors, shape3)


def _atleast(tensors: tuple, new_shape: Any) -> Tensor | list[Tensor]:
    out = []
    for t in tensors:
        t = as_tensor(t)
        shape = new_shape(t.shape)
        out.append(t if shape == t.shape else reshape(t, shape))
    return out[0] if len(out) == 1 else out


def moveaxis(x: Tensor, source: Any, destination: Any) -> Tensor:
    """``x`` with axes ``source`` moved to positions ``destination`` (NumPy's ``moveaxis``,
    PyTorch's ``movedim``); the other axes keep their order.

    Raises :class:`~chainrule.errors.ShapeError` for out-of-range or repeated axes, or when
    ``source`` and ``destination`` differ in length.
    """
    x = as_tensor(x)
    src = _axes_tuple("moveaxis", source, x.ndim)
    dst = _axes_tuple("moveaxis", destination, x.ndim)
    if len(src) != len(dst):
        raise ShapeError(
            f"moveaxis: source {source!r} and destination {destination!r} must have the same "
            "number of axes"
        )
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def broadcast_arrays(*tensors: Any) -> list[Tensor]:
    """The inputs broadcast against each other (NumPy's ``broadcast_arrays``).

    Raises :class:`~chainrule.errors.ShapeError` naming the shapes when they do not broadcast.
    """
    ts = [as_tensor(t) for t in tensors]
    try:
        shape = np.broadcast_shapes(*(t.shape for t in ts))
    except ValueError as exc:
        shapes = ", ".join(str(t.shape) for t in ts)
        raise ShapeError(f"broadcast_arrays: shapes {shapes} do not broadcast") from exc
    return [t if t.shape == shape else broadcast_to(t, shape) for t in ts]


def matrix_transpose(x: Tensor) -> Tensor:
    """The last two axes swapped (NumPy's ``matrix_transpose``, ``Tensor.mT``)."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(
            f"matrix_transpose: needs a tensor with at least 2 dimensions, got {x.shape}"
        )
    return swapaxes(x, -1, -2)


# ---------------------------------------------------------------------------- flips, rolls
@accepts_dim
def flip(x: Tensor, axis: Any = None) -> Tensor:
    """``x`` with the order of elements reversed along ``axis`` (an int, a tuple, or
    ``None`` for all axes), as NumPy's ``flip`` and PyTorch's ``flip(dims)``.

    A view; its gradient is ``ḡ`` flipped back. Raises
    :class:`~chainrule.errors.ShapeError` for an axis out of range.
    """
    x = as_tensor(x)
    return _flip(x, _axes_tuple("flip", axis, x.ndim))


@primitive(view=True)
def _flip(x, axes):
    """``x`` reversed along each of ``axes`` (a view).

    x̄ = flip(ḡ, axes)
    """
    return backend.xp.flip(x, axes) if axes else x[...]


_flip.defvjp(lambda g, out, x, axes: _flip(g, axes), keep="")


def fliplr(x: Tensor) -> Tensor:
    """``x`` reversed along axis 1 (left/right); needs at least 2 dimensions."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"fliplr: needs a tensor with at least 2 dimensions, got {x.shape}")
    return flip(x, 1)


def flipud(x: Tensor) -> Tensor:
    """``x`` reversed along axis 0 (up/down); needs at least 1 dimension."""
    x = as_tensor(x)
    if x.ndim < 1:
        raise ShapeError("flipud: needs a tensor with at least 1 dimension, got shape ()")
    return flip(x, 0)


def rot90(x: Tensor, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Tensor:
    """``x`` rotated by 90 degrees ``k`` times in the plane of ``axes``, from the first axis
    towards the second (NumPy's ``rot90``, PyTorch's ``rot90(k, dims)``).

    Raises :class:`~chainrule.errors.ShapeError` unless ``axes`` names two different axes of
    a tensor with at least 2 dimensions.
    """
    x = as_tensor(x)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ShapeError(f"rot90: axes must name 2 axes, got {axes!r}")
    if x.ndim < 2:
        raise ShapeError(f"rot90: needs a tensor with at least 2 dimensions, got {x.shape}")
    a0, a1 = (normalize_axis("rot90", a, x.ndim) for a in axes)
    if a0 == a1:
        raise ShapeError(f"rot90: axes must be different, got {axes!r}")
    k %= 4
    if k == 0:
        return getitem(x, ...)
    if k == 2:
        return flip(x, (a0, a1))
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(x, a1), tuple(perm))
    return flip(transpose(x, tuple(perm)), a1)


@primitive
def roll(x, shift, axis=None):
    """``x`` with elements shifted by ``shift`` along ``axis`` (ints or tuples; ``None``:
    the flattened tensor), wrapping around at the end, as NumPy's ``roll``.

    x̄ = roll(ḡ, −shift, axis)
    """
    return backend.xp.roll(x, shift, axis)


def _negate(shift: Any) -> Any:
    s = np.asarray(shift)
    return (-s).tolist() if s.ndim else -int(s)


roll.defvjp(lambda g, out, x, shift, axis=None: roll(g, _negate(shift), axis), keep="")
