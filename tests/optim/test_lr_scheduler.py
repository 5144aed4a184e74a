"""Each learning-rate scheduler against PyTorch's: the same rate at every step (to the last
bit: the schedules are computed with the same float operations) and, driving an optimiser for
50 steps of training, the same final weights; settings drawn by hypothesis; checkpoints that
resume mid-schedule; every bad setting.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from mlp import advance, assert_same_training, cr_run, groups_by_layer, torch_run, train

import chainrule as cr
from chainrule.errors import OptimizerError, StateDictError

crs = cr.optim.lr_scheduler
ts = torch.optim.lr_scheduler

SCHEDULES = {
    "step": ("StepLR", {"step_size": 7, "gamma": 0.5}),
    "multistep": ("MultiStepLR", {"milestones": [5, 20, 20, 35], "gamma": 0.3}),
    "exponential": ("ExponentialLR", {"gamma": 0.95}),
    "cosine": ("CosineAnnealingLR", {"T_max": 12, "eta_min": 0.001}),
    "linear": ("LinearLR", {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 10}),
    "onecycle-cos": ("OneCycleLR", {"max_lr": 0.2, "total_steps": 50}),
    "onecycle-linear-3": (
        "OneCycleLR",
        {
            "max_lr": [0.2, 0.1, 0.05],
            "epochs": 5,
            "steps_per_epoch": 10,
            "pct_start": 0.25,
            "anneal_strategy": "linear",
            "three_phase": True,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
            "base_momentum": 0.8,
            "max_momentum": [0.9, 0.95, 0.99],
        },
    ),
}


def sched_pair(name: str, kwargs: dict):
    return (
        lambda opt: getattr(crs, name)(opt, **kwargs),
        lambda opt: getattr(ts, name)(opt, **kwargs),
    )


def opt_pair(name: str, groups: bool = True, **kwargs):
    lrs = (0.1, 0.05, 0.02)

    def make(lib):
        def factory(ps):
            params = groups_by_layer(ps, lrs) if groups else ps
            return getattr(lib, name)(params, **kwargs)

        return factory

    return make(cr.optim), make(torch.optim)


def lr_sequence(lib, sched_name: str, kwargs: dict, steps: int, opt_kwargs=None) -> list:
    """The rates a scheduler sets over ``steps`` steps, driving an optimiser without grads."""
    opt_kwargs = opt_kwargs or {"momentum": 0.9}
    ps = [lib.zeros(2, requires_grad=True) for _ in range(2)]
    opt = lib.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.3}], lr=0.1, **opt_kwargs)
    sched = getattr(lib.optim.lr_scheduler, sched_name)(opt, **kwargs)
    seq = [list(sched.get_last_lr())]
    momenta = [[g["momentum"] for g in opt.param_groups]]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append(list(sched.get_last_lr()))
        momenta.append([g["momentum"] for g in opt.param_groups])
    return seq, momenta


def assert_same_sequence(kind: str, kwargs: dict, steps: int = 50, **opt_kwargs) -> None:
    ours = lr_sequence(cr, kind, kwargs, steps, opt_kwargs or None)
    theirs = lr_sequence(torch, kind, kwargs, steps, opt_kwargs or None)
    assert ours == theirs


# ---------------------------------------------------------------------------- driving training
@pytest.mark.parametrize("key", list(SCHEDULES))
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_scheduler_drives_training_like_torch(key: str, optimizer: str) -> None:
    name, kwargs = SCHEDULES[key]
    opt_kwargs = {"momentum": 0.9} if optimizer == "SGD" else {}
    a, b = train(*opt_pair(optimizer, **opt_kwargs), 50, *sched_pair(name, kwargs))
    assert a.lrs == b.lrs
    assert len({tuple(lr) for lr in a.lrs}) > 1, "the schedule never changed the rate"
    assert_same_training(a, b)
    if name == "OneCycleLR":  # momentum / beta1 cycled the same way
        key = "momentum" if optimizer == "SGD" else "betas"
        assert [g[key] for g in a.optimizer.param_groups] == [
            tuple(g[key]) if key == "betas" else g[key] for g in b.optimizer.param_groups
        ]


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_reduce_on_plateau_with_scripted_metrics_drives_training_like_torch(optimizer) -> None:
    metrics = [5.0, 4.0, 4.0, 4.0, 3.9999, 4.1, 3.0, 3.0, 3.0, 3.0, 3.0] * 5
    kwargs = {"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": [0.01, 0.0, 0.005]}
    opt_kwargs = {"momentum": 0.9} if optimizer == "SGD" else {}
    a, b = train(
        *opt_pair(optimizer, **opt_kwargs),
        50,
        lambda opt: crs.ReduceLROnPlateau(opt, **kwargs),
        lambda opt: ts.ReduceLROnPlateau(opt, **kwargs),
        metrics=metrics,
    )
    assert a.lrs == b.lrs and a.lrs[-1] != a.lrs[0]
    assert_same_training(a, b)


def test_two_chained_schedulers_like_torch() -> None:
    """Warm-up then decay, both acting on group["lr"] each step (the chainable form)."""
    runs = []
    for lib, sched, make in ((cr, crs, cr_run), (torch, ts, torch_run)):
        run = make(opt_pair("SGD", momentum=0.9)[0 if lib is cr else 1])
        warm = sched.LinearLR(run.optimizer, start_factor=0.2, total_iters=8)
        decay = sched.ExponentialLR(run.optimizer, gamma=0.97)
        lrs = []
        for step in range(50):
            advance(run, 1, start=step)
            warm.step()
            decay.step()
            lrs.append(decay.get_last_lr())
        runs.append((run, lrs))
    assert runs[0][1] == runs[1][1]
    assert_same_training(runs[0][0], runs[1][0])


# ---------------------------------------------------------------------------- rate sequences
@given(step_size=st.integers(1, 10), gamma=st.floats(0.05, 1.0))
def test_step_lr_sequence(step_size: int, gamma: float) -> None:
    assert_same_sequence("StepLR", {"step_size": step_size, "gamma": gamma}, 40)


@given(milestones=st.lists(st.integers(0, 40), max_size=6), gamma=st.floats(0.05, 1.0))
def test_multistep_lr_sequence(milestones: list[int], gamma: float) -> None:
    assert_same_sequence("MultiStepLR", {"milestones": milestones, "gamma": gamma}, 40)


@given(gamma=st.floats(0.5, 1.0))
def test_exponential_lr_sequence(gamma: float) -> None:
    assert_same_sequence("ExponentialLR", {"gamma": gamma}, 40)


@given(T_max=st.integers(1, 15), eta_min=st.sampled_from([0.0, 1e-4, 0.01]))
def test_cosine_annealing_sequence_over_several_periods(T_max: int, eta_min: float) -> None:
    assert_same_sequence("CosineAnnealingLR", {"T_max": T_max, "eta_min": eta_min}, 60)


@given(
    start_factor=st.floats(0.01, 1.0),
    end_factor=st.floats(0.0, 1.0),
    total_iters=st.integers(0, 20),
)
def test_linear_lr_sequence(start_factor: float, end_factor: float, total_iters: int) -> None:
    kwargs = {"start_factor": start_factor, "end_factor": end_factor, "total_iters": total_iters}
    assert_same_sequence("LinearLR", kwargs, 30)


@given(
    total_steps=st.integers(2, 60),
    pct_start=st.floats(0.05, 0.95),
    anneal_strategy=st.sampled_from(["cos", "linear"]),
    three_phase=st.booleans(),
    div_factor=st.sampled_from([25.0, 4.0]),
    final_div_factor=st.sampled_from([1e4, 10.0]),
    cycle_momentum=st.booleans(),
)
def test_one_cycle_sequence_with_momentum(
    total_steps,
    pct_start,
    anneal_strategy,
    three_phase,
    div_factor,
    final_div_factor,
    cycle_momentum,
) -> None:
    kwargs = dict(
        max_lr=[0.5, 0.2],
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy=anneal_strategy,
        three_phase=three_phase,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        cycle_momentum=cycle_momentum,
    )
    up = float(pct_start * total_steps) - 1
    if up == 0 or (three_phase and float(2 * pct_start * total_steps) - 2 == up):
        # a phase of no steps: PyTorch divides by zero when it gets there, chainrule refuses
        with pytest.raises(OptimizerError, match=r"leaves a phase of the schedule no steps"):
            lr_sequence(cr, "OneCycleLR", kwargs, total_steps - 1)
        return
    assert_same_sequence("OneCycleLR", kwargs, total_steps)


def test_one_cycle_cycles_adams_beta1() -> None:
    seqs = []
    for lib, sched in ((cr, crs), (torch, ts)):
        w = [lib.zeros(2, requires_grad=True)]
        opt = lib.optim.Adam(w, lr=0.1, betas=(0.9, 0.99))
        s = sched.OneCycleLR(opt, max_lr=0.3, total_steps=20, base_momentum=0.7)
        betas = []
        for _ in range(19):
            opt.step()
            s.step()
            betas.append(tuple(opt.param_groups[0]["betas"]))
        seqs.append(betas)
    assert seqs[0] == seqs[1]
    assert seqs[0][0][1] == 0.99 and min(b[0] for b in seqs[0]) < 0.75


@given(
    mode=st.sampled_from(["min", "max"]),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    threshold=st.sampled_from([0.0, 1e-4, 0.1]),
    factor=st.floats(0.0, 0.9),
    patience=st.integers(0, 4),
    cooldown=st.integers(0, 3),
    min_lr=st.sampled_from([0.0, 1e-3, [1e-3, 0.05]]),
    metrics=st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=40),
)
def test_reduce_on_plateau_sequence(
    mode, threshold_mode, threshold, factor, patience, cooldown, min_lr, metrics
) -> None:
    kwargs = dict(
        mode=mode,
        threshold_mode=threshold_mode,
        threshold=threshold,
        factor=factor,
        patience=patience,
        cooldown=cooldown,
        min_lr=min_lr,
    )
    seqs = []
    for lib, sched in ((cr, crs), (torch, ts)):
        w = [lib.zeros(2, requires_grad=True) for _ in range(2)]
        opt = lib.optim.SGD([{"params": w[:1]}, {"params": w[1:], "lr": 0.3}], lr=0.1)
        s = sched.ReduceLROnPlateau(opt, **kwargs)
        seq = []
        for m in metrics:
            s.step(m)
            seq.append((s.get_last_lr(), s.num_bad_epochs, s.cooldown_counter, s.best))
        seqs.append(seq)
    assert seqs[0] == seqs[1]


# ---------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("key", [*SCHEDULES, "plateau"])
def test_round_trip_after_20_steps_continues_as_50(key: str) -> None:
    metrics = [3.0, 2.0, 2.0, 2.0, 2.5, 1.0] * 10 if key == "plateau" else None
    if key == "plateau":
        make_sched = lambda opt: crs.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    else:
        name, kwargs = SCHEDULES[key]
        make_sched = sched_pair(name, kwargs)[0]
    make_opt = opt_pair("SGD", momentum=0.9)[0]
    whole = advance(cr_run(make_opt, make_sched), 50, metrics=metrics)
    first = advance(cr_run(make_opt, make_sched), 20, metrics=metrics)
    opt_state = first.optimizer.state_dict()
    sched_state = json.loads(json.dumps(first.scheduler.state_dict()))  # plain data only
    second = cr_run(make_opt, make_sched, weights=first.weights())
    second.optimizer.load_state_dict(opt_state)
    second.scheduler.load_state_dict(sched_state)
    advance(second, 30, start=20, metrics=metrics)
    assert first.lrs + second.lrs == whole.lrs
    for x, y in zip(second.weights(), whole.weights()):
        np.testing.assert_array_equal(x, y)


def test_resuming_with_last_epoch_uses_the_closed_form_like_torch() -> None:
    seqs = []
    for lib, sched in ((cr, crs), (torch, ts)):
        opt = lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=0.1)
        opt.param_groups[0]["initial_lr"] = 0.4
        s = sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.01, last_epoch=6)
        seq = [s.get_last_lr()]
        for _ in range(8):
            opt.step()
            s.step()
            seq.append(s.get_last_lr())
        seqs.append((seq, s.last_epoch))
    assert seqs[0] == seqs[1]


def test_scheduler_state_dict_of_another_kind_is_refused() -> None:
    opt = cr.optim.SGD([cr.zeros(2, requires_grad=True)], lr=0.1)
    step = crs.StepLR(opt, step_size=3)
    cosine = crs.CosineAnnealingLR(opt, T_max=5)
    with pytest.raises(
        StateDictError,
        match=r"missing keys \['gamma', 'step_size'\], unexpected keys \['T_max', 'eta_min'\]",
    ):
        step.load_state_dict(cosine.state_dict())


# ---------------------------------------------------------------------------- bad settings
def _opt(name: str = "SGD", **kwargs):
    return getattr(cr.optim, name)([cr.zeros(2, requires_grad=True)], lr=0.1, **kwargs)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: crs.StepLR(_opt(), step_size=0), "StepLR: invalid step_size=0"),
        (lambda: crs.StepLR(_opt(), step_size=2.5), "StepLR: invalid step_size=2.5"),
        (lambda: crs.StepLR(_opt(), step_size=2, gamma=-0.1), "invalid gamma=-0.1"),
        (lambda: crs.MultiStepLR(_opt(), [1], gamma=float("nan")), "invalid gamma=nan"),
        (lambda: crs.ExponentialLR(_opt(), gamma=-1.0), "ExponentialLR: invalid gamma"),
        (lambda: crs.CosineAnnealingLR(_opt(), T_max=0), "invalid T_max=0"),
        (lambda: crs.LinearLR(_opt(), start_factor=0.0), "invalid start_factor=0.0"),
        (lambda: crs.LinearLR(_opt(), start_factor=1.5), "invalid start_factor=1.5"),
        (lambda: crs.LinearLR(_opt(), end_factor=1.1), "invalid end_factor=1.1"),
        (lambda: crs.LinearLR(_opt(), total_iters=-1), "invalid total_iters=-1"),
        (lambda: crs.ReduceLROnPlateau(_opt(), factor=1.0), "invalid factor=1.0"),
        (lambda: crs.ReduceLROnPlateau(_opt(), mode="avg"), "invalid mode='avg'"),
        (lambda: crs.ReduceLROnPlateau(_opt(), threshold_mode="x"), "invalid threshold_mode"),
        (lambda: crs.ReduceLROnPlateau(_opt(), patience=-1), "invalid patience=-1"),
        (lambda: crs.ReduceLROnPlateau(_opt(), min_lr=[0.0, 0.1]), "invalid min_lr"),
        (lambda: crs.OneCycleLR(_opt(momentum=0.9), max_lr=1.0), "either total_steps or"),
        (lambda: crs.OneCycleLR(_opt(), 1.0, total_steps=0), "invalid total_steps=0"),
        (lambda: crs.OneCycleLR(_opt(), 1.0, epochs=2, steps_per_epoch=0), "steps_per_epoch"),
        (lambda: crs.OneCycleLR(_opt(), 1.0, 10, pct_start=1.5), "invalid pct_start=1.5"),
        (lambda: crs.OneCycleLR(_opt(), 1.0, 10, pct_start=0.1), "pct_start=0.1 .* no steps"),
        (lambda: crs.OneCycleLR(_opt(), 1.0, 10, pct_start=1.0), "pct_start=1.0 .* no steps"),
        (lambda: crs.OneCycleLR(_opt(), 1.0, 10, anneal_strategy="exp"), "anneal_strategy"),
        (lambda: crs.OneCycleLR(_opt(), [1.0, 2.0], 10), "invalid max_lr=.*list of 1"),
        (lambda: crs.OneCycleLR(_opt("Adagrad"), 1.0, 10), "needs an optimiser with momentum"),
        (lambda: crs.CosineAnnealingLR(_opt(), 5, last_epoch=3), "needs 'initial_lr'"),
    ],
)
def test_invalid_scheduler_setting(make, match: str) -> None:
    with pytest.raises(OptimizerError, match=match) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_one_cycle_past_its_last_step() -> None:
    s = crs.OneCycleLR(_opt(momentum=0.9), max_lr=1.0, total_steps=3)
    s.step()
    s.step()
    s.step()
    with pytest.raises(OptimizerError, match=r"tried to step 4 times.*total_steps=3"):
        s.step()


def test_scheduler_needs_a_chainrule_optimizer() -> None:
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    for make in (
        lambda: crs.StepLR(topt, 2),
        lambda: crs.ReduceLROnPlateau(topt),
        lambda: crs.OneCycleLR(topt, 1.0, 10),
    ):
        with pytest.raises(TypeError, match=r"is not a chainrule Optimizer"):
            make()
