"""Shape ops, indexing and joins: finite differences and PyTorch on random shapes.

Indexing is compared with PyTorch in two ways: natively where PyTorch indexes the same way
(integer arrays with repeated indices, boolean masks), and, for every index NumPy accepts
(negative steps, ``None``, ``...``), through PyTorch's ``take`` of the flat positions the
index selects, whose backward is PyTorch's own scatter-add.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from strategies import seeds, shapes, uniform
from torch_ref import check_against_torch


def _positions(shape: tuple[int, ...], index) -> np.ndarray:
    """The flat positions in an array of ``shape`` that ``x[index]`` picks, shaped like it."""
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[index]


def _by_positions(shape: tuple[int, ...], index):
    """PyTorch function computing ``x[index]`` as ``take`` of the flat positions."""
    pos = torch.from_numpy(np.array(_positions(shape, index)))  # a copy: no negative strides
    return lambda t: torch.take(t, pos)


def _check_index(shape: tuple[int, ...], index, seed: int) -> None:
    x = uniform(seed, shape)
    out = cr.tensor(x)[index]
    np.testing.assert_array_equal(out.numpy(), x[index])
    assert cr.gradcheck(lambda t: t[index], [x])
    check_against_torch(lambda t: t[index], _by_positions(shape, index), [x])


# ----------------------------------------------------------------------------- reshape & co.
@st.composite
def reshape_targets(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A new shape with the same size: neighbouring axes merged, 1s inserted, maybe one -1."""
    dims = list(shape)
    i = 0
    while i < len(dims) - 1:
        if draw(st.booleans()):
            dims[i : i + 2] = [dims[i] * dims[i + 1]]
        else:
            i += 1
    for _ in range(draw(st.integers(0, 2))):
        dims.insert(draw(st.integers(0, len(dims))), 1)
    if dims and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


@settings(max_examples=30)
@given(shape=shapes(max_dims=4), data=st.data(), seed=seeds)
def test_reshape(shape, data, seed):
    target = data.draw(reshape_targets(shape), label="target")
    x = uniform(seed, shape)
    assert cr.tensor(x).reshape(target).shape == x.reshape(target).shape
    assert cr.gradcheck(lambda t: cr.reshape(t, target), [x])
    check_against_torch(lambda t: cr.reshape(t, target), lambda t: t.reshape(target), [x])
    if target:
        check_against_torch(lambda t: t.reshape(*target), lambda t: t.reshape(*target), [x])


@settings(max_examples=30)
@given(shape=shapes(max_dims=4), data=st.data(), seed=seeds)
def test_transpose(shape, data, seed):
    nd = len(shape)
    perm = data.draw(st.permutations(range(nd)), label="perm")
    signs = data.draw(st.lists(st.booleans(), min_size=nd, max_size=nd), label="negative")
    axes = tuple(a - nd if neg else a for a, neg in zip(perm, signs))
    x = uniform(seed, shape)
    assert cr.gradcheck(lambda t: cr.transpose(t, axes), [x])
    check_against_torch(lambda t: cr.transpose(t, axes), lambda t: t.permute(tuple(perm)), [x])
    reverse = tuple(reversed(range(nd)))
    check_against_torch(lambda t: t.T, lambda t: t.permute(reverse), [x])
    check_against_torch(lambda t: t.transpose(), lambda t: t.permute(reverse), [x])


@settings(max_examples=25)
@given(shape=shapes(min_dims=1, max_dims=4), data=st.data(), seed=seeds)
def test_swapaxes_and_mT(shape, data, seed):
    nd = len(shape)
    a1 = data.draw(st.integers(-nd, nd - 1), label="axis1")
    a2 = data.draw(st.integers(-nd, nd - 1), label="axis2")
    x = uniform(seed, shape)
    assert cr.gradcheck(lambda t: cr.swapaxes(t, a1, a2), [x])
    check_against_torch(lambda t: t.swapaxes(a1, a2), lambda t: t.swapaxes(a1, a2), [x])
    if nd >= 2:
        check_against_torch(lambda t: t.mT, lambda t: t.mT, [x])


