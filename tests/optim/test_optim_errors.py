"""Bad input to the optimisers: every mistake raises its own error with a message naming the
setting or the parameter, and a step with NaN or Inf gradients is never applied silently.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlp import batch, cr_loss, cr_params, initial_weights

import chainrule as cr
from chainrule.errors import NonFiniteError, OptimizerError

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def params():
    return cr_params(initial_weights())


# ---------------------------------------------------------------------------- construction
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_empty_parameter_list(name: str) -> None:
    with pytest.raises(OptimizerError, match=r"empty parameter list") as info:
        getattr(cr.optim, name)([])
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", OPTIMIZERS)
@given(lr=st.one_of(st.floats(max_value=-1e-12), st.just(float("nan")), st.just(float("inf"))))
def test_negative_or_nonfinite_learning_rate(name: str, lr: float) -> None:
    with pytest.raises(OptimizerError, match=r"invalid lr=.*lr must be a finite number >= 0"):
        getattr(cr.optim, name)(params(), lr=lr)


@pytest.mark.parametrize(
    ("name", "kwargs", "key"),
    [
        ("SGD", {"momentum": -0.1}, "momentum"),
        ("SGD", {"weight_decay": -1e-4}, "weight_decay"),
        ("SGD", {"dampening": float("nan")}, "dampening"),
        ("SGD", {"nesterov": True}, "nesterov"),
        ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
        ("Adam", {"betas": (1.0, 0.999)}, "betas"),
        ("Adam", {"betas": (0.9, -0.1)}, "betas"),
        ("Adam", {"betas": (0.9,)}, "betas"),
        ("Adam", {"eps": -1e-8}, "eps"),
        ("Adam", {"weight_decay": -0.1}, "weight_decay"),
        ("AdamW", {"betas": (0.9, 1.5)}, "betas"),
        ("AdamW", {"eps": float("inf")}, "eps"),
        ("RMSprop", {"alpha": -0.5}, "alpha"),
        ("RMSprop", {"eps": -1.0}, "eps"),
        ("RMSprop", {"momentum": -0.9}, "momentum"),
        ("RMSprop", {"weight_decay": -0.1}, "weight_decay"),
        ("Adagrad", {"lr_decay": -0.1}, "lr_decay"),
        ("Adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
        ("Adagrad", {"eps": -1e-10}, "eps"),
        ("Adagrad", {"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameter_is_named(name: str, kwargs: dict, key: str) -> None:
    with pytest.raises(OptimizerError, match=rf"{name}: invalid {key}=.*; {key} must be"):
        getattr(cr.optim, name)(params(), lr=0.1, **kwargs)


def test_invalid_setting_in_a_group_names_the_group() -> None:
    ps = params()
    with pytest.raises(OptimizerError, match=r"invalid lr=-0.5 in parameter group 1"):
        cr.optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": -0.5}])
    opt = cr.optim.Adam(ps[:2])
    with pytest.raises(OptimizerError, match=r"invalid betas=.* in parameter group 1"):
        opt.add_param_group({"params": ps[2:], "betas": (0.9, 1.0)})
    assert len(opt.param_groups) == 1


def test_params_that_are_not_a_list_of_tensors() -> None:
    w = cr.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"single Tensor; wrap it in a list"):
        cr.optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match=r"single dict; wrap it in a list"):
        cr.optim.SGD({"params": [w]}, lr=0.1)
    with pytest.raises(TypeError, match=r"are a set"):
        cr.optim.SGD([{"params": {w}}], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 1 of group 0 is a ndarray, not a Tensor"):
        cr.optim.SGD([w, np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter group 1 must be a dict"):
        cr.optim.SGD([{"params": [w]}, w], lr=0.1)
    with pytest.raises(OptimizerError, match=r"no 'params' entry"):
        cr.optim.SGD([{"lr": 0.1}])


def test_non_leaf_integer_duplicate_and_shared_parameters() -> None:
    w = cr.zeros(2, requires_grad=True)
    with pytest.raises(OptimizerError, match=r"parameter 0 of group 0 .* is not a leaf"):
        cr.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(cr.DTypeError, match=r"dtype int64; only floating-point"):
        cr.optim.SGD([cr.tensor([1, 2])], lr=0.1)
    with pytest.raises(OptimizerError, match=r"parameter 1 of group 0 .* is given twice"):
        cr.optim.SGD([w, w], lr=0.1)
    v = cr.zeros(3, requires_grad=True)
    with pytest.raises(OptimizerError, match=r"appear in more than one parameter group"):
        cr.optim.SGD([{"params": [w, v]}, {"params": [v]}], lr=0.1)
    opt = cr.optim.SGD([w], lr=0.1)
    with pytest.raises(OptimizerError, match=r"more than one parameter group"):
        opt.add_param_group({"params": w})


def test_gradient_of_the_wrong_shape() -> None:
    ps = params()
    opt = cr.optim.SGD(ps, lr=0.1)
    ps[3].grad = cr.zeros(7, dtype="float64")
    with pytest.raises(cr.ShapeError, match=r"parameter 3 \(group 0\) has shape \(7,\)"):
        opt.step()


# ---------------------------------------------------------------------------- non-finite steps
def _trained(name: str, **kwargs):
    ps = params()
    opt = getattr(cr.optim, name)(ps, lr=0.01, **kwargs)
    for step in range(2):
        opt.zero_grad()
        cr_loss(ps, *batch(step)).backward()
        opt.step()
    opt.zero_grad()
    cr_loss(ps, *batch(2)).backward()
    return ps, opt


def _snapshot(ps, opt):
    return [p.numpy().copy() for p in ps], {
        id(p): {k: np.copy(v) for k, v in s.items()} for p, s in opt.state.items()
    }


def _assert_unchanged(ps, opt, snap) -> None:
    weights, state = snap
    for p, w in zip(ps, weights):
        np.testing.assert_array_equal(p.numpy(), w)
    for p, s in opt.state.items():
        for k, v in s.items():
            np.testing.assert_array_equal(v, state[id(p)][k])


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize(
    ("bad", "what"), [(np.nan, "1 NaN and 0 Inf"), (-np.inf, "0 NaN and 1 Inf")]
)
def test_nonfinite_gradient_raises_before_anything_changes(name, bad, what) -> None:
    ps, opt = _trained(name, momentum=0.9) if name in ("SGD", "RMSprop") else _trained(name)
    ps[4].grad.data[1, 2] = bad  # parameters 0-3 come first: none of them may move
    snap = _snapshot(ps, opt)
    with pytest.raises(
        NonFiniteError, match=rf"parameter 4 \(group 0, shape \(3, 6\)\) holds {what}"
    ):
        opt.step()
    _assert_unchanged(ps, opt, snap)
    assert opt.skipped_steps == 0


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_skip_nonfinite_skips_the_whole_step_and_counts_it(name) -> None:
    ps, opt = _trained(name, skip_nonfinite=True)
    ps[5].grad.data[0] = np.inf
    ps[0].grad.data[0, 0] = np.nan
    snap = _snapshot(ps, opt)
    opt.step()
    _assert_unchanged(ps, opt, snap)
    assert opt.skipped_steps == 1
    opt.zero_grad()
    cr_loss(ps, *batch(3)).backward()
    opt.step()  # a finite step goes through
    assert opt.skipped_steps == 1
    assert not np.array_equal(ps[0].numpy(), snap[0][0])


def test_message_names_a_named_parameter_and_the_way_out() -> None:
    w = cr.zeros(2, requires_grad=True)
    opt = cr.optim.Adam([("encoder.weight", w)])
    w.grad = cr.tensor([1.0, np.nan])
    with pytest.raises(NonFiniteError, match=r"'encoder.weight'.*skip_nonfinite=True"):
        opt.step()
    assert isinstance(NonFiniteError("x"), FloatingPointError)


def test_finite_gradient_whose_square_sum_overflows_is_applied() -> None:
    w = cr.zeros(2, requires_grad=True)
    opt = cr.optim.SGD([w], lr=1e-38)
    w.grad = cr.tensor([3e38, 3e38])  # float32: g·g overflows, every element is finite
    opt.step()
    np.testing.assert_allclose(w.numpy(), [-3.0, -3.0], rtol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_parameter_already_nan_is_refused_and_left(name) -> None:
    # the in-place fast path is taken only when p·p bounds every new value; NaN falls back
    w = cr.tensor([np.nan, 1.0], requires_grad=True)
    opt = getattr(cr.optim, name)([("w", w)], lr=0.1)
    w.grad = cr.tensor([0.5, 0.5])
    with pytest.raises(NonFiniteError, match=r"update of parameter 0 'w' .*1 of its 2"):
        opt.step()
    assert np.isnan(w.numpy()[0]) and w.numpy()[1] == 1.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_near_the_largest_number_the_update_is_exact_or_refused(dtype) -> None:
    big = float(np.finfo(dtype).max) * 0.9  # p·p overflows: checked element by element
    w = cr.tensor(np.array([big, -big, 1.0], dtype=dtype), requires_grad=True)
    opt = cr.optim.SGD([w], lr=1.0)
    w.grad = cr.tensor(np.array([0.0, 0.0, 2.0], dtype=dtype))
    opt.step()
    np.testing.assert_array_equal(w.numpy(), np.array([big, -big, -1.0], dtype=dtype))
    w.grad = cr.tensor(np.array([-0.2 * big, 0.0, 0.0], dtype=dtype))
    with pytest.raises(NonFiniteError, match=r"overflows: 1 of its 3 new values"):
        opt.step()
    np.testing.assert_array_equal(w.numpy(), np.array([big, -big, -1.0], dtype=dtype))


def test_scratch_arrays_are_reused_and_not_saved() -> None:
    ps = params()
    opt = cr.optim.Adam(ps, lr=1e-3)
    for p in ps:
        p.grad = cr.tensor(np.ones(p.shape, dtype=p.dtype))
    opt.step()
    scratch = {id(a) for a in opt._workspace.values()}
    opt.step()
    assert {id(a) for a in opt._workspace.values()} == scratch
    assert len(scratch) <= 2 * len({(p.shape, p.dtype) for p in ps})
    assert set(opt.state_dict()["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
