"""The Tensor API: creation, dtypes, seeding, conversions, comparisons, repr, iteration and
in-place ops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import chainrule as cr
from strategies import shapes


# ----------------------------------------------------------------------------- creation
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: cr.zeros(2, 3), np.zeros((2, 3))),
        (lambda: cr.zeros((2, 3)), np.zeros((2, 3))),
        (lambda: cr.ones(4), np.ones(4)),
        (lambda: cr.full((2, 2), 7.5), np.full((2, 2), 7.5)),
        (lambda: cr.full(3, -1.0), np.full(3, -1.0)),
        (lambda: cr.eye(3), np.eye(3)),
        (lambda: cr.eye(2, 3), np.eye(2, 3)),
        (lambda: cr.arange(0.0, 1.0, 0.25), np.arange(0.0, 1.0, 0.25)),
        (lambda: cr.linspace(0, 1, 5), np.linspace(0, 1, 5)),
    ],
)
def test_creation_values_and_default_dtype(make, expected):
    t = make()
    assert t.dtype == np.float32
    assert t.shape == expected.shape
    np.testing.assert_array_equal(t.numpy(), expected.astype(np.float32))
    assert t.is_leaf and not t.requires_grad and t.grad is None


def test_arange_of_integers_is_int64_like_torch():
    t = cr.arange(5)
    assert t.dtype == np.int64
    np.testing.assert_array_equal(t.numpy(), np.arange(5))
    np.testing.assert_array_equal(cr.arange(2, 8, 3).numpy(), [2, 5])


@pytest.mark.parametrize("dtype", [np.float64, np.dtype("float64"), "float64", "f8"])
def test_dtype_arguments_take_numpy_dtypes_and_names(dtype):
    for t in (
        cr.zeros(2, dtype=dtype),
        cr.ones(2, dtype=dtype),
        cr.full(2, 1.0, dtype=dtype),
        cr.eye(2, dtype=dtype),
        cr.arange(3, dtype=dtype),
        cr.rand(2, dtype=dtype),
        cr.randn(2, dtype=dtype),
        cr.tensor([1, 2], dtype=dtype),
        cr.tensor([1.0]).astype(dtype),
    ):
        assert t.dtype == np.float64


def test_tensor_dtype_rules():
    assert cr.tensor(1.5).dtype == np.float32  # Python floats: the default dtype
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor([True]).dtype == np.bool_
    assert cr.tensor(np.array([1.0])).dtype == np.float64  # NumPy arrays keep theirs
    assert cr.tensor(np.float64(1.0)).dtype == np.float64
    assert cr.tensor(np.array([1.0], dtype=np.float16)).dtype == np.float16
    cr.set_default_dtype("float64")
    assert cr.tensor(1.5).dtype == np.float64 and cr.zeros(1).dtype == np.float64
    assert cr.get_default_dtype() == np.float64


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    t = cr.tensor(a)
    a[0] = 99.0
    assert t.numpy()[0] == 1.0
    u = cr.tensor(t)
    with cr.no_grad():
        t.add_(1.0)
    assert u.numpy()[0] == 1.0


@settings(max_examples=10)
@given(shape=shapes(max_dims=3))
def test_like_functions_keep_shape_and_dtype(shape):
    base = cr.zeros(*shape, dtype="float64")
    for fn in (cr.zeros_like, cr.ones_like, cr.rand_like, cr.randn_like):
        t = fn(base)
        assert t.shape == shape and t.dtype == np.float64
    np.testing.assert_array_equal(cr.ones_like(base).numpy(), np.ones(shape))
    np.testing.assert_array_equal(cr.full_like(base, 3.0).numpy(), np.full(shape, 3.0))
    assert cr.zeros_like(base, dtype="float32").dtype == np.float32
    assert cr.ones_like(base, requires_grad=True).requires_grad


def test_manual_seed_makes_random_tensors_reproducible():
    cr.manual_seed(123)
    a = (cr.rand(3, 2), cr.randn(4), cr.randint(0, 10, (5,)), cr.randn_like(cr.zeros(2)))
    cr.manual_seed(123)
    b = (cr.rand(3, 2), cr.randn(4), cr.randint(0, 10, (5,)), cr.randn_like(cr.zeros(2)))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    cr.manual_seed(124)
    assert not np.array_equal(cr.rand(3, 2).numpy(), a[0].numpy())


def test_random_tensors_have_the_right_distribution():
    cr.manual_seed(0)
    u = cr.rand(20_000).numpy()
    n = cr.randn(20_000).numpy()
    i = cr.randint(-2, 3, 1000).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03
    assert set(np.unique(i)) == {-2, -1, 0, 1, 2} and i.dtype == np.int64


# ----------------------------------------------------------------------------- conversions
def test_numpy_item_and_python_numbers():
    t = cr.tensor([[1.0, 2.0]])
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0, 0] = 5.0  # shares memory, as in PyTorch
    assert t.numpy()[0, 0] == 5.0
    s = cr.tensor([2.5])
    assert s.item() == 2.5 and isinstance(s.item(), float)
    assert float(s) == 2.5 and int(cr.tensor(3)) == 3
    assert isinstance(cr.tensor(3).item(), int)
    assert np.asarray(t).shape == (1, 2)
    assert t.tolist() == [[5.0, 2.0]]
    with pytest.raises(ValueError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))
    assert bool(cr.tensor([1.0])) and not bool(cr.tensor(0.0))


def test_detach_shares_data_and_leaves_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    np.testing.assert_array_equal(d.numpy(), [3.0, 6.0])
    assert np.shares_memory(d.numpy(), y.numpy())
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])  # d is a constant


def test_T_and_mT():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = cr.tensor(a)
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    np.testing.assert_array_equal(x.mT.numpy(), np.swapaxes(a, -1, -2))
    m = cr.tensor([[1.0, 2.0]], requires_grad=True)
    (m.T * cr.tensor([[3.0], [4.0]])).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), [[3.0, 4.0]])


def test_properties():
    x = cr.zeros(2, 3)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.numel() == 6
    assert x.dtype == np.float32
    y = cr.ones(2, requires_grad=True) * 2
    assert not y.is_leaf and y.grad_fn.name == "multiplyBackward"
    with pytest.raises(cr.InplaceError, match="only be changed on leaf tensors"):
        y.requires_grad = False


def test_mixing_with_numpy_arrays_gives_tensors():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    for y in (np.array([1.0, 1.0]) + x, np.array([2.0, 2.0]) * x, x - np.ones(2)):
        assert isinstance(y, cr.Tensor) and y.requires_grad
    (np.array([2.0, 3.0]) * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0])


# ----------------------------------------------------------------------------- comparisons
def test_comparisons_are_not_differentiable():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = cr.tensor([2.0, 2.0, 2.0], requires_grad=True)
    for r, expected in (
        (x < y, [True, False, False]),
        (x <= y, [True, True, False]),
        (x > y, [False, False, True]),
        (x >= y, [False, True, True]),
        (x == y, [False, True, False]),
        (x != y, [True, False, True]),
        (x > 1.5, [False, True, True]),
        (~(x > 1.5), [True, False, False]),
        ((x > 1.5) & (x < 2.5), [False, True, False]),
        ((x < 1.5) | (x > 2.5), [True, False, True]),
    ):
        assert r.dtype == np.bool_ and not r.requires_grad and r.is_leaf
        np.testing.assert_array_equal(r.numpy(), expected)
    with pytest.raises(cr.DTypeError, match="only floating-point tensors"):
        (x > y).requires_grad = True


def test_tensors_hash_by_identity():
    a, b = cr.tensor([1.0]), cr.tensor([1.0])
    assert len({a, b}) == 2
    assert {a: 1}[a] == 1


# ----------------------------------------------------------------------------- repr
def test_repr():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.], dtype=float32)"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(cr.tensor(0.5, dtype="float64")) == "tensor(0.5, dtype=float64)"
    x = cr.tensor([1.0], requires_grad=True)
    assert repr(x) == "tensor([1.], dtype=float32, requires_grad=True)"
    assert repr(x * 2) == "tensor([2.], dtype=float32, grad_fn=<multiplyBackward>)"
    assert "..." in repr(cr.zeros(1000))  # long tensors are summarised


# ----------------------------------------------------------------------------- iteration
def test_len_and_iter():
    x = cr.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(rows[2].numpy(), [4.0, 5.0])
    total = rows[0] * 1 + rows[1] * 2 + rows[2] * 3
    total.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    with pytest.raises(TypeError, match="0-d"):
        len(cr.tensor(1.0))


# ----------------------------------------------------------------------------- in place
def test_inplace_ops():
    x = cr.tensor([1.0, 2.0, 3.0])
    buffer = x.numpy()
    x.add_(cr.tensor([1.0, 1.0, 1.0]), alpha=2.0)
    np.testing.assert_array_equal(x.numpy(), [3.0, 4.0, 5.0])
    x.sub_(1.0)
    x.mul_(2.0)
    x.div_(cr.tensor([2.0, 3.0, 4.0]))
    np.testing.assert_allclose(x.numpy(), [2.0, 2.0, 2.0])
    x[1] = 7.0
    x[cr.tensor([True, False, False])] = -1.0
    np.testing.assert_array_equal(x.numpy(), [-1.0, 7.0, 2.0])
    x.copy_(np.array([4.0, 5.0, 6.0]))
    np.testing.assert_array_equal(x.numpy(), [4.0, 5.0, 6.0])
    x.fill_(0.5)
    np.testing.assert_array_equal(x.numpy(), [0.5, 0.5, 0.5])
    x.zero_()
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.0, 0.0])
    assert x.numpy() is buffer or np.shares_memory(x.numpy(), buffer)  # never reallocated
    assert x.dtype == np.float32


def test_augmented_assignment_is_in_place_on_plain_tensors():
    x = cr.tensor([1.0, 2.0])
    before = x
    x += 1.0
    x *= cr.tensor([2.0, 3.0])
    x -= 1.0
    x /= 2.0
    assert x is before
    np.testing.assert_allclose(x.numpy(), [1.5, 4.0])


def test_augmented_assignment_on_graph_tensors_keeps_gradients():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    h += 1.0  # a graph tensor: rebinds to the out-of-place result
    h *= w
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [5.0, 9.0])  # d/dw (2w + 1) w = 4w + 1
    a = cr.zeros(2)
    w.grad = None
    a += w  # a plain tensor plus one that requires grad: the sum must stay in the graph
    assert a.requires_grad
    (a * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])
    with pytest.raises(cr.InplaceError, match="leaf tensor that requires grad"):
        w += 1.0
