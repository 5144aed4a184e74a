"""RNN, LSTM, GRU and their cells against PyTorch in float64: PyTorch's weights loaded through
``load_state_dict``; outputs, final states, input gradients and every parameter's gradient
equal, over hypothesis-drawn configurations; packed batches of different lengths; bad input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as tnn
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_parity import assert_close, float64, torch_state

import chainrule as cr

RTOL = 1e-7
ATOL = 1e-10
KINDS = {"RNN": (cr.nn.RNN, tnn.RNN), "LSTM": (cr.nn.LSTM, tnn.LSTM), "GRU": (cr.nn.GRU, tnn.GRU)}


def _flat(out: Any) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    if isinstance(out, (cr.nn.utils.rnn.PackedSequence, tnn.utils.rnn.PackedSequence)):
        return [out.data]
    return [out]


def compare_outputs(ours: Any, theirs: Any, cr_args: list, t_args: list, grads_of: tuple = (),
                    modules: tuple | None = None) -> None:  # fmt: skip
    """Forward both, compare every output, backpropagate the same random weighting of all
    outputs, compare the gradients of ``grads_of`` (pairs) and of every parameter of
    ``modules`` (by default ``ours`` and ``theirs`` themselves), by name."""
    outs, refs = _flat(ours(*cr_args)), _flat(theirs(*t_args))
    assert len(outs) == len(refs)
    rng = np.random.default_rng(3)
    loss_c, loss_t = 0.0, 0.0
    for o, r in zip(outs, refs):
        assert_close(o, r, RTOL, ATOL)
        w = rng.uniform(0.5, 1.5, size=tuple(r.shape))
        loss_c = loss_c + (o * cr.tensor(w)).sum()
        loss_t = loss_t + (r * torch.tensor(w)).sum()
    loss_c.backward()
    loss_t.backward()
    for c, t in grads_of:
        assert_close(c.grad, t.grad, RTOL, ATOL)
    ours, theirs = modules or (ours, theirs)
    ps, pt = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ps) == list(pt)
    for name, p in pt.items():
        assert_close(ps[name].grad, p.grad, RTOL, ATOL)


def _pair(kind: str, **kw: Any) -> tuple[cr.nn.Module, tnn.Module]:
    float64()
    ours_cls, theirs_cls = KINDS[kind]
    theirs = theirs_cls(**kw).double()
    ours = ours_cls(**kw)
    ours.load_state_dict(torch_state(theirs))
    return ours, theirs


@settings(max_examples=12, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    with_state=st.booleans(),
    steps=st.integers(1, 4),
    batch=st.integers(1, 3),
)
def test_layers_match_torch(kind, num_layers, bidirectional, batch_first, bias, with_state,
                            steps, batch):  # fmt: skip
    kw = dict(input_size=3, hidden_size=4, num_layers=num_layers, bias=bias,
              batch_first=batch_first, bidirectional=bidirectional)  # fmt: skip
    ours, theirs = _pair(kind, **kw)
    rng = np.random.default_rng(steps * 10 + batch)
    shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    x = rng.normal(size=shape)
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    cr_args, t_args, pairs = [cx], [tx], [(cx, tx)]
    if with_state:
        states = [rng.normal(size=(num_layers * (1 + bidirectional), batch, 4))
                  for _ in range(2 if kind == "LSTM" else 1)]  # fmt: skip
        cs = [cr.tensor(s, requires_grad=True) for s in states]
        ts = [torch.tensor(s, requires_grad=True) for s in states]
        cr_args.append(tuple(cs) if kind == "LSTM" else cs[0])
        t_args.append(tuple(ts) if kind == "LSTM" else ts[0])
        pairs += list(zip(cs, ts))
    compare_outputs(ours, theirs, cr_args, t_args, tuple(pairs))


def test_relu_rnn_matches_torch():
    ours, theirs = _pair("RNN", input_size=3, hidden_size=4, nonlinearity="relu", num_layers=2)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    compare_outputs(ours, theirs, [cx], [tx], ((cx, tx),))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unbatched_input_matches_torch(kind):
    ours, theirs = _pair(kind, input_size=3, hidden_size=4, bidirectional=True)
    x = np.random.default_rng(1).normal(size=(5, 3))
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    compare_outputs(ours, theirs, [cx], [tx], ((cx, tx),))


def test_dropout_between_layers_acts_only_in_training():
    cr.manual_seed(0)
    rnn = cr.nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = cr.randn(6, 2, 3)
    a, _ = rnn(x)
    b, _ = rnn(x)
    assert not np.allclose(a.numpy(), b.numpy())  # two dropout draws
    rnn.eval()
    c, _ = rnn(x)
    d, _ = rnn(x)
    np.testing.assert_array_equal(c.numpy(), d.numpy())


# ----------------------------------------------------------------------------- packed batches
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequences_match_torch(kind, enforce_sorted):
    ours, theirs = _pair(kind, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                         batch_first=True)  # fmt: skip
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    x = np.random.default_rng(2).normal(size=(4, 5, 3))
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    cp = cr.nn.utils.rnn.pack_padded_sequence(cx, lengths, batch_first=True,
                                              enforce_sorted=enforce_sorted)  # fmt: skip
    tp = tnn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=True,
                                            enforce_sorted=enforce_sorted)  # fmt: skip
    assert_close(cp.data, tp.data)
    np.testing.assert_array_equal(cp.batch_sizes, tp.batch_sizes.numpy())
    c_out, c_state = ours(cp)
    t_out, t_state = theirs(tp)
    c_pad, c_len = cr.nn.utils.rnn.pad_packed_sequence(c_out, batch_first=True, total_length=6)
    t_pad, t_len = tnn.utils.rnn.pad_packed_sequence(t_out, batch_first=True, total_length=6)
    np.testing.assert_array_equal(c_len.numpy(), t_len.numpy())
    for c, t in zip(_flat((c_pad, c_state)), _flat((t_pad, t_state))):
        assert_close(c, t, RTOL, ATOL)


def test_packed_gradients_match_torch():
    ours, theirs = _pair("LSTM", input_size=3, hidden_size=4, bidirectional=True)
    lengths = [4, 2, 1]
    x = np.random.default_rng(4).normal(size=(4, 3, 3))
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def run(lib, module, xx):
        packed = lib.nn.utils.rnn.pack_padded_sequence(xx, lengths, enforce_sorted=False)
        out, (h, c) = module(packed)
        padded, _ = lib.nn.utils.rnn.pad_packed_sequence(out)
        return padded, h, c

    compare_outputs(lambda xx: run(cr, ours, xx), lambda xx: run(torch, theirs, xx),
                    [cx], [tx], ((cx, tx),), modules=(ours, theirs))  # fmt: skip


def test_pad_sequence_matches_torch():
    seqs = [np.arange(6.0).reshape(3, 2), np.ones((1, 2)), np.zeros((2, 2))]
    ours = cr.nn.utils.rnn.pad_sequence([cr.tensor(s) for s in seqs], padding_value=-1.0)
    theirs = tnn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], padding_value=-1.0)
    assert_close(ours, theirs)


# ----------------------------------------------------------------------------- cells
@pytest.mark.parametrize(
    ("ours_cls", "theirs_cls"),
    [(cr.nn.RNNCell, tnn.RNNCell), (cr.nn.LSTMCell, tnn.LSTMCell), (cr.nn.GRUCell, tnn.GRUCell)],
)
@pytest.mark.parametrize("with_state", [False, True])
def test_cells_match_torch(ours_cls, theirs_cls, with_state):
    float64()
    theirs = theirs_cls(3, 4).double()
    ours = ours_cls(3, 4)
    ours.load_state_dict(torch_state(theirs))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3))
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    cr_args, t_args = [cx], [tx]
    if with_state:
        n = 2 if ours_cls is cr.nn.LSTMCell else 1
        states = [rng.normal(size=(2, 4)) for _ in range(n)]
        cs = tuple(cr.tensor(s) for s in states)
        ts = tuple(torch.tensor(s) for s in states)
        cr_args.append(cs if n == 2 else cs[0])
        t_args.append(ts if n == 2 else ts[0])
    compare_outputs(ours, theirs, cr_args, t_args, ((cx, tx),))


def test_state_dict_round_trips_to_torch():
    ours = cr.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs = tnn.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(6).normal(size=(5, 2, 3)).astype(np.float32)
    assert_close(ours(cr.tensor(x))[0], theirs(torch.tensor(x))[0], 1e-5, 1e-6)


def test_initialisation_is_pytorchs_uniform():
    rnn = cr.nn.GRU(3, 16)
    w = np.concatenate([p.numpy().ravel() for p in rnn.parameters()])
    assert np.abs(w).max() <= 0.25 and np.abs(w).max() > 0.2  # U(±1/√16)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("make", "call", "match"),
    [
        (
            lambda: cr.nn.LSTM(3, 4),
            lambda m: m(cr.randn(2, 3, 5)),
            r"LSTM.*input_size 3.*\(2, 3, 5\)",
        ),
        (
            lambda: cr.nn.GRU(3, 4),
            lambda m: m(cr.randn(2, 3, 3, 1)),
            r"GRU.*\(L, N, 3\).*\(2, 3, 3, 1\)",
        ),
        (
            lambda: cr.nn.RNN(3, 4),
            lambda m: m(cr.randn(5, 2, 3), cr.zeros(1, 3, 4)),
            r"RNN.*hidden state \(1, 2, 4\), got \(1, 3, 4\)",
        ),
        (
            lambda: cr.nn.LSTMCell(3, 4),
            lambda m: m(cr.randn(2, 4)),
            r"LSTMCell.*\(N, 3\).*\(2, 4\)",
        ),
    ],
)
def test_bad_shapes_name_the_layer_and_both_shapes(make, call, match):
    with pytest.raises(cr.errors.ShapeError, match=match):
        call(make())


def test_bad_lengths_are_refused():
    x = cr.randn(4, 2, 3)
    pack = cr.nn.utils.rnn.pack_padded_sequence
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.4"):
        pack(x, [5, 2])
    with pytest.raises(ValueError, match="decreasing order"):
        pack(x, [2, 4])
    with pytest.raises(ValueError, match="one length per sequence"):
        pack(x, [4, 3, 2])


def test_gradients_vanish_along_a_long_tanh_sequence():
    # The seeds' sum over paths through time: with small recurrent weights, the gradient that
    # reaches early steps from the last output shrinks geometrically.
    rnn = cr.nn.RNN(1, 8)
    for p in rnn.parameters():
        p.data *= 0.3
    x = cr.randn(30, 1, 1, requires_grad=True)
    out, _ = rnn(x)
    out[-1].sum().backward()
    g = np.abs(x.grad.numpy().ravel())
    assert g[-1] > 100 * g[0]
