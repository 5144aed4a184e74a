"""The computation graph behind a tensor, as Graphviz DOT, and its drawing with ``dot``.

Each recorded op is a box naming the op and its output shape; each leaf that requires a
gradient (a parameter, an input marked ``requires_grad``) an ellipse with its name and
shape; inputs that need no gradient a grey note. Edges run forward, from inputs to the ops
that use them, labelled with the op's parameter name; an edge is drawn bold and marked
"saved" when the op kept that input for its backward rule, and an op box says "saves out"
when the rule reads the op's own output (sigmoid, tanh, exp, softmax...). After a
``backward()`` that did not retain the graph, the saved buffers are gone and the op says
"buffers freed".
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainrule._atomic import atomic_write_bytes
from chainrule.autograd import Node
from chainrule.errors import GraphvizError
from chainrule.tensor import Tensor

__all__ = ["Dot", "graph", "render"]

FORMATS = ("svg", "png", "pdf")


class Dot(str):
    """DOT source (a ``str``) that Jupyter shows as the drawn graph: ``_repr_svg_`` and
    ``_repr_html_`` render it with Graphviz's ``dot`` (``None``, so the text is shown
    instead, when ``dot`` is not installed)."""

    def svg(self) -> str:
        """The graph drawn as SVG text. Raises :class:`~chainrule.errors.GraphvizError`
        when ``dot`` is missing or fails."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return render(self, Path(tmp) / "graph.svg").read_text(encoding="utf-8")

    def _repr_svg_(self) -> str | None:
        try:
            return self.svg()
        except GraphvizError:
            return None

    def _repr_html_(self) -> str | None:
        svg = self._repr_svg_()
        if svg is None:
            return None
        start = svg.find("<svg")  # drop the XML prolog and doctype
        return f'<div class="chainrule-graph">{svg[start:]}</div>'


