"""Hypothesis strategies shared by the engine's tests: shapes, axes, and float64 input arrays.

Shapes are small (the finite-difference check evaluates the function twice per element) and
include size-1 axes and 0-d arrays. Values are drawn from a seeded NumPy generator rather than
element by element: it is much faster, and continuous draws never tie, which matters for
``max``, ``maximum`` and friends. Functions with a kink get values kept a fixed ``gap`` away
from it, so that central differences never straddle it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

Shape = tuple[int, ...]
Axis = int | tuple[int, ...] | None

seeds = st.integers(min_value=0, max_value=2**32 - 1)
"""Seeds for :func:`uniform` and friends."""


def shapes(min_dims: int = 0, max_dims: int = 3, max_side: int = 3) -> st.SearchStrategy[Shape]:
    """Array shapes with sides from 1 (size-1 axes) to ``max_side``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def broadcast_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 3
) -> st.SearchStrategy[tuple[Shape, ...]]:
    """``num_shapes`` shapes that broadcast together (differing ranks, size-1 axes)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side
    ).map(lambda b: b.input_shapes)


@st.composite
def axes(draw: st.DrawFn, ndim: int, allow_none: bool = True) -> Axis:
    """An ``axis`` argument for a tensor with ``ndim`` dimensions: ``None``, one axis or a
    tuple of distinct axes, each possibly negative."""
    choices: list[st.SearchStrategy] = []
    if allow_none:
        choices.append(st.none())
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
        choices.append(hnp.valid_tuple_axes(ndim, min_size=1))
    return draw(st.one_of(*choices))


@st.composite
def reduce_args(
    draw: st.DrawFn, min_dims: int = 1, max_dims: int = 3, max_side: int = 3
) -> tuple[Shape, Axis, bool]:
    """``(shape, axis, keepdims)`` for a reduction."""
    shape = draw(shapes(min_dims, max_dims, max_side))
    return shape, draw(axes(len(shape))), draw(st.booleans())


def normalize_axis(axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a tuple of non-negative axes (all of them for ``None``)."""
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, int) else axis
    return tuple(a % ndim for a in items)


def count(shape: Shape, axis: Axis) -> int:
    """Number of elements a reduction over ``axis`` combines."""
    return int(np.prod([shape[a] for a in normalize_axis(axis, len(shape))], dtype=np.int64))


# ----------------------------------------------------------------------------- values
def uniform(
    seed: int,
    shape: Shape,
    low: float = -2.0,
    high: float = 2.0,
    avoid: Sequence[float] = (),
    gap: float = 0.05,
) -> np.ndarray:
    """Float64 values in [low, high), none closer than ``gap`` to a point in ``avoid``."""
    x = np.random.default_rng(seed).uniform(low, high, size=shape)
    for p in avoid:
        near = np.abs(x - p) < gap
        x = np.where(near, p + np.where(x >= p, gap, -gap), x)
    return x


def distinct(seed: int, shape: Shape, spacing: float = 0.25, offset: float = 0.0) -> np.ndarray:
    """Float64 values that differ pairwise by at least ``spacing`` - 0.1, in random order.

    With ``offset=spacing/2`` two such arrays never come closer than ``spacing/2 - 0.1``
    to each other either (used for ties-free ``maximum``/``minimum``).
    """
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    grid = (rng.permutation(n) - n / 2) * spacing + offset
    return (grid + rng.uniform(0, 0.1, size=n)).reshape(shape)


def offgrid(seed: int, shape: Shape, half: bool) -> np.ndarray:
    """Values in [k, k + 0.2) (``half=False``) or [k + 0.5, k + 0.7) for integers k in
    [-3, 3): two such arrays of opposite ``half`` are never within 0.3 of each other, in any
    broadcast pairing."""
    rng = np.random.default_rng(seed)
    base = rng.integers(-3, 3, size=shape) + (0.5 if half else 0.0)
    return base + rng.uniform(0, 0.2, size=shape)


def cotangent(shape: Shape, seed: int = 1) -> np.ndarray:
    """A fixed random weighting of an output, in [0.5, 1.5) (never 0, never symmetric)."""
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)
