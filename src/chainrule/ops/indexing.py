"""Indexing: ``x[index]``, take, gather and scatter, masks, and where the nonzeros are.

A gather's gradient scatter-adds ``g`` back into zeros of the input's shape (repeated picks
add up); a scatter's gradient gathers ``g`` at the written positions. The PyTorch spellings
(``gather``, ``scatter``, ``scatter_add``, ``index_add``, ``masked_fill``) follow PyTorch's
semantics, the NumPy names (``take``, ``take_along_axis``, ``put_along_axis``) NumPy's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import Scattered, is_grad_enabled, plain_backward, primitive
from chainrule.errors import IndexRangeError, ShapeError
from chainrule.ops._axes import accepts_dim
from chainrule.tensor import Tensor


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
    """``x[index]`` for an index already turned into arrays; ``shape`` is x's shape.

    x̄ = scatter_add(zeros(shape), index, ḡ)
    """
    return x[index]


def _getitem_grad(g, out, x, index, shape):
    if _is_basic(index) and plain_backward():  # written by the walk into x's gradient sum
        return Scattered(g.data, index, shape)
    return _scatter_add(g, index, shape)


_getitem.defvjp(_getitem_grad, keep="")


@primitive
def _scatter_add(v, index, shape):
    """Zeros of ``shape`` with ``v`` added at ``index`` (repeated positions add up).

    v̄ = ḡ[index]
    """
    xp = backend.xp
    size = int(np.prod(shape))
    pos = None
    if len(shape) == 1 and hasattr(index, "dtype") and index.dtype.kind in "iu":
        pos = index  # one flat integer index (gather, sort, take_along_axis)
        if pos.size and pos.min() < 0:
            pos = pos % shape[0]
    elif not _is_basic(index) and np.size(v) * 8 >= size:
        # integer arrays or masks picking a good share of x: the flat position of every
        # picked element, then one bincount, is many times faster than add.at
        pos = xp.arange(size).reshape(shape)[index]
    if pos is not None:
        w = xp.broadcast_to(v, pos.shape).reshape(-1)
        out = xp.bincount(pos.reshape(-1), weights=w, minlength=size)
        return out.astype(v.dtype, copy=False).reshape(shape)
    z = xp.zeros(shape, dtype=v.dtype)
    if _is_basic(index):
        z[index] = v
    else:
        xp.add.at(z, index, v)
    return z


_scatter_add.defvjp(lambda g, out, v, index, shape: _getitem(g, index, shape), keep="")


# ---------------------------------------------------------------------------- gathers
@accepts_dim
def take(x: Tensor, indices: Any, axis: int | None = None, mode: str = "raise") -> Tensor:
    """Elements of ``x`` at integer ``indices`` along ``axis`` (NumPy's ``take``; ``None``:
    the flattened tensor). The result has shape ``x.shape[:axis] + indices.shape +
    x.shape[axis+1:]``; negative indices count from the end; repeated ones add up in the
    gradient. ``mode`` as NumPy's: ``"raise"``, ``"wrap"`` or ``"clip"``.

    Raises :class:`~chainrule.errors.IndexRangeError` for an index out of range (mode
    ``"raise"``), ``ValueError`` for another mode.
    """
    x = _tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    ax = _axis("take", axis, x.ndim)
    idx = _int_array("take", indices)
    n = x.shape[ax]
    if mode == "wrap" and n:
        idx = idx % n
    elif mode == "clip" and n:
        idx = backend.xp.clip(idx, 0, n - 1)
    elif mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if type(idx) is np.ndarray:  # NumPy's take checks the range itself: no extra passes
        try:
            return _take(x, idx, ax)
        except IndexError:
            _check_range("take", idx, x.shape, ax, negative=True)
            raise
    _check_range("take", idx, x.shape, ax, negative=True)
    return _take(x, idx, ax)


@primitive
def _take(x, indices, axis):
    """``x`` at integer ``indices`` along ``axis`` (NumPy's ``take``, faster than indexing).

    x̄ = scatter_add(zeros(x.shape), (:, …, indices), ḡ) (repeated indices add up)
    """
    return backend.xp.take(x, indices, axis=axis)


_TAKE_ROUNDS = 16  # most repeats of one index the slice-wise gradient below handles


def _take_grad(g, out, x, indices, axis):
    scatter = (slice(None),) * axis + (indices,)
    if is_grad_enabled() or g.data.size < 1 << 16 or indices.size < 2:  # as ops
        return _scatter_add(g, scatter, x.shape)
    # Large: each slice of x̄ is the slice of ḡ picked from it first (one take, as the forward
    # is), zero where none was; the repeats are then added round by round (round r: every
    # index's r-th repeat), slices at a time. Many times faster than a bincount over x's
    # elements, unless one index repeats very often.
    xp = backend.array_module(g.data)
    n = x.shape[axis]
    idx = indices.reshape(-1)
    idx = xp.where(idx < 0, idx + n, idx)
    order = xp.argsort(idx, kind="stable")
    s = idx[order]
    first = xp.empty(s.size, dtype=bool)
    first[0] = True
    xp.not_equal(s[1:], s[:-1], out=first[1:])
    starts = xp.flatnonzero(first)
    rank = xp.arange(s.size) - xp.repeat(starts, xp.diff(xp.append(starts, s.size)))
    rounds = int(rank.max())
    if rounds > _TAKE_ROUNDS:
        return _scatter_add(g, scatter, x.shape)
    gd = g.data.reshape((*x.shape[:axis], idx.size, *x.shape[axis + 1 :]))
    src = xp.zeros(n, dtype=order.dtype)
    src[s[first]] = order[first]
    z = xp.take(gd, src, axis=axis)
    zt, gt = xp.moveaxis(z, axis, 0), xp.moveaxis(gd, axis, 0)  # views: writing zt fills z
    missed = xp.ones(n, dtype=bool)
    missed[s[first]] = False
    zt[xp.flatnonzero(missed)] = 0
    for r in range(1, rounds + 1):
        m = rank == r
        zt[s[m]] += gt[order[m]]
    return Tensor._make(z)


_take.defvjp(_take_grad, None, keep="x.shape")


@accepts_dim
def take_along_axis(x: Tensor, indices: Any, axis: int | None) -> Tensor:
    """``x`` picked at ``indices`` along ``axis`` (NumPy's ``take_along_axis``): ``indices``
    has ``x``'s number of dimensions and broadcasts against ``x`` on the other axes, as the
    output of ``argsort`` / ``argpartition`` / ``argmax(keepdims=True)`` does. ``None``: the
    flattened tensor with 1-D indices.

    Raises :class:`~chainrule.errors.ShapeError` when the shapes do not fit,
    :class:`~chainrule.errors.IndexRangeError` for an index out of range.
    """
    x = _tensor(x)
    idx = _int_array("take_along_axis", indices)
    if axis is None:
        x, axis = x.reshape(-1), 0
    pos = _along_axis("take_along_axis", x.shape, idx, axis, numpy_style=True)
    return getitem(x.reshape(-1), pos)


@accepts_dim
def put_along_axis(x: Tensor, indices: Any, values: Any, axis: int | None) -> Tensor:
    """A copy of ``x`` with ``values`` written at ``indices`` along ``axis`` (NumPy's
    ``put_along_axis``, out of place). ``values`` broadcasts to the shape of the picked
    positions. Where an index repeats the last write wins, and (as in PyTorch's ``scatter``)
    every written value gets the gradient at its position.

    Raises as :func:`take_along_axis`.
    """
    x = _tensor(x)
    idx = _int_array("put_along_axis", indices)
    shape = x.shape
    if axis is None:
        x, axis = x.reshape(-1), 0
    pos = _along_axis("put_along_axis", x.shape, idx, axis, numpy_style=True)
    _check_broadcast("put_along_axis", values, pos.shape)
    return _put(x.reshape(-1), pos, values).reshape(shape)


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """PyTorch's ``gather``: ``out[i][j][k] = x[index[i][j][k]][j][k]`` for ``dim=0`` (and
    so on); ``out`` has ``index``'s shape, which must not exceed ``x``'s on the other axes.

    Raises :class:`~chainrule.errors.ShapeError` when the shapes do not fit,
    :class:`~chainrule.errors.IndexRangeError` for an index outside ``[0, x.shape[dim])``.
    """
    x = _tensor(x)
    idx = _int_array("gather", index)
    pos = _along_axis("gather", x.shape, idx, dim, numpy_style=False)
    return getitem(x.reshape(-1), pos)


def scatter(x: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Tensor:
    """PyTorch's ``scatter`` (out of place): a copy of ``x`` with
    ``out[index[i][j]][j] = src[i][j]`` for ``dim=0`` (and so on). ``src`` is a tensor at
    least as large as ``index`` (its leading ``index.shape`` block is used) or a number;
    ``value=`` is PyTorch's keyword for a number. Where an index repeats, the last write
    wins and every written value gets the gradient at its position.

    Raises as :func:`gather`.
    """
    x = _tensor(x)
    if src is None:
        src = value
    if src is None:
        raise ValueError("scatter: give src (a tensor or a number) or value")
    idx = _int_array("scatter", index)
    pos = _along_axis("scatter", x.shape, idx, dim, numpy_style=False)
    return _put(x.reshape(-1), pos, _src_block("scatter", src, idx.shape)).reshape(x.shape)


def scatter_add(x: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    """PyTorch's ``scatter_add`` (out of place): ``x`` plus ``src[i][j]`` added at
    ``[index[i][j]][j]`` for ``dim=0`` (and so on); repeated indices add up.

    Raises as :func:`gather`.
    """
    x = _tensor(x)
    idx = _int_array("scatter_add", index)
    if not isinstance(src, Tensor) and np.ndim(src) == 0:
        src = Tensor(backend.xp.full(idx.shape, src, dtype=x.dtype))
    pos = _along_axis("scatter_add", x.shape, idx, dim, numpy_style=False)
    added = _scatter_add(_src_block("scatter_add", src, idx.shape), pos, (x.size,))
    return x + added.reshape(x.shape)


def index_add(x: Tensor, dim: int, index: Any, source: Any, alpha: float = 1) -> Tensor:
    """PyTorch's ``index_add`` (out of place): ``x`` plus ``alpha * source``, whose slice
    ``i`` along ``dim`` is added to ``x``'s slice ``index[i]``; repeated indices add up.
    ``source`` has ``x``'s shape except ``len(index)`` along ``dim``.

    Raises :class:`~chainrule.errors.ShapeError` when the shapes do not fit,
    :class:`~chainrule.errors.IndexRangeError` for an index out of range.
    """
    x = _tensor(x)
    source = _tensor(source)
    ax = _axis("index_add", dim, x.ndim)
    idx = _int_array("index_add", index)
    expected = (*x.shape[:ax], idx.size, *x.shape[ax + 1 :])
    if idx.ndim != 1 or source.shape != expected:
        raise ShapeError(
            f"index_add: index of shape {idx.shape} and source of shape {source.shape} do not "
            f"fit x of shape {x.shape} along dim {dim}: expected a 1-D index and a source of "
            f"shape {expected}"
        )
    _check_range("index_add", idx, x.shape, ax, negative=False)
    full = backend.xp.broadcast_to(idx.reshape((-1,) + (1,) * (x.ndim - ax - 1)), expected)
    pos = _along_axis("index_add", x.shape, full, ax, numpy_style=False)
    if alpha != 1:
        source = source * alpha
    return x + _scatter_add(source, pos, (x.size,)).reshape(x.shape)


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """PyTorch's ``masked_fill`` (out of place): ``x`` with ``value`` where the boolean
    ``mask`` (broadcastable to ``x``) is true. ``value`` is a number or a 0-d tensor, whose
    gradient is the sum of ``ḡ`` over the filled positions.

    Raises :class:`~chainrule.errors.ShapeError` when ``mask`` does not broadcast to ``x``,
    :class:`~chainrule.errors.DTypeError` when it is not boolean.
    """
    from chainrule.errors import DTypeError
    from chainrule.ops.elementwise import where

    x = _tensor(x)
    m = mask.data if isinstance(mask, Tensor) else backend.xp.asarray(mask)
    if m.dtype != bool:
        raise DTypeError(f"masked_fill: the mask must be boolean, got dtype {m.dtype}")
    _check_broadcast("masked_fill", m, x.shape, what="mask")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(
                f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}"
            )
        if value.dtype != x.dtype and value.dtype.kind == "f" and x.dtype.kind == "f":
            value = value.astype(x.dtype)
    else:
        value = backend.xp.asarray(value, dtype=x.dtype)
    return where(m, value, x)


# ---------------------------------------------------------------------------- positions
def nonzero(x: Any) -> tuple[Tensor, ...]:
    """The indices of the nonzero elements, one int64 tensor per axis (NumPy's ``nonzero``;
    ``x[cr.nonzero(x)]`` picks them). Not differentiable."""
    data = x.data if isinstance(x, Tensor) else backend.xp.asarray(x)
    if data.ndim == 0:
        raise ShapeError("nonzero: not defined for a 0-d tensor; use atleast_1d first")
    return tuple(Tensor._make(i) for i in backend.xp.nonzero(data))


def argwhere(x: Any) -> Tensor:
    """The indices of the nonzero elements as an ``(N, x.ndim)`` int64 tensor (NumPy's
    ``argwhere``, PyTorch's ``nonzero()``). Not differentiable."""
    data = x.data if isinstance(x, Tensor) else backend.xp.asarray(x)
    return Tensor._make(backend.xp.argwhere(data))


@primitive
def _put(x, pos, v):
    """A copy of flat ``x`` with ``v`` (broadcast to ``pos``'s shape) written at ``pos``.

    x̄ = ḡ with zeros written at pos
    v̄ = ḡ[pos]
    """
    out = x.copy()
    out[pos] = v
    return out


_put.defvjp(
    lambda g, out, x, pos, v: _put(g, pos, 0.0),
    None,
    lambda g, out, x, pos, v: _getitem(g, pos, g.shape),
    keep="",
)


# ---------------------------------------------------------------------------- helpers
def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _axis(op: str, axis: Any, ndim: int) -> int:
    from chainrule.ops.shape import normalize_axis

    return normalize_axis(op, axis, ndim)


def _int_array(op: str, index: Any) -> Any:
    """``index`` as a backend integer array; raises DTypeError for anything else."""
    from chainrule.errors import DTypeError

    arr = index.data if isinstance(index, Tensor) else backend.xp.asarray(index)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices must be integers, got dtype {arr.dtype}")
    return arr


def _check_range(op: str, idx: Any, shape: tuple, ax: int, negative: bool) -> None:
    n = shape[ax]
    if idx.size == 0:
        return
    lo, hi = int(idx.min()), int(idx.max())
    low = -n if negative else 0
    if lo < low or hi >= n:
        bad = lo if lo < low else hi
        raise IndexRangeError(
            f"{op}: index {bad} is out of range for axis {ax} of size {n} (shape {shape}); "
            f"expected {low} <= index < {n}"
        )


def _check_broadcast(op: str, v: Any, shape: tuple, what: str = "values") -> None:
    vshape = np.shape(v.data if isinstance(v, Tensor) else v)
    try:
        if np.broadcast_shapes(vshape, shape) == tuple(shape):
            return
    except ValueError:
        pass
    raise ShapeError(f"{op}: {what} of shape {vshape} do not broadcast to shape {tuple(shape)}")


def _along_axis(op: str, shape: tuple, idx: Any, axis: Any, numpy_style: bool) -> Any:
    """Flat positions in an array of ``shape`` picked by ``idx`` along ``axis``: entry
    ``[..., i, ...]`` of the result is the flat position of ``[..., idx[..., i, ...], ...]``.

    NumPy style: ``idx`` broadcasts against ``shape`` on the other axes, negative indices
    wrap. PyTorch style: ``idx`` may be smaller than ``shape`` on the other axes (its shape is
    the result's), and indices must be in ``[0, n)``.
    """
    nd = len(shape)
    ax = _axis(op, axis, nd)
    if idx.ndim != nd:
        raise ShapeError(
            f"{op}: indices of shape {idx.shape} need as many dimensions as the tensor of "
            f"shape {shape} ({nd})"
        )
    _check_range(op, idx, shape, ax, negative=numpy_style)
    if numpy_style:
        others = [s if i != ax else 1 for i, s in enumerate(shape)]
        try:
            out_shape = np.broadcast_shapes(idx.shape, tuple(others))
        except ValueError:
            out_shape = None
        if out_shape is None:
            raise ShapeError(
                f"{op}: indices of shape {idx.shape} do not broadcast against the tensor of "
                f"shape {shape} on the axes other than {axis}"
            )
        counts = list(shape)
    else:
        bad = [i for i in range(nd) if i != ax and idx.shape[i] > shape[i]]
        if bad:
            raise ShapeError(
                f"{op}: index of shape {idx.shape} is larger than the tensor of shape {shape} "
                f"along dimension {bad[0]} (expected index.shape[d] <= x.shape[d] for d != {ax})"
            )
        out_shape = idx.shape
        counts = list(idx.shape)
    return _positions(shape, idx, ax, counts, out_shape, wrap=numpy_style)


def _positions(
    shape: tuple, idx: Any, ax: int, counts: list, out_shape: tuple, wrap: bool = False
) -> Any:
    """The flat positions of :func:`_along_axis`, for indices already checked."""
    xp = backend.xp
    nd = len(shape)
    strides = np.cumprod((1, *shape[:0:-1]))[::-1]  # C-order strides in elements
    if wrap and idx.size and shape[ax] and idx.min() < 0:
        idx = idx % shape[ax]
    pos = idx * int(strides[ax])
    for i in range(nd):
        if i != ax and counts[i] > 1:
            step = xp.arange(counts[i]) * int(strides[i])
            pos = pos + step.reshape((-1,) + (1,) * (nd - i - 1))
    return pos if pos.shape == tuple(out_shape) else xp.broadcast_to(pos, tuple(out_shape))


def _gather_along(x: Tensor, idx: Any, ax: int) -> Tensor:
    """``x`` picked at valid, non-negative ``idx`` along ``ax`` (shaped like ``x`` except
    along ``ax``): sort, topk and partition, whose indices need no checks."""
    pos = _positions(x.shape, idx, ax, list(idx.shape), idx.shape)
    return getitem(x.reshape(-1), pos)


def _src_block(op: str, src: Any, shape: tuple) -> Any:
    """PyTorch's rule for scatter's ``src``: a number, or the leading ``shape`` block of a
    tensor at least that large."""
    if not isinstance(src, Tensor) and np.ndim(src) == 0:
        return float(src)
    src = _tensor(src)
    if src.ndim != len(shape) or any(a < b for a, b in zip(src.shape, shape)):
        raise ShapeError(
            f"{op}: src of shape {src.shape} is smaller than the index of shape {shape} "
            f"(expected src.shape[d] >= index.shape[d] on every dimension)"
        )
    if src.shape == tuple(shape):
        return src
    return getitem(src, tuple(slice(0, s) for s in shape))
