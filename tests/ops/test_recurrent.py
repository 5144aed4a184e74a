"""The fused recurrences of ``chainrule.ops.recurrent``: each scan against the same recurrence
written step by step in PyTorch (values, gradients, Hessian-vector products), central finite
differences in float64, and the layers' fused path against their composed path.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops.recurrent import gru_scan, lstm_scan, rnn_scan
from torch_ref import assert_close, check_against_torch, hvp


def _torch_rnn(relu):
    def run(xw, h, w):
        hs = []
        for t in range(xw.shape[0]):
            a = xw[t] + h @ w.T
            h = torch.relu(a) if relu else torch.tanh(a)
            hs.append(h)
        return torch.stack(hs)

    return run


def _torch_lstm(xw, h, c, w):
    """lstm_scan's (7, T, N, H): the gates as a (T, N, 4H) array, then c, tanh c, h blocks."""
    n, steps, gates = h.shape[-1], [], []
    for t in range(xw.shape[0]):
        a = xw[t] + h @ w.T
        i, f = torch.sigmoid(a[:, :n]), torch.sigmoid(a[:, n : 2 * n])
        g, o = torch.tanh(a[:, 2 * n : 3 * n]), torch.sigmoid(a[:, 3 * n :])
        c = f * c + i * g
        h = o * torch.tanh(c)
        gates.append(torch.cat([i, f, g, o], -1))
        steps.append(torch.stack([c, torch.tanh(c), h]))
    shape = (4, xw.shape[0], *h.shape)
    return torch.cat([torch.stack(gates).reshape(shape), torch.stack(steps, 1)])


def _torch_gru(xw, h, w, b):
    n, steps = h.shape[-1], []
    for t in range(xw.shape[0]):
        hw = h @ w.T + b
        r = torch.sigmoid(xw[t, :, :n] + hw[:, :n])
        z = torch.sigmoid(xw[t, :, n : 2 * n] + hw[:, n : 2 * n])
        cand = torch.tanh(xw[t, :, 2 * n :] + r * hw[:, 2 * n :])
        h = cand + z * (h - cand)
        steps.append(torch.cat([r, z, cand, hw[:, 2 * n :], h], -1))
    return torch.stack(steps)


# name: (chainrule fn, torch fn, input shapes given (T, N, H))
CASES = {
    "rnn_tanh": (lambda *a: rnn_scan(*a), _torch_rnn(False),
                 lambda t, n, h: [(t, n, h), (n, h), (h, h)]),
    "rnn_relu": (lambda *a: rnn_scan(*a, relu=True), _torch_rnn(True),
                 lambda t, n, h: [(t, n, h), (n, h), (h, h)]),
    "lstm": (lstm_scan, _torch_lstm, lambda t, n, h: [(t, n, 4 * h), (n, h), (n, h), (4 * h, h)]),
    "gru": (gru_scan, _torch_gru, lambda t, n, h: [(t, n, 3 * h), (n, h), (3 * h, h), (3 * h,)]),
}  # fmt: skip


def _arrays(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, s) for s in shapes]


@settings(max_examples=8, deadline=None)
@given(name=st.sampled_from(sorted(CASES)), steps=st.integers(1, 5), batch=st.integers(1, 3),
       hidden=st.integers(1, 4), seed=st.integers(0, 100))  # fmt: skip
