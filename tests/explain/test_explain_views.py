"""Renderings of a trace: terminal text, Markdown, LaTeX, HTML; and the math notation."""

from __future__ import annotations

import numpy as np
import pytest
from html_check import check_html
from seeds_example import QUANTITIES

import chainrule as cr
from chainrule import nn
from chainrule.explain import to_html, to_latex, to_markdown, to_text, trace
from chainrule.explain.notation import (
    Frac,
    Func,
    Mat,
    Num,
    Op,
    Row,
    Summary,
    Sym,
    array_expr,
    fmt,
    grad,
    to_mathml,
)
from chainrule.explain.notation import to_latex as latex_of
from chainrule.explain.notation import to_text as text_of


def seeds_trace(
    n: int | None = None, act=nn.Sigmoid, kind="cross_entropy", fd=False, sizes=(3, 3, 3, 2)
):
    cr.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(sizes[0],) if n is None else (n, sizes[0]))
    k = sizes[-1]
    if kind == "cross_entropy":
        y = rng.integers(k, size=None if n is None else n)
    else:
        y = rng.normal(size=(k,) if n is None else (n, k))
    return trace(nn.Sequential(*layers), x, y, kind, check="fd" if fd else None)


LABELS = [*QUANTITIES, "g'(a_2)", "W_1", "b_3"]


def test_terminal_view_lists_every_quantity_with_values():
    t = seeds_trace(fd=True)
    text = to_text(t, width=150)
    for label in LABELS:
        assert label in text, label
    assert "Forward, layer 1" in text and "Backward, layer 3 (output)" in text
    assert "−(e(y) − ŷ)" in text and "∇_{a_3} ℒ h_2^T" in text and "W_3^T ∇_{a_3} ℒ" in text
    # The values themselves, for these small layers: a_1's entries appear.
    a1 = t.layers[0]["a"].value
    assert f"{a1[0]:.4f}"[:6] in text
    assert "engine vs the seeds' formulas" in text and "finite differences" in text
    assert "✓" in text and "✗" not in text
    assert t.to_text(width=150) == text


def test_terminal_view_summarises_large_layers():
    t = seeds_trace(sizes=(40, 30, 2))
    text = to_text(t, width=150, max_entries=10)
    assert "…" in text  # W_1 has 1200 entries: shape and statistics only
    assert "30×40" in text


def test_markdown_has_math_and_check_table():
    t = seeds_trace(n=3, kind="squared_error")
    md = to_markdown(t)
    assert md.startswith("# Backprop, layer by layer")
    assert md.count("$$") % 2 == 0 and md.count("$$") >= 20
    assert "\\nabla_{W_{1}} \\mathcal{L}" in md
    assert "| quantity |" in md and "|---|" in md
    assert "\\sum_{n}" in md  # batch: the sums over examples are written out
    assert t.to_markdown() == md


def _balanced(tex: str) -> bool:
    depth = 0
    for i, c in enumerate(tex):
        if c == "{" and (i == 0 or tex[i - 1] != "\\"):
            depth += 1
        elif c == "}" and (i == 0 or tex[i - 1] != "\\"):
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def test_latex_document_structure():
    t = seeds_trace(fd=True)
    tex = to_latex(t)
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert tex.count("\\begin{align*}") == tex.count("\\end{align*}") > 10
    assert tex.count("\\begin{bmatrix}") == tex.count("\\end{bmatrix}") > 10
    assert "\\begin{tabular}" in tex and "\\nabla" in tex and "\\odot" in tex
    assert _balanced(tex)
    assert "−" not in tex.split("\\begin{document}")[1].replace("$", "")  # no Unicode minus
    body = to_latex(t, standalone=False)
    assert "\\documentclass" not in body and body in tex


@pytest.mark.parametrize("n", [None, 4])
def test_html_page_is_self_contained_and_well_formed(n):
    t = seeds_trace(n=n, fd=n is None)
    page = to_html(t)
    p = check_html(page)
    tags = [tag for tag, _ in p.tags]
    assert tags.count("math") > 20
    assert "mtable" in tags and "msub" in tags
    for anchor in ("network", "forward", "loss", "backward", "check"):
        assert f'id="{anchor}"' in page
    assert "Three ways to the same numbers" in page
    assert t.to_html(title="x") != page


def test_html_shows_the_numbers():
    t = seeds_trace()
    page = to_html(t)
    a1 = t.layers[0]["a"].value
    for v in a1:
        assert fmt(v) in page
    assert fmt(float(t.loss_value.value), 6) in page


def test_notation_renderers():
    e = Row(grad(Sym("a", "2")), Op("="), Sym("W", "3", "T"), grad(Sym("a", "3")))
    assert text_of(e) == "∇_{a_2} ℒ = W_3^T ∇_{a_3} ℒ"
    assert latex_of(e) == r"\nabla_{a_{2}} \mathcal{L} = W_{3}^{T} \nabla_{a_{3}} \mathcal{L}"
    m = to_mathml(e, display=True)
    assert m.startswith('<math display="block">') and "<msubsup>" in m
    assert latex_of(Func("softmax", Sym("a", "L"))) == r"\operatorname{softmax}\left(a_{L}\right)"
    assert latex_of(Frac(Num(1), Sym("N"))) == r"\frac{1}{N}"
    assert latex_of(Mat(np.array([1.0, -2.5]))) == r"\begin{bmatrix} 1 \\ -2.5 \end{bmatrix}"
    row = latex_of(Mat(np.array([1.0, -2.5]), row=True))
    assert row == r"\begin{bmatrix} 1 & -2.5 \end{bmatrix}"
    assert text_of(Mat(np.array([[1.0, 2.0], [3.0, 4.0]]))) == "[1, 2; 3, 4]"
    assert "<mtable" in to_mathml(Mat(np.eye(2)))
    assert isinstance(array_expr(np.zeros((10, 10)), 50), Summary)
    assert isinstance(array_expr(np.zeros((5, 5)), 50), Mat)
    assert "10×10" in text_of(array_expr(np.ones((10, 10)), 50))
    assert fmt(-1e-20) == "−1e−20" and fmt(0.0) == "0" and fmt(-0.0) == "0"
    assert fmt(float("inf")) == "∞" and fmt(float("-inf")) == "−∞"
    with pytest.raises(TypeError, match="not a notation node"):
        text_of(object())
