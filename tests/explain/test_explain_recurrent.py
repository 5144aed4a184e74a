"""Backpropagation through time and through attention, explained: the engine, the formulas
and finite differences agree; the gradient reaching h_t is the sum over its two paths; the
per-step norms show vanishing gradients; the renderings say it; bad models are refused."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import trace_attention, trace_rnn


def _rnn(scale: float = 1.0):
    cr.manual_seed(0)
    rnn, head = cr.nn.RNN(2, 4), cr.nn.Linear(4, 3)
    for p in rnn.parameters():
        p.data *= scale
    return rnn, head


@pytest.mark.parametrize("labels", [2, [0, 1, 2, 0, 1]])
def test_three_ways_agree(labels):
    rnn, head = _rnn()
    t = trace_rnn(rnn, head, cr.randn(5, 2), labels)
    names = [c.name for c in t.checks]
    assert "∇ weight_hh_l0" in names and "∇ head.weight" in names
    for c in t.checks:
        assert c.formula_error < 1e-6, c.name  # the model runs in float32: ℒ to its rounding
        if c.fd is not None:
            assert c.fd_error < 1e-6, c.name


def test_the_gradient_at_h_t_is_the_sum_over_its_two_paths():
    rnn, head = _rnn()
    t = trace_rnn(rnn, head, cr.randn(5, 2), [0, 1, 2, 0, 1])
    np.testing.assert_allclose(t.grad_h, t.grad_h_output + t.grad_h_next)
    assert np.all(t.grad_h_next[-1] == 0)  # nothing comes back from beyond the last step
    assert np.all(np.linalg.norm(t.grad_h_output, axis=1) > 0)  # every step has a loss
    w_hh = rnn.weight_hh_l0.numpy().astype(np.float64)
    np.testing.assert_allclose(t.grad_h_next[:-1], t.grad_a[1:] @ w_hh, atol=1e-12)


def test_the_unrolled_graph_shares_the_weights_across_steps():
    rnn, head = _rnn()
    t = trace_rnn(rnn, head, cr.randn(4, 2), 1, check=None)
    assert t.graph.startswith("digraph") and "unrolled" in t.graph
    assert t.graph.count('label="tanh') == 4  # one state per step
    assert t.graph.count("weight_hh_l0") == 1  # one leaf, read by every step


def test_small_recurrent_weights_make_gradients_vanish_with_distance():
    rnn, head = _rnn(scale=0.3)
    t = trace_rnn(rnn, head, cr.randn(12, 2), 1)
    norms = t.grad_norms
    assert np.all(np.diff(norms) > 0)  # growing towards the loss at the last step
    assert norms[-1] > 100 * norms[0]


def test_renderings_show_the_sum_over_paths_and_the_checks():
    rnn, head = _rnn()
    t = trace_rnn(rnn, head, cr.randn(4, 2), 1, check=None)
    text, html, tex = t.to_text(), t.to_html(), t.to_latex()
    assert "W_hhᵀ ∇a_{t+1} ℒ (from h_{t+1})" in text and "max |engine − formulas|" in text
    assert html.startswith("<!DOCTYPE html>") and "∇h<sub>t</sub>ℒ" in html
    assert r"W_{hh}^\top \nabla_{a_{t+1}}\mathcal{L}" in tex and tex.count(r"\\") >= 4
    assert len(text.splitlines()) > 4 + 4  # one row per step


def test_attention_three_ways_agree():
    t = trace_attention(cr.randn(3, 4), cr.randn(5, 4), cr.randn(5, 2))
    np.testing.assert_allclose(t.a.sum(axis=1), 1.0)
    for c in t.checks:
        assert c.formula_error < 1e-12, c.name
        if c.fd is not None:
            assert c.fd_error < 1e-7, c.name
    assert "∇S = A ⊙ (∇A − rowsum(∇A ⊙ A))" in t.to_text()
    assert "softmax" in t.to_latex() and "<table" in t.to_html()


@pytest.mark.parametrize(
    "model",
    [cr.nn.LSTM(2, 4), cr.nn.RNN(2, 4, nonlinearity="relu"), cr.nn.RNN(2, 4, num_layers=2)],
)
def test_other_recurrent_layers_are_refused_by_name(model):
    with pytest.raises(cr.errors.UnsupportedModelError, match="tanh, one layer"):
        trace_rnn(model, cr.nn.Linear(4, 3), cr.randn(3, 2), 0)


def test_bad_input_and_labels_are_refused():
    rnn, head = _rnn()
    with pytest.raises(cr.errors.ShapeError, match=r"x must be \(T, 2\)"):
        trace_rnn(rnn, head, cr.randn(3, 5), 0)
    with pytest.raises(cr.errors.TargetError, match=r"0\.\.2"):
        trace_rnn(rnn, head, cr.randn(3, 2), 3)
    with pytest.raises(cr.errors.ShapeError, match="Linear"):
        trace_rnn(rnn, cr.nn.Linear(5, 3), cr.randn(3, 2), 0)
    with pytest.raises(cr.errors.ShapeError, match="Q"):
        trace_attention(cr.randn(3, 4), cr.randn(5, 3), cr.randn(5, 2))
