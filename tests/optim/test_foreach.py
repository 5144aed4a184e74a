"""SGD's multi-tensor step (``foreach``, the default) against its one-parameter-at-a-time step
(``foreach=False``): the same parameters, momentum buffers and errors, bit for bit, over
momentum, Nesterov, dampening, weight decay, maximize, parameter groups with their own learning
rates, learning rates changed between steps, parameters without a gradient, non-finite
gradients and updates that overflow; eager and under ``cr.compile``.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import NonFiniteError, OptimizerError

SHAPES = [(5, 4), (5,), (3, 5), (3,), ()]


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [cr.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]


def _set_grads(params, rng, dtype, skip=()):
    for i, p in enumerate(params):
        p.grad = None if i in skip else cr.tensor(rng.standard_normal(p.shape).astype(dtype))


def _groups(params, settings, split):
    if not split:
        return [{"params": params, **settings}]
    # two groups with their own learning rates (and the second without momentum)
    return [
        {"params": params[:2], **settings, "lr": 0.3},
        {"params": params[2:], **settings, "lr": 0.02, "momentum": 0.0, "nesterov": False},
    ]


SETTINGS = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.5, "dampening": 0.3},
    {"weight_decay": 0.1},
    {"weight_decay": 0.05, "momentum": 0.9},
    {"maximize": True},
    {"maximize": True, "weight_decay": 0.01, "momentum": 0.5, "nesterov": True},
]


def _state(opt, params):
    """Everything a step changes: parameters, the optimiser's state (keys and arrays)."""
    out = [p.data.copy() for p in params]
    for p in params:
        s = opt.state[p] if p in opt.state else None
        out.append(None if s is None else {k: np.array(v) for k, v in s.items()})
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, dict) or x is None:
            assert (x is None) == (y is None)
            if x is not None:
                assert sorted(x) == sorted(y)
                for k in x:
                    np.testing.assert_array_equal(x[k], y[k])
        else:
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)


def _run(foreach, settings, split, dtype, steps=4):
    params = _params(dtype)
    opt = cr.optim.SGD(_groups(params, settings, split), lr=0.1, foreach=foreach)
    rng = np.random.default_rng(1)
    for i in range(steps):
        # a parameter without a gradient at step 1 (frozen for that step)
        _set_grads(params, rng, dtype, skip=(1,) if i == 1 else ())
        opt.step()
        if i == 2:  # a learning rate changed between steps acts at the next one
            opt.set_lr(0.05, group=0)
    return opt, params


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_multi_tensor_step_is_the_per_parameter_step_bit_for_bit(settings, split, dtype):
    many, pm = _run(None, settings, split, dtype)
    one, po = _run(False, settings, split, dtype)
    assert many.param_groups[0]["foreach"] is None and one.param_groups[0]["foreach"] is False
    _assert_same(_state(many, pm), _state(one, po))
    # and the step did something
    assert not np.array_equal(pm[0].data, _params(dtype)[0].data)