@settings(max_examples=25)
@given(shape=shapes(), data=st.data(), seed=seeds)
def test_expand_dims(shape, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    x = uniform(seed, shape)
    assert cr.expand_dims(cr.tensor(x), axis).shape == np.expand_dims(x, axis).shape
    assert cr.gradcheck(lambda t: cr.expand_dims(t, axis), [x])
    check_against_torch(lambda t: cr.expand_dims(t, axis), lambda t: t.unsqueeze(axis), [x])


@settings(max_examples=25)
@given(shape=shapes(max_dims=4, max_side=2), data=st.data(), seed=seeds)
def test_squeeze(shape, data, seed):
    ones = [i for i, s in enumerate(shape) if s == 1]
    axis = data.draw(
        st.one_of(st.none(), st.sampled_from(ones or [None]).map(lambda a: a)), label="axis"
    )
    if axis is not None and data.draw(st.booleans(), label="negative"):
        axis -= len(shape)
    x = uniform(seed, shape)
    assert cr.squeeze(cr.tensor(x), axis).shape == np.squeeze(x, axis).shape
    assert cr.gradcheck(lambda t: cr.squeeze(t, axis), [x])
    dims = tuple(ones) if axis is None else axis
    check_against_torch(lambda t: t.squeeze(axis), lambda t: t.squeeze(dims), [x])


@st.composite
def broadcast_sources(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(source, target)``: a target shape and a source that broadcasts to it (a suffix of
    the target with some axes set to 1)."""
    target = draw(shapes(max_dims=4))
    k = draw(st.integers(0, len(target)))
    source = tuple(1 if draw(st.booleans()) else s for s in target[len(target) - k :])
    return source, target


@settings(max_examples=30)
@given(shapes=broadcast_sources(), seed=seeds)
def test_broadcast_to(shapes, seed):
    source, target = shapes
    x = uniform(seed, source)
    assert cr.gradcheck(lambda t: cr.broadcast_to(t, target), [x])
    check_against_torch(lambda t: t.broadcast_to(target), lambda t: t.broadcast_to(target), [x])


# ----------------------------------------------------------------------------- indexing
@settings(max_examples=60)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=5), data=st.data(), seed=seeds)
def test_basic_indexing(shape, data, seed):
    """Ints, slices with any step (negative too), ``...`` and ``None``."""
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True), label="index")
    _check_index(shape, index, seed)


@settings(max_examples=30)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=5), data=st.data(), seed=seeds)
def test_negative_step_slices(shape, data, seed):
    index = tuple(
        slice(
            data.draw(st.one_of(st.none(), st.integers(-s, s - 1))),
            data.draw(st.one_of(st.none(), st.integers(-s - 1, s - 1))),
            data.draw(st.sampled_from([-1, -2, -3])),
        )
        for s in shape
    )
    _check_index(shape, index, seed)


@settings(max_examples=40)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(), seed=seeds)
def test_integer_array_indexing_with_repeats(shape, data, seed):
    """Integer arrays (NumPy's advanced indexing) that pick elements several times: the
    gradient must add up at each repeated element."""
    index = data.draw(
        hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_side=6)),
        label="index",
    )
    _check_index(shape, index, seed)
    x = uniform(seed, shape)
    check_against_torch(
        lambda t: t[index], lambda t: t[tuple(torch.from_numpy(i) for i in index)], [x]
    )


@settings(max_examples=30)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(), seed=seeds)
def test_integer_list_on_first_axis_with_repeats(shape, data, seed):
    n = shape[0]
    rows = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6), label="rows")
    x = uniform(seed, shape)
    assert cr.gradcheck(lambda t: t[rows], [x])
    check_against_torch(lambda t: t[rows], lambda t: t[torch.tensor(rows)], [x])
    idx = cr.tensor(np.array(rows))
    check_against_torch(lambda t: t[idx], lambda t: t[torch.tensor(rows)], [x])


def test_repeated_index_gradient_counts_each_pick():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


@settings(max_examples=30)
@given(shape=shapes(min_dims=2, max_dims=3, max_side=4), data=st.data(), seed=seeds)
def test_mixed_slice_and_integer_array(shape, data, seed):
    cols = data.draw(
        st.lists(st.integers(-shape[1], shape[1] - 1), min_size=1, max_size=5), label="cols"
    )
    x = uniform(seed, shape)
    assert cr.gradcheck(lambda t: t[:, cols], [x])
    check_against_torch(lambda t: t[:, cols], lambda t: t[:, torch.tensor(cols)], [x])


@settings(max_examples=30)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(), seed=seeds)
def test_boolean_mask(shape, data, seed):
    k = data.draw(st.integers(1, len(shape)), label="mask dims")
    mask = data.draw(hnp.arrays(np.bool_, shape[:k]), label="mask")
    x = uniform(seed, shape)
    assert cr.gradcheck(lambda t: t[mask], [x])
    check_against_torch(lambda t: t[mask], lambda t: t[torch.from_numpy(mask)], [x])
    check_against_torch(lambda t: t[cr.tensor(mask)], lambda t: t[torch.from_numpy(mask)], [x])


def test_mask_from_a_comparison():
    x = cr.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    (x[x > 0] ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 4.0, 0.0, 8.0])


# ----------------------------------------------------------------------------- joins
@settings(max_examples=30)
@given(
    shape=shapes(min_dims=1, max_dims=3),
    data=st.data(),
    seed=seeds,
    n=st.integers(1, 3),
)
def test_concatenate(shape, data, seed, n):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n), label="sizes")
    arrays = []
    for i, s in enumerate(sizes):
        sh = list(shape)
        sh[axis] = s
        arrays.append(uniform(seed + i, tuple(sh)))

    def fn(*ts):
        return cr.concatenate(ts, axis=axis)

    assert cr.gradcheck(fn, arrays)
    check_against_torch(fn, lambda *ts: torch.cat(ts, dim=axis), arrays)


@settings(max_examples=30)
@given(shape=shapes(max_dims=3), data=st.data(), seed=seeds, n=st.integers(1, 3))
def test_stack(shape, data, seed, n):
    nd = len(shape) + 1
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    arrays = [uniform(seed + i, shape) for i in range(n)]

    def fn(*ts):
        return cr.stack(list(ts), axis=axis)

    assert cr.gradcheck(fn, arrays)
    check_against_torch(fn, lambda *ts: torch.stack(ts, dim=axis), arrays)


@settings(max_examples=30)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=6), data=st.data(), seed=seeds)
def test_split(shape, data, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    n = shape[axis]
    if data.draw(st.booleans(), label="sections"):
        how = data.draw(st.sampled_from([k for k in range(1, n + 1) if n % k == 0]))
    else:
        how = sorted(data.draw(st.lists(st.integers(0, n), max_size=3), label="cuts"))
    x = uniform(seed, shape)
    pieces = cr.split(cr.tensor(x), how, axis=axis)
    expected = np.split(x, how, axis=axis)
    assert [p.shape for p in pieces] == [e.shape for e in expected]

    def fn(t):
        return cr.split(t, how, axis=axis)

    def ref(t):
        return list(torch.tensor_split(t, how, dim=axis))

    check_against_torch(fn, ref, [x])

    def weighted(t):  # each piece scaled differently, so a mixed-up piece would show
        return cr.concatenate([p * (i + 1) for i, p in enumerate(fn(t))], axis=axis)

    assert cr.gradcheck(weighted, [x])


# ----------------------------------------------------------------------------- pad
@st.composite
def pad_widths(draw: st.DrawFn, shape: tuple[int, ...], below_size: bool = False):
    """Per-axis (before, after) widths; below each side's size when ``below_size`` (for
    reflect, which PyTorch limits so)."""
    return tuple(
        (
            draw(st.integers(0, (s - 1) if below_size else 2)),
            draw(st.integers(0, (s - 1) if below_size else 2)),
        )
        for s in shape
    )


def _torch_pad(widths) -> tuple[int, ...]:
    """NumPy's per-axis widths as F.pad's flat list (last axis first)."""
    return tuple(w for pair in reversed(widths) for w in pair)


@settings(max_examples=30)
@given(shape=shapes(min_dims=1, max_dims=3), data=st.data(), seed=seeds)
def test_pad_constant(shape, data, seed):
    widths = data.draw(pad_widths(shape), label="widths")
    value = data.draw(st.sampled_from([0.0, -1.5]), label="value")
    x = uniform(seed, shape)

    def fn(t):
        return cr.pad(t, widths, constant_values=value)

    expected = np.pad(x, widths, constant_values=value)
    np.testing.assert_array_equal(fn(cr.tensor(x)).numpy(), expected)
    assert cr.gradcheck(fn, [x])
    check_against_torch(fn, lambda t: F.pad(t, _torch_pad(widths), value=value), [x])


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric", "wrap"])
@settings(max_examples=20)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(), seed=seeds)
def test_pad_modes_gradcheck(mode, shape, data, seed):
    """Gathering modes: padded cells copy elements, whose gradients add up."""
    widths = data.draw(pad_widths(shape), label="widths")
    if mode == "reflect":
        assume(all(s > 1 or w == (0, 0) for s, w in zip(shape, widths)))
    x = uniform(seed, shape)

    def fn(t):
        return cr.pad(t, widths, mode=mode)

    np.testing.assert_array_equal(fn(cr.tensor(x)).numpy(), np.pad(x, widths, mode=mode))
    assert cr.gradcheck(fn, [x])
    index = np.ix_(*(np.pad(np.arange(s), w, mode=mode) for s, w in zip(shape, widths)))
    check_against_torch(fn, _by_positions(shape, index), [x])


@pytest.mark.parametrize(
    ("mode", "torch_mode"), [("edge", "replicate"), ("reflect", "reflect"), ("wrap", "circular")]
)
@settings(max_examples=15)
@given(
    shape=hnp.array_shapes(min_dims=3, max_dims=4, min_side=2, max_side=4),
    data=st.data(),
    seed=seeds,
)
def test_pad_modes_match_torch_pad(mode, torch_mode, shape, data, seed):
    """PyTorch pads the trailing axes of (N, C, W) and (N, C, H, W) inputs."""
    spatial = data.draw(pad_widths(shape[2:], below_size=True), label="widths")
    widths = ((0, 0), (0, 0), *spatial)
    x = uniform(seed, shape)
    check_against_torch(
        lambda t: cr.pad(t, widths, mode=mode),
        lambda t: F.pad(t, _torch_pad(spatial), mode=torch_mode),
        [x],
    )
