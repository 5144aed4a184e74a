"""LambdaLR, SequentialLR and ChainedScheduler against PyTorch's: the same rates at every step
(to the last bit), the same weights after training a warm-up followed by a cosine decay, the
closed forms each schedule restarts from at a milestone, state dicts that round-trip (and
PyTorch's that load), and every bad setting."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import OptimizerError
from optim.mlp import advance, assert_same_training, cr_run, groups_by_layer, train

crs = cr.optim.lr_scheduler
ts = torch.optim.lr_scheduler


def _sgd(lib):
    def make(ps):
        return lib.optim.SGD(groups_by_layer(ps, (0.1, 0.05, 0.02)), lr=0.1, momentum=0.9)

    return make


def warmup_cosine(lib, warm: int = 5, T_max: int = 20, eta_min: float = 0.001, start=0.1):
    sched = lib.optim.lr_scheduler

    def make(opt):
        return sched.SequentialLR(
            opt,
            [
                sched.LinearLR(opt, start_factor=start, total_iters=warm),
                sched.CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min),
            ],
            milestones=[warm],
        )

    return make


def _lambda(epoch: int) -> float:
    return 0.9**epoch if epoch % 4 else 1.0 / (1 + epoch)


def lambda_lr(lib):
    return lambda opt: lib.optim.lr_scheduler.LambdaLR(
        opt, [_lambda, lambda e: 1.0 + e, lambda e: 0.97**e]
    )


def chained(lib):
    sched = lib.optim.lr_scheduler
    return lambda opt: sched.ChainedScheduler(
        [sched.LinearLR(opt, start_factor=0.2, total_iters=8), sched.ExponentialLR(opt, 0.97)]
    )


MAKERS = {"warmup_cosine": warmup_cosine, "lambda": lambda_lr, "chained": chained}


def lrs(lib, make_sched, steps: int = 40) -> list[list[float]]:
    """The rates a scheduler sets over ``steps`` steps of an optimiser without gradients."""
    ps = [lib.zeros(2, requires_grad=True) for _ in range(6)]
    opt = _sgd(lib)(ps)
    s = make_sched(opt)
    seq = [list(s.get_last_lr())]
    for _ in range(steps):
        opt.step()
        s.step()
        seq.append([float(v) for v in s.get_last_lr()])
    return seq


# ---------------------------------------------------------------------------- training
@pytest.mark.parametrize("key", list(MAKERS))
def test_drives_training_like_torch(key: str) -> None:
    make = MAKERS[key]
    a, b = train(_sgd(cr), _sgd(torch), 40, make(cr), make(torch))
    assert a.lrs == b.lrs
    assert len({tuple(lr) for lr in a.lrs}) > 5
    assert_same_training(a, b)


# ---------------------------------------------------------------------------- rate sequences
@settings(max_examples=25, deadline=None)
@given(
    warm=st.integers(1, 10),
    T_max=st.integers(1, 15),
    eta_min=st.sampled_from([0.0, 1e-4, 0.01]),
    start=st.floats(0.01, 1.0),
)
def test_warmup_then_cosine_sequence(warm: int, T_max: int, eta_min: float, start: float) -> None:
    ours = lrs(cr, warmup_cosine(cr, warm, T_max, eta_min, start))
    theirs = lrs(torch, warmup_cosine(torch, warm, T_max, eta_min, start))
    assert ours == theirs
    assert ours[warm] == [0.1, 0.05, 0.02]  # the cosine restarts at the base rates exactly


SECOND = {
    "step": lambda s, opt: s.StepLR(opt, step_size=3, gamma=0.5),
    "multistep": lambda s, opt: s.MultiStepLR(opt, milestones=[0, 2, 2, 7], gamma=0.5),
    "exponential": lambda s, opt: s.ExponentialLR(opt, gamma=0.8),
    "cosine": lambda s, opt: s.CosineAnnealingLR(opt, T_max=6, eta_min=0.003),
    "linear": lambda s, opt: s.LinearLR(opt, start_factor=0.3, end_factor=0.9, total_iters=4),
    "lambda": lambda s, opt: s.LambdaLR(opt, lambda e: 1.0 / (e + 2)),
}


@pytest.mark.parametrize("key", list(SECOND))
def test_each_schedule_restarts_from_its_closed_form_at_a_milestone(key: str) -> None:
    def make(lib):
        sched = lib.optim.lr_scheduler

        def build(opt):
            first = sched.ExponentialLR(opt, gamma=0.7)
            middle = SECOND[key](sched, opt)
            last = sched.StepLR(opt, step_size=2, gamma=0.9)
            return sched.SequentialLR(opt, [first, middle, last], milestones=[4, 13])

        return build

    assert lrs(cr, make(cr), 25) == lrs(torch, make(torch), 25)


def test_lambda_lr_one_function_for_every_group() -> None:
    ours = lrs(cr, lambda opt: crs.LambdaLR(opt, _lambda))
    assert ours == lrs(torch, lambda opt: ts.LambdaLR(opt, _lambda))


@pytest.mark.filterwarnings(r"ignore:Detected call of .lr_scheduler.step\(\). before:UserWarning")
def test_a_chain_nests_in_a_sequence_before_a_milestone() -> None:
    def make(lib):
        sched = lib.optim.lr_scheduler

        def build(opt):
            warm = sched.ChainedScheduler(
                [
                    sched.LinearLR(opt, start_factor=0.25, total_iters=4),
                    sched.ExponentialLR(opt, 0.9),
                ]
            )
            decay = sched.StepLR(opt, step_size=5, gamma=0.5)
            return sched.SequentialLR(opt, [warm, decay], milestones=[6])

        return build

    assert lrs(cr, make(cr)) == lrs(torch, make(torch))


def test_a_composite_cannot_restart_at_a_milestone() -> None:
    """PyTorch fails there with a bare NotImplementedError; chainrule says why."""
    opt = cr.optim.SGD([cr.zeros(2, requires_grad=True)], lr=0.1)
    chain = crs.ChainedScheduler([crs.ExponentialLR(opt, 0.9)])
    seq = crs.SequentialLR(opt, [crs.StepLR(opt, 2), chain], milestones=[1])
    with pytest.raises(OptimizerError, match="cannot restart a ChainedScheduler at a milestone"):
        seq.step()


# ---------------------------------------------------------------------------- checkpoints
class Decay:
    """A callable object: LambdaLR saves its attributes (not the function)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, epoch: int) -> float:
        return self.rate**epoch


