"""Gradient clipping against ``torch.nn.utils``: the returned total norm and the clipped
gradients agree for norm types 2, 1, inf (and others), float64 and float32, with parameters
that have no gradient; then the errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import NonFiniteError, OptimizerError
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_
from strategies import seeds

shape_lists = st.lists(
    st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4
)


def make_pair(shapes, seed: int, scale: float, dtype=np.float64, without_grad=()):
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for k, shape in enumerate(shapes):
        w = rng.standard_normal(shape).astype(dtype)
        g = (scale * rng.standard_normal(shape)).astype(dtype)
        p, t = cr.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
        if k not in without_grad:
            p.grad, t.grad = cr.tensor(g), torch.tensor(g)
        ours.append(p)
        theirs.append(t)
    return ours, theirs


def assert_same_grads(ours, theirs, rtol=1e-6) -> None:
    for p, t in zip(ours, theirs):
        if t.grad is None:
            assert p.grad is None
        else:
            assert p.grad.dtype == t.grad.numpy().dtype
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-12)


@given(
    shapes=shape_lists,
    seed=seeds,
    scale=st.sampled_from([1e-3, 1.0, 100.0]),
    max_norm=st.floats(0.0, 10.0),
    norm_type=st.sampled_from([2.0, 1.0, math.inf, 3.0, 0.5]),
    skip=st.sets(st.integers(0, 3), max_size=2),
)
def test_clip_grad_norm_matches_torch(shapes, seed, scale, max_norm, norm_type, skip) -> None:
    ours, theirs = make_pair(shapes, seed, scale, without_grad=skip)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6, atol=1e-12)
    assert_same_grads(ours, theirs)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, "inf"])
def test_clip_grad_norm_float32_and_a_single_tensor(norm_type) -> None:
    ours, theirs = make_pair([(3, 4), (4,)], 1, 5.0, dtype=np.float32)
    total = clip_grad_norm_(ours, 1.0, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, float(norm_type))
    assert total.dtype == np.float32
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-5)
    assert_same_grads(ours, theirs, rtol=1e-5)
    one, t_one = make_pair([(5,)], 2, 5.0)
    np.testing.assert_allclose(
        clip_grad_norm_(one[0], 0.5, norm_type).item(),
        torch.nn.utils.clip_grad_norm_(t_one[0], 0.5, float(norm_type)).item(),
    )
    assert_same_grads(one, t_one)


def test_clip_grad_norm_leaves_small_gradients_alone_and_handles_none() -> None:
    ours, _ = make_pair([(3,)], 3, 1e-3)
    before = ours[0].grad.numpy().copy()
    clip_grad_norm_(ours, 10.0)
    np.testing.assert_allclose(ours[0].grad.numpy(), before, rtol=1e-12)
    nothing = clip_grad_norm_([cr.zeros(2, requires_grad=True)], 1.0)
    assert nothing.item() == 0.0
    assert clip_grad_norm_(iter([]), 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite() -> None:
    ours, theirs = make_pair([(3,), (2,)], 4, 1.0)
    ours[1].grad.data[0] = np.nan
    theirs[1].grad[0] = torch.nan
    before = [p.grad.numpy().copy() for p in ours]
    with pytest.raises(NonFiniteError, match=r"total norm of order 2.0 .* is nan"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    for p, g in zip(ours, before):
        np.testing.assert_array_equal(p.grad.numpy(), g)
    with pytest.raises(NonFiniteError, match=r"order inf .* is inf"):
        ours[1].grad.data[0] = np.inf
        clip_grad_norm_(ours, 1.0, norm_type=math.inf, error_if_nonfinite=True)
    ours[1].grad.data[0] = np.nan  # without the flag: scaled by NaN, as PyTorch does
    total = clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isnan(total.item()) and math.isnan(expected.item())
    assert np.isnan(ours[0].grad.numpy()).all() and torch.isnan(theirs[0].grad).all()


@given(
    shapes=shape_lists,
    seed=seeds,
    clip_value=st.floats(0.0, 2.0),
    skip=st.sets(st.integers(0, 3), max_size=2),
)
def test_clip_grad_value_matches_torch(shapes, seed, clip_value, skip) -> None:
    ours, theirs = make_pair(shapes, seed, 1.5, without_grad=skip)
    assert clip_grad_value_(ours, clip_value) is None
    if any(t.grad is not None for t in theirs):  # PyTorch fails on a list with no gradient
        torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert_same_grads(ours, theirs, rtol=0)


def test_clip_grad_value_keeps_float32_and_takes_one_tensor() -> None:
    w = cr.zeros(3, requires_grad=True)
    w.grad = cr.tensor([-5.0, 0.25, 5.0])
    clip_grad_value_(w, 0.5)
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad.numpy(), np.float32([-0.5, 0.25, 0.5]))


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_negative_limits_are_refused(bad: float) -> None:
    ours, _ = make_pair([(3,)], 5, 1.0)
    with pytest.raises(OptimizerError, match=r"clip_grad_norm_: invalid max_norm"):
        clip_grad_norm_(ours, bad)
    with pytest.raises(OptimizerError, match=r"clip_grad_value_: invalid clip_value"):
        clip_grad_value_(ours, bad)


def test_clipping_before_a_step_trains_like_torch() -> None:
    """The usual loop: backward, clip, step; 50 steps as in PyTorch."""
    from mlp import assert_same_training, batch, cr_loss, cr_run, torch_loss, torch_run

    a = cr_run(lambda ps: cr.optim.SGD(ps, lr=0.5, momentum=0.9))
    b = torch_run(lambda ps: torch.optim.SGD(ps, lr=0.5, momentum=0.9))
    for step in range(50):
        for run, loss_fn, clip in (
            (a, cr_loss, clip_grad_norm_),
            (b, torch_loss, torch.nn.utils.clip_grad_norm_),
        ):
            run.optimizer.zero_grad()
            loss = loss_fn(run.params, *batch(step))
            loss.backward()
            clip(run.params, 0.3)
            run.optimizer.step()
            run.losses.append(float(loss.item()))
    assert_same_training(a, b)
