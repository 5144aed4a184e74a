"""The optimiser and scheduler registry (chainrule.optim.get / get_scheduler): every registered
name builds its class with the given hyper-parameters, the names the training settings offer
come from it, and unknown names are refused with the registered ones listed."""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule import optim
from chainrule.train.settings import OPTIMIZERS, SCHEDULES

# the arguments each scheduler needs besides the optimiser
SCHEDULER_ARGS = {
    "step": lambda opt: {"step_size": 2},
    "multistep": lambda opt: {"milestones": [2, 4]},
    "exponential": lambda opt: {"gamma": 0.5},
    "cosine": lambda opt: {"T_max": 4},
    "linear": lambda opt: {},
    "plateau": lambda opt: {},
    "onecycle": lambda opt: {"max_lr": 0.5, "total_steps": 10},
    "lambda": lambda opt: {"lr_lambda": lambda epoch: 0.9**epoch},
    "sequential": lambda opt: {
        "schedulers": [optim.lr_scheduler.LinearLR(opt), optim.lr_scheduler.StepLR(opt, 3)],
        "milestones": [5],
    },
    "chained": lambda opt: {"schedulers": [optim.lr_scheduler.ExponentialLR(opt, 0.9)]},
}


def _params():
    return [cr.zeros(3, requires_grad=True)]


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_get_builds_the_registered_optimizer(name):
    opt = optim.get(name.upper(), _params(), lr=0.25, weight_decay=0.1)
    assert type(opt) is optim.OPTIMIZERS[name]
    assert opt.param_groups[0]["lr"] == 0.25 and opt.param_groups[0]["weight_decay"] == 0.1


def test_every_scheduler_is_covered_and_builds():
    assert set(SCHEDULER_ARGS) == set(optim.SCHEDULERS)
    for name, cls in optim.SCHEDULERS.items():
        opt = optim.SGD(_params(), lr=0.5, momentum=0.9)
        sched = optim.get_scheduler(name, opt, **SCHEDULER_ARGS[name](opt))
        assert type(sched) is cls and sched.optimizer is opt


def test_training_settings_names_come_from_the_registry():
    assert OPTIMIZERS == tuple(optim.OPTIMIZERS)
    assert set(SCHEDULES) - {"none"} <= set(optim.SCHEDULERS)


def test_unknown_names_and_arguments_are_refused():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm' \(did you mean 'adam"):
        optim.get("adamm", _params())
    with pytest.raises(ValueError, match=r"unknown scheduler .cosin..*choose from step, "):
        optim.get_scheduler("cosin", optim.SGD(_params(), lr=0.1))
    with pytest.raises(TypeError):
        optim.get("adam", _params(), momentum=0.9)
