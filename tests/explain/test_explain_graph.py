"""cr.explain.graph (DOT) and render (Graphviz's dot, present and absent)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd import Node
from chainrule.errors import GraphvizError
from chainrule.explain import graph, render


def loss_of_mlp(act=nn.Sigmoid):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), act(), nn.Linear(4, 2))
    x = cr.tensor(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32))
    loss = nn.CrossEntropyLoss()(model(x), cr.tensor([0, 1, 1, 0, 1]))
    return model, x, loss


def op_names(t: cr.Tensor) -> set[str]:
    """Every op in the graph behind ``t``, found by walking the nodes here."""
    names, stack, seen = set(), [t._node], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        names.add(n.prim.name)
        stack += [p for p in n.parents if type(p) is Node]
    return names


def test_dot_names_every_op_and_parses():
    model, _, loss = loss_of_mlp()
    dot = graph(loss, names=model)
    ops = op_names(loss)
    assert {"linear", "sigmoid", "class_cross_entropy"} <= ops
    labels = re.findall(r'op\d+ \[shape=box[^\]]*label="([^"\\]+)\\n', dot)
    assert set(labels) == ops
    assert len(labels) == len(re.findall(r"^  op\d+ \[", dot, re.M))
    # parameters by name, with shapes and requires-grad; the input is a no-grad constant
    for name, shape in (("0.weight", "(4, 3)"), ("0.bias", "(4,)"), ("2.weight", "(2, 4)")):
        assert f"{name} {shape}\\nrequires grad" in dot
    assert "(5, 3)\\nno grad" in dot
    # which inputs were saved for backward: linear reads x and weight; sigmoid its output
    assert 'label="x (saved)"' in dot and 'label="weight (saved)"' in dot
    assert "sigmoid\\n(5, 4)\\nsaves out" in dot
    proc = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for op in ops:
        assert op in proc.stdout


def test_graph_after_backward_and_of_a_leaf():
    w = cr.ones(3, requires_grad=True)
    y = (cr.exp(w) * 2).sum()
    before = graph(y, names={"w": w})
    assert "exp\\n(3,)\\nsaves out" in before
    y.backward()
    after = graph(y)
    assert "buffers freed" in after
    leaf = graph(w, title="just a leaf")
    assert "leaf (3,)\\nrequires grad" in leaf and 'label="just a leaf"' in leaf
    with pytest.raises(TypeError, match="expected a Tensor, got ndarray"):
        graph(np.ones(3))


def test_render_svg_and_png(tmp_path):
    assert shutil.which("dot"), "graphviz must be installed (CI installs it)"
    _, _, loss = loss_of_mlp(nn.ReLU)
    dot = graph(loss)
    svg = render(dot, tmp_path / "g.svg")
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    png = render(dot, tmp_path / "sub" / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = render(dot, tmp_path / "g.out", format="png")
    assert other.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="format"):
        render(dot, tmp_path / "g.svg", format="gif")
    with pytest.raises(GraphvizError, match="dot could not render"):
        render("digraph { this is not dot", tmp_path / "bad.svg")


def test_render_without_graphviz(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    _, _, loss = loss_of_mlp()
    with pytest.raises(GraphvizError, match=r"install graphviz \(apt install graphviz"):
        render(graph(loss), tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
