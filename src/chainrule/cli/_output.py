"""Printing for the command line: tables (rich on a terminal, aligned plain text elsewhere)
and number formats shared by the subcommands."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import IO

from chainrule.train.callbacks import is_terminal


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str = "",
    stream: IO[str] | None = None,
    left: int = 1,
) -> None:
    """Print a table: a rich table on a terminal, plain text columns otherwise.

    The first ``left`` columns are left-aligned, the others right-aligned (numbers).
    """
    stream = stream or sys.stdout
    if is_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None, title_justify="left")
        for i, c in enumerate(columns):
            table.add_column(c, justify="left" if i < left else "right")
        for row in rows:
            table.add_row(*row)
        Console(file=stream).print(table)
        return
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(parts).rstrip()

    if title:
        stream.write(title + "\n")
    stream.write(line(columns) + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for row in rows:
        stream.write(line(row) + "\n")
    stream.flush()


def fmt_number(v: float | None, digits: int = 4) -> str:
    """A metric value with ``digits`` decimals; ``-`` for missing or NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def fmt_seconds(s: float | None) -> str:
    """``0.012 s``, ``3.4 s``, ``2 min 05 s``."""
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s < 1:
        return f"{s:.3f} s"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    return f"{m} min {sec:02d} s"


def fmt_rate(r: float | None) -> str:
    """Samples per second with thousands separators."""
    if r is None or (isinstance(r, float) and (math.isnan(r) or math.isinf(r))):
        return "-"
    return f"{r:,.0f}"
