"""The walk-through of a :class:`~chainrule.explain.backprop.Trace`, described once as
sections of equations and prose; :mod:`chainrule.explain.views` renders it for a terminal, in
Markdown, LaTeX and HTML.

The sections:

1. the network and the example;
2. the forward pass, layer by layer: a_k = b_k + W_k h_{k-1}, h_k = g(a_k), with the numbers;
3. the output ŷ and the loss ℒ;
4. the backward pass from the output down: ∇_{a_L} ℒ, then for each layer ∇_{h_k} ℒ,
   g'(a_k), ∇_{a_k} ℒ, ∇_{W_k} ℒ, ∇_{b_k} ℒ, and finally ∇_{h_0} ℒ;
5. the check: every quantity by the engine, by the formulas (and by finite differences).

The output function, the loss and its gradient are the expression trees of the loss's record
(:mod:`chainrule.nn.losses`): the per-example forms of a batch (y^{(n)}, ŷ^{(n)}...) and the
equations with the numbers put in are made from them by substitution, never written again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.explain.backprop import Quantity, Trace
from chainrule.explain.notation import (
    LOSS,
    Expr,
    Frac,
    Func,
    Norm,
    Num,
    Op,
    Paren,
    Row,
    Sym,
    Text,
    array_expr,
    fmt,
    grad,
)

__all__ = [
    "Equation", "Heading", "Para", "Section", "check_headers", "check_rows", "describe_network",
    "label_text", "walkthrough",
]  # fmt: skip


# ---------------------------------------------------------------------------- blocks
@dataclass
class Equation:
    """``lhs = rhs[0] = rhs[1] = ...``: the symbolic form first, then with the numbers.

    ``quantity`` is the traced quantity the equation computes (``None`` for a general
    equation such as a_k = b_k + W_k h_{k-1}): the terminal view shows its statistics and
    its check.
    """

    lhs: Expr
    rhs: list[Expr]
    note: str = ""
    quantity: Quantity | None = None


@dataclass
class Para:
    """A paragraph of words (str) and inline math (expressions)."""

    parts: list[Any]


@dataclass
class Heading:
    """A sub-heading within a section; ``layer`` is k when it opens layer k's part."""

    text: str
    layer: int | None = None


@dataclass
class Table:
    """The check table: one row of strings per quantity (see :func:`check_rows`)."""

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """A titled part of the walk: paragraphs (str or :class:`Para`), :class:`Heading`,
    :class:`Equation` and :class:`Table` blocks, in order. ``short`` is the title the
    terminal view puts before a heading (``"Forward"``: "Forward, layer 2")."""

    title: str
    anchor: str
    blocks: list[Any] = field(default_factory=list)
    short: str = ""


def describe_network(t: Trace) -> str:
    """``"3 → 3 → 3 → 2 network, logistic hidden units, softmax output, cross-entropy
    loss"``: the widths, the hidden units, the output function and the loss of ``t``."""
    sizes = " → ".join(map(str, t.sizes))
    hidden = sorted({lt.activation.name for lt in t.layers[:-1] if lt.activation is not None})
    units = f", {'/'.join(hidden)} hidden units" if hidden else ""
    return f"{sizes} network{units}, {t.output} output, {t.loss_record.adjective} loss"


def label_text(t: Trace) -> str:
    """A sentence giving the label(s) (with class names) or the target(s) of ``t``."""
    names = t.class_names
    if t.loss_record.labels:
        ys = np.atleast_1d(t.y).astype(int).tolist()
        shown = [f"{v} ({names[v]})" if names and v < len(names) else str(v) for v in ys]
        if not t.batched:
            return (
                f"Its label is y = {shown[0]}; e(y) is the one-hot vector with a 1 at index "
                f"{ys[0]}."
            )
        return f"Labels y = {', '.join(shown)}; e(y) is the one-hot vector of each label."
    return "Targets y: " + np.array2string(np.asarray(t.y), precision=4, separator=", ") + "."