ROUND_TRIP = {
    **MAKERS,
    "lambda_object": lambda lib: lambda opt: lib.optim.lr_scheduler.LambdaLR(opt, Decay(0.9)),
}


@pytest.mark.parametrize("key", list(ROUND_TRIP))
def test_round_trip_after_15_steps_continues_as_40(key: str) -> None:
    make_sched = ROUND_TRIP[key](cr)
    whole = advance(cr_run(_sgd(cr), make_sched), 40)
    first = advance(cr_run(_sgd(cr), make_sched), 15)
    state = json.loads(json.dumps(first.scheduler.state_dict()))  # plain data only
    if key == "lambda_object":
        assert state["lr_lambdas"] == [{"rate": 0.9}] * 3
        first.scheduler.lr_lambdas[0].rate = 0.5  # what a loaded state must undo
    second = cr_run(_sgd(cr), make_sched, weights=first.weights())
    second.optimizer.load_state_dict(first.optimizer.state_dict())
    second.scheduler.load_state_dict(state)
    advance(second, 25, start=15)
    assert first.lrs + second.lrs == whole.lrs
    for x, y in zip(second.weights(), whole.weights()):
        np.testing.assert_array_equal(x, y)


def test_torchs_sequential_state_dict_loads_and_continues_alike() -> None:
    runs = {}
    for lib in (cr, torch):
        ps = [lib.zeros(2, requires_grad=True) for _ in range(6)]
        opt = _sgd(lib)(ps)
        s = warmup_cosine(lib)(opt)
        for _ in range(8):
            opt.step()
            s.step()
        runs[lib.__name__] = (opt, s)
    t_opt, t_sched = runs["torch"]
    ps = [cr.zeros(2, requires_grad=True) for _ in range(6)]
    opt = _sgd(cr)(ps)
    s = warmup_cosine(cr)(opt)
    for group, theirs in zip(opt.param_groups, t_opt.param_groups):
        group["lr"] = theirs["lr"]
    s.load_state_dict(t_sched.state_dict())
    ours, theirs = [], []
    for _ in range(20):
        opt.step(), s.step(), t_opt.step(), t_sched.step()
        ours.append(s.get_last_lr())
        theirs.append(t_sched.get_last_lr())
    assert ours == theirs and s.last_epoch == t_sched.last_epoch == 28


# ---------------------------------------------------------------------------- errors
def _opt():
    return cr.optim.SGD([cr.zeros(2, requires_grad=True)], lr=0.1)


def test_invalid_composites() -> None:
    opt, other = _opt(), _opt()
    step = crs.StepLR(opt, 2)
    with pytest.raises(OptimizerError, match="2 schedulers need 1 milestones"):
        crs.SequentialLR(opt, [step, crs.ExponentialLR(opt, 0.9)], milestones=[])
    with pytest.raises(OptimizerError, match=r"schedulers\[1\] is a ReduceLROnPlateau"):
        crs.SequentialLR(opt, [step, crs.ReduceLROnPlateau(opt)], milestones=[3])
    with pytest.raises(OptimizerError, match=r"schedulers\[0\] \(StepLR\) drives another"):
        crs.ChainedScheduler([crs.StepLR(other, 2)], optimizer=opt)
    with pytest.raises(TypeError, match=r"schedulers\[0\] is a str"):
        crs.ChainedScheduler(["cosine"], optimizer=opt)
    with pytest.raises(OptimizerError, match="at least one scheduler"):
        crs.ChainedScheduler([])
    with pytest.raises(OptimizerError, match="at least one scheduler"):
        crs.SequentialLR(opt, [], milestones=[])
    with pytest.raises(OptimizerError, match=r"LambdaLR: invalid lr_lambda=.*a list of 1"):
        crs.LambdaLR(opt, [_lambda, _lambda])
    with pytest.raises(OptimizerError, match=r"LambdaLR: invalid lr_lambda=0\.5"):
        crs.LambdaLR(opt, 0.5)
    chain = crs.ChainedScheduler([crs.StepLR(opt, 2), crs.ExponentialLR(opt, 0.9)])
    state = chain.state_dict()
    state["_schedulers"] = state["_schedulers"][:1]
    with pytest.raises(OptimizerError, match="holds 1 schedulers, this one has 2"):
        chain.load_state_dict(state)