@pytest.mark.parametrize("foreach", [None, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nonfinite_gradient_in_one_parameter_of_several_changes_nothing(foreach, bad):
    params = _params("float64")
    opt = cr.optim.SGD(params, lr=0.1, momentum=0.9, foreach=foreach)
    rng = np.random.default_rng(2)
    _set_grads(params, rng, "float64")
    opt.step()  # momentum buffers exist
    before = _state(opt, params)
    _set_grads(params, rng, "float64")
    params[2].grad.data[1, 3] = bad  # the third of five: the first two come before it
    with pytest.raises(NonFiniteError, match=r"parameter 2 .*1 (NaN|Inf)"):
        opt.step()
    _assert_same(_state(opt, params), before)

    skipping = cr.optim.SGD(params, lr=0.1, momentum=0.9, foreach=foreach, skip_nonfinite=True)
    skipping.step()
    assert skipping.skipped_steps == 1
    _assert_same([p.data for p in params], before[: len(params)])


def test_an_overflowing_update_raises_the_same_in_both_paths():
    results = []
    for foreach in (None, False):
        params = _params("float32")
        big = np.float32(3e38)
        params[3].data[...] = big  # the update 3e38 + lr * 1e38 overflows float32
        for p in params:
            p.grad = cr.ones(p.shape, dtype="float32")
        params[3].grad = cr.full(params[3].shape, -1e38, dtype="float32")
        opt = cr.optim.SGD(params, lr=1.0, foreach=foreach)
        with pytest.raises(NonFiniteError, match=r"update of parameter 3 .*overflows") as e:
            opt.step()
        assert np.all(params[3].data == big)  # left unchanged
        results.append((str(e.value), _state(opt, params)))
    assert results[0][0] == results[1][0]
    _assert_same(results[0][1], results[1][1])


def test_huge_but_finite_values_take_the_checked_path_with_the_same_result():
    # √(p·p) over max/4 (the fast path's bound fails) but p + t is finite: written all the same
    results = []
    for foreach in (None, False):
        params = _params("float32")
        params[0].data[0, 0] = 1e38
        for p in params:
            p.grad = cr.ones(p.shape, dtype="float32")
        opt = cr.optim.SGD(params, lr=0.5, momentum=0.5, foreach=foreach)
        opt.step()
        opt.step()
        results.append(_state(opt, params))
    _assert_same(*results)
    assert results[0][0][0, 0] == np.float32(1e38)  # written (the update is below its ulp)
    assert np.isfinite(results[0][0]).all()


def test_foreach_is_a_checked_hyperparameter_kept_in_the_state_dict():
    params = _params("float64")
    with pytest.raises(OptimizerError, match="foreach"):
        cr.optim.SGD(params, foreach="yes")
    opt = cr.optim.SGD(params, lr=0.1, foreach=False)
    assert opt.state_dict()["param_groups"][0]["foreach"] is False
    other = cr.optim.SGD(params, lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.hyperparameter("foreach") is False
    other.set_hyperparameters(foreach=True)
    assert other.hyperparameter("foreach") is True


def _training(foreach, hold=False, compiled=True):
    """Five steps (compiled or eager) of a two-layer model with two groups (own lrs), momentum
    and weight decay; ``hold``: keep every step's gradients (references to ``.grad`` read
    between steps) and replace one gradient between steps before the next ``zero_grad``."""
    cr.set_default_dtype("float64")
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(6, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
    first, second = list(model[0].parameters()), list(model[2].parameters())
    opt = cr.optim.SGD(
        [{"params": first, "lr": 0.2}, {"params": second, "lr": 0.05, "weight_decay": 0.1}],
        lr=0.1, momentum=0.9, foreach=foreach,
    )  # fmt: skip

    def step(x, y):
        opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    fn = cr.compile(step) if compiled else step
    rng = np.random.default_rng(5)
    kept, losses = [], []
    for _ in range(5):
        x = cr.tensor(rng.standard_normal((4, 6)))
        y = cr.tensor(rng.integers(0, 3, 4))
        losses.append(fn(x, y))
        if hold:
            kept.append([(p.grad, p.grad.data.copy()) for p in model.parameters()])
            model[2].bias.grad = cr.zeros(3)  # replaced; zero_grad drops it at the next step
    return losses, [p.data.copy() for p in model.parameters()], kept, fn


@pytest.mark.parametrize("hold", [False, True])
def test_compiled_multi_tensor_step_is_eager_and_per_parameter_bit_for_bit(hold):
    losses, params, kept, step = _training(None, hold)
    assert step.reason is None and step.captures == 1
    for foreach, compiled in ((False, True), (None, False), (False, False)):
        other_losses, other_params, _, _ = _training(foreach, hold, compiled)
        np.testing.assert_array_equal(losses, other_losses)
        for a, b in zip(params, other_params):
            np.testing.assert_array_equal(a, b)
    # gradients read between steps were never overwritten by a later replay
    for grads in kept:
        for g, copy in grads:
            np.testing.assert_array_equal(g.data, copy)
