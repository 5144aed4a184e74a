"""Renderings of a :class:`~chainrule.explain.backprop.Trace`: a terminal view (rich), Markdown,
LaTeX, and a self-contained HTML page (MathML, no scripts, nothing fetched at view time).

All four render the same sections, described once by
:func:`~chainrule.explain.walkthrough.walkthrough` (the network and the example, the forward
pass, the output and loss, the backward pass, the check); the terminal view is in
:mod:`chainrule.explain.terminal`. Arrays with more than ``max_entries`` entries are shown by
their shape and norm instead of their values. Nothing here prints: the terminal view is
returned (a rich renderable, or a string from :func:`to_text`).
"""

from __future__ import annotations

from typing import Any

from chainrule.explain import _html
from chainrule.explain.backprop import Trace
from chainrule.explain.notation import _latex_chars, latex_text, mathml, to_mathml
from chainrule.explain.notation import to_latex as _latex
from chainrule.explain.terminal import natural_width, rich_view, to_text
from chainrule.explain.walkthrough import (
    Equation,
    Heading,
    Para,
    Section,
    Table,
    check_rows,
    describe_network,
    walkthrough,
)

__all__ = [
    "Equation", "Para", "Section", "check_rows", "describe_network", "html_fragment",
    "html_sections", "natural_width", "rich_view", "to_html", "to_latex", "to_markdown",
    "to_text", "walkthrough",
]  # fmt: skip

_TITLE = "Backprop, layer by layer"
_LEAD = (
    "Every number below was computed by chainrule's engine and checked against the seeds' formulas."
)


# ---------------------------------------------------------------------------- HTML
def to_html(t: Trace, max_entries: int = 64, title: str | None = None) -> str:
    """A self-contained HTML page walking through the trace with the actual numbers.

    Math is MathML (rendered natively by current browsers), styles are inline, and the page
    has no scripts and loads nothing, so it works offline and as an e-mail attachment.
    """
    title = title or _TITLE
    body = (
        f'<h1>{_html.esc(title)}</h1>\n<p class="lead">{_html.esc(describe_network(t))}. '
        f"{_LEAD}</p>\n" + html_sections(t, max_entries)
    )
    return _html.page(title, body)


def html_fragment(t: Trace, max_entries: int = 64) -> str:
    """The walk-through of :func:`to_html` as a fragment with its own scoped styles, for a
    Jupyter output (``Trace._repr_html_``); math is MathML."""
    body = f'<p class="lead">{_html.esc(describe_network(t))}. {_LEAD}</p>\n' + html_sections(
        t, max_entries, level=3
    )
    return _html.fragment(body, "chainrule-trace")


def html_sections(t: Trace, max_entries: int = 64, level: int = 2) -> str:
    """The walk-through as HTML sections (for embedding in a larger page), headings at
    ``<h{level}>``."""
    secs = walkthrough(t, max_entries)
    toc = " ".join(f'<a href="#{s.anchor}">{_html.esc(s.title)}</a>' for s in secs)
    parts = [f'<nav class="toc">{toc}</nav>']
    for s in secs:
        parts.append(f'<section id="{s.anchor}"><h{level}>{_html.esc(s.title)}</h{level}>')
        parts += [_html_block(b, level) for b in s.blocks]
        parts.append("</section>")
    return "\n".join(parts)


def _html_block(b: Any, level: int) -> str:
    if isinstance(b, Equation):
        note = f'<p class="note">{_html.esc(b.note)}</p>' if b.note else ""
        return f'<div class="eq">{_mathml_equation(b)}</div>{note}'
    if isinstance(b, Heading):
        return f"<h{level + 1}>{_html.esc(b.text)}</h{level + 1}>"
    if isinstance(b, Table):
        return _html.table(b.headers, b.rows)
    if isinstance(b, Para):
        return (
            "<p>"
            + "".join(_html.esc(p) if isinstance(p, str) else to_mathml(p) for p in b.parts)
            + "</p>"
        )
    return f"<p>{_html.esc(b)}</p>"


