"""Each optimiser against PyTorch's: 50 minibatch steps on the same MLP from the same weights
give the same weights (float64, 1e-6 relative), over hyper-parameters drawn by hypothesis
(weight decay, momentum, dampening, nesterov, amsgrad, centered, maximize) and with parameter
groups that have their own learning rates and settings.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from mlp import (
    advance,
    assert_same_training,
    assert_same_weights,
    batch,
    cr_loss,
    cr_params,
    cr_run,
    groups_by_layer,
    initial_weights,
    torch_loss,
    torch_params,
    torch_run,
    train,
)

import chainrule as cr

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]

rates = st.floats(1e-3, 0.05)
decays = st.one_of(st.just(0.0), st.floats(1e-4, 0.1))


def both(name: str, **kwargs):
    """Factories making chainrule's and PyTorch's optimiser ``name`` with ``kwargs``."""
    return (
        lambda ps: getattr(cr.optim, name)(ps, **kwargs),
        lambda ps: getattr(torch.optim, name)(ps, **kwargs),
    )


def check(name: str, **kwargs) -> None:
    assert_same_training(*train(*both(name, **kwargs)))


@st.composite
def sgd_settings(draw: st.DrawFn) -> dict:
    nesterov = draw(st.booleans())
    momentum = draw(st.floats(0.1, 0.9) if nesterov else st.sampled_from([0.0, 0.5, 0.9]))
    maximize = draw(st.booleans())
    return dict(
        # ascending the loss fast turns chaotic: rounding differences grow past 1e-6
        lr=draw(st.floats(1e-3, 0.05 if maximize else 0.2)),
        momentum=momentum,
        dampening=0.0 if nesterov else draw(st.sampled_from([0.0, 0.1, 0.5])),
        weight_decay=draw(decays),
        nesterov=nesterov,
        maximize=maximize,
    )


@given(sgd_settings())
def test_sgd_matches_torch(kwargs: dict) -> None:
    check("SGD", **kwargs)


@given(
    name=st.sampled_from(["Adam", "AdamW"]),
    lr=rates,
    beta1=st.floats(0.0, 0.95),
    beta2=st.floats(0.9, 0.9999),
    eps=st.sampled_from([1e-8, 1e-6, 1e-3]),
    weight_decay=decays,
    amsgrad=st.booleans(),
    maximize=st.booleans(),
)
def test_adam_and_adamw_match_torch(name, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize):
    check(
        name,
        lr=lr,
        betas=(beta1, beta2),
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
    )


def test_adam_with_decoupled_weight_decay_is_adamw() -> None:
    a, _ = train(*both("Adam", lr=0.01, weight_decay=0.1, decoupled_weight_decay=True))
    _, b = train(*both("AdamW", lr=0.01, weight_decay=0.1))
    assert_same_training(a, b)


@given(
    lr=st.floats(1e-3, 0.005),  # RMSprop's first steps are about lr / sqrt(1 - alpha) large
    alpha=st.floats(0.8, 0.999),
    eps=st.sampled_from([1e-8, 1e-4]),
    weight_decay=decays,
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    centered=st.booleans(),
    maximize=st.booleans(),
)
def test_rmsprop_matches_torch(lr, alpha, eps, weight_decay, momentum, centered, maximize):
    check(
        "RMSprop",
        lr=lr,
        alpha=alpha,
        eps=eps,
        weight_decay=weight_decay,
        momentum=momentum,
        centered=centered,
        maximize=maximize,
    )


@given(
    lr=st.floats(1e-3, 0.3),
    lr_decay=st.one_of(st.just(0.0), st.floats(1e-3, 0.1)),
    weight_decay=decays,
    initial_accumulator_value=st.sampled_from([0.0, 0.1, 1.0]),
    eps=st.sampled_from([1e-10, 1e-6]),
    maximize=st.booleans(),
)
def test_adagrad_matches_torch(
    lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize
):
    check(
        "Adagrad",
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
        maximize=maximize,
    )


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("SGD", {"momentum": (0.0, 0.9, 0.5), "nesterov": (False, True, False)}),
        (
            "Adam",
            {"betas": ((0.9, 0.999), (0.5, 0.9), (0.8, 0.99)), "amsgrad": (True, False, True)},
        ),
        ("AdamW", {"weight_decay": (0.0, 0.1, 0.5)}),
        ("RMSprop", {"centered": (True, False, True), "momentum": (0.3, 0.0, 0.0)}),
        ("Adagrad", {"lr_decay": (0.0, 0.01, 0.1)}),
    ],
)
def test_parameter_groups_with_their_own_lr_and_settings(name: str, extra: dict) -> None:
    lrs = (0.05, 0.01, 0.002)
    a, b = train(
        lambda ps: getattr(cr.optim, name)(groups_by_layer(ps, lrs, **extra), lr=1.0),
        lambda ps: getattr(torch.optim, name)(groups_by_layer(ps, lrs, **extra), lr=1.0),
    )
    assert_same_training(a, b)
    assert [g["lr"] for g in a.optimizer.param_groups] == list(lrs)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_add_param_group_midway_unfreezes_layers(name: str) -> None:
    """Train the last layer alone for 10 steps, then add the others with a smaller lr."""
    runs = []
    for lib, params in ((cr.optim, cr_params), (torch.optim, torch_params)):
        ps = params(initial_weights())
        opt = getattr(lib, name)(ps[4:], lr=0.05)
        loss_fn = cr_loss if lib is cr.optim else torch_loss
        for step in range(50):
            if step == 10:
                opt.add_param_group({"params": ps[:4], "lr": 0.01})
            opt.zero_grad()
            loss_fn(ps, *batch(step)).backward()
            opt.step()
        runs.append([np.array(p.detach().numpy() if lib is torch.optim else p.data) for p in ps])
    assert_same_weights(*runs)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_parameters_and_state_stay_float32(name: str) -> None:
    ps = cr_params(initial_weights(dtype=np.float32))
    opt = getattr(cr.optim, name)(ps, lr=0.01)
    for step in range(3):
        opt.zero_grad()
        cr_loss(ps, *batch(step)).backward()
        opt.step()
    assert all(p.dtype == np.float32 for p in ps)
    for s in opt.state.values():
        assert all(v.dtype == np.float32 for v in s.values() if isinstance(v, np.ndarray))
    # and the float32 run follows the float64 one closely
    ref = advance(cr_run(lambda q: getattr(cr.optim, name)(q, lr=0.01)), 3).weights()
    assert_same_weights([p.numpy().astype(np.float64) for p in ps], ref, rtol=1e-3)


def test_parameters_without_grad_are_left_alone() -> None:
    ps = cr_params(initial_weights())
    frozen = ps[0].numpy().copy()
    opt = cr.optim.Adam(ps, lr=0.1)
    cr_loss(ps, *batch(0)).backward()
    ps[0].grad = None
    opt.step()
    np.testing.assert_array_equal(ps[0].numpy(), frozen)
    assert ps[0] not in opt.state and ps[1] in opt.state


def test_zero_grad_sets_to_none_or_zero() -> None:
    ps = cr_params(initial_weights())
    opt = cr.optim.SGD(ps, lr=0.1)
    cr_loss(ps, *batch(0)).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_zero_grad_replaces_a_gradient_that_carries_a_graph() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)
    (w * w * w).sum().backward(create_graph=True)
    assert w.grad.grad_fn is not None
    opt.zero_grad(set_to_none=False)
    assert w.grad.grad_fn is None and not w.grad.numpy().any()


def test_step_with_closure_returns_its_loss_like_torch() -> None:
    a = cr_run(lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9))
    b = torch_run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9))
    for step in range(20):
        for run, loss_fn in ((a, cr_loss), (b, torch_loss)):

            def closure(run=run, loss_fn=loss_fn, step=step):
                run.optimizer.zero_grad()
                loss = loss_fn(run.params, *batch(step))
                loss.backward()
                return loss

            with cr.no_grad():  # the closure records its graph all the same
                run.losses.append(float(run.optimizer.step(closure).item()))
    assert_same_training(a, b)


def test_named_parameters_are_accepted_and_kept() -> None:
    ps = cr_params(initial_weights())
    names = ["w1", "b1", "w2", "b2", "w3", "b3"]
    opt = cr.optim.SGD(list(zip(names, ps)), lr=0.1)
    assert opt.param_groups[0]["param_names"] == names
    assert opt.param_groups[0]["params"][3] is ps[3]
    assert opt.state_dict()["param_groups"][0]["param_names"] == names


def test_step_bumps_the_version_so_a_retained_graph_notices() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)
    y = (w * w).sum()
    y.backward(retain_graph=True)
    opt.step()
    with pytest.raises(cr.InplaceError, match=r"modified in place"):
        y.backward()


def test_generator_of_parameters_is_consumed_once() -> None:
    ps = cr_params(initial_weights())
    opt = cr.optim.Adam(p for p in ps)
    assert len(opt.param_groups[0]["params"]) == len(ps)
    assert opt.defaults["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_defaults_are_pytorchs() -> None:
    w = [cr.zeros(2, requires_grad=True)]
    tw = [torch.zeros(2, requires_grad=True)]
    for name in OPTIMIZERS:
        ours = getattr(cr.optim, name)(w).param_groups[0]
        theirs = getattr(torch.optim, name)(tw).param_groups[0]
        for key, value in ours.items():
            if key != "params" and key in theirs:
                assert value == theirs[key], (name, key)


def test_repr_lists_each_group() -> None:
    ps = cr_params(initial_weights())
    text = repr(cr.optim.SGD(groups_by_layer(ps, (0.1, 0.2, 0.3)), momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 2" in text and "lr: 0.3" in text