def test_scans_match_torch(name, steps, batch, hidden, seed):
    fn, ref, shapes = CASES[name]
    check_against_torch(fn, ref, _arrays(shapes(steps, batch, hidden), seed), rtol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_scans_pass_finite_differences(name):
    fn, _, shapes = CASES[name]
    xs = [cr.tensor(a) for a in _arrays(shapes(3, 2, 2), 7)]
    assert cr.gradcheck(fn, xs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_scans_second_derivatives_match_torch(name):
    fn, ref, shapes = CASES[name]
    arrays = _arrays(shapes(3, 2, 2), 11)
    (g_c, h_c), (g_t, h_t) = hvp(fn, cr, arrays), hvp(ref, torch, arrays)
    for a, b in zip(g_c + h_c, g_t + h_t):
        assert_close(a, b, rtol=1e-7)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_layers_equal_the_composed_recurrence(kind, bias):
    cr.set_default_dtype("float64")
    kw = {"nonlinearity": "relu"} if kind == "RNN" else {}
    fused = getattr(cr.nn, kind)(3, 4, num_layers=2, bidirectional=True, bias=bias, **kw)
    composed = copy.deepcopy(fused)
    composed.fused = False
    x = np.random.default_rng(0).normal(size=(6, 2, 3))
    results = []
    for model in (fused, composed):
        xt = cr.tensor(x, requires_grad=True)
        out, state = model(xt)
        states = list(state) if kind == "LSTM" else [state]
        loss = (out * out).sum() + sum((s * s * 0.5).sum() for s in states)
        loss.backward()
        results.append([out, *states, xt.grad, *(p.grad for p in model.parameters())])
    for a, b in zip(*results):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_a_fused_layer_records_one_node_per_direction():
    lstm = cr.nn.LSTM(3, 4)
    out, _ = lstm(cr.randn(50, 2, 3))
    names, stack_, seen = [], [out.grad_fn], set()
    while stack_:
        node = stack_.pop()
        if node is None or id(node) in seen or not hasattr(node, "next_nodes"):
            continue
        seen.add(id(node))
        names.append(node.prim.name)
        stack_.extend(n for n in node.next_nodes if hasattr(n, "next_nodes"))
    assert names.count("lstm_scan") == 1 and len(names) < 10


def test_recycled_results_are_reused_only_once_nothing_holds_them():
    from chainrule.ops import _scratch as scratch

    a = scratch.recycled((5, 6), np.float32)
    view = a[1:]
    del a
    b = scratch.recycled((5, 6), np.float32)  # the first is still held through its view
    assert b.base is None and view.base is not b
    ids = {id(view.base), id(b)}
    del view, b
    c = scratch.recycled((5, 6), np.float32)
    assert id(c) in ids and c.shape == (5, 6) and c.dtype == np.float32
    assert scratch.recycled((5, 6), np.float64).dtype == np.float64


def test_an_lstm_step_reuses_its_buffers_and_keeps_a_held_output():
    lstm = cr.nn.LSTM(2, 3)
    x = cr.tensor(np.random.default_rng(0).normal(size=(4, 2, 2)), requires_grad=True)
    kept, _ = lstm(x)  # held across the next steps: its memory must not be handed out again
    before = kept.numpy().copy()
    kept.sum().backward()
    for _ in range(3):
        out, _ = lstm(x * 2.0)
        out.sum().backward()
    np.testing.assert_array_equal(kept.numpy(), before)


@settings(max_examples=10, deadline=None)
@given(steps=st.integers(1, 4), batch=st.integers(1, 3), n_in=st.integers(1, 3),
       n_out=st.integers(1, 5), bias=st.booleans(), seed=st.integers(0, 100))  # fmt: skip
def test_input_terms_match_torch_linear(steps, batch, n_in, n_out, bias, seed):
    from chainrule.ops.recurrent import input_terms

    arrays = _arrays([(steps, batch, n_in), (n_out, n_in)] + [(n_out,)] * bias, seed)
    check_against_torch(input_terms, torch.nn.functional.linear, arrays, rtol=1e-7)


def test_input_terms_pass_finite_differences_and_second_derivatives():
    from chainrule.ops.recurrent import input_terms

    arrays = _arrays([(3, 2, 2), (4, 2), (4,)], 3)
    fn = lambda x, w, b: input_terms(x, w, b) ** 2
    assert cr.gradcheck(fn, [cr.tensor(a) for a in arrays])
    (g_c, h_c) = hvp(fn, cr, arrays)
    (g_t, h_t) = hvp(lambda x, w, b: torch.nn.functional.linear(x, w, b) ** 2, torch, arrays)
    for a, b in zip(g_c + h_c, g_t + h_t):
        assert_close(a, b, rtol=1e-7)
