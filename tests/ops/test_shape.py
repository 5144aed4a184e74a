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
from torch_ref import assert_close, check_against_torch, check_second_order, hvp


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


# ----------------------------------------------------------------------------- issue 9's shape ops
def shapes0(min_dims: int = 0, max_dims: int = 3, max_side: int = 3):
    """Shapes that include size-0 axes as well as size-1 ones."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)


def _joined(pieces):
    """A list of tensors as one (each scaled differently), for gradcheck."""
    return cr.concatenate([p.reshape(-1) * (i + 1) for i, p in enumerate(pieces)])


def _check(cr_fn, torch_fn, arrays, np_fn=None):
    """Values against NumPy (when given), then finite differences and PyTorch."""
    out = cr_fn(*[cr.tensor(a) for a in arrays])
    expected = None if np_fn is None else np_fn(*arrays)
    if expected is not None:
        if isinstance(out, list):
            assert [o.shape for o in out] == [e.shape for e in expected]
            for o, e in zip(out, expected):
                np.testing.assert_array_equal(o.numpy(), e)
        else:
            np.testing.assert_array_equal(out.numpy(), expected)
    if isinstance(out, list) and not out:
        return  # no pieces (a size-0 axis unstacked): nothing to differentiate
    fn = (lambda *ts: _joined(cr_fn(*ts))) if isinstance(out, list) else cr_fn
    assert cr.gradcheck(fn, arrays)
    if torch_fn is not None:  # None: PyTorch lacks the function; NumPy's values checked
        check_against_torch(cr_fn, torch_fn, arrays)


@settings(max_examples=20)
@given(shape=shapes0(max_dims=4), seed=seeds)
def test_ravel_flatten_view(shape, seed):
    x = uniform(seed, shape)
    _check(cr.ravel, torch.ravel, [x], np.ravel)
    _check(cr.flatten, torch.flatten, [x], lambda a: a.flatten())
    _check(lambda t: t.ravel(), lambda t: t.reshape(-1), [x])
    _check(lambda t: t.view(-1), lambda t: t.reshape(-1), [x])


@settings(max_examples=20)
@given(shape=shapes0(min_dims=1, max_dims=4), data=st.data(), seed=seeds)
def test_flatten_start_end_dims(shape, data, seed):
    nd = len(shape)
    a = data.draw(st.integers(-nd, nd - 1), label="start_dim")
    b = data.draw(st.integers(a % nd, nd - 1), label="end_dim")
    if data.draw(st.booleans(), label="negative end"):
        b -= nd
    x = uniform(seed, shape)
    _check(lambda t: cr.flatten(t, a, b), lambda t: torch.flatten(t, a, b), [x])
    _check(lambda t: t.flatten(a), lambda t: t.flatten(a), [x])
    assert cr.tensor(x).flatten("C").shape == x.flatten("C").shape


@pytest.mark.parametrize("n", [1, 2, 3])
@settings(max_examples=15)
@given(shape=shapes0(max_dims=4), seed=seeds)
def test_atleast_nd(n, shape, seed):
    x = uniform(seed, shape)
    cr_fn = getattr(cr, f"atleast_{n}d")
    np_fn = getattr(np, f"atleast_{n}d")
    _check(cr_fn, getattr(torch, f"atleast_{n}d"), [x], np_fn)
    y = uniform(seed + 1, shape[:1])
    pair = cr_fn(cr.tensor(x), cr.tensor(y))
    assert [p.shape for p in pair] == [a.shape for a in np_fn(x, y)]


@pytest.mark.parametrize("name", ["hstack", "vstack", "dstack", "column_stack"])
@settings(max_examples=15)
@given(shape=shapes0(max_dims=3), data=st.data(), seed=seeds, n=st.integers(1, 3))
def test_stacks(name, shape, data, seed, n):
    """Inputs of the same shape except along the axis each function joins on."""
    nd = len(shape)
    join_axis = {"hstack": 0 if nd == 1 else 1, "vstack": 0, "dstack": 2, "column_stack": 1}
    ax = join_axis[name]
    arrays = []
    for i in range(n):
        sh = list(shape)
        promoted = {"column_stack": 2, "vstack": 2, "dstack": 3}.get(name, 0)
        if ax < nd and nd >= promoted:  # axes the op's promotion adds keep their size
            sh[ax] = data.draw(st.integers(0, 3), label=f"size {i}")
        arrays.append(uniform(seed + i, tuple(sh)))
    fn = getattr(cr, name)
    _check(
        lambda *ts: fn(list(ts)),
        lambda *ts: getattr(torch, name)(ts),
        arrays,
        lambda *a: getattr(np, name)(a),
    )


@settings(max_examples=25)
@given(shape=shapes0(min_dims=1, max_dims=4), data=st.data(), seed=seeds)
def test_moveaxis(shape, data, seed):
    nd = len(shape)
    k = data.draw(st.integers(1, nd), label="k")
    src = data.draw(st.permutations(range(-nd, 0)).map(lambda p: p[:k]), label="src")
    dst = data.draw(st.permutations(range(nd)).map(lambda p: p[:k]), label="dst")
    x = uniform(seed, shape)
    _check(
        lambda t: cr.moveaxis(t, src, dst),
        lambda t: torch.movedim(t, src, dst),
        [x],
        lambda a: np.moveaxis(a, src, dst),
    )
    _check(lambda t: t.movedim(src[0], dst[0]), lambda t: t.movedim(src[0], dst[0]), [x])
    _check(
        lambda t: t.permute(*range(nd - 1, -1, -1)),
        lambda t: t.permute(*range(nd - 1, -1, -1)),
        [x],
    )


@settings(max_examples=25)
@given(shape=shapes0(max_dims=4), data=st.data(), seed=seeds)
def test_flip(shape, data, seed):
    nd = len(shape)
    axis = data.draw(
        st.one_of(st.none(), hnp.valid_tuple_axes(nd)) if nd else st.none(), label="axis"
    )
    x = uniform(seed, shape)
    dims = tuple(range(nd)) if axis is None else axis
    _check(
        lambda t: cr.flip(t, axis), lambda t: torch.flip(t, dims), [x], lambda a: np.flip(a, axis)
    )
    _check(lambda t: t.flip(dims=dims), lambda t: t.flip(dims), [x])
    if nd >= 1:
        _check(cr.flipud, torch.flipud, [x], np.flipud)
    if nd >= 2:
        _check(cr.fliplr, torch.fliplr, [x], np.fliplr)


@settings(max_examples=25)
@given(shape=shapes0(min_dims=2, max_dims=4), data=st.data(), seed=seeds)
def test_rot90(shape, data, seed):
    nd = len(shape)
    k = data.draw(st.integers(-5, 5), label="k")
    a0, a1 = data.draw(st.permutations(range(nd)), label="axes")[:2]
    if data.draw(st.booleans(), label="negative"):
        a0 -= nd
    x = uniform(seed, shape)
    _check(
        lambda t: cr.rot90(t, k, (a0, a1)),
        lambda t: torch.rot90(t, k, (a0, a1)),
        [x],
        lambda a: np.rot90(a, k, (a0, a1)),
    )
    _check(lambda t: t.rot90(k, dims=(a0, a1)), lambda t: t.rot90(k, (a0, a1)), [x])


@settings(max_examples=25)
@given(shape=shapes0(max_dims=3), data=st.data(), seed=seeds)
def test_roll(shape, data, seed):
    nd = len(shape)
    x = uniform(seed, shape)
    shift = data.draw(st.integers(-7, 7), label="shift")
    _check(
        lambda t: cr.roll(t, shift),
        lambda t: torch.roll(t, shift),
        [x],
        lambda a: np.roll(a, shift),
    )
    if nd:
        axes = data.draw(hnp.valid_tuple_axes(nd, min_size=1), label="axes")
        shifts = tuple(data.draw(st.integers(-5, 5)) for _ in axes)
        _check(
            lambda t: cr.roll(t, shifts, axes),
            lambda t: torch.roll(t, shifts, axes),
            [x],
            lambda a: np.roll(a, shifts, axes),
        )
        _check(lambda t: t.roll(shift, dims=-1), lambda t: t.roll(shift, -1), [x])


@settings(max_examples=25)
@given(shape=shapes0(max_dims=3), data=st.data(), seed=seeds)
def test_repeat(shape, data, seed):
    nd = len(shape)
    x = uniform(seed, shape)
    axis = data.draw(st.integers(-nd, nd - 1) if nd else st.none(), label="axis")
    r = data.draw(st.integers(0, 3), label="repeats")
    _check(
        lambda t: cr.repeat(t, r, axis),
        lambda t: torch.repeat_interleave(t, r, axis),
        [x],
        lambda a: np.repeat(a, r, axis),
    )
    _check(
        lambda t: t.repeat(r),
        lambda t: torch.repeat_interleave(t, r),
        [x],
        lambda a: np.repeat(a, r),
    )
    if nd:
        n = shape[axis]
        counts = np.array(
            data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.int64
        )
        _check(
            lambda t: cr.repeat(t, counts, axis),
            lambda t: torch.repeat_interleave(t, torch.from_numpy(counts), axis),
            [x],
            lambda a: np.repeat(a, counts, axis),
        )


@settings(max_examples=25)
@given(shape=shapes0(max_dims=3), data=st.data(), seed=seeds)
def test_tile(shape, data, seed):
    reps = tuple(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4), label="reps"))
    x = uniform(seed, shape)
    _check(
        lambda t: cr.tile(t, reps), lambda t: torch.tile(t, reps), [x], lambda a: np.tile(a, reps)
    )
    _check(lambda t: t.tile(*reps), lambda t: t.tile(reps), [x])


@settings(max_examples=25)
@given(shape=shapes0(min_dims=1, max_dims=3, max_side=5), data=st.data(), seed=seeds)
def test_array_split_hsplit_vsplit(shape, data, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    x = uniform(seed, shape)
    k = data.draw(st.integers(1, 4), label="sections")
    _check(
        lambda t: cr.array_split(t, k, axis),
        lambda t: list(torch.tensor_split(t, k, axis)),
        [x],
        lambda a: np.array_split(a, k, axis),
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, shape[axis]), max_size=3), label="cuts"))
    _check(
        lambda t: cr.array_split(t, cuts, axis),
        lambda t: list(torch.tensor_split(t, cuts, axis)),
        [x],
        lambda a: np.array_split(a, cuts, axis),
    )
    h = shape[1] if nd > 1 else shape[0]
    divisors = [d for d in range(1, 4) if h % d == 0] if h else [1]
    d = data.draw(st.sampled_from(divisors), label="hsections")
    _check(
        lambda t: cr.hsplit(t, d),
        lambda t: list(torch.hsplit(t, d)),
        [x],
        lambda a: np.hsplit(a, d),
    )
    if nd >= 2:
        v = [d for d in range(1, 4) if shape[0] % d == 0] if shape[0] else [1]
        d = data.draw(st.sampled_from(v), label="vsections")
        _check(
            lambda t: cr.vsplit(t, d),
            lambda t: list(torch.vsplit(t, d)),
            [x],
            lambda a: np.vsplit(a, d),
        )


@pytest.mark.parametrize("indexing", ["xy", "ij"])
@settings(max_examples=15)
@given(sizes=st.lists(st.integers(0, 3), min_size=1, max_size=3), seed=seeds)
def test_meshgrid(indexing, sizes, seed):
    arrays = [uniform(seed + i, (n,)) for i, n in enumerate(sizes)]
    _check(
        lambda *ts: cr.meshgrid(*ts, indexing=indexing),
        lambda *ts: list(torch.meshgrid(*ts, indexing=indexing)),
        arrays,
        lambda *a: np.meshgrid(*a, indexing=indexing),
    )
    sparse = cr.meshgrid(*[cr.tensor(a) for a in arrays], indexing=indexing, sparse=True)
    expected = np.meshgrid(*arrays, indexing=indexing, sparse=True)
    assert [s.shape for s in sparse] == [e.shape for e in expected]


@settings(max_examples=20)
@given(rows=st.lists(st.integers(0, 3), min_size=1, max_size=3),
       cols=st.lists(st.integers(0, 3), min_size=1, max_size=3), seed=seeds)  # fmt: skip
def test_block(rows, cols, seed):
    """A block matrix from (r_i, c_j) blocks, and a 1-D join of vectors and a 0-d block."""
    shapes_ = [(r, c) for r in rows for c in cols]
    arrays = [uniform(seed + k, s) for k, s in enumerate(shapes_)]

    def fn(*ts):
        return cr.block([list(ts[i * len(cols) : (i + 1) * len(cols)]) for i in range(len(rows))])

    def np_fn(*a):
        return np.block([list(a[i * len(cols) : (i + 1) * len(cols)]) for i in range(len(rows))])

    np.testing.assert_array_equal(fn(*[cr.tensor(a) for a in arrays]).numpy(), np_fn(*arrays))
    if sum(rows) and sum(cols):
        assert cr.gradcheck(fn, arrays)
    v = [uniform(seed, (rows[0],)), uniform(seed + 1, ())]
    np.testing.assert_array_equal(cr.block([cr.tensor(v[0]), cr.tensor(v[1])]).numpy(), np.block(v))
    assert cr.gradcheck(lambda a, b: cr.block([a, b]) ** 2, v)


@settings(max_examples=20)
@given(shape=shapes0(min_dims=1, max_dims=3), data=st.data(), seed=seeds)
def test_diff(shape, data, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    n = data.draw(st.integers(0, 3), label="n")
    x = uniform(seed, shape)
    edge = data.draw(st.sampled_from([None, "scalar", "array"]), label="prepend/append")
    kw = {}
    if edge == "scalar":
        kw = {"prepend": 0.5}
    elif edge == "array":
        kw = {"append": uniform(seed + 1, tuple(2 if i == axis % nd else s
                                              for i, s in enumerate(shape)))}  # fmt: skip
    want = np.diff(x, n, axis, **kw)
    got = cr.diff(cr.tensor(x), n, axis, **kw)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(lambda t: cr.diff(t, n, axis, **kw), [x])
    edge_shape = tuple(1 if i == axis % nd else s for i, s in enumerate(shape))
    tkw = {k: torch.tensor(np.broadcast_to(v, edge_shape) if np.ndim(v) == 0 else v)
           for k, v in kw.items()}  # fmt: skip
    check_against_torch(lambda t: cr.diff(t, n, dim=axis, **kw),
                        lambda t: torch.diff(t, n, axis, **tkw), [x])  # fmt: skip


@settings(max_examples=20)
@given(shape=shapes0(min_dims=1, max_dims=3), data=st.data(), seed=seeds)
def test_insert_delete_append_compress(shape, data, seed):
    """NumPy's own rules on index arrays; a value inserted in several places (broadcast)
    gets the sum of their gradients."""
    nd = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-nd, nd - 1)), label="axis")
    n = int(np.prod(shape)) if axis is None else shape[axis]
    x = uniform(seed, shape)
    where = data.draw(st.lists(st.integers(-n, n) if n else st.just(0), max_size=3), label="obj")
    v = uniform(seed + 1, ())
    _check(lambda t, b: cr.insert(t, where, b, axis=axis), None, [x, v],
           lambda a, b: np.insert(a, where, b, axis=axis))  # fmt: skip
    if n:
        gone = data.draw(st.lists(st.integers(-n, n - 1), max_size=3, unique=True))
        _check(lambda t: cr.delete(t, gone, axis=axis), None, [x],
               lambda a: np.delete(a, gone, axis=axis))  # fmt: skip
        mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="condition")
        _check(lambda t: cr.compress(mask, t, axis=axis), None, [x],
               lambda a: np.compress(mask, a, axis=axis))  # fmt: skip
    y = uniform(seed + 2, shape)
    _check(lambda t, u: cr.append(t, u, axis=axis),
           lambda t, u: torch.cat([t.reshape(-1), u.reshape(-1)]) if axis is None
           else torch.cat([t, u], axis), [x, y],
           lambda a, b: np.append(a, b, axis=axis))  # fmt: skip


@settings(max_examples=15)
@given(shapes_=hnp.mutually_broadcastable_shapes(num_shapes=3, min_side=0, max_side=3),
       seed=seeds)  # fmt: skip
def test_broadcast_arrays(shapes_, seed):
    arrays = [uniform(seed + i, s) for i, s in enumerate(shapes_.input_shapes)]
    _check(lambda *ts: cr.broadcast_arrays(*ts), lambda *ts: list(torch.broadcast_tensors(*ts)),
           arrays, lambda *a: list(np.broadcast_arrays(*a)))  # fmt: skip


@settings(max_examples=15)
@given(shape=shapes0(min_dims=3, max_dims=4, max_side=4), data=st.data(), seed=seeds)
def test_unstack_dsplit_matrix_transpose(shape, data, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    x = uniform(seed, shape)
    _check(lambda t: list(cr.unstack(t, axis)), lambda t: list(torch.unbind(t, axis)), [x],
           lambda a: [np.take(a, i, axis) for i in range(a.shape[axis])])  # fmt: skip
    d = data.draw(st.sampled_from([k for k in (1, 2, 3) if shape[2] % k == 0] or [1]))
    if shape[2] % d == 0:
        _check(lambda t: cr.dsplit(t, d), lambda t: list(torch.dsplit(t, d)), [x],
               lambda a: np.dsplit(a, d))  # fmt: skip
    _check(cr.matrix_transpose, lambda t: t.mT, [x], lambda a: np.swapaxes(a, -1, -2))


def test_block_errors():
    a = cr.ones((2, 2))
    with pytest.raises(cr.ShapeError, match=r"block: lists are nested to different depths"):
        cr.block([[a, a], a])
    with pytest.raises(cr.ShapeError, match=r"block: a list of blocks is empty"):
        cr.block([[], [a]])
    with pytest.raises(cr.ShapeError, match=r"concatenate: shapes"):
        cr.block([[a, cr.ones((3, 1))]])


@settings(max_examples=15)
@given(shape=shapes(max_dims=2), seed=seeds)
def test_array_from_nested_tensors(shape, seed):
    """``cr.array([[a, b], [c, 1.0]])`` with tensors of any (equal) shape and numbers."""
    a, b, c = (uniform(seed + i, shape) for i in range(3))

    def fn(ta, tb, tc):
        return cr.array([[ta, tb], [tc, np.full(shape, 1.5)]])

    def ref(ta, tb, tc):
        return torch.stack(
            [torch.stack([ta, tb]), torch.stack([tc, torch.full(shape, 1.5, dtype=torch.float64)])]
        )

    _check(fn, ref, [a, b, c])


def test_array_keeps_gradients_of_scalars_and_dtype():
    w = cr.tensor(2.0, requires_grad=True)
    m = cr.array([[w, w * w], [3.0, 1.0]])
    assert m.shape == (2, 2) and m.dtype == np.float32
    np.testing.assert_array_equal(m.numpy(), [[2, 4], [3, 1]])
    cr.sum(m).backward()
    assert w.grad.item() == 5.0
    plain = cr.array([[1, 2], [3, 4]])
    assert plain.dtype == np.int64 and not plain.requires_grad
    assert cr.array([[1.0, 2.0]]).dtype == cr.tensor([[1.0, 2.0]]).dtype == np.float32
    assert cr.array([w, 1], dtype="float64").dtype == np.float64
    with pytest.raises(cr.ShapeError, match=r"array: .*ragged"):
        cr.array([[w, w], [w]])


@settings(max_examples=10)
@given(shape=shapes(min_dims=1, max_dims=3), data=st.data(), seed=seeds)
def test_torch_spelled_methods(shape, data, seed):
    nd = len(shape)
    x = uniform(seed, shape)
    dim = data.draw(st.integers(-nd - 1, nd), label="dim")
    _check(lambda t: t.unsqueeze(dim), lambda t: t.unsqueeze(dim), [x])
    sq = data.draw(st.integers(-nd, nd - 1), label="squeeze dim")
    _check(lambda t: t.squeeze(dim=sq), lambda t: t.squeeze(sq), [x])
    sizes = (2, *(-1 if data.draw(st.booleans()) else s for s in shape))
    _check(lambda t: t.expand(*sizes), lambda t: t.expand(*sizes), [x])
    _check(lambda t: t.clamp(-0.5, 0.7) * t, lambda t: t.clamp(-0.5, 0.7) * t, [x])
    _check(lambda t: cr.clamp(t, max=0.3), lambda t: torch.clamp(t, max=0.3), [x])


# name: (chainrule fn, torch fn, input shapes); each is cubed, so its Hessian is not zero
SECOND_ORDER = {
    "ravel": (cr.ravel, torch.ravel, [(2, 3)]),
    "atleast_3d": (cr.atleast_3d, torch.atleast_3d, [(3,)]),
    "hstack": (lambda x, y: cr.hstack([x, y]), lambda x, y: torch.hstack([x, y]),
               [(2, 1), (2, 3)]),
    "vstack": (lambda x, y: cr.vstack([x, y]), lambda x, y: torch.vstack([x, y]), [(3,), (3,)]),
    "dstack": (lambda x, y: cr.dstack([x, y]), lambda x, y: torch.dstack([x, y]),
               [(2, 2), (2, 2)]),
    "column_stack": (lambda x, y: cr.column_stack([x, y]),
                     lambda x, y: torch.column_stack([x, y]), [(3,), (3, 2)]),
    "moveaxis": (lambda x: cr.moveaxis(x, 0, -1), lambda x: torch.movedim(x, 0, -1), [(2, 3, 4)]),
    "flip": (lambda x: cr.flip(x, (0, -1)), lambda x: torch.flip(x, (0, -1)), [(2, 3, 2)]),
    "rot90": (lambda x: cr.rot90(x, 3), lambda x: torch.rot90(x, 3), [(2, 3)]),
    "roll": (lambda x: cr.roll(x, (1, -2), (0, 1)), lambda x: torch.roll(x, (1, -2), (0, 1)),
             [(3, 4)]),
    "repeat": (lambda x: cr.repeat(x, 2, 1), lambda x: torch.repeat_interleave(x, 2, 1), [(2, 3)]),
    "repeat_counts": (lambda x: cr.repeat(x, [2, 0, 1], 0),
                      lambda x: torch.repeat_interleave(x, torch.tensor([2, 0, 1]), 0), [(3, 2)]),
    "tile": (lambda x: cr.tile(x, (2, 1, 2)), lambda x: torch.tile(x, (2, 1, 2)), [(2, 3)]),
    "array_split": (lambda x: cr.concatenate(cr.array_split(x, 2)[::-1]),
                    lambda x: torch.cat(torch.tensor_split(x, 2)[::-1]), [(5, 2)]),
    "meshgrid": (lambda x, y: cr.meshgrid(x, y)[0] * cr.meshgrid(x, y)[1],
                 lambda x, y: torch.mul(*torch.meshgrid(x, y, indexing="xy")), [(3,), (2,)]),
    "block": (lambda x, y: cr.block([[x, y], [y, x]]),
              lambda x, y: torch.cat([torch.cat([x, y], 1), torch.cat([y, x], 1)], 0),
              [(2, 1), (2, 1)]),
    "diff": (lambda x: cr.diff(x, 2, 0, prepend=0.5), lambda x: torch.diff(
        x, 2, 0, prepend=torch.full((1, 3), 0.5, dtype=x.dtype)), [(4, 3)]),
    "insert": (lambda x, v: cr.insert(x, [0, 2, 2], v, axis=1),
               lambda x, v: torch.cat([v.expand(2, 1), x[:, :2], v.expand(2, 2), x[:, 2:]], 1),
               [(2, 3), ()]),
    "delete": (lambda x: cr.delete(x, [0, 2], axis=1), lambda x: x[:, [1, 3]], [(2, 4)]),
    "unstack": (lambda x: cr.unstack(x, 1)[1], lambda x: torch.unbind(x, 1)[1], [(2, 3)]),
    "array": (lambda x, y: cr.array([[x[0], y[1]], [y[0], 2.0]]),
              lambda x, y: torch.stack([torch.stack([x[0], y[1]]),
                                        torch.stack([y[0], torch.tensor(2.0, dtype=x.dtype)])]),
              [(2,), (2,)]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order(name):
    """Hessian-vector products against PyTorch, and the gradient against central
    differences of the gradient."""
    fn_cr, fn_torch, arg_shapes = SECOND_ORDER[name]
    arrays = [uniform(7 + i, s) for i, s in enumerate(arg_shapes)]
    g_cr, h_cr = hvp(lambda *ts: fn_cr(*ts) ** 3, cr, arrays)
    g_t, h_t = hvp(lambda *ts: fn_torch(*ts) ** 3, torch, arrays)
    for a, b in zip(g_cr + h_cr, g_t + h_t):
        assert_close(a, b)
    check_second_order(lambda *ts: fn_cr(*ts) ** 3, arrays)


def test_shape_errors_name_the_op_and_what_was_expected():
    x = cr.ones((2, 3))
    cases = [
        (lambda: cr.flip(x, 2), r"flip: axis 2 is out of range .* 2 dimensions"),
        (lambda: cr.fliplr(cr.ones(3)), r"fliplr: .*at least 2 dimensions, got \(3,\)"),
        (lambda: cr.rot90(x, axes=(0, 0)), r"rot90: axes must be different"),
        (lambda: cr.moveaxis(x, (0, 1), 0), r"moveaxis: .*same number of axes"),
        (lambda: cr.repeat(x, [1, 2], 1), r"repeat: 2 repeat counts .* axis 1 of size 3"),
        (lambda: cr.repeat(x, -1), r"repeat: repeats must be non-negative"),
        (lambda: cr.tile(x, (-1,)), r"tile: .*non-negative"),
        (lambda: cr.array_split(x, 0), r"array_split: .*must be > 0"),
        (lambda: cr.vsplit(cr.ones(4), 2), r"vsplit: .*at least 2 dimensions"),
        (lambda: cr.hsplit(x, 2), r"split: axis 1 of shape \(2, 3\) .*2 equal sections"),
        (lambda: cr.hstack([x, cr.ones((3, 3))]), r"concatenate: shapes"),
        (lambda: cr.roll(x, 1, 5), r"roll: .*\(2, 3\)"),
        (lambda: x.expand(2), r"expand: 1 sizes given for a tensor of shape \(2, 3\)"),
        (lambda: cr.flatten(x, 1, 0), r"flatten: start_dim 1 comes after end_dim 0"),
    ]
    for call, pattern in cases:
        with pytest.raises(cr.ShapeError, match=pattern):
            call()
    with pytest.raises(ValueError, match="meshgrid: indexing"):
        cr.meshgrid(x, indexing="yx")


def test_dim_is_a_synonym_of_axis():
    """PyTorch's ``dim=`` (``dims=``) is accepted wherever these ops take ``axis=``."""
    x = cr.tensor(np.arange(12.0).reshape(3, 4))
    pairs = [
        (cr.flip(x, dims=1), cr.flip(x, axis=1)),
        (cr.repeat(x, 2, dim=0), cr.repeat(x, 2, axis=0)),
        (cr.take(x, [0, 2], dim=1), cr.take(x, [0, 2], axis=1)),
        (cr.sort(-x, dim=0), cr.sort(-x, axis=0)),
        (cr.argsort(-x, dim=0), cr.argsort(-x, axis=0)),
        (cr.partition(-x, 1, dim=0), cr.partition(-x, 1, axis=0)),
        (cr.unique(x, dim=0), cr.unique(x, axis=0)),
        (cr.array_split(x, 2, dim=1)[0], cr.array_split(x, 2, axis=1)[0]),
        (cr.take_along_axis(x, np.zeros((1, 4), int), dim=0), x[:1]),
    ]
    for got, want in pairs:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    methods = [
        (x.sort(dim=0), cr.sort(x, axis=0)),
        (x.argsort(dim=0, descending=True), cr.argsort(x, axis=0, descending=True)),
        (x.repeat(2, dim=1), cr.repeat(x, 2, axis=1)),
        (x.take([1], dim=1), cr.take(x, [1], axis=1)),
        (x.take_along_dim(np.zeros((3, 1), int), dim=1), x[:, :1]),
        (x.partition(1, dim=0), cr.partition(x, 1, axis=0)),
        (x.unique(dim=1), cr.unique(x, axis=1)),
        (x.flip(dims=(0, 1)), cr.flip(x)),
        (x.roll(1, dims=0), cr.roll(x, 1, 0)),
    ]
    for got, want in methods:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(TypeError, match="sort: got both axis= and dim="):
        cr.sort(x, axis=0, dim=0)
