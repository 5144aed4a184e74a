"""``import chainrule.numpy as np``: NumPy programs gain gradients by changing one import."""

from __future__ import annotations

import numpy
import pytest

import chainrule as cr
import chainrule.numpy as np


def _logistic_loss(w, b, X, y, lam=0.1):
    """A regularised logistic-regression loss written as plain NumPy code."""
    Xb = np.hstack([X, np.ones((X.shape[0], 1))])  # a bias column: plain arrays only
    wb = np.concatenate([w, np.array([b])])
    z = Xb @ wb
    p = 1.0 / (1.0 + np.exp(-z))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    nll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return nll + 0.5 * lam * np.sum(w**2)


def _data():
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = (X @ numpy.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=20) > 0).astype(float)
    return X, y, rng.normal(size=3), 0.2


def test_numpy_program_runs_unchanged_on_arrays():
    X, y, w, b = _data()
    got = _logistic_loss(w, b, X, y)
    z = numpy.hstack([X, numpy.ones((20, 1))]) @ numpy.concatenate([w, [b]])
    p = 1 / (1 + numpy.exp(-z))
    want = -numpy.mean(y * numpy.log(p) + (1 - y) * numpy.log(1 - p)) + 0.05 * (w**2).sum()
    assert isinstance(got, numpy.floating)  # plain NumPy in, plain NumPy out
    assert got == pytest.approx(want, rel=1e-12)


def test_numpy_program_gradient_matches_finite_differences_and_the_formula():
    X, y, w, b = _data()
    loss = cr.value_and_grad(lambda w, b: _logistic_loss(w, b, X, y), argnums=(0, 1))
    value, (gw, gb) = loss(cr.tensor(w), cr.tensor(b, dtype="float64"))
    assert value.item() == pytest.approx(float(_logistic_loss(w, b, X, y)), rel=1e-12)
    num_w, num_b = cr.numerical_grad(lambda w, b: _logistic_loss(w, b, X, y), [w, b])
    numpy.testing.assert_allclose(gw.numpy(), num_w, rtol=1e-6, atol=1e-9)
    numpy.testing.assert_allclose(gb.numpy(), num_b, rtol=1e-6, atol=1e-9)
    p = 1 / (1 + numpy.exp(-(X @ w + b)))
    numpy.testing.assert_allclose(gw.numpy(), X.T @ (p - y) / 20 + 0.1 * w, rtol=1e-10)
    numpy.testing.assert_allclose(gb.numpy(), (p - y).mean(), rtol=1e-10)
    assert cr.gradcheck(lambda w, b: _logistic_loss(w, b, X, y), [w, numpy.float64(b)])


def test_names_resolve_to_numpy_or_chainrule():
    assert np.pi == numpy.pi and np.float32 is numpy.float32 and np.newaxis is None
    assert np.ndarray is numpy.ndarray
    assert type(np.zeros(3)) is numpy.ndarray  # creation functions are NumPy's
    assert type(np.exp(numpy.ones(2))) is numpy.ndarray
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(np.exp(x), cr.Tensor) and np.exp(x).requires_grad
    assert np.add.reduce(numpy.ones(3)) == 3.0  # ufunc attributes are NumPy's
    assert "sort" in dir(np) and "zeros" in dir(np)
    with pytest.raises(AttributeError, match=r"chainrule\.numpy"):
        np.not_a_numpy_name  # noqa: B018
    # ops chainrule adds later appear without touching chainrule.numpy: all of them resolve
    for name in cr.ops.__all__:
        if hasattr(numpy, name) and callable(getattr(numpy, name)):
            assert getattr(np, name)._cr is not None or name in ("array", "where"), name