# ---------------------------------------------------------------------------- trees
_EXAMPLE = "(n)"
_PER_EXAMPLE = {"a", "h", "x", "y", "ŷ", LOSS}


def per_example(e: Expr) -> Expr:
    """``e`` with every per-example symbol marked for example n of a batch: y → y^{(n)},
    ŷ_y → ŷ^{(n)}_{y^{(n)}}, a_L → a_L^{(n)}, h_0^T → h_0^{(n)T}, ℒ → ℒ^{(n)}."""
    if isinstance(e, Sym):
        if e.name not in _PER_EXAMPLE:
            return e
        sub = per_example(Sym(e.sub)) if e.sub == "y" else e.sub
        sup = _EXAMPLE if e.sup is None else Row(Text(_EXAMPLE), e.sup)
        return Sym(e.name, sub, sup)
    return _map(e, per_example)


def one_example(e: Expr) -> Expr:
    """The inverse of :func:`per_example`: the marks of example n taken out (the terminal
    view's formulas, which name the rows of a batch by the seeds' symbols)."""
    if isinstance(e, Sym):
        sub = one_example(e.sub) if isinstance(e.sub, Expr) else e.sub
        sup = e.sup
        if sup == _EXAMPLE:
            sup = None
        elif isinstance(sup, Row) and sup.items[:1] == [Text(_EXAMPLE)]:
            sup = sup.items[1] if len(sup.items) == 2 else Row(*sup.items[1:])
        return Sym(e.name, sub, sup)
    return _map(e, one_example)


def substitute(e: Expr, values: list[tuple[Expr, Expr]]) -> Expr:
    """``e`` with each sub-tree equal to a key of ``values`` replaced by its value (the
    first match wins, a whole node before its parts: e(y) before y)."""
    for key, value in values:
        if e == key:
            return value
    return _map(e, lambda c: substitute(c, values))


def _map(e: Expr, f: Any) -> Expr:
    """``e`` with ``f`` applied to its children (rows, function arguments, brackets)."""
    if isinstance(e, Row):
        return Row(*(f(i) for i in e.items))
    if isinstance(e, Func):
        return Func(e.name, f(e.arg))
    if isinstance(e, Paren):
        return Paren(f(e.body))
    if isinstance(e, Norm):
        return Norm(f(e.body), e.power)
    if isinstance(e, Frac):
        return Frac(f(e.num), f(e.den))
    return e


def _h(k: int | str, sup: str | None = None) -> Sym:
    return Sym("h", str(k), sup)


def _a(k: int | str) -> Sym:
    return Sym("a", str(k))


def _scale_expr(t: Trace) -> Expr | None:
    """The factor the mean puts on every example's loss: 1/N (1/(N k) over all outputs)."""
    if t.scale == 1.0:
        return None
    per_output = t.loss_record.mean_over_outputs
    if t.batched:
        return Frac(Num(1), Row(Sym("N"), Sym("k")) if per_output else Sym("N"))
    return Frac(Num(1), Num(t.sizes[-1] if per_output else 1))


# ---------------------------------------------------------------------------- the walk
def walkthrough(t: Trace, max_entries: int = 64) -> list[Section]:
    """The sections every rendering shows (see the module docstring); arrays of more than
    ``max_entries`` entries appear as their shape and norm."""
    w = _Walk(t, max_entries)
    return [w.network(), w.forward(), w.output(), w.backward(), w.check()]


