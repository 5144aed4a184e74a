"""A small math notation for the seeds' equations, written once and rendered three ways:
plain text (terminal), LaTeX, and MathML (HTML pages that need no script or font to show it).

An expression is a tree of :class:`Expr` nodes: symbols with subscripts and superscripts,
numbers, matrices of actual values, operators, function applications and juxtaposition.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Expr", "Frac", "Func", "Mat", "Num", "Op", "Paren", "Row", "Summary", "Sym", "Text",
    "array_expr", "fmt", "grad", "to_latex", "to_mathml", "to_text",
]  # fmt: skip

LOSS = "ℒ"

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


class Expr:
    """Base class of notation nodes."""


@dataclass
class Sym(Expr):
    """A symbol ``name`` with an optional subscript and superscript (strings or expressions).

    Names of more than one letter (``softmax``, ``tanh``) are set upright.
    """

    name: str
    sub: str | Expr | None = None
    sup: str | Expr | None = None


@dataclass
class Num(Expr):
    """A number, printed with ``precision`` significant digits."""

    value: float
    precision: int = 4


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


@dataclass
class Op(Expr):
    """An operator or relation: ``=``, ``+``, ``−``, ``⊙``, ``·``."""

    text: str


@dataclass
class Text(Expr):
    """Words inside an equation."""

    text: str


@dataclass
class Func(Expr):
    """``name(arg)``; ``name`` is a string or an expression (e.g. g')."""

    name: str | Expr
    arg: Expr


@dataclass
class Frac(Expr):
    """num / den."""

    num: Expr
    den: Expr


class Row(Expr):
    """Expressions side by side (juxtaposition is multiplication)."""

    def __init__(self, *items: Expr | str) -> None:
        self.items = [Sym(i) if isinstance(i, str) else i for i in items]

    def __repr__(self) -> str:
        return f"Row({', '.join(map(repr, self.items))})"


@dataclass
class Paren(Expr):
    """An expression in round brackets."""

    body: Expr


def grad(wrt: Expr, of: str = LOSS) -> Row:
    """The seeds' ∇_{wrt} ℒ: the gradient of ``of`` (the loss) with respect to ``wrt``."""
    return Row(Sym("∇", wrt), Sym(of))


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


# ---------------------------------------------------------------------------- text
def to_text(e: Expr | str) -> str:
    """Plain-text (Unicode) form of an expression, TeX-style ``_{}``/``^{}`` for scripts."""
    if isinstance(e, str):
        return e
    if isinstance(e, Sym):
        s = e.name
        if e.sub is not None:
            sub = to_text(e.sub)
            s += f"_{sub}" if len(sub) == 1 else f"_{{{sub}}}"
        if e.sup is not None:
            sup = to_text(e.sup)
            s += f"^{sup}" if len(sup) == 1 else f"^{{{sup}}}"
        return s
    if isinstance(e, Num):
        return fmt(e.value, e.precision)
    if isinstance(e, Mat):
        return _text_matrix(e)
    if isinstance(e, Summary):
        return _summary_text(e)
    if isinstance(e, (Op, Text)):
        return e.text
    if isinstance(e, Func):
        return f"{to_text(e.name)}({to_text(e.arg)})"
    if isinstance(e, Frac):
        return f"{_text_atom(e.num)}/{_text_atom(e.den)}"
    if isinstance(e, Paren):
        return f"({to_text(e.body)})"
    if isinstance(e, Row):
        return " ".join(to_text(i) for i in e.items)
    raise TypeError(f"not a notation node: {e!r}")


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


def _summary_text(s: Summary) -> str:
    return f"⟨{'×'.join(map(str, s.shape))}, ‖·‖ = {fmt(s.norm)}⟩"


# ---------------------------------------------------------------------------- LaTeX
def to_latex(e: Expr | str) -> str:
    """LaTeX (amsmath) form of an expression, for use inside math mode."""
    if isinstance(e, str):
        return _latex_name(e)
    if isinstance(e, Sym):
        s = _latex_name(e.name)
        if e.sub is not None:
            s += f"_{{{to_latex(e.sub)}}}"
        if e.sup is not None:
            s += f"^{{{to_latex(e.sup)}}}"
        return s
    if isinstance(e, Num):
        return fmt(e.value, e.precision, minus="-").replace("∞", r"\infty")
    if isinstance(e, Mat):
        return _latex_matrix(e)
    if isinstance(e, Summary):
        dims = r" \times ".join(map(str, e.shape))
        return rf"\langle {dims},\ \|\cdot\| = {fmt(e.norm, minus='-')} \rangle"
    if isinstance(e, Op):
        return _latex_chars(e.text)
    if isinstance(e, Text):
        return rf"\text{{{_latex_escape(e.text)}}}"
    if isinstance(e, Func):
        return rf"{to_latex(e.name)}\left({to_latex(e.arg)}\right)"
    if isinstance(e, Frac):
        return rf"\frac{{{to_latex(e.num)}}}{{{to_latex(e.den)}}}"
    if isinstance(e, Paren):
        return rf"\left({to_latex(e.body)}\right)"
    if isinstance(e, Row):
        return " ".join(to_latex(i) for i in e.items)
    raise TypeError(f"not a notation node: {e!r}")


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


def _latex_escape(text: str) -> str:
    out = text
    for c, r in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
    ):
        out = out.replace(c, r)
    return "".join(_LATEX.get(c, c) if c in "−·×" else c for c in out)


