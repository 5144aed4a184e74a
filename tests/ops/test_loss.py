"""cross_entropy against PyTorch's F.cross_entropy and finite differences, over every option:
class indices or probabilities, per-class weights, label smoothing, ignore_index, the three
reductions, unbatched (C,) and K-dimensional (N, C, d1, ...) inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import CompileWarning
from strategies import seeds, uniform
from torch_ref import assert_close, check_against_torch, check_second_order, hvp


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


@st.composite
def index_cases(draw: st.DrawFn) -> dict:
    """One class_cross_entropy call: logits (M, C), class indices, row weights or None
    (0 for an ignored row), scale or None (row losses)."""
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    m, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    weight = rng.uniform(0.2, 2.0, size=m) * (rng.random(m) > 0.3) if draw(st.booleans()) else None
    return {"x": uniform(seed, (m, c), -3.0, 3.0), "y": rng.integers(0, c, size=m),
            "weight": weight, "scale": draw(st.sampled_from([None, 1.0, 0.37]))}  # fmt: skip


def _torch_class_ce(case: dict):
    w, s = case["weight"], case["scale"]

    def fn(x):
        rows = -torch.log_softmax(x, -1)[torch.arange(x.shape[0]), torch.from_numpy(case["y"])]
        if w is not None:
            rows = rows * torch.from_numpy(w)
        return rows if s is None else rows.sum() * s

    return fn


def _cr_class_ce(case: dict):
    return lambda x: cr.ops.loss.class_cross_entropy(x, case["y"], case["weight"], case["scale"])


@settings(max_examples=40)
@given(case=index_cases())
def test_class_cross_entropy_primitive(case):
    """The fused class-index op: -w log softmax(x)[i, y], its gradient w (ŷ - e(y)) from the
    forward's saved array, against PyTorch (float64) and finite differences."""
    check_against_torch(_cr_class_ce(case), _torch_class_ce(case), [case["x"]])
    assert cr.gradcheck(_cr_class_ce(case), [case["x"]])


@settings(max_examples=10)
@given(case=index_cases())
def test_class_cross_entropy_second_order(case):
    """With create_graph the rule is made of ops (the softmax again): Hessian-vector products
    as PyTorch's, and the gradient itself checked by finite differences."""
    g_cr, h_cr = hvp(_cr_class_ce(case), cr, [case["x"]])
    g_t, h_t = hvp(_torch_class_ce(case), torch, [case["x"]])
    assert_close(g_cr[0], g_t[0])
    assert_close(h_cr[0], h_t[0])
    check_second_order(_cr_class_ce(case), [case["x"]])


def test_class_cross_entropy_gradient_read_from_the_forward():
    """The rule reads the forward's saved gradient (the loss is a view of the array holding
    it); without one (a forward run under no_grad) it computes the same from x."""
    from chainrule.ops.loss import _class_ce_vjp_into, _saved_grad

    x = cr.randn(6, 4, dtype="float64", requires_grad=True)
    y = np.array([0, 3, 1, 1, 2, 0])
    w = np.array([1.0, 0.5, 0.0, 2.0, 1.0, 1.5])
    loss = cr.ops.loss.class_cross_entropy(x, y, w, 0.25)
    assert loss.shape == () and loss.data.base is not None and loss.data.base.size == 1 + 24
    expected = w[:, None] * (cr.softmax(x.detach()).numpy() - np.eye(4)[y]) * 0.25
    saved = _saved_grad(loss.data, x.shape)  # the rule's end of the layout finds the forward's
    assert saved is not None and np.shares_memory(saved, loss.data.base)
    np.testing.assert_allclose(saved, expected, rtol=1e-12, atol=1e-15)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    with cr.no_grad():
        bare = cr.ops.loss.class_cross_entropy(x, y, w, 0.25)
    assert bare.data.base is None or bare.data.base.size == 1
    assert _saved_grad(bare.data, x.shape) is None
    assert bare.item() == loss.item()
    g = _class_ce_vjp_into((None,), np.array(1.0), bare.data, x.data, y, w, 0.25)[0]
    np.testing.assert_array_equal(g, x.grad.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "cr.compile"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_class_cross_entropy_gradient_is_computed_once_per_step(monkeypatch, compiled, reduction):
    """The two ends of the saved gradient (the forward writing it behind the loss, the rule
    finding it from the loss) stay in step: a training step computes the gradient array once,
    in the forward, eagerly and in cr.compile's replays. Were the rule to stop finding it, it
    would compute it again (still right: only this count tells)."""
    from chainrule.ops import loss as loss_module

    calls = []
    real = loss_module._class_ce_grad
    monkeypatch.setattr(loss_module, "_class_ce_grad", lambda *a: calls.append(1) or real(*a))
    x = cr.randn(8, 5, dtype="float64", requires_grad=True)
    y = np.array([0, 4, 1, 1, 2, 3, 0, 4])
    expected = cr.softmax(x.detach()).numpy() - np.eye(5)[y]
    expected /= 8 if reduction == "mean" else 1

    def step(targets):
        x.grad = None
        loss = cr.cross_entropy(x, targets, reduction=reduction)
        (loss if reduction == "mean" else loss.sum()).backward()
        return x.grad

    fn = cr.compile(step) if compiled else step
    for i in range(3):  # (compiled: the capture, then replays; a fallback to eager fails)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            grad = fn(cr.tensor(y))
        np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-12, atol=1e-15)
        assert len(calls) == i + 1, f"step {i}: the gradient was computed {len(calls) - i} times"


def test_cross_entropy_takes_the_fused_op_for_class_indices():
    """Integer targets without label smoothing go through class_cross_entropy (no one-hot),
    with smoothing through the dense targets; both as PyTorch's."""
    x = cr.randn(5, 3, dtype="float64", requires_grad=True)
    y = np.array([0, 2, 1, -100, 2])
    fused = cr.cross_entropy(x, y, ignore_index=-100)
    assert fused.grad_fn.prim.name == "class_cross_entropy"
    smooth = cr.cross_entropy(x, y, ignore_index=-100, label_smoothing=0.1)
    assert smooth.grad_fn.prim.name == "softmax_cross_entropy"
    t = torch.tensor(x.numpy())
    assert_close(fused, F.cross_entropy(t, torch.from_numpy(y), ignore_index=-100))


@pytest.mark.parametrize("shape", [(128, 10), (1, 1), (0, 3), (5, 64), (3, 65), (7, 2)])
def test_short_row_reductions_match_numpy(shape):
    """class_cross_entropy's row max (a transposed copy's rows, for short rows) equals
    NumPy's bit for bit, NaN and -inf included; its row sum (a BLAS product) to rounding."""
    from chainrule.ops._ones_sum import ones_sum
    from chainrule.ops.loss import _row_max

    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    if x.size:
        x.flat[:: max(1, x.size // 3)] = np.nan
        x.flat[1 :: max(2, x.size // 2)] = -np.inf
    np.testing.assert_array_equal(_row_max(np, x), x.max(axis=-1, keepdims=True))
    e = np.exp(rng.standard_normal(shape))
    np.testing.assert_allclose(ones_sum(np, e, -1), e.sum(axis=-1), rtol=1e-14)
