"""The terminal view of a :class:`~chainrule.explain.backprop.Trace` (rich): the sections of
:func:`~chainrule.explain.walkthrough.walkthrough`, each part of the forward and backward
pass as a table with one row per equation (its quantity, its formula, shape, norm, min, max,
the values of small arrays, and the engine-vs-formula check).

Nothing here prints: :func:`rich_view` returns a renderable, :func:`to_text` a string.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from chainrule.explain.backprop import LayerTrace, Quantity, Trace
from chainrule.explain.notation import fmt
from chainrule.explain.notation import to_text as expr_text
from chainrule.explain.walkthrough import (
    Equation,
    Heading,
    Section,
    describe_network,
    label_text,
    one_example,
    walkthrough,
)

__all__ = ["natural_width", "rich_view", "to_text"]

_TOL, _FD_TOL = 1e-10, 1e-5


def rich_view(t: Trace, max_entries: int = 30) -> Any:
    """The terminal view as a rich renderable: a header, one table per layer for the forward
    pass, one for the output and loss and one per layer for the backward pass (shape, norm,
    min, max, the values of small arrays, and the engine-vs-formula check of each quantity),
    and the check's verdict. Arrays of more than ``max_entries`` entries show no values.

    Needs rich (``pip install rich``; ``ImportError`` without it).
    """
    from rich.console import Group

    tables: list[tuple[str, list[_Row]]] = []
    for s in walkthrough(t, max_entries):
        if s.anchor not in ("network", "check"):  # the header and the verdict say those
            _add_rows(t, s, tables)
    parts = [_header(t), *(_table(t, title, rows, max_entries) for title, rows in tables)]
    parts.append(_verdict(t))
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


# A row: (label, formula, values, the quantity checked or None).
_Row = tuple[str, str, Any, Quantity | None]


def _add_rows(t: Trace, s: Section, tables: list[tuple[str, list[_Row]]]) -> None:
    """A section's rows, into ``tables``: a layer's heading opens a table (the forward
    pass's list the layer's weights and biases first); the rows of a section or heading
    without a layer (the output and loss, the input's gradient) go on in the table before."""
    for b in s.blocks:
        if isinstance(b, Heading) and b.layer is not None:
            title = f"{s.short}, {b.text[:1].lower()}{b.text[1:]}"
            tables.append((title, []))
            if s.anchor == "forward":
                tables[-1][1].extend(_parameters(t.layers[b.layer - 1]))
        elif isinstance(b, Equation) and b.quantity is not None:
            tables[-1][1].append(_row(b))


def _parameters(lt: LayerTrace) -> list[_Row]:
    k = lt.k
    return [(f"W_{k}", "weights", lt.weight, None), (f"b_{k}", "bias", lt.bias, None)]


def _row(e: Equation) -> _Row:
    """An equation as a row: the quantity's label, the symbolic form as the seeds write it
    for one example (or the note, for an equation given by its numbers only)."""
    q = e.quantity
    formula = expr_text(one_example(e.rhs[0])) if len(e.rhs) > 1 else e.note
    return q.label, formula, q.value, q


def _table(t: Trace, title: str, rows: list[_Row], max_entries: int) -> Any:
    from rich.table import Table

    fd = t.fd_checked
    cells = [_cells(r, fd, max_entries) for r in rows]
    tb = Table(title=title, title_justify="left", title_style="bold", expand=False, show_lines=True)
    widest = max((len(line) for c in cells for line in c[6].splitlines()), default=6)
    tb.add_column("quantity", style="bold cyan", no_wrap=True)
    tb.add_column("= formula", no_wrap=True)
    for name in ("shape", "‖·‖", "min", "max"):
        tb.add_column(name, justify="right", no_wrap=True)
    tb.add_column("values", min_width=min(widest, 60), overflow="fold")
    tb.add_column("Δ formula", justify="right", no_wrap=True)
    if fd:
        tb.add_column("Δ fd", justify="right", no_wrap=True)
    for c in cells:
        tb.add_row(*c)
    return tb


def _cells(row: _Row, fd: bool, max_entries: int) -> list[str]:
    label, formula, values, q = row
    v = np.asarray(values, dtype=np.float64)
    cells = [
        label,
        formula,
        "×".join(map(str, v.shape)) or "scalar",
        fmt(float(np.linalg.norm(v))),
        fmt(v.min()) if v.size else "",
        fmt(v.max()) if v.size else "",
        _values_text(v, max_entries),
        "" if q is None else _delta(q.disagreement, _TOL),
    ]
    if fd:
        cells.append("" if q is None or q.fd is None else _delta(q.fd_disagreement, _FD_TOL))
    return cells


def _header(t: Trace) -> Any:
    from rich.panel import Panel
    from rich.text import Text

    head = Text()
    head.append("Backprop, layer by layer\n", style="bold")
    head.append(describe_network(t) + "\n")
    head.append(label_text(t) + "\n")
    if t.batched:
        head.append(
            f"Batch of {len(t.x)} examples, one per row; ∇W and ∇b are summed over "
            f"the batch ({t.reduction} of the losses).\n"
        )
    head.append(f"ℒ = {float(t.loss_value.value):.6g}")
    return Panel(head, expand=False)


def _verdict(t: Trace) -> Any:
    from rich.text import Text

    verdict = Text()
    ok = t.max_disagreement <= _TOL
    verdict.append("✓ " if ok else "✗ ", style="bold green" if ok else "bold red")
    verdict.append(
        f"engine vs the seeds' formulas: largest difference {t.max_disagreement:.3g} "
        f"(on {t.worst.label}), in {t.dtype}"
    )
    if t.fd_checked:
        fd_ok = (t.max_fd_disagreement or 0.0) <= _FD_TOL
        verdict.append("\n✓ " if fd_ok else "\n✗ ", style="bold green" if fd_ok else "bold red")
        verdict.append(
            f"engine vs finite differences: largest difference {t.max_fd_disagreement:.3g} "
            f"(on {t.worst_fd.label})"
        )
    return verdict


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
