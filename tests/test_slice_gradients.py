"""Gradients of many slices of one tensor: summed in place by the backward walk.

A plain backward (no ``create_graph``, no ``cr.compile`` capture) gets a slice's gradient as
a :class:`~chainrule.autograd.Scattered` (ḡ at an index of zeros) and writes it into one array
per input. These tests hold that sum to ``np.add.at`` (overlaps and repeated integer indices
add), to the ``create_graph=True`` walk (which builds the same sums as differentiable ops),
and check what must not change: hooks and ``retain_grad`` see the full gradient, ``.grad``
never aliases a caller's array, dtypes, anomaly mode, higher order and compile.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.autograd import Scattered, plain_backward
from strategies import seeds, shapes, uniform


@st.composite
def basic_index(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple:
    """A NumPy basic index into ``shape``: integers (negative too), slices with any step,
    ``None``, at most one ``...``, or one boolean mask over the leading axes."""
    if shape and draw(st.integers(0, 5)) == 0:
        k = draw(st.integers(1, len(shape)))
        mask = draw(st.lists(st.booleans(), min_size=int(np.prod(shape[:k])),
                             max_size=int(np.prod(shape[:k]))))  # fmt: skip
        return (np.array(mask, dtype=bool).reshape(shape[:k]),)
    items: list = []
    ellipsis_at = draw(st.integers(-1, len(shape))) if draw(st.booleans()) else None
    for i, n in enumerate(shape):
        if i == ellipsis_at:
            items.append(...)
            break
        kind = draw(st.integers(0, 4))
        if kind == 0:
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == 1:
            start = draw(st.none() | st.integers(-n - 1, n + 1))
            stop = draw(st.none() | st.integers(-n - 1, n + 1))
            step = draw(st.none() | st.sampled_from([1, 2, -1, -2]))
            items.append(slice(start, stop, step))
        elif kind == 2:
            items.append(slice(None))
        else:
            if kind == 3 and draw(st.booleans()):
                items.append(None)
            items.append(slice(draw(st.integers(0, n)), None))
    return tuple(items)


@st.composite
def any_index(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple:
    """A basic index, or integer arrays (with repeats) on one axis or on every axis."""
    if not shape or draw(st.integers(0, 3)):
        return draw(basic_index(shape))
    if draw(st.booleans()):
        ax = draw(st.integers(0, len(shape) - 1))
        picks = draw(st.lists(st.integers(-shape[ax], shape[ax] - 1), max_size=6))
        return (slice(None),) * ax + (np.array(picks, dtype=np.int64),)
    m = draw(st.integers(0, 6))
    return tuple(
        np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
        for n in shape
    )


def _reference(shape, pieces, cotangents, extra):
    """Σ over pieces of np.add.at(zeros, index, ḡ), plus the other consumers' gradient."""
    want = np.array(np.zeros(shape) + extra)
    for idx, c in zip(pieces, cotangents):
        np.add.at(want, idx, c)
    return want


def _program(x, pieces, cotangents, w):
    """Σ ⟨piece, c⟩ over the pieces, plus ⟨x, w⟩ and Σ x²/2 (two more consumers of x)."""
    total = (x * w).sum() + (x * x).sum() * 0.5
    for idx, c in zip(pieces, cotangents):
        total = total + (x[idx] * cr.tensor(c)).sum()
    return total


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=shapes(0, 3, 4), seed=seeds)
def test_pieces_sum_as_add_at(data, shape, seed):
    k = data.draw(st.integers(1, 5))
    pieces = [data.draw(any_index(shape)) for _ in range(k)]
    xv, wv = uniform(seed, shape), uniform(seed + 1, shape)
    rng = np.random.default_rng(seed)
    cots = [rng.standard_normal(np.zeros(shape)[i].shape) for i in pieces]
    want = _reference(shape, pieces, cots, wv + xv)

    x = cr.tensor(xv, requires_grad=True)
    _program(x, pieces, cots, cr.tensor(wv)).backward()
    np.testing.assert_allclose(x.grad.data, want, rtol=1e-12, atol=1e-12)

    # the same through an intermediate node (pending sums), through gradients(), and with
    # the graph recorded (the dense, differentiable sums)
    x2 = cr.tensor(xv, requires_grad=True)
    (gx,) = cr.gradients(_program(x2 * 1.0, pieces, cots, cr.tensor(wv)), [x2])
    np.testing.assert_allclose(gx.data, want, rtol=1e-12, atol=1e-12)
    x3 = cr.tensor(xv, requires_grad=True)
    (gx3,) = cr.gradients(_program(x3, pieces, cots, cr.tensor(wv)), [x3], create_graph=True)
    np.testing.assert_allclose(gx3.data, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes(1, 3, 4), seed=seeds)