def _latex_matrix(m: Mat) -> str:
    a = np.asarray(m.values)
    if a.ndim == 0:
        return fmt(a, m.precision, minus="-")
    if a.ndim == 1:
        a = a[None, :] if m.row else a[:, None]
    rows = r" \\ ".join(" & ".join(fmt(v, m.precision, minus="-") for v in r) for r in a)
    return rf"\begin{{bmatrix}} {rows} \end{{bmatrix}}"


# ---------------------------------------------------------------------------- MathML
def to_mathml(e: Expr | str, display: bool = False) -> str:
    """MathML Core markup (a ``<math>`` element) of an expression; ``display=True`` for a
    block equation. Browsers with MathML Core (Chromium 109+, Firefox, Safari) render it
    without scripts or web fonts."""
    attr = ' display="block"' if display else ""
    return f"<math{attr}>{_mml(e)}</math>"


def _mml(e: Expr | str) -> str:
    if isinstance(e, str):
        return _mml_name(e)
    if isinstance(e, Sym):
        base = _mml_name(e.name)
        if e.sub is not None and e.sup is not None:
            return f"<msubsup>{base}{_mml_group(e.sub)}{_mml_group(e.sup)}</msubsup>"
        if e.sub is not None:
            return f"<msub>{base}{_mml_group(e.sub)}</msub>"
        if e.sup is not None:
            return f"<msup>{base}{_mml_group(e.sup)}</msup>"
        return base
    if isinstance(e, Num):
        return _mml_number(fmt(e.value, e.precision))
    if isinstance(e, Mat):
        return _mml_matrix(e)
    if isinstance(e, Summary):
        dims = "<mo>×</mo>".join(f"<mn>{d}</mn>" for d in e.shape)
        return (
            f'<mrow><mo fence="true">⟨</mo>{dims}<mo separator="true">,</mo><mspace width="0.3em"/>'
            f"<mo>‖</mo><mo>·</mo><mo>‖</mo><mo>=</mo>{_mml_number(fmt(e.norm))}"
            '<mo fence="true">⟩</mo></mrow>'
        )
    if isinstance(e, Op):
        return f"<mo>{html.escape(e.text)}</mo>"
    if isinstance(e, Text):
        return f"<mtext>{html.escape(e.text)}</mtext>"
    if isinstance(e, Func):
        return f"<mrow>{_mml(e.name)}<mo>(</mo>{_mml(e.arg)}<mo>)</mo></mrow>"
    if isinstance(e, Frac):
        return f"<mfrac>{_mml_group(e.num)}{_mml_group(e.den)}</mfrac>"
    if isinstance(e, Paren):
        return f"<mrow><mo>(</mo>{_mml(e.body)}<mo>)</mo></mrow>"
    if isinstance(e, Row):
        return "<mrow>" + "".join(_mml(i) for i in e.items) + "</mrow>"
    raise TypeError(f"not a notation node: {e!r}")


def _mml_group(e: Expr | str) -> str:
    if isinstance(e, str):
        if e.isdigit():
            return f"<mn>{e}</mn>"
        if len(e) > 1 and all(c.isalnum() for c in e):
            return f"<mi>{html.escape(e)}</mi>"
        return "<mrow>" + "".join(_mml_char(c) for c in e) + "</mrow>"
    return _mml(e)


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


def array_expr(values: Any, max_entries: int, row: bool = False, precision: int = 4) -> Expr:
    """``values`` as a :class:`Mat` when it has at most ``max_entries`` entries, else as a
    :class:`Summary` (shape and norm)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size <= max_entries:
        return Mat(a, row=row, precision=precision)
    return Summary(tuple(a.shape), float(np.linalg.norm(a)))