def test_array_where_and_sort_keep_gradients():
    a = cr.tensor(2.0, requires_grad=True)
    m = np.array([[a, a * a], [1.0, 3.0]])
    assert isinstance(m, cr.Tensor) and m.shape == (2, 2)
    assert type(np.array([[1.0, 2.0]])) is numpy.ndarray
    s = np.sum(np.sort(m, axis=None) * np.arange(4))  # weights 0..3 by rank
    (g,) = cr.gradients(s, [a])
    assert g.item() == 1 + 3 * 2 * 2  # a = 2 has rank 1, a * a = 4 rank 3
    idx = np.where(cr.tensor([0.0, 1.0, 2.0]) > 0.5)
    numpy.testing.assert_array_equal(idx[0].numpy(), [1, 2])
    assert np.asarray(m) is m


def test_numpy_only_function_on_a_tensor_that_needs_gradients_says_so():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(
        cr.errors.NotDifferentiableError,
        match=r"chainrule\.numpy\.fft\.fft: chainrule has no gradient",
    ):
        np.fft.fft(x)
    numpy.testing.assert_allclose(np.fft.fft(x.detach()), numpy.fft.fft([1.0, 2.0]))
    assert np.shape(x) == (2,) and np.ndim(x) == 1  # non-float results pass through


def test_linalg_submodule_dispatches_like_the_top_level():
    a = numpy.array([[2.0, 1.0], [1.0, 3.0]])
    assert type(np.linalg.inv(a)) is numpy.ndarray
    numpy.testing.assert_allclose(np.linalg.inv(a), numpy.linalg.inv(a))
    t = cr.tensor(a, requires_grad=True)
    (g,) = cr.gradients(np.sum(np.linalg.inv(t)), [t])
    inv = numpy.linalg.inv(a)
    numpy.testing.assert_allclose(g.numpy(), -(inv.T @ numpy.ones((2, 2)) @ inv.T), rtol=1e-12)
    with pytest.raises(numpy.linalg.LinAlgError):  # chainrule's error is also NumPy's
        np.linalg.inv(cr.tensor(numpy.zeros((2, 2)), requires_grad=True))


def test_numpy_signatures_that_numpy_code_uses():
    x = cr.tensor([[3.0, 1.0], [2.0, 5.0]], requires_grad=True)
    a = x.detach().numpy()
    numpy.testing.assert_array_equal(np.sort(x, kind="mergesort").numpy(), numpy.sort(a))
    numpy.testing.assert_array_equal(
        np.argsort(x, axis=0, kind="quicksort").numpy(), numpy.argsort(a, 0)
    )
    numpy.testing.assert_array_equal(np.concatenate([x, x], axis=None).numpy(),
                                     numpy.concatenate([a, a], axis=None))  # fmt: skip
    for mode in ("wrap", "clip"):
        numpy.testing.assert_array_equal(
            np.take(x, [-5, 0, 7], mode=mode).numpy(), numpy.take(a, [-5, 0, 7], mode=mode)
        )
    numpy.testing.assert_array_equal(np.roll(x, numpy.array([1, -1]), (0, 1)).numpy(),
                                     numpy.roll(a, [1, -1], (0, 1)))  # fmt: skip
    for alias, name in [("concat", "concatenate"), ("permute_dims", "transpose")]:
        assert getattr(np, alias)._cr is getattr(cr, name)  # NumPy 2's aliases
    z = np.zeros_like(x)  # depends on the shape only: NumPy's, no error
    assert type(z) is numpy.ndarray and z.shape == (2, 2)
    (g,) = cr.gradients(np.sum(np.roll(x, numpy.array([1, -1]), (0, 1)) * x), [x])
    numpy.testing.assert_allclose(g.numpy(), numpy.roll(a, [1, -1], (0, 1)) + numpy.roll(
        a, [-1, 1], (0, 1)))  # fmt: skip


def test_numpy_only_keyword_arguments():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert np.sum(x, dtype=numpy.float32).dtype == numpy.float32  # no gradient: NumPy's
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"chainrule\.numpy\.sum: chainrule's sum does not take"):
        np.sum(w, dtype=numpy.float32)


def test_star_import_gives_numpy_names():
    namespace: dict = {}
    exec("from chainrule.numpy import *", namespace)
    assert namespace["pi"] == numpy.pi and namespace["float64"] is numpy.float64
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert namespace["exp"](x).requires_grad and "Tensor" not in namespace
