"""A griffe extension for the API reference, so that docstrings written for both ``help()`` and
the site read well as Markdown: doctest examples (``>>>`` lines and the output after them)
become fenced ``pycon`` code blocks (instead of Markdown reading ``[1][2]`` in an output line
as a link), and Sphinx roles (``:class:`~chainrule.train.Trainer```) become code spans
(`` `Trainer` ``)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")


class DoctestFences(griffe.Extension):
    """Fence every run of doctest lines in every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(roles_as_code(obj.docstring.value))


def roles_as_code(text: str) -> str:
    """Each Sphinx role as a code span: ``:func:`~a.b.f``` as `` `f` ``, ``:func:`a.b.f```
    as `` `a.b.f` ``, an explicit title (``:meth:`fit <a.Trainer.fit>```) as the title."""

    def code(m: re.Match) -> str:
        tilde, target = m.groups()
        title = re.match(r"(.*?)\s*<[^>]+>$", target)
        if title:
            return f"`{title.group(1)}`"
        return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"

    return ROLE.sub(code, text)


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
