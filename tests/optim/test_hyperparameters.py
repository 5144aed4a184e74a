"""The supported way to change an optimiser's hyper-parameters mid-training (what the
scikit-learn estimators need): hyperparameter / set_hyperparameters, checked like the
constructor's, and set_lr(keep_velocity=True), which keeps SGD's and RMSprop's velocity."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import OptimizerError


def _trained(name: str, **kwargs):
    w = cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    b = cr.tensor(np.array([0.5]), requires_grad=True)
    opt = getattr(cr.optim, name)([{"params": [w]}, {"params": [b], "lr": 0.05}], **kwargs)
    for _ in range(3):
        opt.zero_grad()
        ((w * w).sum() + (b * b * w).sum()).backward()
        opt.step()
    return opt, w, b


def test_set_hyperparameters_in_every_group_or_one():
    opt, w, _ = _trained("Adam", lr=0.1)
    state = {k: v.copy() for k, v in opt.state[w].items() if k != "step"}
    opt.set_hyperparameters(eps=1e-4)
    assert [g["eps"] for g in opt.param_groups] == [1e-4, 1e-4]
    opt.set_hyperparameters(group=-1, weight_decay=0.5, lr=0.2)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.5]
    assert opt.hyperparameter("lr", group=1) == 0.2 and opt.hyperparameter("lr") == 0.1
    for k, v in state.items():  # the running averages are kept
        np.testing.assert_array_equal(opt.state[w][k], v)


def test_bad_hyperparameters_change_nothing():
    opt, _, _ = _trained("SGD", lr=0.1, momentum=0.9)
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(OptimizerError, match=r"invalid momentum=-1 in parameter group 0"):
        opt.set_hyperparameters(momentum=-1, lr=0.3)
    with pytest.raises(OptimizerError, match="SGD has no hyper-parameter 'eps'; it has"):
        opt.set_hyperparameters(eps=1e-8)
    with pytest.raises(OptimizerError, match="no hyper-parameter 'betas'"):
        opt.hyperparameter("betas")
    with pytest.raises(IndexError, match=r"no parameter group 2 \(it has 2\)"):
        opt.set_hyperparameters(group=2, lr=0.1)
    assert opt.param_groups == before


@pytest.mark.parametrize("name", ["SGD", "RMSprop"])
def test_set_lr_keeps_the_velocity(name):
    opt, w, b = _trained(name, lr=0.1, momentum=0.9)
    velocity = {p: opt.hyperparameter("lr", k) * opt.state[p]["momentum_buffer"] for k, p in
                enumerate((w, b))}  # fmt: skip
    opt.set_lr(0.025, keep_velocity=True)
    for p in (w, b):
        np.testing.assert_allclose(0.025 * opt.state[p]["momentum_buffer"], velocity[p])
    opt.set_lr(0.5)  # without keep_velocity the buffers stay as they are
    np.testing.assert_allclose(0.025 * opt.state[w]["momentum_buffer"], velocity[w])
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]


def test_set_lr_errors():
    adam, _, _ = _trained("Adam", lr=0.1)
    with pytest.raises(OptimizerError, match="Adam has no velocity"):
        adam.set_lr(0.01, keep_velocity=True)
    adam.set_lr(0.01, group=0)
    assert [g["lr"] for g in adam.param_groups] == [0.01, 0.05]
    sgd, _, _ = _trained("SGD", lr=0.1, momentum=0.9)
    with pytest.raises(OptimizerError, match="needs lr > 0"):
        sgd.set_lr(0.0, keep_velocity=True)
    with pytest.raises(OptimizerError, match="invalid lr=-1"):
        sgd.set_lr(-1)
