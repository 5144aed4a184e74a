"""Issue 9, section 4: answers that were wrong, each pinned by a regression test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr


def test_std_gradient_at_zero_variance_is_zero_as_in_torch():
    data = np.array([[1.5, 1.5, 1.5], [1.0, 2.0, 4.0]])
    x = cr.tensor(data, requires_grad=True)
    (g,) = cr.gradients(cr.std(x, axis=1).sum(), [x])
    xt = torch.tensor(data, requires_grad=True)
    (gt,) = torch.autograd.grad(torch.std(xt, 1, correction=0).sum(), [xt])
    np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(g.numpy()[0], 0)
    assert np.all(cr.grad(lambda t: cr.std(t))(cr.tensor([2.0, 2.0])).numpy() == 0)
    # second order stays finite too
    (g2,) = cr.gradients(cr.std(x, axis=1, ddof=1).sum(), [x], create_graph=True)
    (h,) = cr.gradients((g2 * g2).sum(), [x])
    assert np.isfinite(h.numpy()).all()


def test_std_sqrt_gradcheck_away_from_zero():
    assert cr.gradcheck(lambda t: cr.std(t, axis=0, ddof=1), [np.array([[0.5, 1.0], [2.0, -1]])])


def test_power_tensor_exponent_at_zero():
    x = cr.tensor([0.0, 0.0], dtype="float64", requires_grad=True)
    y = cr.tensor([0.0, -1.0], dtype="float64", requires_grad=True)
    with np.errstate(divide="ignore"):
        gx, gy = cr.gradients((x**y).sum(), [x, y])
    assert gx.numpy()[0] == 0  # d/dx x^y at x = y = 0: 0, not NaN
    assert gy.numpy()[1] == -np.inf  # d/dy 0^y for y < 0: -inf, not 0


@pytest.mark.parametrize("op", [cr.sum, cr.logsumexp, cr.max, cr.min])
@pytest.mark.parametrize("axis", [-1, 0])  # ints, as NumPy (not the tuple (-1,))
def test_reductions_take_axis_0_or_minus_1_on_a_0d_tensor(op, axis):
    x = cr.tensor(1.5, dtype="float64", requires_grad=True)
    out = op(x, axis=axis)
    assert out.shape == () and out.item() == pytest.approx(1.5)
    (g,) = cr.gradients(out, [x])
    assert g.item() == 1.0
    kept = op(x, axis=axis, keepdims=True)
    assert kept.shape == ()
    with pytest.raises(cr.ShapeError, match=r"(sum|logsumexp|max|min).*axis 1 is out of"):
        op(x, axis=1)


def test_complex_results_raise_instead_of_cutting_the_graph():
    with pytest.raises(cr.DTypeError, match=r"multiply: the result is complex \(complex"):
        cr.grad(lambda x: x * (1 + 0.2j))(1.0)
    x = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(cr.DTypeError, match="real tensors only"):
        x + np.array([1j])
    with cr.no_grad():  # no gradient asked for: NumPy's complex result, as before
        assert (x * 1j).dtype.kind == "c"


def test_vjp_of_a_function_returning_an_array_names_the_problem():
    with pytest.raises(cr.BackwardError, match=r"vjp: f returned a numpy\.ndarray, not a Tensor"):
        cr.vjp(lambda x: np.asarray(x) * 2, cr.tensor([1.0]))


# ----------------------------------------------------------------------------- NumPy functions
def test_numpy_functions_on_tensors_run_as_chainrule_ops():
    data = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = cr.tensor(data, requires_grad=True)
    checks = [
        (np.sum(x), data.sum()),
        (np.sum(x, axis=1, keepdims=True), data.sum(axis=1, keepdims=True)),
        (np.mean(x, axis=0), data.mean(axis=0)),
        (np.std(x, ddof=1), data.std(ddof=1)),
        (np.max(x, axis=-1), data.max(axis=-1)),
        (np.amax(x), data.max()),
        (np.exp(x), np.exp(data)),
        (np.tan(x), np.tan(data)),
        (np.abs(x), np.abs(data)),
        (np.maximum(x, 0.5), np.maximum(data, 0.5)),
        (np.where(data > 0, x, 0.0), np.where(data > 0, data, 0.0)),
        (np.concatenate([x, x]), np.concatenate([data, data])),
        (np.reshape(x, (3, 2)), data.reshape(3, 2)),
        (np.add.reduce(x), data.sum(axis=0)),
        (np.ones(3) * x, data),
        (np.ones(3) + x, data + 1),
        (2.0**x, 2.0**data),
        (np.float64(2.0) - x, 2.0 - data),
        (np.ones(3) @ x.T, data.sum(axis=1)),
    ]
    for i, (got, want) in enumerate(checks):
        assert isinstance(got, cr.Tensor), i
        assert got.requires_grad, i
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, err_msg=str(i))
    (g,) = cr.gradients(np.sum(np.exp(x) * np.ones(3)), [x])
    np.testing.assert_allclose(g.numpy(), np.exp(data))


def test_numpy_functions_chainrule_lacks_work_without_gradients_and_refuse_with_them():
    data = np.array([1.0, 2.0, 4.0])
    x = cr.tensor(data, requires_grad=True)
    # metadata, indices and booleans carry no gradient: NumPy answers, as before
    assert np.shape(x) == (3,) and np.ndim(x) == 1
    assert np.allclose(x, data) and np.array_equal(x, data)
    np.testing.assert_array_equal(np.signbit(x), [False, False, False])
    # float results would lose the gradient: a TypeError that says what to do
    with pytest.raises(
        cr.errors.NotDifferentiableError,
        match=r"numpy\.spacing got a tensor that requires grad.*detach",
    ):
        np.spacing(x)
    with pytest.raises(TypeError, match=r"numpy\.sum got a tensor.*cr\.sum without out="):
        np.sum(x, out=np.zeros(()))
    with pytest.raises(TypeError, match=r"numpy\.add\(\.\.\., out=<Tensor>\)"):
        np.add(data, 1.0, out=x)
    # without a gradient at stake, NumPy's own results come back
    d = x.detach()
    np.testing.assert_array_equal(np.spacing(d), np.spacing(data))
    np.testing.assert_array_equal(np.add(d, 1.0, out=np.zeros(3)), data + 1)
    np.testing.assert_array_equal(np.nonzero(d > 1.5)[0], [1, 2])


def test_numpy_dtype_keyword_and_one_argument_where():
    x = cr.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    assert np.sum(x, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.where(x.detach() > 1.5)[0], [1])


def test_tensor_reduction_methods_accept_numpys_out_none_and_dtype_none():
    t = cr.tensor([1.0, 2.0, 4.0])
    assert t.sum(out=None).item() == 7.0
    assert t.mean(dtype=None, out=None).item() == pytest.approx(7 / 3)
    assert t.max(axis=0, out=None).item() == 4.0
    with pytest.raises(TypeError, match=r"Tensor\.sum\(out=\.\.\.\): chainrule ops return a new"):
        t.sum(out=cr.zeros(()))
    with pytest.raises(TypeError, match=r"Tensor\.mean\(dtype='float64'\): cast first"):
        t.mean(dtype="float64")


def test_numpy_functions_that_write_in_place_refuse_a_tensor_target():
    t = cr.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=r"numpy\.add\.at writes into its first argument"):
        np.add.at(t, [0, 0], 1.0)
    with pytest.raises(TypeError, match=r"numpy\.copyto writes into.*t\[\.\.\.\] = value"):
        np.copyto(t, np.zeros(3))
    with pytest.raises(TypeError, match=r"numpy\.put_along_axis.*cr\.put_along_axis"):
        np.put_along_axis(t, np.array([0]), 5.0, axis=0)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])  # untouched
    a = np.zeros(3)
    np.copyto(a, t)  # a tensor as the source is fine
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
