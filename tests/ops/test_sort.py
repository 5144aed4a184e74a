"""sort, argsort, topk, partition, argpartition, searchsorted, unique: values against NumPy
and PyTorch, gradients of the values against central differences (first and second order)
and PyTorch on random shapes with size-0 and size-1 axes and negative axes. Inputs have
distinct values (``distinct``), so that no tie makes the gradient ambiguous."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from strategies import distinct, seeds
from torch_ref import assert_close, check_against_torch, check_second_order, hvp


def shapes0(min_dims: int = 1, max_dims: int = 3, max_side: int = 4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_sort(shape, data, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    x = distinct(seed, shape)
    np.testing.assert_array_equal(cr.sort(cr.tensor(x), axis).numpy(), np.sort(x, axis))
    assert cr.gradcheck(lambda t: cr.sort(t, axis), [x])
    check_against_torch(lambda t: cr.sort(t, axis), lambda t: torch.sort(t, axis).values, [x])
    check_against_torch(
        lambda t: t.sort(axis, descending=True),
        lambda t: torch.sort(t, axis, descending=True).values,
        [x],
    )
    check_against_torch(lambda t: cr.sort(t, None), lambda t: torch.sort(t.reshape(-1)).values, [x])
    idx = cr.argsort(cr.tensor(x), axis)
    np.testing.assert_array_equal(idx.numpy(), np.argsort(x, axis, kind="stable"))
    assert idx.dtype == np.int64 and not idx.requires_grad
    np.testing.assert_array_equal(
        cr.tensor(x).argsort(axis, descending=True).numpy(),
        torch.argsort(torch.from_numpy(x), axis, descending=True).numpy(),
    )


def test_sort_ties_and_nan_follow_numpy():
    x = np.array([2.0, np.nan, 1.0, 2.0, -np.inf])
    np.testing.assert_array_equal(cr.sort(x).numpy(), np.sort(x))
    np.testing.assert_array_equal(cr.argsort(x, stable=True).numpy(), np.argsort(x, kind="stable"))
    np.testing.assert_array_equal(
        cr.argsort(x, kind="mergesort").numpy(), np.argsort(x, kind="stable")
    )
    assert np.array_equal(np.sort(x), x[cr.argsort(x).numpy()], equal_nan=True)
    t = cr.tensor([1.0, 3.0, 1.0, 2.0], requires_grad=True)
    (cr.sort(t) * cr.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert sorted(t.grad.numpy().tolist()) == [1.0, 2.0, 3.0, 4.0]  # a permutation of them
    d = cr.argsort(cr.tensor([1.0, 3.0, 1.0, 3.0]), descending=True, stable=True)
    np.testing.assert_array_equal(d.numpy(), [1, 3, 0, 2])  # stable: ties keep their order


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_topk(shape, data, seed):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    k = data.draw(st.integers(0, shape[dim]), label="k")
    largest = data.draw(st.booleans(), label="largest")
    x = distinct(seed, shape)

    def fn(t):
        return cr.topk(t, k, dim, largest=largest).values

    def ref(t):
        return torch.topk(t, k, dim, largest=largest).values

    assert cr.gradcheck(fn, [x])
    check_against_torch(fn, ref, [x])
    values, indices = cr.tensor(x).topk(k, dim, largest)
    want = torch.topk(torch.from_numpy(x), k, dim, largest)
    np.testing.assert_array_equal(indices.numpy(), want.indices.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    unsorted = cr.topk(cr.tensor(x), k, dim, largest, sorted=False)
    np.testing.assert_array_equal(
        np.sort(unsorted.values.numpy(), dim), np.sort(values.numpy(), dim)
    )


@settings(max_examples=25)
@given(shape=shapes0(), data=st.data(), seed=seeds)
def test_partition(shape, data, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    n = shape[axis]
    x = distinct(seed, shape)
    if n == 0:
        return
    kth = data.draw(st.integers(-n, n - 1), label="kth")
    out = cr.partition(cr.tensor(x), kth, axis)
    np.testing.assert_array_equal(out.numpy(), np.partition(x, kth, axis))
    idx = cr.argpartition(x, kth, axis)
    np.testing.assert_array_equal(idx.numpy(), np.argpartition(x, kth, axis))
    assert cr.gradcheck(lambda t: cr.partition(t, kth, axis), [x])
    check_against_torch(
        lambda t: cr.partition(t, kth, axis),
        lambda t: torch.gather(t, axis, torch.from_numpy(idx.numpy())),
        [x],
    )
    np.testing.assert_array_equal(
        cr.tensor(x).partition(kth, axis).numpy(), np.partition(x, kth, axis)
    )


@settings(max_examples=25)
@given(n=st.integers(0, 6), vshape=shapes0(min_dims=0, max_dims=2), seed=seeds)
def test_searchsorted(n, vshape, seed):
    rng = np.random.default_rng(seed)
    a = np.sort(rng.integers(-3, 3, size=n).astype(np.float64))  # repeats: left/right differ
    v = rng.integers(-4, 4, size=vshape).astype(np.float64)
    for side in ("left", "right"):
        got = cr.searchsorted(cr.tensor(a), cr.tensor(v, requires_grad=True), side=side)
        np.testing.assert_array_equal(got.numpy(), np.searchsorted(a, v, side=side))
        assert got.dtype == np.int64 and not got.requires_grad
        want = torch.searchsorted(torch.from_numpy(a), torch.tensor(v), side=side)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    perm = rng.permutation(n)
    unsorted = a[np.argsort(perm)]
    np.testing.assert_array_equal(
        cr.tensor(unsorted).searchsorted(v, sorter=np.argsort(unsorted, kind="stable")).numpy(),
        np.searchsorted(a, v),
    )


@settings(max_examples=25)
@given(shape=shapes0(min_dims=0), data=st.data(), seed=seeds)
def test_unique(shape, data, seed):
    x = np.round(np.random.default_rng(seed).uniform(-2, 2, size=shape))  # repeats
    flags = data.draw(st.tuples(st.booleans(), st.booleans(), st.booleans()), label="flags")
    got = cr.unique(cr.tensor(x), *flags)
    want = np.unique(x, *flags)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w)
    assert all(g.dtype == np.int64 and not g.requires_grad for g in got[1:])
    # values are differentiable: each is taken from its first occurrence
    assert cr.gradcheck(lambda t: cr.unique(t), [distinct(seed, shape)])
    check_against_torch(
        lambda t: cr.unique(t), lambda t: torch.sort(t.reshape(-1)).values, [distinct(seed, shape)]
    )
    t = cr.tensor([3.0, 1.0, 3.0], requires_grad=True)
    cr.unique(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 1.0, 0.0])


def test_unique_along_an_axis():
    x = np.array([[1.0, 2.0], [0.0, 5.0], [1.0, 2.0]])
    values, inverse = cr.unique(cr.tensor(x), return_inverse=True, axis=0)
    want, want_inverse = np.unique(x, return_inverse=True, axis=0)
    np.testing.assert_array_equal(values.numpy(), want)
    np.testing.assert_array_equal(inverse.numpy(), want_inverse)
    assert cr.gradcheck(lambda t: cr.unique(t, axis=-1), [np.array([[1.0, 2.0], [3.0, 4.0]])])


SECOND_ORDER = {
    "sort": (lambda x: cr.sort(x, 0), lambda x: torch.sort(x, 0).values, [(3, 2)]),
    "sort_descending": (lambda x: cr.sort(x, -1, descending=True),
                        lambda x: torch.sort(x, -1, descending=True).values, [(2, 3)]),
    "topk": (lambda x: cr.topk(x, 2).values, lambda x: torch.topk(x, 2).values, [(2, 4)]),
    "partition": (lambda x: cr.partition(x, 1, 0),
                  lambda x: torch.gather(x, 0, torch.from_numpy(
                      np.argpartition(x.detach().numpy(), 1, 0))), [(4, 2)]),
    "unique": (cr.unique, lambda x: torch.sort(x.reshape(-1)).values, [(2, 3)]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order(name):
    fn_cr, fn_torch, arg_shapes = SECOND_ORDER[name]
    arrays = [distinct(5 + i, s) for i, s in enumerate(arg_shapes)]
    g_cr, h_cr = hvp(lambda *ts: fn_cr(*ts) ** 3, cr, arrays)
    g_t, h_t = hvp(lambda *ts: fn_torch(*ts) ** 3, torch, arrays)
    for a, b in zip(g_cr + h_cr, g_t + h_t):
        assert_close(a, b)
    check_second_order(lambda *ts: fn_cr(*ts) ** 3, arrays)


def test_errors_name_the_op_and_what_was_expected():
    x = cr.ones((2, 3))
    with pytest.raises(cr.ShapeError, match=r"sort: axis 2 is out of range .* 2 dimensions"):
        cr.sort(x, 2)
    with pytest.raises(cr.ShapeError, match=r"topk: k=4 .*size 3 \(shape \(2, 3\)\)"):
        cr.topk(x, 4)
    with pytest.raises(cr.ShapeError, match=r"partition: kth 3 .*axis -1 of size 3"):
        cr.partition(x, 3)
    with pytest.raises(cr.ShapeError, match=r"searchsorted: .*1-D, got shape \(2, 3\)"):
        cr.searchsorted(x, 1.0)
    with pytest.raises(ValueError, match=r"searchsorted: side must be"):
        cr.searchsorted(cr.ones(3), 1.0, side="middle")
    with pytest.raises(cr.ShapeError, match=r"argsort: axis -3"):
        cr.argsort(x, -3)
