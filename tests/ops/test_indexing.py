"""take, take_along_axis, put_along_axis, gather, scatter, scatter_add, index_add,
masked_fill, nonzero, argwhere: values against NumPy / PyTorch, gradients against central
differences (first and second order) and PyTorch, on random shapes with size-0 and size-1
axes, negative axes and repeated indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from strategies import seeds, uniform
from torch_ref import assert_close, check_against_torch, check_second_order, hvp


def shapes0(min_dims: int = 1, max_dims: int = 3, max_side: int = 3):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)


def _indices(seed: int, shape: tuple, n: int, negative: bool = False) -> np.ndarray:
    """Random indices into an axis of size ``n`` (repeats likely), shaped ``shape``."""
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros(shape, dtype=np.int64)
    return rng.integers(-n if negative else 0, n, size=shape).astype(np.int64)


def _check(cr_fn, torch_fn, arrays, np_fn=None, differentiable=None):
    out = cr_fn(*[cr.tensor(a) for a in arrays])
    if np_fn is not None:
        np.testing.assert_array_equal(out.numpy(), np_fn(*arrays))
    assert cr.gradcheck(cr_fn, arrays)
    check_against_torch(cr_fn, torch_fn, arrays, differentiable)


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_take(shape, data, seed):
    nd = len(shape)
    x = uniform(seed, shape)
    ishape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    if data.draw(st.booleans(), label="flat"):
        axis, n = None, x.size
    else:
        axis = data.draw(st.integers(-nd, nd - 1), label="axis")
        n = shape[axis]
    if n == 0:
        ishape = (0,)
    idx = _indices(seed, ishape, n, negative=True)
    wrapped = torch.from_numpy(np.asarray(idx % max(n, 1)))
    if axis is None:
        ref = lambda t: torch.take(t, wrapped)
    else:
        ref = lambda t: torch.index_select(t, axis, wrapped.reshape(-1)).reshape(
            shape[: axis % nd] + idx.shape + shape[axis % nd + 1 :]
        )
    _check(lambda t: cr.take(t, idx, axis), ref, [x], lambda a: np.take(a, idx, axis))
    _check(lambda t: t.take(cr.tensor(idx), axis), ref, [x])


@pytest.mark.parametrize(
    ("shape", "axis", "ishape", "high"),
    [((300, 250), 0, (400,), 300), ((40, 30, 90), -1, (10, 20), 90), ((300, 250), 1, (600,), 2)],
)
def test_take_gradient_large(shape, axis, ishape, high):
    """take's gradient on tensors large enough for its slice-wise rule (repeats summed round
    by round; the last case repeats one index too often for it and takes the general one)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    idx = rng.integers(-high, high, ishape)
    t = cr.tensor(x, requires_grad=True)
    out = cr.take(t, idx, axis=axis)
    g = rng.standard_normal(out.shape)
    (gx,) = cr.gradients(out, t, cr.tensor(g))
    ref = torch.tensor(x, requires_grad=True)
    wrapped = torch.from_numpy(idx % shape[axis]).reshape(-1)
    picked = torch.index_select(ref, axis % len(shape), wrapped).reshape(out.shape)
    picked.backward(torch.from_numpy(g))
    np.testing.assert_allclose(gx.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_take_along_axis(shape, data, seed):
    nd = len(shape)
    x = uniform(seed, shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    ishape = list(shape)
    ishape[axis] = data.draw(st.integers(0, 4), label="k") if shape[axis] else 0
    for i in range(nd):  # broadcast the other axes sometimes
        if i != axis % nd and data.draw(st.booleans()):
            ishape[i] = 1
    idx = _indices(seed, tuple(ishape), shape[axis], negative=True)
    full = np.broadcast_to(
        idx,
        np.broadcast_shapes(
            idx.shape, tuple(1 if i == axis % nd else s for i, s in enumerate(shape))
        ),
    )
    ref_idx = torch.from_numpy(full % max(shape[axis], 1))
    _check(
        lambda t: cr.take_along_axis(t, idx, axis),
        lambda t: torch.gather(t, axis, ref_idx),
        [x],
        lambda a: np.take_along_axis(a, idx, axis),
    )
    _check(lambda t: t.take_along_axis(idx, axis), lambda t: torch.gather(t, axis, ref_idx), [x])


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_gather(shape, data, seed):
    nd = len(shape)
    x = uniform(seed, shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    ishape = [data.draw(st.integers(0, s)) for s in shape]
    ishape[dim] = data.draw(st.integers(0, 4)) if shape[dim] else 0
    idx = _indices(seed, tuple(ishape), shape[dim])
    ti = torch.from_numpy(idx)
    _check(lambda t: cr.gather(t, dim, idx), lambda t: torch.gather(t, dim, ti), [x])
    _check(lambda t: t.gather(dim, cr.tensor(idx)), lambda t: t.gather(dim, ti), [x])


def _unique_positions(seed: int, shape: tuple, ishape: list, dim: int) -> np.ndarray:
    """Scatter indices with no repeats along ``dim`` (PyTorch's scatter is undefined with
    repeats): a random permutation's first entries in every line."""
    rng = np.random.default_rng(seed)
    n = shape[dim]
    lines = rng.random(
        tuple(s if i == dim % len(shape) else ishape[i] for i, s in enumerate(shape))
    ).argsort(axis=dim)
    return np.take(lines, np.arange(ishape[dim]), axis=dim).astype(np.int64) if n else lines


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_scatter_and_put_along_axis(shape, data, seed):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    ishape = [data.draw(st.integers(0, s)) for s in shape]
    ishape[dim] = data.draw(st.integers(0, shape[dim]))
    idx = _unique_positions(seed, shape, ishape, dim)
    # PyTorch's own backward fails for a src larger than the index: compared at equal
    # shapes; a larger src (its leading block used) is checked against finite differences.
    x, src = uniform(seed, shape), uniform(seed + 1, idx.shape)
    ti = torch.from_numpy(idx)
    _check(
        lambda t, s: cr.scatter(t, dim, idx, s), lambda t, s: torch.scatter(t, dim, ti, s), [x, src]
    )
    big = uniform(seed + 2, tuple(s + 1 for s in idx.shape))
    out = cr.scatter(cr.tensor(x), dim, idx, cr.tensor(big))
    want = torch.scatter(torch.from_numpy(x), dim, ti, torch.from_numpy(big))
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    assert cr.gradcheck(lambda t, s: cr.scatter(t, dim, idx, s), [x, big])
    _check(lambda t: t.scatter(dim, idx, value=1.5), lambda t: t.scatter(dim, ti, 1.5), [x])
    if all(idx.shape[i] == shape[i] for i in range(nd) if i != dim % nd):
        # put_along_axis: the same writes, NumPy's name (values broadcast to the index)
        block = src[tuple(slice(0, s) for s in idx.shape)]

        def np_put(a, v):
            a = a.copy()
            np.put_along_axis(a, idx, v, dim)
            return a

        _check(
            lambda t, v: cr.put_along_axis(t, idx, v, dim),
            lambda t, v: torch.scatter(t, dim, ti, v),
            [x, block],
            np_put,
        )


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_scatter_add_with_repeats(shape, data, seed):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    ishape = [data.draw(st.integers(0, s)) for s in shape]
    ishape[dim] = data.draw(st.integers(0, 5)) if shape[dim] else 0
    idx = _indices(seed, tuple(ishape), shape[dim])
    x, src = uniform(seed, shape), uniform(seed + 1, tuple(ishape))
    ti = torch.from_numpy(idx)
    _check(
        lambda t, s: cr.scatter_add(t, dim, idx, s),
        lambda t, s: torch.scatter_add(t, dim, ti, s),
        [x, src],
    )
    _check(
        lambda t, s: t.scatter_add(dim, cr.tensor(idx), s),
        lambda t, s: t.scatter_add(dim, ti, s),
        [x, src],
    )


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_index_add_with_repeats(shape, data, seed):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    k = data.draw(st.integers(0, 5)) if shape[dim] else 0
    idx = _indices(seed, (k,), shape[dim])
    sshape = list(shape)
    sshape[dim] = k
    x, src = uniform(seed, shape), uniform(seed + 1, tuple(sshape))
    ti = torch.from_numpy(idx)
    alpha = data.draw(st.sampled_from([1, -0.5]), label="alpha")
    _check(
        lambda t, s: cr.index_add(t, dim, idx, s, alpha=alpha),
        lambda t, s: torch.index_add(t, dim, ti, s, alpha=alpha),
        [x, src],
    )
    _check(lambda t, s: t.index_add(dim, idx, s), lambda t, s: t.index_add(dim, ti, s), [x, src])


def test_repeated_indices_add_up():
    x = cr.zeros(3, dtype="float64", requires_grad=True)
    out = cr.index_add(x, 0, [0, 2, 0], cr.tensor([1.0, 2.0, 4.0], dtype="float64"))
    np.testing.assert_array_equal(out.numpy(), [5.0, 0.0, 2.0])
    out = cr.scatter_add(cr.zeros(3), 0, [1, 1, 1], cr.ones(3))
    np.testing.assert_array_equal(out.numpy(), [0.0, 3.0, 0.0])
    y = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    cr.take(y, [0, 0, -1]).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 0.0, 1.0])


@settings(max_examples=25)
@given(shape=shapes0(min_dims=0), data=st.data(), seed=seeds)
def test_masked_fill(shape, data, seed):
    k = data.draw(st.integers(0, len(shape)), label="mask dims")
    mask = data.draw(hnp.arrays(np.bool_, shape[len(shape) - k :]), label="mask")
    x, v = uniform(seed, shape), uniform(seed + 1, ())
    tm = torch.from_numpy(mask)
    _check(
        lambda t: cr.masked_fill(t, mask, -1.25),
        lambda t: t.masked_fill(tm, -1.25),
        [x],
        lambda a: np.where(mask, -1.25, a),
    )
    _check(
        lambda t, s: t.masked_fill(cr.tensor(mask), s), lambda t, s: t.masked_fill(tm, s), [x, v]
    )


@settings(max_examples=20)
@given(shape=shapes0(min_dims=0), seed=seeds)
def test_nonzero_and_argwhere(shape, seed):
    a = np.round(uniform(seed, shape))
    x = cr.tensor(a, requires_grad=True)
    w = cr.argwhere(x)
    np.testing.assert_array_equal(w.numpy(), np.argwhere(a))
    assert w.dtype == np.int64 and not w.requires_grad
    np.testing.assert_array_equal(x.argwhere().numpy(), torch.tensor(a).nonzero().numpy())
    if a.ndim:
        nz = x.nonzero()
        assert len(nz) == a.ndim
        for got, want in zip(nz, np.nonzero(a)):
            np.testing.assert_array_equal(got.numpy(), want)
        assert all(not t.requires_grad for t in nz)


# name: (chainrule fn, torch fn, input shapes); cubed, so that the Hessian is not zero
SECOND_ORDER = {
    "take": (lambda x: cr.take(x, [[0, 2], [2, 2]], 1),
             lambda x: x[:, torch.tensor([[0, 2], [2, 2]])], [(2, 3)]),
    "take_along_axis": (lambda x: cr.take_along_axis(x, np.array([[1, 1, 0]]), 0),
                        lambda x: torch.gather(x, 0, torch.tensor([[1, 1, 0]] * 1)), [(2, 3)]),
    "gather": (lambda x: cr.gather(x, 1, np.array([[2, 2], [0, 1]])),
               lambda x: torch.gather(x, 1, torch.tensor([[2, 2], [0, 1]])), [(2, 3)]),
    "scatter": (lambda x, s: cr.scatter(x, 0, np.array([[1, 0, 1]]), s),
                lambda x, s: torch.scatter(x, 0, torch.tensor([[1, 0, 1]]), s), [(2, 3), (1, 3)]),
    "put_along_axis": (lambda x, s: cr.put_along_axis(x, np.array([[2], [0]]), s, 1),
                       lambda x, s: torch.scatter(x, 1, torch.tensor([[2], [0]]), s),
                       [(2, 3), (2, 1)]),
    "scatter_add": (lambda x, s: cr.scatter_add(x, 1, np.array([[0, 0, 2]]), s),
                    lambda x, s: torch.scatter_add(x, 1, torch.tensor([[0, 0, 2]]), s),
                    [(2, 3), (1, 3)]),
    "index_add": (lambda x, s: cr.index_add(x, 0, np.array([1, 1, 0]), s),
                  lambda x, s: torch.index_add(x, 0, torch.tensor([1, 1, 0]), s),
                  [(2, 3), (3, 3)]),
    "masked_fill": (lambda x, v: cr.masked_fill(x, np.array([True, False, True]), v),
                    lambda x, v: x.masked_fill(torch.tensor([True, False, True]), v),
                    [(2, 3), ()]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order(name):
    fn_cr, fn_torch, arg_shapes = SECOND_ORDER[name]
    arrays = [uniform(3 + i, s) for i, s in enumerate(arg_shapes)]
    g_cr, h_cr = hvp(lambda *ts: fn_cr(*ts) ** 3, cr, arrays)
    g_t, h_t = hvp(lambda *ts: fn_torch(*ts) ** 3, torch, arrays)
    for a, b in zip(g_cr + h_cr, g_t + h_t):
        assert_close(a, b)
    check_second_order(lambda *ts: fn_cr(*ts) ** 3, arrays)


def test_errors_name_the_op_shapes_and_expectation():
    x = cr.ones((2, 3))
    with pytest.raises(cr.errors.IndexRangeError, match=r"take: index 3 .*axis 1 of size 3"):
        cr.take(x, [3], 1)
    with pytest.raises(cr.errors.IndexRangeError, match=r"gather: index -1 .*expected 0 <="):
        cr.gather(x, 1, [[-1]])
    with pytest.raises(cr.ShapeError, match=r"gather: index of shape \(3, 1\) is larger"):
        cr.gather(x, 1, np.zeros((3, 1), dtype=int))
    with pytest.raises(cr.ShapeError, match=r"take_along_axis: indices of shape \(2,\) need"):
        cr.take_along_axis(x, np.array([0, 1]), 1)
    with pytest.raises(cr.ShapeError, match=r"take_along_axis: .*do not broadcast"):
        cr.take_along_axis(x, np.zeros((2, 2), dtype=int), 0)
    with pytest.raises(cr.ShapeError, match=r"scatter: src of shape \(1, 1\) is smaller"):
        cr.scatter(x, 0, np.zeros((1, 2), dtype=int), cr.ones((1, 1)))
    with pytest.raises(cr.ShapeError, match=r"index_add: .*expected a 1-D index and a source"):
        cr.index_add(x, 0, [0, 1], cr.ones((3, 3)))
    with pytest.raises(cr.ShapeError, match=r"masked_fill: mask of shape \(3, 3\)"):
        cr.masked_fill(x, np.ones((3, 3), dtype=bool), 0.0)
    with pytest.raises(cr.DTypeError, match=r"masked_fill: the mask must be boolean"):
        cr.masked_fill(x, np.ones(3), 0.0)
    with pytest.raises(cr.DTypeError, match=r"take: indices must be integers"):
        cr.take(x, [0.5])
    with pytest.raises(cr.ShapeError, match=r"put_along_axis: values of shape \(3,\)"):
        cr.put_along_axis(x, np.zeros((2, 1), dtype=int), cr.ones(3), 1)
    with pytest.raises(cr.ShapeError, match=r"nonzero: not defined for a 0-d tensor"):
        cr.nonzero(cr.tensor(1.0))


@settings(max_examples=15)
@given(shape=shapes0(min_dims=1), data=st.data(), seed=seeds)
def test_put_along_axis_broadcasts_values(shape, data, seed):
    """``values`` broadcast to the picked positions (a 0-d tensor, or size-1 axes); each
    value's gradient sums ḡ over the positions it was written to."""
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    k = data.draw(st.integers(0, shape[axis]), label="k")
    ishape = tuple(k if i == axis % nd else s for i, s in enumerate(shape))
    idx = _unique_positions(seed, shape, list(ishape), axis)
    vshape = data.draw(st.sampled_from([(), tuple(1 for _ in shape)]), label="values shape")
    x, v = uniform(seed, shape), uniform(seed + 1, vshape)

    def np_put(a, b):
        a = a.copy()
        np.put_along_axis(a, idx, b, axis)
        return a

    ti = torch.from_numpy(idx)
    _check(
        lambda t, b: cr.put_along_axis(t, idx, b, axis),
        lambda t, b: torch.scatter(t, axis, ti, b.expand(ti.shape)),
        [x, v],
        np_put,
    )
