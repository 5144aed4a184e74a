"""The HTML page shell shared by the trace page and the run report: one file, inline CSS,
images as data URIs, math as MathML, no scripts and nothing fetched at view time."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

CSS = """
:root { --fg: #1d232b; --muted: #5b6573; --line: #d9dee5; --accent: #2f5fa7; --bg: #fff;
        --soft: #f4f6f9; --bad: #a33; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.7rem; margin: 0.2rem 0 0.4rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid var(--line);
     padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; color: var(--accent); }
p.lead { color: var(--muted); margin-top: 0; }
.note { color: var(--muted); font-size: 0.92rem; margin: 0.1rem 0 0.8rem; }
.eq { overflow-x: auto; padding: 0.35rem 0.6rem; margin: 0.4rem 0 0.6rem;
      background: var(--soft); border-left: 3px solid var(--accent); }
math { font-size: 1.08rem; font-family: "Latin Modern Math", "STIX Two Math",
       "DejaVu Math TeX Gyre", "Cambria Math", math; }
math[display="block"] { margin: 0.2rem 0; text-align: left; }
mtable.m { padding: 0.1em 0.35em; margin: 0 0.15em;
  background-image: linear-gradient(currentColor, currentColor),
    linear-gradient(currentColor, currentColor), linear-gradient(currentColor, currentColor),
    linear-gradient(currentColor, currentColor), linear-gradient(currentColor, currentColor),
    linear-gradient(currentColor, currentColor);
  background-size: 1.3px 100%, 0.3em 1.3px, 0.3em 1.3px, 1.3px 100%, 0.3em 1.3px, 0.3em 1.3px;
  background-position: left top, left top, left bottom, right top, right top, right bottom;
  background-repeat: no-repeat; }
mtable.m mtd { padding: 0.05em 0.3em; text-align: right; }
table.t { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.92rem; }
table.t th, table.t td { border: 1px solid var(--line); padding: 0.25rem 0.55rem;
                         text-align: right; vertical-align: top; }
table.t th { background: var(--soft); text-align: center; }
table.t td.l, table.t th.l { text-align: left; }
.ok { color: #256d3a; } .bad { color: var(--bad); font-weight: 600; }
figure { margin: 0.8rem 0 1.4rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9rem; }
pre { background: var(--soft); padding: 0.6rem 0.8rem; overflow-x: auto; font-size: 0.85rem; }
nav.toc { font-size: 0.92rem; color: var(--muted); }
nav.toc a { color: var(--accent); margin-right: 0.9rem; }
"""


def page(title: str, body: str) -> str:
    """A complete HTML5 document around ``body`` (already HTML)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def fragment(body: str, cls: str = "chainrule-html") -> str:
    """``body`` in a ``<div class=cls>`` with the page's CSS scoped to it, to sit inside
    another page (a Jupyter output) without restyling the rest of it. Given a whole page
    from :func:`page`, its ``<main>`` content is taken (its unscoped styles are left out)."""
    if body.lstrip().startswith("<!DOCTYPE") and "<main>" in body:
        body = body[body.index("<main>") + len("<main>") : body.rindex("</main>")].strip()
    rules = []
    for chunk in CSS.split("}"):
        if "{" not in chunk:
            continue
        selectors, decls = chunk.split("{", 1)
        scoped = []
        for sel in selectors.split(","):
            sel = sel.strip()
            if sel in (":root", "body", "main"):
                scoped.append(f".{cls}")
            else:
                scoped.append(f".{cls} {sel}")
        rules.append(f"{', '.join(scoped)} {{{decls}}}")
    return f'<div class="{cls}"><style>{chr(10).join(rules)}</style>{body}</div>'


def esc(text: Any) -> str:
    """HTML-escape ``str(text)``."""
    return html.escape(str(text), quote=True)


def png_data_uri(data: bytes) -> str:
    """A ``data:image/png;base64,...`` URI for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure(png: bytes, alt: str, caption: str = "") -> str:
    """An ``<img>`` with the PNG embedded, and an optional caption."""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_data_uri(png)}" alt="{esc(alt)}">{cap}</figure>'


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1, raw: bool = False
) -> str:
    """A table; the first ``left`` columns are left-aligned. Cells are escaped unless
    ``raw`` (then they are HTML already)."""
    cell = (lambda v: str(v)) if raw else esc
    head = "".join(
        f'<th class="l">{esc(h)}</th>' if i < left else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{cell(v)}</td>' if i < left else f"<td>{cell(v)}</td>"
            for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