def graph(
    tensor: Tensor,
    names: Mapping[str, Tensor] | Any = None,
    title: str | None = None,
    rankdir: str = "TB",
) -> Dot:
    """The computation graph that produced ``tensor``, as Graphviz DOT source.

    Args:
        tensor: the result of recorded ops (e.g. a loss).
        names: names for leaf tensors, as ``{name: tensor}`` or a module (its
            ``named_parameters()`` are used); unnamed leaves are called by their shape.
        title: a label for the whole graph.
        rankdir: Graphviz's layout direction (``"TB"`` top to bottom, ``"LR"``...).

    Returns DOT source (``digraph chainrule { ... }``, a :class:`Dot` string, drawn inline in
    Jupyter); draw it into a file with :func:`render`. A tensor that was not produced by
    recorded ops gives a graph of one node.

    >>> import chainrule as cr
    >>> w = cr.ones(3, requires_grad=True)
    >>> dot = graph((w * 2).sum(), names={"w": w})
    >>> "mul" in dot and "sum" in dot and '"w' in dot
    True
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(tensor).__name__}")
    leaf_names = _leaf_names(names)
    lines = [
        "digraph chainrule {",
        f"  graph [rankdir={rankdir}, fontname=Helvetica, fontsize=11"
        + (f', label="{_q(title)}", labelloc=t' if title else "")
        + "];",
        "  node [fontname=Helvetica, fontsize=10];",
        '  edge [fontname=Helvetica, fontsize=9, color="#555555"];',
    ]
    out_id = "output"
    lines.append(
        f'  {out_id} [shape=doubleoctagon, style=filled, fillcolor="#fde6c8", '
        f'label="{_q("output " + _shape(tensor.shape))}"];'
    )
    root = tensor._node
    if root is None:
        lines.append(f'  leaf0 [shape=ellipse, label="{_q(_leaf_label(tensor, leaf_names))}"];')
        lines.append(f"  leaf0 -> {out_id};")
        lines.append("}")
        return Dot("\n".join(lines) + "\n")

    # Walk the graph once (iteratively), numbering nodes and recording output shapes.
    ids: dict[int, str] = {}
    order: list[Node] = []
    out_shapes: dict[int, tuple] = {id(root): tuple(tensor.shape)}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in ids:
            continue
        ids[id(node)] = f"op{len(ids)}"
        order.append(node)
        for p, shp in zip(node.parents, node.shapes):
            if type(p) is Node:
                out_shapes.setdefault(id(p), tuple(shp))
                if id(p) not in ids:
                    stack.append(p)

    leaf_ids: dict[int, str] = {}
    const_count = 0
    for node in order:
        nid = ids[id(node)]
        params = _param_names(node)
        freed = node.freed
        saves_out = node.prim.keeps_out
        extra = []
        if freed and node.saves:
            extra.append("buffers freed")
        elif saves_out:
            extra.append("saves out")
        label = f"{_q(node.prim.name)}\\n{_q(_shape(out_shapes.get(id(node), ())))}"
        if extra:
            label += "\\n" + _q(", ".join(extra))
        lines.append(
            f'  {nid} [shape=box, style="rounded,filled", fillcolor="#dce8f7", label="{label}"];'
        )
        for i, (p, shp) in enumerate(zip(node.parents, node.shapes)):
            if shp is None:
                continue  # a constant argument (an axis, a scalar): not an input tensor
            pname = params[i] if i < len(params) else f"arg{i}"
            kept = node.prim.keeps(i)
            saved = not freed and kept == "data"
            shape_only = not freed and kept == "shape"
            if type(p) is Node:
                src = ids[id(p)]
            elif isinstance(p, Tensor):
                if id(p) not in leaf_ids:
                    leaf_ids[id(p)] = f"leaf{len(leaf_ids)}"
                    lines.append(
                        f"  {leaf_ids[id(p)]} [shape=ellipse, style=filled, "
                        f'fillcolor="#d7f0da", label="{_q(_leaf_label(p, leaf_names))}"];'
                    )
                src = leaf_ids[id(p)]
            else:
                src = f"const{const_count}"
                const_count += 1
                held = node.args[i] if not freed else None
                name = leaf_names.get(id(held), "") if isinstance(held, Tensor) else ""
                lines.append(
                    f'  {src} [shape=note, style=filled, fillcolor="#eeeeee", fontcolor="#444444", '
                    f'label="{_q((name + " " if name else "") + _shape(shp))}\\nno grad"];'
                )
            elabel = pname + (" (saved)" if saved else " (shape saved)" if shape_only else "")
            style = ', style=bold, color="#b5651d"' if saved else ""
            lines.append(f'  {src} -> {nid} [label="{_q(elabel)}"{style}];')
    lines.append(f"  {ids[id(root)]} -> {out_id};")
    lines.append("}")
    return Dot("\n".join(lines) + "\n")


def render(dot: str, path: str | os.PathLike, format: str | None = None) -> Path:
    """Draw DOT source with Graphviz's ``dot`` program into ``path``; returns the path.

    ``format`` is ``"svg"``, ``"png"`` or ``"pdf"``; by default the path's suffix (``.svg``
    when it has none of those).

    Raises :class:`~chainrule.errors.GraphvizError` when ``dot`` is not installed (with how
    to install it) or fails on the source (with its message), ``ValueError`` for another
    format.
    """
    path = Path(path)
    fmt_ = (format or path.suffix.lstrip(".") or "svg").lower()
    if format is None and fmt_ not in FORMATS:
        fmt_ = "svg"
    if fmt_ not in FORMATS:
        raise ValueError(f"render: format must be one of {', '.join(FORMATS)}, got {format!r}")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizError(
            "drawing a graph needs Graphviz's `dot` program, which is not on PATH: install "
            "graphviz (apt install graphviz; brew install graphviz; conda install graphviz), "
            "or save the DOT source and render it elsewhere"
        )
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt_}"],  # to stdout, then written atomically (never through a link)
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphvizError(f"running {exe} failed: {exc}") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip()
        raise GraphvizError(f"dot could not render the graph (exit {proc.returncode}): {msg}")
    return atomic_write_bytes(path, proc.stdout)


# ---------------------------------------------------------------------------- helpers
def _leaf_names(names: Any) -> dict[int, str]:
    if names is None:
        return {}
    if hasattr(names, "named_parameters"):
        names = dict(names.named_parameters())
    return {id(t): str(n) for n, t in dict(names).items()}


def _leaf_label(t: Tensor, names: dict[int, str]) -> str:
    name = names.get(id(t), "leaf")
    grad = "requires grad" if t.requires_grad else "no grad"
    return f"{name} {_shape(t.shape)}\n{grad}"


def _param_names(node: Node) -> list[str]:
    try:
        sig = inspect.signature(node.prim.forward)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]


def _shape(shape: Any) -> str:
    shape = tuple(shape)
    if not shape:
        return "()"
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _q(s: str) -> str:
    """Escape for a double-quoted DOT string (newlines become DOT's \\n)."""
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
