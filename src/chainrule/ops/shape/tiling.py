"""Ops that build a larger array from copies of the elements: pad, repeat, tile, meshgrid,
diff (differences of neighbours) and array (nested tensors gathered into one).

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
from chainrule.ops.shape.joining import concatenate, stack
from chainrule.ops.shape.reshaping import as_tensor, broadcast_to, normalize_axis, ravel, reshape
from chainrule.tensor import Tensor


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
    dtypes = {t.data.dtype for t in leaves if t._requires_grad}
    if not dtypes:
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
        target = np.result_type(*dtypes)
    return _build(obj, target)


def _collect(obj: Any, leaves: list[Tensor]) -> None:
    if isinstance(obj, Tensor):
        leaves.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            if isinstance(o, Tensor):  # (a list of rows: no call per row)
                leaves.append(o)
            elif isinstance(o, (list, tuple)):
                _collect(o, leaves)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return backend.to_numpy(obj.data) if backend.xp is np else obj.data
    if isinstance(obj, (list, tuple)):
        return [_plain(o) for o in obj]
    return obj


def _build(obj: Any, dtype: np.dtype) -> Tensor:
    if isinstance(obj, (list, tuple)):
        if obj and all(type(o) is Tensor and o.data.dtype == dtype for o in obj):
            parts = obj  # tensors of the dtype already (rows, say): stacked as they are
        else:
            parts = [_build(o, dtype) for o in obj]
        if not parts:
            return Tensor(backend.xp.zeros((0,), dtype=dtype))
        try:
            return stack(parts, axis=0)
        except ShapeError:
            shapes = {p.shape for p in parts}
            if len(shapes) == 1:
                raise
            raise ShapeError(
                f"array: the nested sequences are ragged: elements of shapes "
                f"{sorted(shapes)} cannot be stacked"
            ) from None
    t = obj if isinstance(obj, Tensor) else Tensor(backend.xp.asarray(obj), dtype=dtype)
    if t.dtype == dtype:
        return t
    from chainrule.ops.elementwise import astype

    return astype(t, dtype)
