"""cr.nn.functional against torch.nn.functional, and the seeds' regularisers l1/l2_penalty
(compared with weight decay)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from nn_parity import assert_close, copy_weights, float64

import chainrule as cr
from chainrule.errors import ShapeError, TargetError

F = cr.nn.functional
nn = cr.nn


def _pair(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _check(cr_out, t_out, cr_ins, t_ins, seed=0):
    assert_close(cr_out, t_out)
    w = np.random.default_rng(seed).uniform(0.5, 1.5, tuple(t_out.shape))
    (cr_out * cr.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for c, t in zip(cr_ins, t_ins):
        assert_close(c.grad, t.grad)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("relu", {}), ("sigmoid", {}), ("tanh", {}), ("gelu", {"approximate": "tanh"}),
        ("elu", {"alpha": 0.7}), ("leaky_relu", {"negative_slope": 0.1}),
        ("softplus", {"beta": 2.0, "threshold": 5.0}), ("softmax", {"dim": 0}),
        ("log_softmax", {"dim": -1}),
    ],
)  # fmt: skip
def test_activation_functions_match_torch(name, kwargs):
    float64()
    x = np.random.default_rng(0).standard_normal((3, 4)) * 3
    c, t = _pair(x)
    _check(getattr(F, name)(c, **kwargs), getattr(TF, name)(t, **kwargs), [c], [t])


@given(batch=st.integers(1, 3), seed=st.integers(0, 2**16), bias=st.booleans())
def test_linear_matches_torch(batch, seed, bias):
    float64()
    rng = np.random.default_rng(seed)
    ins = [rng.standard_normal((batch, 3)), rng.standard_normal((2, 3))]
    if bias:
        ins.append(rng.standard_normal(2))
    cs, ts = zip(*(_pair(a) for a in ins))
    _check(F.linear(*cs), TF.linear(*ts), cs, ts)


def test_layer_norm_function_matches_torch():
    float64()
    rng = np.random.default_rng(2)
    ins = [rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    cs, ts = zip(*(_pair(a) for a in ins))
    _check(
        F.layer_norm(cs[0], (3, 4), cs[1], cs[2]),
        TF.layer_norm(ts[0], (3, 4), ts[1], ts[2]),
        cs,
        ts,
    )
    with pytest.raises(ShapeError, match="normalized_shape"):
        F.layer_norm(cs[0], (4, 4))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_function_matches_torch_and_updates_stats(training):
    float64()
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((5, 3, 2)), rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    (cx, cw, cb), (tx, tw, tb) = zip(*(_pair(a) for a in (x, w, b)))
    crm, crv = cr.tensor(rm), cr.tensor(rv)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    out = F.batch_norm(cx, crm, crv, cw, cb, training=training, momentum=0.3)
    ref = TF.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=0.3)
    _check(out, ref, [cx, cw, cb], [tx, tw, tb])
    assert_close(crm, trm)
    assert_close(crv, trv)
    with pytest.raises(ShapeError, match="running_mean"):
        F.batch_norm(cx, cr.zeros(4), crv)


def test_dropout_function():
    x = cr.ones(1000, 100)
    y = F.dropout(x, 0.25)
    assert abs((y.numpy() == 0).mean() - 0.25) < 0.01
    assert F.dropout(x, 0.25, training=False) is x
    with pytest.raises(ValueError):
        F.dropout(x, -0.1)


def test_embedding_function_matches_torch():
    float64()
    weight = np.random.default_rng(4).standard_normal((5, 3))
    idx = np.array([[0, 2, 2], [4, 0, 1]])
    cw, tw = _pair(weight)
    _check(
        F.embedding(cr.tensor(idx), cw, padding_idx=2),
        TF.embedding(torch.tensor(idx), tw, padding_idx=2),
        [cw],
        [tw],
    )


@given(shape=st.lists(st.integers(0, 3), max_size=2), classes=st.integers(1, 4))
def test_one_hot_matches_torch(shape, classes):
    y = np.random.default_rng(0).integers(0, classes, shape)
    ours = F.one_hot(cr.tensor(y), classes)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours.numpy(), TF.one_hot(torch.tensor(y), classes).numpy())


def test_one_hot_infers_classes_and_checks_targets():
    assert F.one_hot(cr.tensor([0, 3])).shape == (2, 4)
    with pytest.raises(TargetError, match=r"\[0, 3\)"):
        F.one_hot(cr.tensor([0, 3]), 3)
    with pytest.raises(TargetError, match="integers"):
        F.one_hot(cr.tensor([0.0, 1.0]), 3)


# ------------------------------------------------------------------------------- penalties
def test_penalties_values_and_gradients():
    float64()
    a = cr.tensor([[1.0, -2.0], [0.0, 3.0]], requires_grad=True)
    b = cr.tensor([-0.5], requires_grad=True)
    l2 = nn.l2_penalty([a, b])
    assert l2.item() == pytest.approx(14.25)
    l2.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy())
    a.grad = b.grad = None
    l1 = nn.l1_penalty([a, b])
    assert l1.item() == pytest.approx(6.5)
    l1.backward()
    np.testing.assert_allclose(a.grad.numpy(), np.sign(a.numpy()))
    assert nn.l2_penalty([]).item() == 0.0


def test_penalties_accept_a_module():
    m = nn.Linear(3, 2)
    expected = sum(float((p.numpy().astype(np.float64) ** 2).sum()) for p in m.parameters())
    assert nn.l2_penalty(m).item() == pytest.approx(expected, rel=1e-5)


def test_half_l2_penalty_equals_torch_weight_decay():
    """loss + (wd / 2) * l2_penalty, stepped by plain SGD, equals torch's SGD(weight_decay=wd)."""
    float64()
    wd, lr = 0.1, 0.05
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    tm = torch.nn.Linear(3, 2).double()
    cm = nn.Linear(3, 2)
    copy_weights(cm, tm)
    opt = torch.optim.SGD(tm.parameters(), lr=lr, weight_decay=wd)
    for _ in range(5):
        opt.zero_grad()
        TF.cross_entropy(tm(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
        cm.zero_grad()
        loss = F.cross_entropy(cm(cr.tensor(x)), cr.tensor(y)) + wd / 2 * nn.l2_penalty(cm)
        loss.backward()
        with cr.no_grad():
            for p in cm.parameters():
                p -= lr * p.grad
    for k, v in tm.state_dict().items():
        assert_close(cm.state_dict()[k], v)