class _Walk:
    def __init__(self, t: Trace, max_entries: int) -> None:
        self.t, self.max_entries = t, max_entries
        self.single = not t.batched
        self.loss = t.loss_record
        self.s_expr = _scale_expr(t)

    def V(self, a: Any, row: bool = False) -> Expr:
        return array_expr(a, self.max_entries, row=row)

    def ex(self, e: Expr) -> Expr:
        """``e`` as the equations of this trace write it: per example for a batch."""
        return e if self.single else per_example(e)

    def scaled(self, e: Expr) -> Expr:
        return e if self.s_expr is None else Row(self.s_expr, e)

    def grad_ex(self, wrt: Expr) -> Expr:
        return self.ex(grad(wrt))

    # 1. the network ------------------------------------------------------------------
    def network(self) -> Section:
        t, L = self.t, self.t.L
        net = Section("The network and the example", "network")
        nk = Sym("n", "k")
        shape_W = Sym("ℝ", None, Row(nk, Op("×"), Sym("n", "k-1")))
        net.blocks.append(Para([
            f"A {describe_network(t)}: L = {L} linear layer{'s' if L != 1 else ''}. Layer k "
            "has weights ", Row(Sym("W", "k"), Op("∈"), shape_W),
            " and biases ", Row(Sym("b", "k"), Op("∈"), Sym("ℝ", None, nk)),
            "; hidden layer k computes the pre-activation ", _a("k"), " and the activation ",
            _h("k"), ", and the output layer's ", _a("L"), f" goes through the output function "
            f"O = {t.output}.",
        ]))  # fmt: skip
        net.blocks.append(
            Equation(_a("k"), [Row(Sym("b", "k"), Op("+"), Sym("W", "k"), _h("k-1"))])
        )
        net.blocks.append(Equation(_h("k"), [Func("g", _a("k"))]))
        net.blocks.append(Equation(Sym("ŷ"), [Func("O", _a("L")), self.loss.output_formula]))
        net.blocks.append(Equation(Sym(LOSS), [self.loss.formula]))
        for lt in t.layers[:-1]:
            g = lt.activation
            net.blocks.append(f"Layer {lt.k}: g = {g.name}, {g.definition}.")
        h0 = t.layers[0]["h_prev"]
        if self.single:
            net.blocks.append(Para(["The input ", Row(_h(0), Op("="), Sym("x")), ":"]))
            net.blocks.append(Equation(_h(0), [Sym("x"), self.V(t.x)], quantity=h0))
        else:
            net.blocks.append(
                f"A batch of N = {len(t.x)} examples, one per row (row-major): every row "
                "follows the seeds' per-example equations, whose column vectors are the rows "
                f"here. The loss is the {'mean' if t.reduction == 'mean' else 'sum'} of the "
                "examples' losses, so the parameter gradients are sums over the examples "
                "(batches whose gradients add up)."
            )
            net.blocks.append(Equation(Sym("H", "0"), [Sym("X"), self.V(t.x)], quantity=h0))
        net.blocks.append(label_text(t))
        return net

    # 2. forward -----------------------------------------------------------------------
    def forward(self) -> Section:
        t, L, V, ex = self.t, self.t.L, self.V, self.ex
        fwd = Section("Forward pass", "forward", short="Forward")
        for lt in t.layers:
            k = lt.k
            fwd.blocks.append(Heading(f"Layer {k}" + (" (output)" if k == L else ""), k))
            rhs = [ex(Row(Sym("b", str(k)), Op("+"), Sym("W", str(k)), _h(k - 1)))]
            if self.single:
                rhs.append(Row(V(lt.bias), Op("+"), V(lt.weight), V(lt["h_prev"].value)))
            rhs.append(V(lt["a"].value))
            note = "" if self.single else "one row per example"
            fwd.blocks.append(Equation(ex(_a(k)), rhs, note, lt["a"]))
            if k < L:
                g = lt.activation
                sym = _a(k) if g.name == "linear" else Func(g.symbol, _a(k))
                fwd.blocks.append(
                    Equation(ex(_h(k)), [ex(sym), V(lt["h"].value)], quantity=lt["h"])
                )
        return fwd

    # 3. output and loss ---------------------------------------------------------------
    def output(self) -> Section:
        t, ex = self.t, self.ex
        out = Section("Output and loss", "loss", short="Output and loss")
        yq, lq = t.y_hat, t.loss_value
        o = substitute(self.loss.output_formula, [(Sym("a", "L"), _a(t.L))])  # O(a_L), L put in
        out.blocks.append(Equation(ex(Sym("ŷ")), [ex(o), self.V(yq.value)], quantity=yq))
        formula = self.loss.formula
        if self.single:
            rhs = [self.scaled(formula)]
            if self.loss.labels:  # the label's probability put in: ŷ_y → ŷ_2 → 0.3142
                label = int(t.y)
                for v in (Sym("ŷ", str(label)), Num(float(yq.value[label]), 6)):
                    rhs.append(self.scaled(substitute(formula, [(Sym("ŷ", "y"), v)])))
        else:
            rhs = [self.scaled(Row(Sym("Σ", "n"), per_example(formula)))]
        rhs.append(Num(float(lq.value), 6))
        out.blocks.append(Equation(Sym(LOSS), rhs, quantity=lq))
        return out

    # 4. backward ----------------------------------------------------------------------
    def backward(self) -> Section:
        t, L, V, ex, single = self.t, self.t.L, self.V, self.ex, self.single
        bwd = Section("Backward pass", "backward", short="Backward")
        bwd.blocks.append(
            "From the output down: each layer's gradients come from the layer above, reusing "
            "what the forward pass computed."
        )
        for lt in reversed(t.layers):
            k = lt.k
            bwd.blocks.append(Heading(f"Layer {k}" + (" (output)" if k == L else ""), k))
            if k == L:
                bwd.blocks.append(self.output_gradient())
            else:
                above = t.layers[k]  # layer k + 1
                ghk = self.grad_ex(_h(k))
                rhs = [Row(Sym("W", str(k + 1), "T"), self.grad_ex(_a(k + 1)))]
                if single:
                    rhs.append(Row(V(above.weight.T), V(above["grad_a"].value)))
                rhs.append(V(lt["grad_h"].value))
                bwd.blocks.append(Equation(ghk, rhs, quantity=lt["grad_h"]))
                g = lt.activation
                gp = Func("g'", ex(_a(k)))
                note = f"g = {g.name}: {g.derivative_text}"
                bwd.blocks.append(Equation(gp, [V(lt["dg"].value)], note, lt["dg"]))
                rhs = [Row(ghk, Op("⊙"), gp)]
                if single:
                    rhs.append(Row(V(lt["grad_h"].value), Op("⊙"), V(lt["dg"].value)))
                rhs.append(V(lt["grad_a"].value))
                bwd.blocks.append(Equation(self.grad_ex(_a(k)), rhs, quantity=lt["grad_a"]))
            gW, gb = grad(Sym("W", str(k))), grad(Sym("b", str(k)))
            if single:
                bwd.blocks.append(Equation(gW, [
                    Row(grad(_a(k)), _h(k - 1, "T")),
                    Row(V(lt["grad_a"].value), V(lt["h_prev"].value, row=True)),
                    V(lt["grad_W"].value),
                ], quantity=lt["grad_W"]))  # fmt: skip
                bwd.blocks.append(
                    Equation(gb, [grad(_a(k)), V(lt["grad_b"].value)], quantity=lt["grad_b"])
                )
            else:
                bwd.blocks.append(Equation(gW, [
                    Row(Sym("Σ", "n"), self.grad_ex(_a(k)), ex(_h(k - 1, "T"))),
                    V(lt["grad_W"].value),
                ], "summed over the batch: grad_a.T @ h_prev in rows", lt["grad_W"]))  # fmt: skip
                bwd.blocks.append(Equation(gb, [
                    Row(Sym("Σ", "n"), self.grad_ex(_a(k))), V(lt["grad_b"].value),
                ], quantity=lt["grad_b"]))  # fmt: skip
        first = t.layers[0]
        bwd.blocks.append(Heading("Input"))
        rhs = [Row(Sym("W", "1", "T"), self.grad_ex(_a(1)))]
        if single:
            rhs.append(Row(V(first.weight.T), V(first["grad_a"].value)))
        rhs.append(V(t.grad_input.value))
        bwd.blocks.append(
            Equation(
                self.grad_ex(_h(0)),
                rhs,
                "the gradient with respect to the input x = h_0 (not needed "
                "for training; it shows which inputs the loss is sensitive to)",
                t.grad_input,
            )
        )
        return bwd

    def output_gradient(self) -> Equation:
        """∇_{a_L} ℒ: the loss record's gradient, then with ŷ, y (or e(y)) put in."""
        t, V = self.t, self.V
        lt = t.layers[-1]
        numbers: list[tuple[Expr, Expr]] = [(Sym("ŷ"), V(t.y_hat.value))]
        if self.loss.labels:
            onehot = np.eye(t.sizes[-1])[np.atleast_1d(t.y).astype(int)]
            numbers.append((Func("e", Sym("y")), V(onehot[0] if self.single else onehot)))
        else:
            numbers.append((Sym("y"), V(t.y)))
        gradient = self.loss.gradient
        note = f"the seeds' output gradient for {t.output} output and {self.loss.title}"
        if self.s_expr is not None:
            note += f"; the {t.reduction} over the batch puts the factor {fmt(t.scale)} on it"
        rhs = [
            self.scaled(self.ex(gradient)),
            self.scaled(substitute(gradient, numbers)),
            V(lt["grad_a"].value),
        ]
        return Equation(self.grad_ex(_a(t.L)), rhs, note, lt["grad_a"])

    # 5. check -------------------------------------------------------------------------
    def check(self) -> Section:
        t = self.t
        chk = Section("Three ways to the same numbers", "check")
        ways = "the engine's reverse mode and the seeds' formulas written out in NumPy"
        if t.fd_checked:
            ways += ", and central finite differences of the loss"
        fd = (
            f"; between engine and finite differences {t.max_fd_disagreement:.3g}"
            f" (on {t.worst_fd.label})."
            if t.fd_checked
            else "."
        )
        chk.blocks.append(
            f"Every quantity above was computed by {ways}, in {t.dtype}. The largest "
            f"disagreement between engine and formulas is {t.max_disagreement:.3g} (on "
            f"{t.worst.label})" + fd
        )
        chk.blocks.append(Table(check_headers(t), check_rows(t)))
        return chk


