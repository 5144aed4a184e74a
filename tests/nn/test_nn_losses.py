"""Loss modules and functions against PyTorch in float64 (values, input and target
gradients), their stability on extreme logits, and every bad-input error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from nn_parity import assert_close, compare, float64, torch_state

import chainrule as cr
from chainrule.errors import DomainError, NonFiniteError, ShapeError, TargetError

nn = cr.nn
F = cr.nn.functional
tnn = torch.nn

REDUCTIONS = ["mean", "sum", "none"]
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def _rng(seed):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------- regression
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "make",
    [
        lambda r: (nn.MSELoss(reduction=r), tnn.MSELoss(reduction=r)),
        lambda r: (nn.L1Loss(reduction=r), tnn.L1Loss(reduction=r)),
        lambda r: (nn.HuberLoss(reduction=r), tnn.HuberLoss(reduction=r)),
        lambda r: (nn.HuberLoss(r, delta=0.3), tnn.HuberLoss(r, delta=0.3)),
    ],
    ids=["mse", "l1", "huber", "huber-0.3"],
)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_regression_losses_match_torch(make, reduction, shape, seed):
    float64()
    x = _rng(seed).standard_normal(shape) * 2
    y = _rng(seed + 1).standard_normal(shape) * 2
    c, t = make(reduction)
    compare(c, t, x, y)  # gradients w.r.t. input and target


def test_mse_is_the_seeds_squared_error():
    loss = F.mse_loss(cr.tensor([1.0, 2.0, 3.0]), cr.tensor([1.0, 0.0, 0.0]), reduction="sum")
    assert loss.item() == 13.0


def test_regression_target_ints_are_cast_and_float32_kept():
    x = cr.randn(4, requires_grad=True)
    loss = nn.MSELoss()(x, cr.tensor([0, 1, 0, 1]))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.huber_loss])
def test_regression_shape_mismatch_is_an_error_with_a_hint(fn):
    with pytest.raises(ShapeError, match=r"\(4, 1\).*\(4,\).*squeeze"):
        fn(cr.randn(4, 1), cr.randn(4))


@pytest.mark.parametrize("where", ["input", "target"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_regression_nonfinite_names_the_culprit(where, bad):
    x, y = np.zeros(3), np.ones(3)
    (x if where == "input" else y)[1] = bad
    what = "NaN" if np.isnan(bad) else "Inf"
    with pytest.raises(NonFiniteError, match=f"the {where} contains {what}"):
        F.mse_loss(cr.tensor(x), cr.tensor(y))


def test_bad_reduction_and_delta():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(cr.zeros(2), cr.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0.0)


# ------------------------------------------------------------------------------- cross-entropy
@st.composite
def class_problems(draw):
    n = draw(st.integers(1, 4))
    c = draw(st.integers(2, 5))
    extra = draw(st.lists(st.integers(1, 3), max_size=1))
    seed = draw(st.integers(0, 2**16))
    rng = _rng(seed)
    x = rng.standard_normal((n, c, *extra)) * 3
    y = rng.integers(0, c, (n, *extra))
    w = rng.uniform(0.2, 2.0, c) if draw(st.booleans()) else None
    return x, y, w


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(problem=class_problems(), smoothing=st.sampled_from([0.0, 0.25]), ignore=st.booleans())
def test_cross_entropy_class_indices_match_torch(reduction, problem, smoothing, ignore):
    float64()
    x, y, w = problem
    ignore_index = -100
    if ignore:
        ignore_index = 1
        y.reshape(-1)[0] = 1
        y.reshape(-1)[-1] = 0  # at least one counted target
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    c = nn.CrossEntropyLoss(w, **kw)
    t = tnn.CrossEntropyLoss(None if w is None else torch.tensor(w), **kw)
    compare(c, t, x, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(problem=class_problems(), smoothing=st.sampled_from([0.0, 0.3]))
def test_cross_entropy_probability_targets_match_torch(reduction, problem, smoothing):
    float64()
    x, _, w = problem
    q = _rng(1).uniform(0.0, 1.0, x.shape)
    q /= q.sum(axis=1, keepdims=True)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    c = nn.CrossEntropyLoss(w, **kw)
    t = tnn.CrossEntropyLoss(None if w is None else torch.tensor(w), **kw)
    compare(c, t, x, q)  # gradients w.r.t. logits and the target distribution


def test_cross_entropy_unbatched_matches_torch():
    float64()
    x = _rng(0).standard_normal(4)
    compare(nn.CrossEntropyLoss(), tnn.CrossEntropyLoss(), x, np.array(2))


def test_cross_entropy_weight_is_a_buffer_as_in_torch():
    w = np.array([1.0, 2.0, 0.5])
    c, t = nn.CrossEntropyLoss(w), tnn.CrossEntropyLoss(torch.tensor(w))
    assert list(c.state_dict()) == list(t.state_dict()) == ["weight"]
    c.load_state_dict(torch_state(t))
    assert list(nn.CrossEntropyLoss().state_dict()) == []


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=dtype)
    y = np.array([1, 1])
    x = cr.tensor(logits, requires_grad=True)
    loss = nn.CrossEntropyLoss()(x, cr.tensor(y))
    ref = tnn.CrossEntropyLoss()(torch.tensor(logits, requires_grad=True), torch.tensor(y))
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    loss.backward()
    expected = (cr.softmax(cr.tensor(logits), axis=1).numpy() - np.eye(3)[y]) / 2
    np.testing.assert_allclose(x.grad.numpy(), expected, atol=1e-7)
    assert x.grad.dtype == np.dtype(dtype)


def test_cross_entropy_errors():
    logits = cr.randn(3, 4)
    with pytest.raises(TargetError, match="class index 4 is out of range for 4 classes"):
        F.cross_entropy(logits, cr.tensor([0, 4, 1]))
    with pytest.raises(TargetError, match="class index -2"):
        F.cross_entropy(logits, cr.tensor([0, -2, 1]))
    with pytest.raises(TargetError, match=r"must be integers.*astype"):
        F.cross_entropy(logits, cr.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TargetError, match="sum to 1"):
        F.cross_entropy(logits, cr.ones(3, 4))
    bad = logits.numpy().copy()
    bad[1, 2] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        F.cross_entropy(cr.tensor(bad), cr.tensor([0, 1, 2]))
    with pytest.raises(ShapeError, match="target shape"):
        F.cross_entropy(logits, cr.tensor([0, 1]))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)


# ------------------------------------------------------------------------------- NLL
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(problem=class_problems(), ignore=st.booleans())
def test_nll_loss_matches_torch(reduction, problem, ignore):
    float64()
    x, y, w = problem
    ignore_index = -100
    if ignore:
        ignore_index = 0
        y.reshape(-1)[0] = 0
        y.reshape(-1)[-1] = 1
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    c = nn.NLLLoss(w, ignore_index=ignore_index, reduction=reduction)
    t = tnn.NLLLoss(
        None if w is None else torch.tensor(w), ignore_index=ignore_index, reduction=reduction
    )
    compare(c, t, logp, y)


def test_log_softmax_then_nll_equals_cross_entropy():
    x = cr.randn(5, 3, requires_grad=True)
    y = cr.tensor([0, 2, 1, 1, 0])
    a = nn.NLLLoss()(nn.LogSoftmax(dim=1)(x), y)
    b = nn.CrossEntropyLoss()(x, y)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)


def test_nll_ignores_minus_inf_log_probabilities_of_other_classes():
    logp = cr.tensor([[0.0, -np.inf], [-np.inf, 0.0]], dtype="float64", requires_grad=True)
    loss = F.nll_loss(logp, cr.tensor([0, 1]))
    assert loss.item() == 0.0
    loss.backward()
    np.testing.assert_array_equal(logp.grad.numpy(), [[-0.5, 0.0], [0.0, -0.5]])


def test_nll_errors():
    logp = cr.randn(2, 3)
    with pytest.raises(TargetError, match="integer class indices"):
        F.nll_loss(logp, cr.tensor([0.0, 1.0]))
    with pytest.raises(TargetError, match="class index 3 is out of range for 3"):
        F.nll_loss(logp, cr.tensor([0, 3]))
    with pytest.raises(ShapeError, match="target shape"):
        F.nll_loss(logp, cr.tensor([0, 1, 1]))
    with pytest.raises(ShapeError, match="weight"):
        F.nll_loss(logp, cr.tensor([0, 1]), weight=np.ones(2))
    with pytest.raises(TargetError, match="every target equals ignore_index"):
        F.nll_loss(logp, cr.tensor([1, 1]), ignore_index=1)
    with pytest.raises(NonFiniteError, match="input contains NaN"):
        F.nll_loss(cr.tensor([[np.nan, 0.0]]), cr.tensor([0]))


# ------------------------------------------------------------------------------- binary
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=shapes, weighted=st.booleans(), seed=st.integers(0, 2**16))
def test_bce_matches_torch(reduction, shape, weighted, seed):
    float64()
    rng = _rng(seed)
    p = rng.uniform(0.02, 0.98, shape)
    y = rng.uniform(0.0, 1.0, shape)
    w = rng.uniform(0.5, 2.0, shape[-1:]) if weighted else None
    c = nn.BCELoss(w, reduction=reduction)
    t = tnn.BCELoss(None if w is None else torch.tensor(w), reduction=reduction)
    compare(c, t, p, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(
    shape=shapes,
    weighted=st.booleans(),
    pos_weighted=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_bce_with_logits_matches_torch(reduction, shape, weighted, pos_weighted, seed):
    float64()
    rng = _rng(seed)
    x = rng.standard_normal(shape) * 4
    y = (rng.uniform(size=shape) > 0.5).astype(np.float64)
    y[..., 0] = 0.3  # soft targets too
    w = rng.uniform(0.5, 2.0, shape[-1:]) if weighted else None
    pw = rng.uniform(0.5, 3.0, shape[-1:]) if pos_weighted else None
    c = nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pw)
    t = tnn.BCEWithLogitsLoss(
        None if w is None else torch.tensor(w),
        reduction=reduction,
        pos_weight=None if pw is None else torch.tensor(pw),
    )
    compare(c, t, x, y)
    assert list(c.state_dict()) == list(t.state_dict())


def test_bce_saturated_probabilities_are_clamped_like_torch():
    float64()
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss = F.binary_cross_entropy(cr.tensor(p), cr.tensor(y), reduction="none")
    ref = torch.nn.functional.binary_cross_entropy(
        torch.tensor(p), torch.tensor(y), reduction="none"
    )
    assert_close(loss, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_stable_for_huge_logits(dtype):
    x = cr.tensor(np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype), requires_grad=True)
    y = cr.tensor(np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype))
    loss = nn.BCEWithLogitsLoss(reduction="sum")(x, y)
    np.testing.assert_allclose(loss.item(), 2e4, rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0, -1.0])  # sigmoid(x) - y
    assert x.grad.dtype == np.dtype(dtype)


def test_binary_errors():
    p = cr.tensor([0.2, 0.7])
    with pytest.raises(DomainError, match=r"probabilities in \[0, 1\].*with_logits"):
        F.binary_cross_entropy(cr.tensor([2.5, -1.0]), cr.tensor([1.0, 0.0]))
    with pytest.raises(TargetError, match=r"targets must be in \[0, 1\]"):
        F.binary_cross_entropy(p, cr.tensor([1.0, 2.0]))
    with pytest.raises(TargetError, match=r"\[-1, 1\]"):
        F.binary_cross_entropy_with_logits(p, cr.tensor([-1.0, 1.0]))
    with pytest.raises(ShapeError, match="differ"):
        F.binary_cross_entropy_with_logits(cr.randn(3, 1), cr.ones(3))
    with pytest.raises(ShapeError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(cr.randn(3, 2), cr.ones(3, 2), pos_weight=np.ones(3))
    with pytest.raises(NonFiniteError, match="input contains NaN"):
        F.binary_cross_entropy_with_logits(cr.tensor([np.nan, 0.0]), cr.tensor([1.0, 0.0]))
    with pytest.raises(NonFiniteError, match="target contains NaN"):
        F.binary_cross_entropy(p, cr.tensor([np.nan, 0.0]))
    # integer 0/1 labels are accepted and cast
    assert F.binary_cross_entropy_with_logits(p, cr.tensor([1, 0])).dtype == np.float32


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("binary_cross_entropy_with_logits", {}),
        ("binary_cross_entropy_with_logits", {"pos_weight": np.array([2.0, 0.5, 1.5])}),
        ("binary_cross_entropy", {}),
        ("cross_entropy", {}),
    ],
)
def test_fused_loss_second_derivatives_match_torch(name, kwargs):
    """The fused rules are written with differentiable ops, so Hessians come for free."""
    float64()
    rng = _rng(0)
    x = (
        rng.uniform(0.1, 0.9, (2, 3))
        if name == "binary_cross_entropy"
        else rng.standard_normal((2, 3))
    )
    y = np.array([0, 2]) if name == "cross_entropy" else rng.uniform(0.0, 1.0, (2, 3))
    t_kwargs = {k: torch.tensor(v) for k, v in kwargs.items()}
    ours = cr.hessian(lambda z: getattr(F, name)(z, cr.tensor(y), **kwargs))(cr.tensor(x))
    theirs = torch.autograd.functional.hessian(
        lambda z: getattr(torch.nn.functional, name)(z, torch.tensor(y), **t_kwargs),
        torch.tensor(x),
    )
    assert_close(ours, theirs)
