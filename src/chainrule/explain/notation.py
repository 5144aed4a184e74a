"""A small math notation for the seeds' equations, written once and rendered three ways:
plain text (terminal), LaTeX, and MathML (HTML pages that need no script or font to show it).

An expression is a tree of :class:`Expr` nodes: symbols with subscripts and superscripts,
numbers, operators, function applications and juxtaposition (defined in
:mod:`chainrule._notation`, low enough for the loss records of :mod:`chainrule.nn.losses` to
hold their formulas as trees), and here the nodes of actual values: matrices
(:class:`Mat`) and arrays too large to print (:class:`Summary`). Each renderer is a table
from node type to a small function.

>>> e = Row(grad(Sym("a", "2")), Op("="), Sym("W", "3", "T"), grad(Sym("a", "3")))
>>> to_text(e)
'∇_{a_2} ℒ = W_3^T ∇_{a_3} ℒ'
>>> to_latex(e)
'\\\\nabla_{a_{2}} \\\\mathcal{L} = W_{3}^{T} \\\\nabla_{a_{3}} \\\\mathcal{L}'
>>> to_mathml(Sym("h", "0"))
'<math><msub><mi>h</mi><mn>0</mn></msub></math>'
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule._notation import LOSS, Expr, Frac, Func, Norm, Num, Op, Paren, Row, Sym, Text, grad

__all__ = [
    "LOSS", "Expr", "Frac", "Func", "Mat", "Norm", "Num", "Op", "Paren", "Row", "Summary", "Sym",
    "Text", "array_expr", "fmt", "grad", "latex_text", "mathml", "to_latex", "to_mathml",
    "to_text",
]  # fmt: skip

# Characters with a LaTeX spelling; everything else is written as is.
_LATEX = {
    "ℒ": r"\mathcal{L}",
    "∇": r"\nabla",
    "⊙": r"\odot",
    "ŷ": r"\hat{y}",
    "σ": r"\sigma",
    "Σ": r"\sum",
    "−": "-",
    "·": r"\cdot",
    "×": r"\times",
    "∈": r"\in",
    "ℝ": r"\mathbb{R}",
    "‖": r"\|",
    "≈": r"\approx",
    "log": r"\log",
}


@dataclass
class Mat(Expr):
    """Actual values: a 2-D array as a matrix, a 1-D array as a column vector (``row=True``:
    as a row vector, the seeds' h^T)."""

    values: np.ndarray
    row: bool = False
    precision: int = 4


@dataclass
class Summary(Expr):
    """Stands in for an array too large to print: its shape and 2-norm."""

    shape: tuple[int, ...]
    norm: float


def fmt(v: float, precision: int = 4, minus: str = "−") -> str:
    """``v`` with ``precision`` significant digits, ``minus`` as the minus sign.

    >>> fmt(-0.000123456), fmt(2.0), fmt(float("nan"))
    ('−0.0001235', '2', 'nan')
    """
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return ("" if v > 0 else minus) + "∞"
    s = f"{v:.{precision}g}"
    if s in ("-0", "0"):
        s = "0"
    return s.replace("-", minus)


def _render(table: dict[type, Callable[[Any], str]], e: Expr | str) -> str:
    """``e`` rendered by the function ``table`` holds for its node type."""
    render = table.get(type(e))
    if render is None:
        raise TypeError(f"not a notation node: {e!r}")
    return render(e)


def _scripts(e: Sym, render: Callable[[Any], str], sub: str, sup: str) -> str:
    """A symbol's name and scripts, each script rendered and put in the ``sub``/``sup``
    template (with ``{}`` for the script)."""
    s = ""
    if e.sub is not None:
        s += sub.format(render(e.sub))
    if e.sup is not None:
        s += sup.format(render(e.sup))
    return s


# ---------------------------------------------------------------------------- text
def to_text(e: Expr | str) -> str:
    """Plain-text (Unicode) form of an expression, TeX-style ``_{}``/``^{}`` for scripts.

    Raises ``TypeError`` for anything that is not a notation node.
    """
    return _render(_TEXT, e)


def _text_script(mark: str, e: Expr | str) -> str:
    s = to_text(e)
    return f"{mark}{s}" if len(s) == 1 else f"{mark}{{{s}}}"


def _text_sym(e: Sym) -> str:
    s = e.name
    if e.sub is not None:
        s += _text_script("_", e.sub)
    if e.sup is not None:
        s += _text_script("^", e.sup)
    return s


def _text_atom(e: Expr) -> str:
    s = to_text(e)
    return s if " " not in s else f"({s})"


def _text_matrix(m: Mat) -> str:
    a = np.asarray(m.values)
    if a.ndim == 0:
        return fmt(a, m.precision)
    if a.ndim == 1:
        body = ", ".join(fmt(v, m.precision) for v in a)
        return f"[{body}]" + ("" if m.row else "^T")
    rows = "; ".join(", ".join(fmt(v, m.precision) for v in r) for r in a)
    return f"[{rows}]"


def _text_row(items: list[Expr]) -> str:
    """Items separated by spaces, a leading minus (or one after an operator) written
    against its operand: −log ŷ_y, −(e(y) − ŷ), a − −2."""
    out = ""
    for i, item in enumerate(items):
        unary_before = (
            i > 0 and items[i - 1] == Op("−") and (i == 1 or isinstance(items[i - 2], Op))
        )
        out += ("" if i == 0 or unary_before else " ") + to_text(item)
    return out


_TEXT: dict[type, Callable[[Any], str]] = {
    str: lambda e: e,
    Sym: _text_sym,
    Num: lambda e: fmt(e.value, e.precision),
    Mat: _text_matrix,
    Summary: lambda e: f"⟨{'×'.join(map(str, e.shape))}, ‖·‖ = {fmt(e.norm)}⟩",
    Op: lambda e: e.text,
    Text: lambda e: e.text,
    Func: lambda e: f"{to_text(e.name)}({to_text(e.arg)})",
    Frac: lambda e: f"{_text_atom(e.num)}/{_text_atom(e.den)}",
    Paren: lambda e: f"({to_text(e.body)})",
    Norm: lambda e: f"‖{to_text(e.body)}‖" + (_text_script("^", e.power) if e.power else ""),
    Row: lambda e: _text_row(e.items),
}


# ---------------------------------------------------------------------------- LaTeX
def to_latex(e: Expr | str) -> str:
    """LaTeX (amsmath) form of an expression, for use inside math mode.

    Raises ``TypeError`` for anything that is not a notation node.
    """
    return _render(_TEX, e)


def _latex_chars(text: str) -> str:
    return "".join(_LATEX.get(c, c) for c in text)


def _latex_name(name: str) -> str:
    if name in _LATEX:
        return _LATEX[name]
    if name.endswith("'") and len(name) > 1:
        return _latex_name(name[:-1]) + "'"
    if len(name) > 1 and name.isalpha():
        return rf"\operatorname{{{name}}}"
    return _latex_chars(name)


def latex_text(text: str) -> str:
    """``text`` for LaTeX's text mode: special characters escaped, the seeds' symbols
    (ℒ, ∇, ⊙, ŷ, σ, ...) as inline math, the Unicode minus as a hyphen."""
    return "".join(_TEX_TEXT.get(c, c) for c in text)


_TEX_TEXT = {
    "\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
    "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}", "−": "-",
    "→": r"$\to$", "ℒ": r"$\mathcal{L}$", "∇": r"$\nabla$", "⊙": r"$\odot$",
    "ŷ": r"$\hat{y}$", "×": r"$\times$", "‖": r"$\|$", "·": r"$\cdot$", "σ": r"$\sigma$",
    "≤": r"$\le$", "²": r"$^2$", "³": r"$^3$", "Φ": r"$\Phi$", "φ": r"$\varphi$",
    "π": r"$\pi$", "√": r"$\surd$",
}  # fmt: skip


def _latex_matrix(m: Mat) -> str:
    a = np.asarray(m.values)
    if a.ndim == 0:
        return fmt(a, m.precision, minus="-")
    if a.ndim == 1:
        a = a[None, :] if m.row else a[:, None]
    rows = r" \\ ".join(" & ".join(fmt(v, m.precision, minus="-") for v in r) for r in a)
    return rf"\begin{{bmatrix}} {rows} \end{{bmatrix}}"


def _latex_summary(e: Summary) -> str:
    dims = r" \times ".join(map(str, e.shape))
    return rf"\langle {dims},\ \|\cdot\| = {fmt(e.norm, minus='-')} \rangle"


_TEX: dict[type, Callable[[Any], str]] = {
    str: _latex_name,
    Sym: lambda e: _latex_name(e.name) + _scripts(e, to_latex, "_{{{}}}", "^{{{}}}"),
    Num: lambda e: fmt(e.value, e.precision, minus="-").replace("∞", r"\infty"),
    Mat: _latex_matrix,
    Summary: _latex_summary,
    Op: lambda e: _latex_chars(e.text),
    Text: lambda e: rf"\text{{{latex_text(e.text)}}}",
    Func: lambda e: rf"{to_latex(e.name)}\left({to_latex(e.arg)}\right)",
    Frac: lambda e: rf"\frac{{{to_latex(e.num)}}}{{{to_latex(e.den)}}}",
    Paren: lambda e: rf"\left({to_latex(e.body)}\right)",
    Norm: lambda e: rf"\left\|{to_latex(e.body)}\right\|" + (f"^{{{e.power}}}" if e.power else ""),
    Row: lambda e: " ".join(to_latex(i) for i in e.items),
}


# ---------------------------------------------------------------------------- MathML
def to_mathml(e: Expr | str, display: bool = False) -> str:
    """MathML Core markup (a ``<math>`` element) of an expression; ``display=True`` for a
    block equation. Browsers with MathML Core (Chromium 109+, Firefox, Safari) render it
    without scripts or web fonts.

    Raises ``TypeError`` for anything that is not a notation node.
    """
    attr = ' display="block"' if display else ""
    return f"<math{attr}>{mathml(e)}</math>"


def mathml(e: Expr | str) -> str:
    """The MathML of an expression without the ``<math>`` element around it (to place in a
    larger MathML tree, such as an aligned table of equations)."""
    return _render(_MML, e)


def _mml_sym(e: Sym) -> str:
    base = _mml_name(e.name)
    if e.sub is not None and e.sup is not None:
        return f"<msubsup>{base}{_mml_group(e.sub)}{_mml_group(e.sup)}</msubsup>"
    if e.sub is not None:
        return f"<msub>{base}{_mml_group(e.sub)}</msub>"
    if e.sup is not None:
        return f"<msup>{base}{_mml_group(e.sup)}</msup>"
    return base


def _mml_summary(e: Summary) -> str:
    dims = "<mo>×</mo>".join(f"<mn>{d}</mn>" for d in e.shape)
    return (
        f'<mrow><mo fence="true">⟨</mo>{dims}<mo separator="true">,</mo><mspace width="0.3em"/>'
        f"<mo>‖</mo><mo>·</mo><mo>‖</mo><mo>=</mo>{_mml_number(fmt(e.norm))}"
        '<mo fence="true">⟩</mo></mrow>'
    )


def _mml_group(e: Expr | str) -> str:
    if isinstance(e, str):
        if e.isdigit():
            return f"<mn>{e}</mn>"
        if len(e) > 1 and all(c.isalnum() for c in e):
            return f"<mi>{html.escape(e)}</mi>"
        return "<mrow>" + "".join(_mml_char(c) for c in e) + "</mrow>"
    return mathml(e)


def _mml_char(c: str) -> str:
    if c.isdigit():
        return f"<mn>{c}</mn>"
    if c.isalpha():
        return f"<mi>{html.escape(c)}</mi>"
    return f"<mo>{'−' if c == '-' else html.escape(c)}</mo>"


def _mml_name(name: str) -> str:
    if name in ("∇", "Σ"):
        return f"<mo>{name}</mo>"
    if name == "log":  # an operator name: upright, with a thin space before its argument
        return '<mi>log</mi><mspace width="0.17em"/>'
    if name.endswith("'") and len(name) > 1:
        return f"<msup>{_mml_name(name[:-1])}<mo>′</mo></msup>"
    return f"<mi>{html.escape(name)}</mi>"  # a multi-letter <mi> is set upright


def _mml_number(s: str) -> str:
    if s.startswith("−"):
        return f"<mrow><mo>−</mo><mn>{s[1:]}</mn></mrow>"
    return f"<mn>{s}</mn>"


def _mml_matrix(m: Mat) -> str:
    a = np.asarray(m.values)
    if a.ndim == 0:
        return _mml_number(fmt(a, m.precision))
    if a.ndim == 1:
        a = a[None, :] if m.row else a[:, None]
    rows = "".join(
        "<mtr>" + "".join(f"<mtd>{_mml_number(fmt(v, m.precision))}</mtd>" for v in r) + "</mtr>"
        for r in a
    )
    # The brackets are drawn by CSS on the table (class "m"): stretchy <mo> brackets need
    # an OpenType MATH font, which a reader's machine may not have.
    return f'<mtable class="m">{rows}</mtable>'


def _mml_norm(e: Norm) -> str:
    norm = f"<mrow><mo>‖</mo>{mathml(e.body)}<mo>‖</mo></mrow>"
    return norm if e.power is None else f"<msup>{norm}{_mml_group(e.power)}</msup>"


_MML: dict[type, Callable[[Any], str]] = {
    str: _mml_name,
    Sym: _mml_sym,
    Num: lambda e: _mml_number(fmt(e.value, e.precision)),
    Mat: _mml_matrix,
    Summary: _mml_summary,
    Op: lambda e: f"<mo>{html.escape(e.text)}</mo>",
    Text: lambda e: f"<mtext>{html.escape(e.text)}</mtext>",
    Func: lambda e: f"<mrow>{mathml(e.name)}<mo>(</mo>{mathml(e.arg)}<mo>)</mo></mrow>",
    Frac: lambda e: f"<mfrac>{_mml_group(e.num)}{_mml_group(e.den)}</mfrac>",
    Paren: lambda e: f"<mrow><mo>(</mo>{mathml(e.body)}<mo>)</mo></mrow>",
    Norm: _mml_norm,
    Row: lambda e: "<mrow>" + "".join(mathml(i) for i in e.items) + "</mrow>",
}


def array_expr(values: Any, max_entries: int, row: bool = False, precision: int = 4) -> Expr:
    """``values`` as a :class:`Mat` when it has at most ``max_entries`` entries, else as a
    :class:`Summary` (shape and norm)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size <= max_entries:
        return Mat(a, row=row, precision=precision)
    return Summary(tuple(a.shape), float(np.linalg.norm(a)))