def test_only_pieces_and_a_second_backward_accumulates(data, shape, seed):
    """Slices alone (no dense gradient to add them to), into a leaf and into a node; a second
    backward adds into the existing ``.grad`` at the slices."""
    k = data.draw(st.integers(1, 4))
    pieces = [data.draw(basic_index(shape)) for _ in range(k)]
    rng = np.random.default_rng(seed)
    cots = [rng.standard_normal(np.zeros(shape)[i].shape) for i in pieces]
    want = _reference(shape, pieces, cots, 0.0)
    x = cr.tensor(uniform(seed, shape), requires_grad=True)
    for n in (1, 2):
        sum((x[i] * cr.tensor(c)).sum() for i, c in zip(pieces, cots)).backward()
        np.testing.assert_allclose(x.grad.data, n * want, rtol=1e-12, atol=1e-12)
    seen = []
    y = x * 2.0
    y.register_hook(lambda g: seen.append(g.data.copy()))
    y.retain_grad()
    (gx,) = cr.gradients(sum((y[i] * cr.tensor(c)).sum() for i, c in zip(pieces, cots)), [x])
    np.testing.assert_allclose(gx.data, 2 * want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(seen[0], want, rtol=1e-12, atol=1e-12)  # the hook: the total
    np.testing.assert_allclose(y.grad.data, want, rtol=1e-12, atol=1e-12)


def test_split_unstack_and_lstm_gates():
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((5, 12))
    x = cr.tensor(xv, requires_grad=True)
    a, b, c = cr.array_split(x, 3, axis=1)
    rows = cr.unstack(x)
    h = 3
    gates = [x[:, i * h : (i + 1) * h] for i in range(4)]  # as an LSTM cuts its gates
    loss = (a * 1).sum() + (b * 2).sum() + (c * 3).sum()
    loss = loss + sum((r * (i + 1)).sum() for i, r in enumerate(rows))
    loss = loss + cr.tanh(gates[0]).sum() + (gates[1] * gates[2] * gates[3]).sum()
    loss.backward()
    want = np.repeat([1.0, 2.0, 3.0], 4)[None, :] + np.arange(1, 6)[:, None]
    want = want + np.zeros((5, 12))
    g = [xv[:, i * h : (i + 1) * h] for i in range(4)]
    want[:, 0:3] += 1 - np.tanh(g[0]) ** 2
    want[:, 3:6] += g[2] * g[3]
    want[:, 6:9] += g[1] * g[3]
    want[:, 9:12] += g[1] * g[2]
    np.testing.assert_allclose(x.grad.data, want, rtol=1e-12)


def test_leaf_hook_sees_the_total_and_can_replace_it():
    x = cr.tensor(np.arange(6.0), requires_grad=True)
    seen = []

    def hook(g):
        seen.append(g.data.copy())
        return g * 10

    x.register_hook(hook)
    (x[:4].sum() + x[2:].sum() * 2).backward()
    np.testing.assert_array_equal(seen[0], [1, 1, 3, 3, 2, 2])
    np.testing.assert_array_equal(x.grad.data, [10, 10, 30, 30, 20, 20])


def test_grad_never_aliases_the_callers_array():
    user = np.ones((3, 4))
    x = cr.tensor(np.zeros((3, 4)), requires_grad=True)
    x[:, :].backward(user)  # a slice covering all of x, its gradient the caller's array
    assert not np.shares_memory(x.grad.data, user)
    x.grad.data += 1  # as an optimiser would
    np.testing.assert_array_equal(user, 1)
    x2 = cr.tensor(np.zeros((3, 4)), requires_grad=True)
    g1, g2 = cr.gradients(x[...] + x2[:], [x, x2], cr.tensor(user))
    assert not np.shares_memory(g1.data, g2.data)
    np.testing.assert_array_equal(g1.data, 1)


def test_dtypes_follow_numpy_promotion_and_the_leaf():
    x = cr.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    w = cr.tensor(np.full(2, 0.1))  # float64: the pieces' gradients arrive as float64
    (x[:2] * w).sum().backward()
    ((x[1:3] * w).sum() + x[3:].sum()).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, [0.1, 0.2, 0.1, 1.0], rtol=1e-6)
    y = cr.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    (g,) = cr.gradients(((y * 1)[:2] * w).sum() + (y * 1)[2:].sum(), [y])
    np.testing.assert_allclose(g.data, [0.1, 0.1, 1, 1], rtol=1e-6)