def _mathml_equation(e: Equation) -> str:
    """lhs = rhs_1 = rhs_2 ... as an aligned MathML table, one '=' per line."""
    rows = []
    for i, r in enumerate(e.rhs):
        left = mathml(e.lhs) if i == 0 else ""
        rows.append(
            f'<mtr><mtd style="text-align:right">{left}</mtd><mtd><mo>=</mo></mtd>'
            f'<mtd style="text-align:left">{mathml(r)}</mtd></mtr>'
        )
    return f'<math display="block"><mtable>{"".join(rows)}</mtable></math>'


# ---------------------------------------------------------------------------- LaTeX, Markdown
def _aligned(e: Equation) -> str:
    """lhs &= rhs_1 \\\\ &= rhs_2 ...: the lines of an aligned LaTeX equation."""
    return " \\\\\n".join(
        (_latex(e.lhs) if i == 0 else "") + " &= " + _latex(r) for i, r in enumerate(e.rhs)
    )


def _inline(b: Para, text: Any) -> str:
    """A paragraph with its words through ``text`` and its math as ``$...$``."""
    return "".join(text(p) if isinstance(p, str) else f"${_latex(p)}$" for p in b.parts)


def to_latex(t: Trace, max_entries: int = 64, standalone: bool = True) -> str:
    """The walk-through as LaTeX (amsmath): a complete document, or with
    ``standalone=False`` the body only (sections, ``align*`` environments, a tabular)."""
    out = []
    for s in walkthrough(t, max_entries):
        out.append(f"\\section*{{{latex_text(s.title)}}}")
        for b in s.blocks:
            if isinstance(b, Equation):
                out.append("\\begin{align*}\n" + _aligned(b) + "\n\\end{align*}")
                if b.note:
                    out.append(f"{{\\small {latex_text(b.note)}}}\n")
            elif isinstance(b, Heading):
                out.append(f"\\subsection*{{{latex_text(b.text)}}}")
            elif isinstance(b, Table):
                spec = "l" + "r" * (len(b.headers) - 1)
                rows = [" & ".join(latex_text(c) for c in b.headers) + " \\\\ \\hline"]
                rows += [
                    " & ".join(
                        f"${_latex_chars(c)}$" if j == 0 else latex_text(c) for j, c in enumerate(r)
                    )
                    + " \\\\"
                    for r in b.rows
                ]
                out.append(f"\\begin{{tabular}}{{{spec}}}\n" + "\n".join(rows) + "\n\\end{tabular}")
            elif isinstance(b, Para):
                out.append(_inline(b, latex_text) + "\n")
            else:
                out.append(latex_text(b) + "\n")
    body = "\n".join(out)
    if not standalone:
        return body
    return (
        "\\documentclass[10pt]{article}\n"
        "\\usepackage[utf8]{inputenc}\n\\usepackage{amsmath,amssymb}\n"
        "\\usepackage[margin=1.8cm,landscape]{geometry}\n"
        "\\setcounter{MaxMatrixCols}{64}\n\\allowdisplaybreaks\n"
        "\\begin{document}\n"
        f"\\title{{{_TITLE}}}\n\\author{{chainrule}}\n\\date{{}}\n\\maketitle\n"
        f"{latex_text(describe_network(t))}.\n\n{body}\n\\end{{document}}\n"
    )


def to_markdown(t: Trace, max_entries: int = 64) -> str:
    """The walk-through as Markdown: headings, ``$$`` LaTeX math blocks (GitHub, Jupyter
    and most Markdown viewers render them) and a table for the check."""
    out = [f"# {_TITLE}", "", f"{describe_network(t)}.", ""]
    for s in walkthrough(t, max_entries):
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Equation):
                out += ["$$", "\\begin{aligned}", _aligned(b), "\\end{aligned}", "$$", ""]
                if b.note:
                    out += [f"*{b.note}*", ""]
            elif isinstance(b, Heading):
                out += [f"### {b.text}", ""]
            elif isinstance(b, Table):
                out.append("| " + " | ".join(b.headers) + " |")
                out.append("|" + "|".join(["---"] + ["---:"] * (len(b.headers) - 1)) + "|")
                out += [
                    "| " + " | ".join([f"${_latex_chars(r[0])}$", *r[1:]]) + " |" for r in b.rows
                ]
                out.append("")
            elif isinstance(b, Para):
                out += [_inline(b, str), ""]
            else:
                out += [b, ""]
    return "\n".join(out)
