"""The nodes of the seeds' math notation: expression trees that say a formula once.

An expression is a tree of :class:`Expr` nodes: symbols with subscripts and superscripts,
operators, function applications, fractions, brackets and juxtaposition. The trees are plain
data, so the records that own a formula (a loss in :mod:`chainrule.nn.losses`) can hold it
on a low floor; :mod:`chainrule.explain.notation` renders them as text, LaTeX and MathML and
adds the nodes that carry actual values.

>>> Row(Op("−"), Sym("log"), Sym("ŷ", "y"))
Row(Op(text='−'), Sym(name='log', sub=None, sup=None), Sym(name='ŷ', sub='y', sup=None))
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LOSS", "Expr", "Frac", "Func", "Norm", "Num", "Op", "Paren", "Row", "Sym", "Text", "grad",
]  # fmt: skip

LOSS = "ℒ"


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
    """Expressions side by side (juxtaposition is multiplication); a string item is a
    :class:`Sym`."""

    def __init__(self, *items: Expr | str) -> None:
        self.items = [Sym(i) if isinstance(i, str) else i for i in items]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self.items == other.items

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass nodes

    def __repr__(self) -> str:
        return f"Row({', '.join(map(repr, self.items))})"


@dataclass
class Paren(Expr):
    """An expression in round brackets."""

    body: Expr


@dataclass
class Norm(Expr):
    """‖body‖, raised to ``power`` when given (``"2"``: the squared norm)."""

    body: Expr
    power: str | None = None


def grad(wrt: Expr, of: str = LOSS) -> Row:
    """The seeds' ∇_{wrt} ℒ: the gradient of ``of`` (the loss) with respect to ``wrt``."""
    return Row(Sym("∇", wrt), Sym(of))
