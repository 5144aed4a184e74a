"""A griffe extension for the API reference: doctest examples in docstrings (``>>>`` lines and
the output after them) become fenced ``pycon`` code blocks, so Markdown shows them as code
instead of reading ``[1][2]`` in an output line as a link."""

from __future__ import annotations

from typing import Any

import griffe


class DoctestFences(griffe.Extension):
    """Fence every run of doctest lines in every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)


def fence_doctests(text: str) -> str:
    """``text`` with each block of doctest lines (a ``>>>`` line, its ``...`` continuations
    and its output, up to a blank line) wrapped in a ```` ```pycon ```` fence, indented as
    the block was. Text already inside a fence is left alone."""
    out: list[str] = []
    lines = text.splitlines()
    i, fenced = 0, False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            fenced = not fenced
        if fenced or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)
