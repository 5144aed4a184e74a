"""Layers against PyTorch in float64: values, input gradients and parameter gradients, with
weights copied across through load_state_dict; plus their shape errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from nn_parity import assert_close, compare, copy_weights, float64, torch_state

import chainrule as cr
from chainrule.errors import DTypeError, IndexRangeError, ShapeError

nn = cr.nn
tnn = torch.nn


def _randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------------- Linear
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    n_in=st.integers(1, 5),
    n_out=st.integers(1, 5),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_matches_torch(batch, n_in, n_out, bias, seed):
    float64()
    t = tnn.Linear(n_in, n_out, bias=bias).double()
    c = nn.Linear(n_in, n_out, bias=bias)
    copy_weights(c, t)
    compare(c, t, _randn((*batch, n_in), seed))


def test_linear_default_init_bounds_and_dtype():
    layer = nn.Linear(400, 30)
    bound = 1 / np.sqrt(400)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-a, a) has standard deviation a / sqrt(3)
    assert abs(w.std() - bound / np.sqrt(3)) < 0.03 * bound
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_wrong_feature_count_names_layer_and_shapes():
    layer = nn.Linear(4, 2)
    with pytest.raises(ShapeError) as e:
        layer(cr.randn(5, 3))
    msg = str(e.value)
    assert "Linear(in_features=4, out_features=2, bias=True)" in msg
    assert "(..., 4)" in msg and "(5, 3)" in msg


def test_sequential_adds_layer_position_to_shape_errors():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ShapeError, match=r"layer \(2\).*Linear\(in_features=5.*\(2, 4\)"):
        net(cr.randn(2, 3))


# ------------------------------------------------------------------------------- simple layers
@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (1, 2), (-2, -1), (2, 2)])
def test_flatten_matches_torch(start, end):
    float64()
    compare(nn.Flatten(start, end), tnn.Flatten(start, end), _randn((2, 3, 4, 2)))


def test_flatten_bad_dims():
    with pytest.raises(ShapeError, match="Flatten"):
        nn.Flatten(3)(cr.randn(2, 3))


def test_identity():
    float64()
    compare(nn.Identity(54, unused="x"), tnn.Identity(54, unused="x"), _randn((3, 2)))


def test_residual_adds_input_and_gradient_of_skip():
    float64()
    inner_t = tnn.Sequential(tnn.Linear(4, 4), tnn.Tanh()).double()
    inner_c = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    copy_weights(inner_c, inner_t)

    class TorchResidual(tnn.Module):
        def __init__(self, m):
            super().__init__()
            self.module = m

        def forward(self, x):
            return x + self.module(x)

    block = nn.Residual(inner_c)
    assert list(block.state_dict()) == ["module.0.weight", "module.0.bias"]
    compare(block, TorchResidual(inner_t), _randn((3, 4)))


def test_residual_shape_change_is_an_error():
    with pytest.raises(ShapeError, match=r"Residual.*Linear.*\(2, 4\).*\(2, 3\)"):
        nn.Residual(nn.Linear(4, 3))(cr.randn(2, 4))


# ------------------------------------------------------------------------------- LayerNorm
@given(
    lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    affine=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_layer_norm_matches_torch(lead, norm, affine, bias, seed):
    float64()
    t = tnn.LayerNorm(norm, eps=1e-3, elementwise_affine=affine, bias=bias).double()
    if affine:  # non-trivial affine parameters
        with torch.no_grad():
            for p in t.parameters():
                p.copy_(torch.tensor(_randn(p.shape, seed + 1)))
    c = nn.LayerNorm(norm, eps=1e-3, elementwise_affine=affine, bias=bias)
    copy_weights(c, t)
    compare(c, t, _randn((*lead, *norm), seed) * 3 + 1)


def test_layer_norm_wrong_shape():
    with pytest.raises(ShapeError, match=r"LayerNorm\(\(4,\).*\(\.\.\., 4\).*\(2, 3\)"):
        nn.LayerNorm(4)(cr.randn(2, 3))


# ------------------------------------------------------------------------------- BatchNorm1d
def _bn_pair(c, **kw):
    t = tnn.BatchNorm1d(c, **kw).double()
    if t.affine:
        with torch.no_grad():
            t.weight.copy_(torch.tensor(_randn(c, 5) + 1))
            if t.bias is not None:
                t.bias.copy_(torch.tensor(_randn(c, 6)))
    m = nn.BatchNorm1d(c, **kw)
    copy_weights(m, t)
    return m, t


@given(
    shape=st.sampled_from([(4, 3), (2, 3), (3, 3, 2), (2, 3, 1), (1, 3, 3)]),
    momentum=st.sampled_from([0.1, 0.5, None]),
    affine=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_batch_norm_train_then_eval_matches_torch(shape, momentum, affine, bias, seed):
    float64()
    m, t = _bn_pair(3, momentum=momentum, affine=affine, bias=bias)
    for step in range(3):  # several batches: the running statistics accumulate
        x = _randn(shape, seed + step) * 2 + 1
        compare(m, t, x)
    for name, ref in torch_state(t).items():
        assert_close(m.state_dict()[name], ref)
    m.eval()
    t.eval()
    compare(m, t, _randn(shape, seed + 9))
    assert int(m.num_batches_tracked.item()) == 3


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval():
    float64()
    m, t = _bn_pair(3, track_running_stats=False)
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight", "bias"]
    m.eval()
    t.eval()
    compare(m, t, _randn((5, 3)))


def test_batch_norm_running_var_is_unbiased():
    m = nn.BatchNorm1d(2, momentum=1.0)
    x = np.array([[1.0, 0.0], [3.0, 4.0], [5.0, 8.0]], dtype=np.float32)
    m(cr.tensor(x))
    np.testing.assert_allclose(m.running_var.numpy(), x.var(axis=0, ddof=1), rtol=1e-6)
    np.testing.assert_allclose(m.running_mean.numpy(), x.mean(axis=0), rtol=1e-6)


def test_batch_norm_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3.*\(N, 3\).*\(4, 2\)"):
        bn(cr.randn(4, 2))
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        bn(cr.randn(1, 3))
    bn.eval()
    assert bn(cr.randn(1, 3)).shape == (1, 3)  # eval mode: running statistics, any batch


def test_batch_norm_keeps_float32():
    bn = nn.BatchNorm1d(3)
    y = bn(cr.randn(4, 3))
    assert y.dtype == np.float32 and bn.running_var.dtype == np.float32
    bn.eval()
    assert bn(cr.randn(4, 3)).dtype == np.float32


# ------------------------------------------------------------------------------- Dropout
def test_dropout_train_statistics_and_mask_scaling():
    p = 0.3
    x = cr.ones(200, 500, requires_grad=True)
    y = nn.Dropout(p)(x)
    kept = y.numpy() != 0
    assert abs(kept.mean() - (1 - p)) < 0.005
    np.testing.assert_allclose(y.numpy()[kept], 1 / (1 - p), rtol=1e-6)
    y.sum().backward()
    # the gradient is the same mask: 1/(1-p) where kept, 0 where dropped
    np.testing.assert_allclose(x.grad.numpy(), y.numpy(), rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_eval_is_identity_and_torch_agrees_on_expectation():
    x = cr.randn(4, 5)
    d = nn.Dropout(0.5)
    d.eval()
    assert d(x) is x
    t = tnn.Dropout(0.5).eval()
    tx = torch.tensor(x.numpy())
    assert_close(d(x), t(tx))
    # p = 0 and p = 1 are the identity and zero, as in torch
    assert np.array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    assert not np.any(nn.Dropout(1.0)(x).numpy())


def test_dropout_is_reproducible_with_manual_seed():
    cr.manual_seed(7)
    a = nn.Dropout(0.5)(cr.ones(50)).numpy()
    cr.manual_seed(7)
    b = nn.Dropout(0.5)(cr.ones(50)).numpy()
    assert np.array_equal(a, b)


def test_dropout_bad_probability():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.Dropout(1.5)


# ------------------------------------------------------------------------------- Embedding
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_matches_torch(padding_idx):
    float64()
    t = tnn.Embedding(6, 3, padding_idx=padding_idx).double()
    c = nn.Embedding(6, 3, padding_idx=padding_idx)
    assert c.padding_idx == t.padding_idx
    if padding_idx is not None:
        assert not np.any(c.weight.numpy()[padding_idx])
    copy_weights(c, t)
    idx = np.array([[0, 3, 5], [3, 3, 1]], dtype=np.int64)
    compare(c, t, idx)
    assert repr(c) == repr(t)


def test_embedding_errors():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexRangeError, match="index 4 is out of range for a table of 4"):
        emb(cr.tensor([1, 4]))
    with pytest.raises(IndexError):
        emb(cr.tensor([-1]))
    with pytest.raises(DTypeError, match="integers"):
        emb(cr.tensor([1.0]))


def test_embedding_from_pretrained():
    table = np.arange(6.0).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(cr.tensor([2, 0])).numpy(), table[[2, 0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
