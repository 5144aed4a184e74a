"""cross_entropy against PyTorch's F.cross_entropy and finite differences, over every option:
class indices or probabilities, per-class weights, label smoothing, ignore_index, the three
reductions, unbatched (C,) and K-dimensional (N, C, d1, ...) inputs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import seeds, uniform
from torch_ref import check_against_torch


@st.composite
def ce_cases(draw: st.DrawFn) -> dict:
    """One cross_entropy call: logits, targets and options (as plain arrays and values)."""
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    c = draw(st.integers(1, 4))
    layout = draw(st.sampled_from(["unbatched", "batch", "k-dim"]))
    if layout == "unbatched":
        shape = (c,)
    elif layout == "batch":
        shape = (draw(st.integers(1, 4)), c)
    else:
        extra = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
        shape = (draw(st.integers(1, 3)), c, *extra)
    kind = draw(st.sampled_from(["indices", "probabilities"]))
    case = {
        "x": uniform(seed, shape, -3.0, 3.0),
        "kwargs": {
            "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
            "label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.35])),
        },
    }
    if draw(st.booleans()):
        case["weight"] = rng.uniform(0.2, 2.0, size=c)
    target_shape = shape[:1] + shape[2:] if layout != "unbatched" else ()
    if kind == "indices":
        y = rng.integers(0, c, size=target_shape)
        ignore = draw(st.sampled_from([None, -100, 0]))
        if ignore is not None:
            case["kwargs"]["ignore_index"] = ignore
            y = np.where(rng.random(target_shape) < 0.3, ignore, y)
            if case["kwargs"]["reduction"] == "mean" and np.all(y == ignore):
                y = np.full(target_shape, c - 1 if ignore == 0 else 0)  # one valid target
                if ignore == 0 and c == 1:  # every class ignored: nothing to average
                    del case["kwargs"]["ignore_index"]
        case["target"] = np.asarray(y, dtype=np.int64)
    else:
        p = rng.uniform(0.05, 1.0, size=shape)
        case["target"] = p / p.sum(axis=1 if layout != "unbatched" else 0, keepdims=True)
    return case


def _cr_call(case: dict):
    w = case.get("weight")
    kw = case["kwargs"]
    return lambda x, *t: cr.cross_entropy(
        x, t[0] if t else case["target"], weight=None if w is None else cr.tensor(w), **kw
    )


def _torch_call(case: dict):
    w = case.get("weight")
    kw = case["kwargs"]
    return lambda x, *t: F.cross_entropy(
        x,
        t[0] if t else torch.from_numpy(case["target"]),
        weight=None if w is None else torch.from_numpy(w),
        **kw,
    )


@settings(max_examples=80)
@given(case=ce_cases())
def test_cross_entropy_matches_torch(case):
    check_against_torch(_cr_call(case), _torch_call(case), [case["x"]])


@settings(max_examples=40)
@given(case=ce_cases())
def test_cross_entropy_gradcheck(case):
    assert cr.gradcheck(_cr_call(case), [case["x"]])


@settings(max_examples=25)
@given(case=ce_cases().filter(lambda c: c["target"].dtype == np.float64))
def test_cross_entropy_gradient_wrt_probability_targets(case):
    """Soft targets that require grad (distillation) get -weight * log softmax(x) too."""
    check_against_torch(_cr_call(case), _torch_call(case), [case["x"], case["target"]])


def test_gradient_wrt_logits_is_softmax_minus_one_hot():
    """The seeds' ∇_{a_L} = -(e(y) - ŷ), per example, divided by N for the mean."""
    x = cr.randn(5, 4, dtype="float64", requires_grad=True)
    y = np.array([0, 3, 1, 1, 2])
    cr.cross_entropy(x, y).backward()
    one_hot = np.eye(4)[y]
    expected = -(one_hot - cr.softmax(x.detach()).numpy()) / 5
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-15)


def test_confident_wrong_prediction_stays_finite():
    x = cr.tensor([[800.0, -800.0]], dtype="float64", requires_grad=True)
    loss = cr.cross_entropy(x, np.array([1]))
    assert loss.item() == 1600.0
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, -1.0]])


@settings(max_examples=20)
@given(seed=seeds, m=st.integers(1, 4), c=st.integers(1, 4))
def test_softmax_cross_entropy_primitive(seed, m, c):
    """The fused op itself: row losses -sum_c q log softmax(x), differentiable in x and q."""
    rng = np.random.default_rng(seed)
    x = uniform(seed, (m, c), -3.0, 3.0)
    q = rng.uniform(0.0, 1.0, size=(m, c))  # any non-negative weights, not only distributions
    assert cr.gradcheck(cr.softmax_cross_entropy, [x, q])
    check_against_torch(
        cr.softmax_cross_entropy,
        lambda x, q: -(q * torch.log_softmax(x, -1)).sum(-1),
        [x, q],
    )