def test_anomaly_mode_checks_a_slices_gradient():
    x = cr.tensor(np.ones(4), requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(cr.errors.AnomalyError, match="getitem"):
        x[1:3].backward(np.array([1.0, np.nan]))


def test_second_order_through_slices():
    """create_graph=True: the gradient of Σ piece³ is a graph; its gradient is 6·x·v summed
    over the pieces covering each element (the middle is covered twice)."""
    xv = np.array([0.5, -1.0, 2.0, 1.5])
    x = cr.tensor(xv, requires_grad=True)
    (g,) = cr.gradients((x[:3] ** 3).sum() + (x[1:] ** 3).sum(), [x], create_graph=True)
    cover = np.array([1, 2, 2, 1])
    np.testing.assert_allclose(g.data, 3 * xv**2 * cover)
    v = np.array([1.0, 2.0, -1.0, 0.5])
    (h,) = cr.gradients((g * cr.tensor(v)).sum(), [x])
    np.testing.assert_allclose(h.data, 6 * xv * v * cover)


def test_rules_get_tensors_outside_a_plain_walk():
    """Only a plain walk may get a Scattered: anything else calling the rule gets a tensor."""
    assert not plain_backward()
    got = []
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = x[1:]

    def hook(g):
        got.append(plain_backward())
        other = threading.Thread(target=lambda: got.append(plain_backward()))
        other.start()  # another thread, not walking: its rules get tensors
        other.join()

    y.register_hook(hook)
    y.sum().backward()
    cr.gradients(y.sum(), [x], create_graph=True)  # recorded: tensors
    assert got == [True, False, False, False]
    s = Scattered(np.array([1.0, 2.0]), (slice(1, None),), (3,))
    np.testing.assert_array_equal(s.dense(), [0, 1, 2])


def test_compiled_step_with_slices_equals_eager():
    def make():
        w = cr.tensor(np.linspace(-1, 1, 8), requires_grad=True)

        def step(x):
            a, b = cr.split(w, 2)
            loss = (a * x).sum() + (b * b).sum() + w[::3].sum()
            loss.backward()
            return loss

        return w, step

    w, step = make()
    w2, step2 = make()
    fast = cr.compile(step2)
    for i in range(3):
        x = cr.tensor(np.arange(4.0) + i)
        np.testing.assert_array_equal(fast(x).data, step(x).data)
        np.testing.assert_array_equal(w2.grad.data, w.grad.data)


@pytest.mark.parametrize("join", ["stack", "concatenate"])
def test_joins_of_many_tensors_give_each_its_slice(join):
    """stack / concatenate's one rule for all inputs: each input's gradient is its slice of
    ḡ, a leaf's ``.grad`` its own array (not a view of ḡ), and with create_graph a graph."""
    rng = np.random.default_rng(1)
    parts = [cr.tensor(rng.standard_normal((2, 3)), requires_grad=True) for _ in range(5)]
    out = getattr(cr, join)(parts, axis=1)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    pieces = np.split(g, 5, axis=1) if join == "concatenate" else np.moveaxis(g, 1, 0)
    for p, want in zip(parts, pieces):
        np.testing.assert_array_equal(p.grad.data, want)
        assert not np.shares_memory(p.grad.data, g)
    grads = cr.gradients((getattr(cr, join)(parts, axis=1) ** 2).sum(), parts, create_graph=True)
    (h,) = cr.gradients(sum((gi * gi).sum() for gi in grads), [parts[2]])
    np.testing.assert_allclose(h.data, 8 * parts[2].data)  # d/dp Σ (2p)² = 8p


def test_python_bool_and_numpy_integer_indices():
    """``x[True]`` / ``x[False]`` are masks (NumPy copies): their gradients still add in."""
    x = cr.tensor(np.arange(3.0), requires_grad=True)
    (x[True].sum() * 2 + x[False].sum() + x[np.int64(1)] * 5 + x[True, 1:].sum()).backward()
    np.testing.assert_array_equal(x.grad.data, [2, 8, 3])


def test_many_column_pieces_overlapping_or_not():
    """More pieces than the walk tracks as written-into-zeros, column blocks (strided views),
    one overlapping the others, then a dense gradient and another piece."""
    rng = np.random.default_rng(2)
    xv = rng.standard_normal((4, 24))
    x = cr.tensor(xv, requires_grad=True)
    pieces = [(slice(None), slice(2 * i, 2 * i + 2)) for i in range(12)]
    pieces += [(slice(None), slice(5, 9)), (slice(1, 3), slice(None, None, 5))]
    cots = [rng.standard_normal(xv[i].shape) for i in pieces]
    want = _reference(xv.shape, pieces, cots, 0.0)
    for order in (pieces, pieces[::-1]):
        cs = cots if order is pieces else cots[::-1]
        x.grad = None
        total = sum((x[i] * cr.tensor(c)).sum() for i, c in zip(order, cs))
        total.backward()
        np.testing.assert_allclose(x.grad.data, want, rtol=1e-12, atol=1e-12)
    x.grad = None
    ((x * 2.0).sum() + sum((x[i] * cr.tensor(c)).sum() for i, c in zip(pieces, cots))).backward()
    np.testing.assert_allclose(x.grad.data, want + 2, rtol=1e-12, atol=1e-12)