def check_rows(t: Trace) -> list[list[str]]:
    """Rows of the check table: quantity, shape, norm, min, max, |engine − formula|
    and, with finite differences, |engine − fd|."""
    rows = []
    order: list[Quantity] = []
    for lt in t.layers:
        order += [lt[k] for k in ("a", "h") if k in lt]
    order += [t.y_hat, t.loss_value]
    for lt in reversed(t.layers):
        order += [lt[k] for k in ("grad_h", "dg", "grad_a", "grad_W", "grad_b") if k in lt]
    order.append(t.grad_input)
    for q in order:
        v = np.asarray(q.value, dtype=np.float64)
        row = [
            q.label,
            "×".join(map(str, v.shape)) or "scalar",
            fmt(q.norm),
            fmt(v.min()) if v.size else "",
            fmt(v.max()) if v.size else "",
            f"{q.disagreement:.2g}",
        ]
        if t.fd_checked:
            row.append("" if q.fd is None else f"{q.fd_disagreement:.2g}")
        rows.append(row)
    return rows


def check_headers(t: Trace) -> list[str]:
    """The check table's column headers (the finite-difference column with ``check="fd"``)."""
    h = ["quantity", "shape", "‖·‖", "min", "max", "|engine − formula|"]
    if t.fd_checked:
        h.append("|engine − finite diff.|")
    return h
