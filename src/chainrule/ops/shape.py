"""Ops that move elements around without changing them: reshape, transpose, joins, splits,
flips, rolls, repeats, pads.

Their gradients move ``g`` back: reshape it, transpose it back, cut it, sum the copies.
Indexing (``x[i]``, gather, scatter) lives in :mod:`chainrule.ops.indexing`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import ShapeError
from chainrule.ops._axes import accepts_dim
from chainrule.ops.indexing import getitem, index_data  # noqa: F401 (re-exported)
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
    return transpose(g, tuple(int(i) for i in np.argsort([a % len(axes) for a in axes])))


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
    """The same-shaped inputs joined along a new ``axis``.

    x̄ᵢ = ḡ[..., i, ...] (index i along axis)
    """
    shapes = {np.shape(x) for x in xs}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all shapes must be equal, got {sorted(shapes)}")
    return backend.xp.stack(xs, axis=axis)


def _stack_grad(i, g, out, *xs, axis=0):
    ax = axis % out.ndim
    return getitem(g, (slice(None),) * ax + (i,))


_stack.defvjp_argnum(_stack_grad)


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
    """``x`` padded with the constant ``value``, ``widths`` (before, after) per axis.

    x̄ = ḡ[before₀ : before₀ + x.shape[0], ...] (the padding cut off)
    """
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


@accepts_dim
def diff(x: Tensor, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
    """The ``n``-th differences ``x[i+1] - x[i]`` along ``axis`` (NumPy's ``diff``), after
    joining ``prepend`` / ``append`` (broadcast to ``x``'s other axes) to its ends.

    Raises :class:`~chainrule.errors.ShapeError` for ``n < 0`` or an axis out of range.
    """
    x = as_tensor(x)
    if n < 0:
        raise ShapeError(f"diff: the order n must be >= 0, got {n}")
    ax = normalize_axis("diff", axis, x.ndim)
    if n == 0:
        return x  # as NumPy: prepend and append ignored too

    def edge(e: Any) -> Tensor:
        e = as_tensor(e)
        return broadcast_to(e, (*x.shape[:ax], 1, *x.shape[ax + 1 :])) if e.ndim == 0 else e

    parts = [*([edge(prepend)] if prepend is not None else []), x]
    parts += [edge(append)] if append is not None else []
    if len(parts) > 1:
        x = concatenate(parts, axis=ax)
    lead = (slice(None),) * ax
    for _ in range(n):
        x = getitem(x, (*lead, slice(1, None))) - getitem(x, (*lead, slice(None, -1)))
    return x


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


# ---------------------------------------------------------------------------- repeats
@accepts_dim
def repeat(x: Tensor, repeats: Any, axis: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times along ``axis`` (NumPy's ``repeat``;
    ``axis=None`` repeats the flattened tensor). ``repeats`` is an int, or one count per
    element along the axis. The gradient sums the copies.

    Raises :class:`~chainrule.errors.ShapeError` for negative counts or when their number
    does not match the axis.
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = ravel(x), 0
    ax = normalize_axis("repeat", axis, x.ndim)
    reps = np.asarray(backend.to_numpy(repeats.data) if isinstance(repeats, Tensor) else repeats)
    if reps.dtype.kind not in "iu" or reps.ndim > 1 or (reps < 0).any():
        raise ShapeError(
            f"repeat: repeats must be non-negative integers (one, or one per element), "
            f"got {repeats!r}"
        )
    n = x.shape[ax]
    if reps.size == 1:
        r = int(reps.reshape(-1)[0])
        s = x.shape
        spread = broadcast_to(
            reshape(x, (*s[: ax + 1], 1, *s[ax + 1 :])), (*s[: ax + 1], r, *s[ax + 1 :])
        )
        return reshape(spread, (*s[:ax], n * r, *s[ax + 1 :]))
    if reps.size != n:
        raise ShapeError(
            f"repeat: {reps.size} repeat counts given for axis {axis} of size {n} "
            f"(shape {x.shape}); expected 1 or {n}"
        )
    index = backend.xp.asarray(np.repeat(np.arange(n), reps))
    return getitem(x, (slice(None),) * ax + (index,))


def tile(x: Tensor, reps: Any) -> Tensor:
    """``x`` repeated ``reps`` times along each axis (NumPy's ``tile``; PyTorch's ``tile``):
    ``reps`` longer than ``x.ndim`` adds leading axes, shorter counts from the last axis.
    The gradient sums the copies.

    Raises :class:`~chainrule.errors.ShapeError` for negative counts.
    """
    x = as_tensor(x)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    if any(r < 0 for r in reps):
        raise ShapeError(f"tile: repetition counts must be non-negative, got {reps}")
    d = max(len(reps), x.ndim)
    reps = (1,) * (d - len(reps)) + reps
    shape = (1,) * (d - x.ndim) + x.shape
    inter = tuple(v for s in shape for v in (1, s))
    spread = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    out = broadcast_to(reshape(x, inter), spread)
    return reshape(out, tuple(r * s for r, s in zip(reps, shape)))


def meshgrid(
    *xi: Any, indexing: str = "xy", sparse: bool = False, copy: bool = True
) -> list[Tensor]:
    """Coordinate tensors from 1-D coordinate vectors (NumPy's ``meshgrid``): ``indexing``
    ``"xy"`` (Cartesian, the first two output axes swapped) or ``"ij"`` (matrix).

    Raises ``ValueError`` for another ``indexing``.
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    nd = len(xi)
    outs = []
    for i, v in enumerate(xi):
        shape = [1] * nd
        shape[i] = -1
        if indexing == "xy" and nd > 1 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        outs.append(reshape(ravel(v), tuple(shape)))
    if not sparse and outs:
        full = np.broadcast_shapes(*(o.shape for o in outs))
        outs = [broadcast_to(o, full) for o in outs]
        if copy:
            from chainrule.ops.elementwise import copy as _copy

            outs = [_copy(o) for o in outs]
    return outs


# ---------------------------------------------------------------------------- array
def array(obj: Any, dtype: Any = None) -> Tensor:
    """A tensor built from nested lists (or tuples) of tensors, arrays and numbers, keeping
    the tensors' gradients: ``cr.array([[a, b], [c, 1.0]])``.

    The dtype is ``dtype`` when given, else the tensors' common floating dtype, else that
    :func:`chainrule.tensor` would pick. Raises :class:`~chainrule.errors.ShapeError` for
    ragged nesting (naming the shapes that do not fit).
    """
    leaves: list[Tensor] = []
    _collect(obj, leaves)
    if not any(t.requires_grad for t in leaves):
        data = _plain(obj)
        try:
            np.shape(data)  # ragged nesting raises here
        except ValueError as exc:
            raise ShapeError(f"array: the nested sequences are ragged: {exc}") from exc
        if dtype is None and leaves:
            common = np.result_type(*(t.dtype for t in leaves))
            if common.kind == "f" and np.asarray(data).dtype.kind == "f":
                dtype = common  # float tensors set the dtype, as when they need gradients
        return Tensor(data, dtype=dtype)  # otherwise cr.tensor's dtype rules
    if dtype is not None:
        target = backend.as_dtype(dtype)
    else:
        target = np.result_type(*(t.dtype for t in leaves if t.requires_grad))
    return _build(obj, target)


def _collect(obj: Any, leaves: list[Tensor]) -> None:
    if isinstance(obj, Tensor):
        leaves.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _collect(o, leaves)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return backend.to_numpy(obj.data) if backend.xp is np else obj.data
    if isinstance(obj, (list, tuple)):
        return [_plain(o) for o in obj]
    return obj


def _build(obj: Any, dtype: np.dtype) -> Tensor:
    from chainrule.ops.elementwise import astype

    if isinstance(obj, (list, tuple)):
        parts = [_build(o, dtype) for o in obj]
        if not parts:
            return Tensor(backend.xp.zeros((0,), dtype=dtype))
        shapes = {p.shape for p in parts}
        if len(shapes) > 1:
            raise ShapeError(
                f"array: the nested sequences are ragged: elements of shapes "
                f"{sorted(shapes)} cannot be stacked"
            )
        return stack(parts, axis=0)
    t = obj if isinstance(obj, Tensor) else Tensor(backend.xp.asarray(obj), dtype=dtype)
    return t if t.dtype == dtype else astype(t, dtype)
