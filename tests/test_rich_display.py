"""Jupyter's rich display: _repr_html_ of tensors, modules, histories, traces and graphs."""

from __future__ import annotations

import re

import numpy as np

import chainrule as cr
from chainrule import nn


def test_tensor_html():
    x = cr.tensor([[1.0, 2.5], [3.0, -4.0]], requires_grad=True)
    html = x._repr_html_()
    assert "shape (2, 2), float32, requires_grad" in html
    assert re.findall(r"<td>([^<]*)</td>", html) == ["1", "2.5", "3", "-4"]
    y = (x * 2).sum()
    assert "grad_fn" in y._repr_html_() and "<td>6.5</td>" not in y._repr_html_()
    assert "<td>5</td>" in y._repr_html_()  # a 0-d tensor is one cell
    big = cr.zeros(30, 30)._repr_html_()
    assert "<pre>" in big and "<td>" not in big and "..." in big
    assert (
        "&lt;" not in cr.tensor([1, 2])._repr_html_() and "int64" in cr.tensor([1, 2])._repr_html_()
    )


def test_module_and_history_html():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    assert "Linear (0)" in net._repr_html_() and "67" in net._repr_html_()  # 40 + 27
    X = np.random.default_rng(0).normal(size=(32, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    h = cr.train.fit(net, nn.CrossEntropyLoss(), cr.optim.SGD(net.parameters(), lr=0.1),
                     (X, y), (X, y), epochs=2, batch_size=8, metrics=["accuracy"],
                     progress=False)  # fmt: skip
    html = h._repr_html_()
    assert html.startswith("<img src='data:image/png;base64,") and "epoch 2: loss" in html
    assert "<p>History: no epochs yet</p>" == cr.train.History()._repr_html_()


def test_trace_html_is_scoped_and_has_math():
    net = nn.Sequential(nn.Linear(3, 3), nn.Sigmoid(), nn.Linear(3, 2))
    t = cr.explain.trace(net, np.array([0.5, -1.0, 2.0]), 1, "cross_entropy")
    html = t._repr_html_()
    assert html.startswith('<div class="chainrule-trace"><style>') and html.endswith("</div>")
    assert "<math" in html and "<!DOCTYPE" not in html and "<body" not in html
    styles = html[html.index("<style>") + 7 : html.index("</style>")]
    for rule in styles.split("}"):
        if "{" in rule:
            for sel in rule.split("{")[0].split(","):
                assert sel.strip().startswith(".chainrule-trace"), sel  # nothing leaks out


def test_graph_svg():  # Graphviz is installed by .ci/run
    w = cr.ones(3, requires_grad=True)
    dot = cr.explain.graph((w * 2).sum(), names={"w": w})
    assert isinstance(dot, str) and dot.startswith("digraph chainrule")
    svg = dot._repr_svg_()
    assert "<svg" in svg and "mul" in svg
    html = dot._repr_html_()
    assert html.startswith('<div class="chainrule-graph"><svg') and "<?xml" not in html


def test_graph_without_graphviz_falls_back_to_text(monkeypatch):
    import chainrule.explain.compgraph as cg

    monkeypatch.setattr(cg.shutil, "which", lambda name: None)
    w = cr.ones(3, requires_grad=True)
    dot = cr.explain.graph((w * 2).sum())
    assert dot._repr_svg_() is None and dot._repr_html_() is None


def test_recurrent_and_attention_traces_show_a_scoped_fragment():
    from chainrule.explain._html import fragment, page

    assert fragment(page("t", "<p>x</p>")).endswith("<p>x</p></div>")
    rng = np.random.default_rng(0)
    t = cr.explain.trace_attention(rng.normal(size=(2, 3)), rng.normal(size=(4, 3)),
                                   rng.normal(size=(4, 3)))  # fmt: skip
    html = t._repr_html_()
    assert "<!DOCTYPE" not in html and "<body" not in html and "<style>" in html
    styles = html[html.index("<style>") + 7 : html.index("</style>")]
    assert all(
        sel.strip().startswith(".chainrule-html")
        for rule in styles.split("}") if "{" in rule
        for sel in rule.split("{")[0].split(",")
    )  # fmt: skip
