"""Optimiser checkpoints: state saved after 20 steps and loaded into a fresh optimiser, then 30
more steps, give exactly the weights of 50 uninterrupted steps, through JSON too; PyTorch's
state_dict (converted to NumPy) loads and training continues as in PyTorch; mismatches are
listed in one error.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mlp import (
    advance,
    assert_same_training,
    assert_same_weights,
    cr_run,
    groups_by_layer,
    torch_run,
)

import chainrule as cr

CONFIGS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("SGD", {"lr": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 0.01, "betas": (0.8, 0.99)}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CONFIGS)]


def to_json(obj):
    """JSON text for a state_dict: arrays as nested lists."""
    return json.dumps(obj, default=lambda a: a.tolist())


def make(name: str, kwargs: dict, lrs=(None, None, None)):
    def factory(ps):
        groups = groups_by_layer(ps, tuple(kwargs["lr"] if lr is None else lr for lr in lrs))
        return getattr(cr.optim, name)(groups, **kwargs)

    return factory


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
@pytest.mark.parametrize("through_json", [False, True])
def test_round_trip_after_20_steps_continues_as_50(name, kwargs, through_json) -> None:
    lrs = (None, kwargs["lr"] / 2, None)
    whole = advance(cr_run(make(name, kwargs, lrs)), 50)
    first = advance(cr_run(make(name, kwargs, lrs)), 20)
    saved = first.optimizer.state_dict()
    if through_json:
        saved = json.loads(to_json(saved))
    # a fresh optimiser with other settings: load_state_dict restores the saved ones
    other = dict(kwargs, lr=123.0)
    second = cr_run(make(name, other), weights=first.weights())
    second.optimizer.load_state_dict(saved)
    assert [g["lr"] for g in second.optimizer.param_groups] == [
        g["lr"] for g in first.optimizer.param_groups
    ]
    advance(second, 30, start=20)
    for a, b in zip(second.weights(), whole.weights()):
        np.testing.assert_array_equal(a, b)


def test_state_dict_is_a_snapshot_of_plain_data() -> None:
    run = advance(cr_run(lambda ps: cr.optim.Adam(ps, lr=0.01, amsgrad=True)), 3)
    sd = run.optimizer.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sorted(sd["state"]) == list(range(6))
    assert sd["param_groups"][0]["params"] == list(range(6))
    entry = sd["state"][0]
    assert entry["step"] == 3 and isinstance(entry["step"], int)
    assert sorted(entry) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    before = entry["exp_avg"].copy()
    advance(run, 1, start=3)
    np.testing.assert_array_equal(entry["exp_avg"], before)  # a copy, not the live buffer
    json.loads(to_json(sd))


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_loads_pytorchs_state_dict_and_continues_like_pytorch(name, kwargs) -> None:
    theirs = advance(torch_run(lambda ps: getattr(torch.optim, name)(ps, **kwargs)), 20)
    sd = theirs.optimizer.state_dict()
    as_numpy = {
        "state": {
            i: {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in s.items()}
            for i, s in sd["state"].items()
        },
        "param_groups": sd["param_groups"],
    }
    ours = cr_run(lambda ps: getattr(cr.optim, name)(ps, lr=1.0), weights=theirs.weights())
    ours.optimizer.load_state_dict(as_numpy)
    advance(ours, 30, start=20)
    advance(theirs, 30, start=20)
    assert_same_weights(ours.weights(), theirs.weights())


def test_round_trip_keeps_float32() -> None:
    ps = [cr.zeros(3, requires_grad=True)]
    opt = cr.optim.Adam(ps)
    ps[0].grad = cr.ones(3)
    opt.step()
    saved = json.loads(to_json(opt.state_dict()))  # float64 lists
    opt.load_state_dict(saved)
    assert opt.state[ps[0]]["exp_avg"].dtype == np.float32
    opt.step()


def test_mismatches_are_all_listed_in_one_error() -> None:
    run = advance(
        cr_run(lambda ps: cr.optim.SGD(groups_by_layer(ps, (0.1, 0.1, 0.1)), momentum=0.9)), 2
    )
    sd = run.optimizer.state_dict()
    sd["state"][1]["momentum_buffer"] = np.zeros(7)
    sd["state"][4]["momentum_buffer"] = np.zeros((2, 2))
    fresh = cr_run(lambda ps: cr.optim.SGD(groups_by_layer(ps, (0.1, 0.1, 0.1)), momentum=0.9))
    with pytest.raises(cr.errors.StateDictError, match=r"state\[1\].*\(7,\).*state\[4\]"):
        fresh.optimizer.load_state_dict(sd)
    assert not fresh.optimizer.state  # nothing was loaded


def test_group_count_and_size_mismatches() -> None:
    ps = [cr.zeros(2, requires_grad=True) for _ in range(3)]
    sd = cr.optim.SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1).state_dict()
    with pytest.raises(cr.errors.StateDictError, match=r"2 parameter groups.*has 1"):
        cr.optim.SGD(ps, lr=0.1).load_state_dict(sd)
    with pytest.raises(cr.errors.StateDictError, match=r"group 0 has 2 parameters saved but 1"):
        cr.optim.SGD([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(cr.errors.StateDictError, match=r"'state' and 'param_groups'"):
        cr.optim.SGD(ps, lr=0.1).load_state_dict({"state": {}})


def test_unknown_parameter_index_and_bad_saved_settings() -> None:
    ps = [cr.zeros(2, requires_grad=True)]
    opt = cr.optim.SGD(ps, lr=0.1, momentum=0.9)
    sd = {
        "state": {5: {"momentum_buffer": np.zeros(2)}},
        "param_groups": opt.state_dict()["param_groups"],
    }
    with pytest.raises(cr.errors.StateDictError, match=r"parameter 5, which no group lists"):
        opt.load_state_dict(sd)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = -1.0
    with pytest.raises(cr.errors.OptimizerError, match=r"lr=-1.0"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.1


def test_cross_checked_with_torch_after_reload() -> None:
    """A chainrule checkpoint loads into chainrule and continues as PyTorch's uninterrupted."""
    kwargs = {"lr": 0.01, "betas": (0.85, 0.995), "weight_decay": 0.01}
    theirs = advance(torch_run(lambda ps: torch.optim.AdamW(ps, **kwargs)), 50)
    first = advance(cr_run(lambda ps: cr.optim.AdamW(ps, **kwargs)), 20)
    second = cr_run(lambda ps: cr.optim.AdamW(ps), weights=first.weights())
    second.optimizer.load_state_dict(json.loads(to_json(first.optimizer.state_dict())))
    advance(second, 30, start=20)
    second.losses = first.losses + second.losses
    assert_same_training(second, theirs)
