"""Renderings of a :class:`~chainrule.explain.backprop.Trace`: a terminal view (rich), Markdown,
LaTeX, and a self-contained HTML page (MathML, no scripts, nothing fetched at view time).

All four walk through the same sections, built once by :func:`walkthrough`:

1. the network and the example;
2. the forward pass, layer by layer: a_k = b_k + W_k h_{k-1}, h_k = g(a_k), with the numbers;
3. the output ŷ and the loss ℒ;
4. the backward pass from the output down: ∇_{a_L} ℒ, then for each layer ∇_{h_k} ℒ,
   ∇_{a_k} ℒ, ∇_{W_k} ℒ, ∇_{b_k} ℒ, and finally ∇_{h_0} ℒ;
5. the check: every quantity by the engine, by the formulas (and by finite differences).

Arrays with more than ``max_entries`` entries are shown by their shape and norm instead of
their values. Nothing here prints: the terminal view is returned (a rich renderable, or a
string from :func:`to_text`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.explain import _html
from chainrule.explain.backprop import Quantity, Trace
from chainrule.explain.notation import (
    LOSS,
    Expr,
    Frac,
    Func,
    Num,
    Op,
    Paren,
    Row,
    Sym,
    Text,
    _latex_chars,
    array_expr,
    fmt,
    grad,
    to_mathml,
)
from chainrule.explain.notation import to_latex as _latex

__all__ = [
    "Equation", "Para", "Section", "check_rows", "describe_network", "html_sections", "rich_view",
    "to_html", "to_latex", "to_markdown", "to_text", "walkthrough",
]  # fmt: skip


# ---------------------------------------------------------------------------- the walk
@dataclass
class Equation:
    """``lhs = rhs[0] = rhs[1] = ...``: the symbolic form first, then with the numbers."""

    lhs: Expr
    rhs: list[Expr]
    note: str = ""


@dataclass
class Para:
    """A paragraph of words (str) and inline math (expressions)."""

    parts: list[Any]


@dataclass
class Section:
    """A titled part of the walk: paragraphs (str), sub-headings (``("h", text)``) and
    equations, in order."""

    title: str
    anchor: str
    blocks: list[Any] = field(default_factory=list)


def describe_network(t: Trace) -> str:
    """``"3 → 3 → 3 → 2 network, logistic hidden units, softmax output, cross-entropy"``."""
    sizes = " → ".join(map(str, t.sizes))
    hidden = sorted({lt.activation.name for lt in t.layers[:-1] if lt.activation is not None})
    units = f", {'/'.join(hidden)} hidden units" if hidden else ""
    loss = "cross-entropy loss" if t.loss == "cross_entropy" else "squared-error loss"
    return f"{sizes} network{units}, {t.output} output, {loss}"


def _h(k: int | str, sup: str | None = None) -> Sym:
    return Sym("h", str(k), sup)


def _a(k: int | str) -> Sym:
    return Sym("a", str(k))


def _ex(e: Expr) -> Expr:
    """e^{(n)}: the same quantity for example n of a batch."""
    if isinstance(e, Sym) and e.sup is None:
        return Sym(e.name, e.sub, "(n)")
    if isinstance(e, Sym):
        return Sym(e.name, e.sub, Row(Text("(n)"), e.sup))
    return Row(e, Sym("", None, "(n)"))


def _grad_ex(wrt: Expr) -> Row:
    return Row(Sym("∇", wrt), Sym(LOSS, None, "(n)"))


def _act_symbol(lt: Any) -> str:
    return lt.activation.symbol


def _scale_expr(t: Trace) -> Expr | None:
    if t.scale == 1.0:
        return None
    n = len(t.x) if t.batched else 1
    if t.loss == "cross_entropy":
        return Frac(Num(1), Sym("N") if t.batched else Num(n))
    k = t.sizes[-1]
    return Frac(Num(1), Row(Sym("N"), Sym("k")) if t.batched else Num(k))


def walkthrough(t: Trace, max_entries: int = 64) -> list[Section]:
    """The sections every rendering shows (see the module docstring)."""

    def V(a: Any, row: bool = False) -> Expr:
        return array_expr(a, max_entries, row=row)

    single = not t.batched
    L = t.L
    n = len(t.x) if t.batched else 1
    sections = []

    # 1. the network ------------------------------------------------------------------
    net = Section("The network and the example", "network")
    nk = Sym("n", "k")
    net.blocks.append(Para([
        f"A {describe_network(t)}: L = {L} linear layer{'s' if L != 1 else ''}. Layer k has "
        "weights ", Row(Sym("W", "k"), Op("∈"), Sym("ℝ", None, Row(nk, Op("×"), Sym("n", "k-1")))),
        " and biases ", Row(Sym("b", "k"), Op("∈"), Sym("ℝ", None, nk)),
        "; hidden layer k computes the pre-activation ", _a("k"), " and the activation ",
        _h("k"), ", and the output layer's ", _a("L"), f" goes through the output function "
        f"O = {t.output}.",
    ]))  # fmt: skip
    net.blocks.append(Equation(_a("k"), [Row(Sym("b", "k"), Op("+"), Sym("W", "k"), _h("k-1"))]))
    net.blocks.append(Equation(_h("k"), [Func("g", _a("k"))]))
    net.blocks.append(
        Equation(Sym("ŷ"), [Func(t.output if t.output == "softmax" else "O", _a("L"))])
    )
    if t.loss == "cross_entropy":
        net.blocks.append(Equation(Sym(LOSS), [Row(Op("−"), Sym("log"), Sym("ŷ", "y"))]))
    else:
        net.blocks.append(
            Equation(Sym(LOSS), [Row(Op("‖"), Sym("y"), Op("−"), Sym("ŷ"), Sym("‖", None, "2"))])
        )
    for lt in t.layers[:-1]:
        g = lt.activation
        net.blocks.append(f"Layer {lt.k}: g = {g.name}, {g.definition}.")
    if single:
        net.blocks.append(Para(["The input ", Row(_h(0), Op("="), Sym("x")), ":"]))
        net.blocks.append(Equation(_h(0), [Sym("x"), V(t.x)]))
        net.blocks.append(_label_text(t))
    else:
        net.blocks.append(
            f"A batch of N = {n} examples, one per row (row-major): every row follows the "
            "seeds' per-example equations, whose column vectors are the rows here. The loss "
            f"is the {'mean' if t.reduction == 'mean' else 'sum'} of the examples' losses, so "
            "the parameter gradients are sums over the examples (batches whose gradients add "
            "up)."
        )
        net.blocks.append(Equation(Sym("H", "0"), [Sym("X"), V(t.x)]))
        net.blocks.append(_label_text(t))
    sections.append(net)

    # 2. forward -----------------------------------------------------------------------
    fwd = Section("Forward pass", "forward")
    for lt in t.layers:
        k = lt.k
        fwd.blocks.append(("h", f"Layer {k}" + (" (output)" if k == L else "")))
        a_sym = Row(Sym("b", str(k)), Op("+"), Sym("W", str(k)), _h(k - 1))
        if single:
            fwd.blocks.append(Equation(_a(k), [
                a_sym,
                Row(V(lt.bias), Op("+"), V(lt.weight), V(lt["h_prev"].value)),
                V(lt["a"].value),
            ]))  # fmt: skip
        else:
            fwd.blocks.append(Equation(_ex(_a(k)), [
                Row(Sym("b", str(k)), Op("+"), Sym("W", str(k)), _ex(_h(k - 1))),
                V(lt["a"].value),
            ], "one row per example"))  # fmt: skip
        if k < L:
            g = lt.activation
            lhs = _h(k) if single else _ex(_h(k))
            arg = _a(k) if single else _ex(_a(k))
            sym = arg if g.name == "linear" else Func(_act_symbol(lt), arg)
            fwd.blocks.append(Equation(lhs, [sym, V(lt["h"].value)]))
    sections.append(fwd)

    # 3. output and loss ---------------------------------------------------------------
    out = Section("Output and loss", "loss")
    yq, lq = t.y_hat, t.loss_value
    y_sym = Sym("ŷ") if single else _ex(Sym("ŷ"))
    o_arg = _a(L) if single else _ex(_a(L))
    out.blocks.append(
        Equation(y_sym, [Func("softmax", o_arg) if t.output == "softmax" else o_arg, V(yq.value)])
    )
    s_expr = _scale_expr(t)
    if t.loss == "cross_entropy":
        if single:
            label = int(t.y)
            p = float(yq.value[label])
            rhs = [
                Row(Op("−"), Sym("log"), Sym("ŷ", "y")),
                Row(Op("−"), Sym("log"), Sym("ŷ", str(label))),
                Row(Op("−"), Sym("log"), Num(p, 6)),
                Num(float(lq.value), 6),
            ]
        else:
            body = Row(Sym("Σ", "n"), Op("−"), Sym("log"), Sym("ŷ", Sym("y", None, "(n)"), "(n)"))
            rhs = [body if s_expr is None else Row(s_expr, body), Num(float(lq.value), 6)]
    else:
        norm = Row(Op("‖"), Sym("y"), Op("−"), Sym("ŷ"), Sym("‖", None, "2"))
        if single:
            rhs = [norm if s_expr is None else Row(s_expr, norm), Num(float(lq.value), 6)]
        else:
            body = Row(
                Sym("Σ", "n"), Op("‖"), _ex(Sym("y")), Op("−"), _ex(Sym("ŷ")), Sym("‖", None, "2")
            )
            rhs = [body if s_expr is None else Row(s_expr, body), Num(float(lq.value), 6)]
    out.blocks.append(Equation(Sym(LOSS), rhs))
    sections.append(out)

    # 4. backward ----------------------------------------------------------------------
    bwd = Section("Backward pass", "backward")
    bwd.blocks.append(
        "From the output down: each layer's gradients come from the layer above, reusing "
        "what the forward pass computed."
    )
    for lt in reversed(t.layers):
        k = lt.k
        bwd.blocks.append(("h", f"Layer {k}" + (" (output)" if k == L else "")))
        gak = grad(_a(k)) if single else _grad_ex(_a(k))
        if k == L:
            bwd.blocks.append(_output_gradient(t, V, s_expr))
        else:
            above = t.layers[k]  # layer k + 1
            ghk = grad(_h(k)) if single else _grad_ex(_h(k))
            rhs = [
                Row(Sym("W", str(k + 1), "T"), grad(_a(k + 1)) if single else _grad_ex(_a(k + 1)))
            ]
            if single:
                rhs.append(Row(V(above.weight.T), V(above["grad_a"].value)))
            rhs.append(V(lt["grad_h"].value))
            bwd.blocks.append(Equation(ghk, rhs))
            g = lt.activation
            gp = Func(
                f"{_act_symbol(lt)}'" if g.name != "linear" else "g'",
                _a(k) if single else _ex(_a(k)),
            )
            rhs = [Row(ghk, Op("⊙"), gp)]
            if single:
                rhs.append(Row(V(lt["grad_h"].value), Op("⊙"), V(lt["dg"].value)))
            rhs.append(V(lt["grad_a"].value))
            bwd.blocks.append(Equation(gak, rhs, f"g = {g.name}: {g.derivative_text}"))
        if single:
            bwd.blocks.append(Equation(grad(Sym("W", str(k))), [
                Row(grad(_a(k)), _h(k - 1, "T")),
                Row(V(lt["grad_a"].value), V(lt["h_prev"].value, row=True)),
                V(lt["grad_W"].value),
            ]))  # fmt: skip
            bwd.blocks.append(
                Equation(grad(Sym("b", str(k))), [grad(_a(k)), V(lt["grad_b"].value)])
            )
        else:
            bwd.blocks.append(Equation(grad(Sym("W", str(k))), [
                Row(Sym("Σ", "n"), _grad_ex(_a(k)), _ex(_h(k - 1, "T"))),
                V(lt["grad_W"].value),
            ], "summed over the batch: grad_a.T @ h_prev in rows"))  # fmt: skip
            bwd.blocks.append(
                Equation(
                    grad(Sym("b", str(k))),
                    [Row(Sym("Σ", "n"), _grad_ex(_a(k))), V(lt["grad_b"].value)],
                )
            )
    first = t.layers[0]
    bwd.blocks.append(("h", "Input"))
    rhs = [Row(Sym("W", "1", "T"), grad(_a(1)) if single else _grad_ex(_a(1)))]
    if single:
        rhs.append(Row(V(first.weight.T), V(first["grad_a"].value)))
    rhs.append(V(t.grad_input.value))
    bwd.blocks.append(
        Equation(
            grad(_h(0)) if single else _grad_ex(_h(0)),
            rhs,
            "the gradient with respect to the input x = h_0 (not needed "
            "for training; it shows which inputs the loss is sensitive to)",
        )
    )
    sections.append(bwd)

    # 5. check -------------------------------------------------------------------------
    chk = Section("Three ways to the same numbers", "check")
    ways = "the engine's reverse mode and the seeds' formulas written out in NumPy"
    if t.fd_checked:
        ways += ", and central finite differences of the loss"
    chk.blocks.append(
        f"Every quantity above was computed by {ways}, in {t.dtype}. The largest disagreement "
        f"between engine and formulas is {t.max_disagreement:.3g} (on {t.worst.label})"
        + (
            f"; between engine and finite differences {t.max_fd_disagreement:.3g}"
            f" (on {t.worst_fd.label})."
            if t.fd_checked
            else "."
        )
    )
    chk.blocks.append(("table", check_rows(t)))
    sections.append(chk)
    return sections


def _label_text(t: Trace) -> str:
    names = t.class_names
    if t.loss == "cross_entropy":
        ys = np.atleast_1d(t.y).astype(int).tolist()
        shown = [f"{v} ({names[v]})" if names and v < len(names) else str(v) for v in ys]
        if not t.batched:
            return (
                f"Its label is y = {shown[0]}; e(y) is the one-hot vector with a 1 at index "
                f"{ys[0]}."
            )
        return f"Labels y = {', '.join(shown)}; e(y) is the one-hot vector of each label."
    return "Targets y: " + np.array2string(np.asarray(t.y), precision=4, separator=", ") + "."


def _output_gradient(t: Trace, V: Any, s_expr: Expr | None) -> Equation:
    single = not t.batched
    L = t.L
    lt = t.layers[-1]
    y_sym = Sym("ŷ") if single else _ex(Sym("ŷ"))
    if t.loss == "cross_entropy":
        ey = Func("e", Sym("y") if single else _ex(Sym("y")))
        body = Row(Op("−"), Paren(Row(ey, Op("−"), y_sym)))
        ncls = t.sizes[-1]
        labels = np.atleast_1d(t.y).astype(int)
        onehot = np.eye(ncls)[labels]
        nums = Row(
            Op("−"), Paren(Row(V(onehot[0] if single else onehot), Op("−"), V(t.y_hat.value)))
        )
        note = "the seeds' output gradient for softmax and cross-entropy"
    else:
        body = Row(
            Op("−"), Num(2), Paren(Row(Sym("y") if single else _ex(Sym("y")), Op("−"), y_sym))
        )
        nums = Row(Op("−"), Num(2), Paren(Row(V(t.y), Op("−"), V(t.y_hat.value))))
        note = "linear output and squared error"
    if s_expr is not None:
        body = Row(s_expr, body)
        nums = Row(s_expr, nums)
        note += f"; the {t.reduction} over the batch puts the factor {fmt(t.scale)} on it"
    lhs = grad(_a(L)) if single else _grad_ex(_a(L))
    return Equation(lhs, [body, nums, V(lt["grad_a"].value)], note)


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


def _check_headers(t: Trace) -> list[str]:
    h = ["quantity", "shape", "‖·‖", "min", "max", "|engine − formula|"]
    if t.fd_checked:
        h.append("|engine − finite diff.|")
    return h


# ---------------------------------------------------------------------------- HTML
def to_html(t: Trace, max_entries: int = 64, title: str | None = None) -> str:
    """A self-contained HTML page walking through the trace with the actual numbers.

    Math is MathML (rendered natively by current browsers), styles are inline, and the page
    has no scripts and loads nothing, so it works offline and as an e-mail attachment.
    """
    title = title or "Backprop, layer by layer"
    body = (
        f'<h1>{_html.esc(title)}</h1>\n<p class="lead">{_html.esc(describe_network(t))}. '
        "Every number below was computed by chainrule's engine and checked against the "
        "seeds' formulas.</p>\n" + html_sections(t, max_entries)
    )
    return _html.page(title, body)


def html_fragment(t: Trace, max_entries: int = 64) -> str:
    """The walk-through of :func:`to_html` as a fragment with its own scoped styles, for a
    Jupyter output (``Trace._repr_html_``); math is MathML."""
    body = (
        f'<p class="lead">{_html.esc(describe_network(t))}. Every number below was computed '
        "by chainrule's engine and checked against the seeds' formulas.</p>\n"
        + html_sections(t, max_entries, level=3)
    )
    return _html.fragment(body, "chainrule-trace")


def html_sections(t: Trace, max_entries: int = 64, level: int = 2) -> str:
    """The walk-through as HTML sections (for embedding in a larger page)."""
    secs = walkthrough(t, max_entries)
    toc = " ".join(f'<a href="#{s.anchor}">{_html.esc(s.title)}</a>' for s in secs)
    parts = [f'<nav class="toc">{toc}</nav>']
    for s in secs:
        parts.append(f'<section id="{s.anchor}"><h{level}>{_html.esc(s.title)}</h{level}>')
        for b in s.blocks:
            parts.append(_html_block(b, t, level))
        parts.append("</section>")
    return "\n".join(parts)


def _html_block(b: Any, t: Trace, level: int) -> str:
    if isinstance(b, Equation):
        note = f'<p class="note">{_html.esc(b.note)}</p>' if b.note else ""
        return f'<div class="eq">{_mathml_equation(b)}</div>{note}'
    if isinstance(b, tuple) and b[0] == "h":
        return f"<h{level + 1}>{_html.esc(b[1])}</h{level + 1}>"
    if isinstance(b, tuple) and b[0] == "table":
        return _html.table(_check_headers(t), b[1])
    if isinstance(b, Para):
        return (
            "<p>"
            + "".join(_html.esc(p) if isinstance(p, str) else to_mathml(p) for p in b.parts)
            + "</p>"
        )
    return f"<p>{_html.esc(b)}</p>"


def _mathml_equation(e: Equation) -> str:
    """lhs = rhs_1 = rhs_2 ... as an aligned MathML table, one '=' per line."""
    from chainrule.explain.notation import _mml

    rows = []
    for i, r in enumerate(e.rhs):
        left = _mml(e.lhs) if i == 0 else ""
        rows.append(
            f'<mtr><mtd style="text-align:right">{left}</mtd><mtd><mo>=</mo></mtd>'
            f'<mtd style="text-align:left">{_mml(r)}</mtd></mtr>'
        )
    return f'<math display="block"><mtable>{"".join(rows)}</mtable></math>'


# ---------------------------------------------------------------------------- LaTeX
def to_latex(t: Trace, max_entries: int = 64, standalone: bool = True) -> str:
    """The walk-through as LaTeX (amsmath): a complete document, or with
    ``standalone=False`` the body only (sections, ``align*`` environments, a tabular)."""
    out = []
    for s in walkthrough(t, max_entries):
        out.append(f"\\section*{{{_tex_text(s.title)}}}")
        for b in s.blocks:
            if isinstance(b, Equation):
                lines = [
                    (_latex(b.lhs) if i == 0 else "") + " &= " + _latex(r)
                    for i, r in enumerate(b.rhs)
                ]
                out.append("\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}")
                if b.note:
                    out.append(f"{{\\small {_tex_text(b.note)}}}\n")
            elif isinstance(b, tuple) and b[0] == "h":
                out.append(f"\\subsection*{{{_tex_text(b[1])}}}")
            elif isinstance(b, tuple) and b[0] == "table":
                headers = _check_headers(t)
                spec = "l" + "r" * (len(headers) - 1)
                rows = [" & ".join(_tex_text(c) for c in headers) + " \\\\ \\hline"]
                rows += [
                    " & ".join(_tex_cell(c, j) for j, c in enumerate(r)) + " \\\\" for r in b[1]
                ]
                out.append(f"\\begin{{tabular}}{{{spec}}}\n" + "\n".join(rows) + "\n\\end{tabular}")
            elif isinstance(b, Para):
                out.append(
                    "".join(
                        _tex_text(p) if isinstance(p, str) else f"${_latex(p)}$" for p in b.parts
                    )
                    + "\n"
                )
            else:
                out.append(_tex_text(b) + "\n")
    body = "\n".join(out)
    if not standalone:
        return body
    return (
        "\\documentclass[10pt]{article}\n"
        "\\usepackage[utf8]{inputenc}\n\\usepackage{amsmath,amssymb}\n"
        "\\usepackage[margin=1.8cm,landscape]{geometry}\n"
        "\\setcounter{MaxMatrixCols}{64}\n\\allowdisplaybreaks\n"
        "\\begin{document}\n"
        f"\\title{{Backprop, layer by layer}}\n\\author{{chainrule}}\n\\date{{}}\n\\maketitle\n"
        f"{_tex_text(describe_network(t))}.\n\n{body}\n\\end{{document}}\n"
    )


def _tex_cell(c: str, j: int) -> str:
    if j == 0:
        return "$" + _latex_chars(c) + "$"
    return _tex_text(c)


_TEX_TEXT = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "^": r"\^{}",
    "~": r"\~{}",
    "→": r"$\to$",
    "ℒ": r"$\mathcal{L}$",
    "∇": r"$\nabla$",
    "⊙": r"$\odot$",
    "ŷ": r"$\hat{y}$",
    "−": "-",
    "×": r"$\times$",
    "‖": r"$\|$",
    "·": r"$\cdot$",
    "σ": r"$\sigma$",
    "≤": r"$\le$",
    "²": r"$^2$",
    "³": r"$^3$",
    "Φ": r"$\Phi$",
    "φ": r"$\varphi$",
    "π": r"$\pi$",
    "√": r"$\surd$",
}


def _tex_text(s: str) -> str:
    return "".join(_TEX_TEXT.get(c, c) for c in s)


# ---------------------------------------------------------------------------- Markdown
def to_markdown(t: Trace, max_entries: int = 64) -> str:
    """The walk-through as Markdown: headings, ``$$`` LaTeX math blocks (GitHub, Jupyter
    and most Markdown viewers render them) and a table for the check."""
    out = ["# Backprop, layer by layer", "", f"{describe_network(t)}.", ""]
    for s in walkthrough(t, max_entries):
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Equation):
                lines = [
                    (_latex(b.lhs) if i == 0 else "") + " &= " + _latex(r)
                    for i, r in enumerate(b.rhs)
                ]
                out += ["$$", "\\begin{aligned}", " \\\\\n".join(lines), "\\end{aligned}", "$$", ""]
                if b.note:
                    out += [f"*{b.note}*", ""]
            elif isinstance(b, tuple) and b[0] == "h":
                out += [f"### {b[1]}", ""]
            elif isinstance(b, tuple) and b[0] == "table":
                headers = _check_headers(t)
                out.append("| " + " | ".join(headers) + " |")
                out.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
                out += ["| " + " | ".join([f"${_latex_chars(r[0])}$", *r[1:]]) + " |" for r in b[1]]
                out.append("")
            elif isinstance(b, Para):
                out += ["".join(p if isinstance(p, str) else f"${_latex(p)}$" for p in b.parts), ""]
            else:
                out += [b, ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- terminal
def rich_view(t: Trace, max_entries: int = 30) -> Any:
    """The terminal view as a rich renderable: a header, one table per layer for the forward
    pass and one per layer for the backward pass (shape, norm, min, max, the values of small
    arrays, and the engine-vs-formula check of each quantity), and the check's verdict."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text as RText

    fd = t.fd_checked

    class _Rows(list):
        title = ""

    def table(title: str) -> _Rows:
        rows = _Rows()
        rows.title = title
        return rows

    def add(rows: _Rows, label: str, formula: str, values: Any, q: Quantity | None) -> None:
        v = np.asarray(values, dtype=np.float64)
        shape = "×".join(map(str, v.shape)) or "scalar"
        row = [
            label,
            formula,
            shape,
            fmt(float(np.linalg.norm(v))),
            fmt(v.min()) if v.size else "",
            fmt(v.max()) if v.size else "",
            _values_text(v, max_entries),
            "" if q is None else _delta(q.disagreement, 1e-10),
        ]
        if fd:
            row.append("" if q is None or q.fd is None else _delta(q.fd_disagreement, 1e-5))
        rows.append(row)

    def build(rows: _Rows) -> Table:
        tb = Table(
            title=rows.title,
            title_justify="left",
            title_style="bold",
            expand=False,
            show_lines=True,
        )
        widest = max((len(line) for r in rows for line in r[6].splitlines()), default=6)
        tb.add_column("quantity", style="bold cyan", no_wrap=True)
        tb.add_column("= formula", no_wrap=True)
        tb.add_column("shape", justify="right", no_wrap=True)
        tb.add_column("‖·‖", justify="right", no_wrap=True)
        tb.add_column("min", justify="right", no_wrap=True)
        tb.add_column("max", justify="right", no_wrap=True)
        tb.add_column("values", min_width=min(widest, 60), overflow="fold")
        tb.add_column("Δ formula", justify="right", no_wrap=True)
        if fd:
            tb.add_column("Δ fd", justify="right", no_wrap=True)
        for r in rows:
            tb.add_row(*r)
        return tb

    single = not t.batched
    L = t.L
    parts: list[Any] = []
    head = RText()
    head.append("Backprop, layer by layer\n", style="bold")
    head.append(describe_network(t) + "\n")
    head.append(_label_text(t) + "\n")
    if t.batched:
        head.append(
            f"Batch of {len(t.x)} examples, one per row; ∇W and ∇b are summed over "
            f"the batch ({t.reduction} of the losses).\n"
        )
    head.append(f"ℒ = {float(t.loss_value.value):.6g}")
    parts.append(Panel(head, expand=False))

    for lt in t.layers:
        k = lt.k
        tb = table(f"Forward, layer {k}" + (" (output)" if k == L else ""))
        add(tb, f"h_{k - 1}", "x" if k == 1 else f"g(a_{k - 1})", lt["h_prev"].value, lt["h_prev"])
        add(tb, f"W_{k}", "weights", lt.weight, None)
        add(tb, f"b_{k}", "bias", lt.bias, None)
        add(tb, f"a_{k}", f"b_{k} + W_{k} h_{k - 1}", lt["a"].value, lt["a"])
        if k < L:
            g = lt.activation
            add(
                tb,
                f"h_{k}",
                f"{g.symbol}(a_{k})" if g.name != "linear" else f"a_{k}",
                lt["h"].value,
                lt["h"],
            )
        else:
            add(
                tb,
                "ŷ",
                f"{t.output}(a_{L})" if t.output == "softmax" else f"a_{L}",
                t.y_hat.value,
                t.y_hat,
            )
            add(
                tb,
                "ℒ",
                "−log ŷ_y" if t.loss == "cross_entropy" else "‖y − ŷ‖²",
                t.loss_value.value,
                t.loss_value,
            )
        parts.append(build(tb))

    for lt in reversed(t.layers):
        k = lt.k
        tb = table(f"Backward, layer {k}" + (" (output)" if k == L else ""))
        if k == L:
            f = "−(e(y) − ŷ)" if t.loss == "cross_entropy" else "−2 (y − ŷ)"
            if t.scale != 1.0:
                f = f"{fmt(t.scale)} · {f}"
            add(tb, f"∇_{{a_{k}}} ℒ", f, lt["grad_a"].value, lt["grad_a"])
        else:
            add(
                tb,
                f"∇_{{h_{k}}} ℒ",
                f"W_{k + 1}^T ∇_{{a_{k + 1}}} ℒ",
                lt["grad_h"].value,
                lt["grad_h"],
            )
            add(
                tb,
                f"g'(a_{k})",
                lt.activation.derivative_text.removeprefix("g'(a) = "),
                lt["dg"].value,
                lt["dg"],
            )
            add(
                tb, f"∇_{{a_{k}}} ℒ", f"∇_{{h_{k}}} ℒ ⊙ g'(a_{k})", lt["grad_a"].value, lt["grad_a"]
            )
        sum_n = "Σ_n " if not single else ""
        add(
            tb,
            f"∇_{{W_{k}}} ℒ",
            f"{sum_n}∇_{{a_{k}}} ℒ h_{k - 1}^T",
            lt["grad_W"].value,
            lt["grad_W"],
        )
        add(tb, f"∇_{{b_{k}}} ℒ", f"{sum_n}∇_{{a_{k}}} ℒ", lt["grad_b"].value, lt["grad_b"])
        if k == 1:
            add(tb, "∇_{h_0} ℒ", "W_1^T ∇_{a_1} ℒ", t.grad_input.value, t.grad_input)
        parts.append(build(tb))

    verdict = RText()
    ok = t.max_disagreement <= 1e-10
    verdict.append("✓ " if ok else "✗ ", style="bold green" if ok else "bold red")
    verdict.append(
        f"engine vs the seeds' formulas: largest difference {t.max_disagreement:.3g} "
        f"(on {t.worst.label}), in {t.dtype}"
    )
    if fd:
        fd_ok = (t.max_fd_disagreement or 0.0) <= 1e-5
        verdict.append("\n✓ " if fd_ok else "\n✗ ", style="bold green" if fd_ok else "bold red")
        verdict.append(
            f"engine vs finite differences: largest difference {t.max_fd_disagreement:.3g} "
            f"(on {t.worst_fd.label})"
        )
    parts.append(verdict)
    return Group(*parts)


def to_text(t: Trace, width: int | None = None, max_entries: int = 30) -> str:
    """The terminal view (:func:`rich_view`) as plain text, ``width`` columns wide (default:
    as wide as its widest table needs, so that no column is cropped)."""
    from rich.console import Console

    view = rich_view(t, max_entries=max_entries)
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or natural_width(view),
        color_system=None,
        force_terminal=False,
        legacy_windows=False,
        soft_wrap=False,
    )
    console.print(view)
    return buf.getvalue()


def natural_width(renderable: Any, least: int = 40) -> int:
    """The columns a rich renderable needs to be printed without cropping or folding
    (at least ``least``)."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100_000, color_system=None)
    return max(least, console.measure(renderable).maximum)


def _values_text(v: np.ndarray, max_entries: int) -> str:
    if v.size > max_entries:
        return "…"
    if v.ndim == 0:
        return fmt(float(v), 6)
    return np.array2string(
        v,
        precision=4,
        separator=" ",
        max_line_width=56,
        suppress_small=False,
        floatmode="maxprec",
        sign=" ",
    )


def _delta(d: float, tol: float) -> str:
    s = f"{d:.1e}"
    return f"[green]{s}[/]" if d <= tol else f"[bold red]{s}[/]"
