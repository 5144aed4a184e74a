"""The ops reference: every primitive's derivative as math, written to ``docs/reference/ops.md``.

Each :class:`~chainrule.autograd.Primitive` carries its derivative in its forward's docstring:
a first line saying what it computes, then one line per differentiable input giving that
input's gradient in adjoint notation, starting with the input's name and a combining bar::

    x̄ = ḡ ⊙ (1 − out²)

This module collects every primitive defined under ``chainrule.ops``, groups them by family
(the module that defines them, one file per family), and writes one Markdown table per family:
the public names, what the op computes, each input's gradient rule and what a recorded node
keeps for backward (``defvjp(..., keep=)``). The test suite checks that every primitive has
its lines and that the page is current. Regenerate it with::

    python -m chainrule.ops.reference            # writes docs/reference/ops.md
    python -m chainrule.ops.reference --check    # exit 1 when the page is stale
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from chainrule import ops
from chainrule.autograd import Primitive
from chainrule.tensor import Tensor

COMMAND = "python -m chainrule.ops.reference"
"""The command that regenerates the page (named in the test's failure message)."""

PAGE = Path("docs") / "reference" / "ops.md"
"""The page's path, relative to the repository root."""

# Families in the order a reader meets them (DESIGN.md's list); others follow alphabetically.
_FAMILY_ORDER = (
    "elementwise", "special", "reduction", "scan", "linalg", "products", "shape",
    "indexing", "sort", "activation", "loss", "conv", "recurrent",
)  # fmt: skip
# Namespaces besides ``cr`` where public ops live, when they exist.
_NAMESPACES = ("linalg", "special", "fft", "numpy", "distributed", "nn.functional")
_RULE = re.compile(r"^([A-Za-z_][^\s=]*)\s*=")  # a name (barred: "x̄", after NFD) and "="
_BAR = "\u0304"
_DEFINES = re.compile(r"^@primitive\b|^\w+ = primitive\(|Primitive\(", re.M)


@dataclass
class Entry:
    """One primitive as the page shows it."""

    prim: Primitive
    family: str
    names: list[str]
    summary: str
    rules: dict[str, str]  # input name -> its math line
    inputs: list[str]  # the forward's positional parameters
    differentiable: list[str]  # the inputs that have a rule
    keeps: str

    @property
    def missing(self) -> list[str]:
        """Differentiable inputs without their math line (and a missing summary)."""
        gone = [n for n in self.differentiable if n not in self.rules]
        if _variadic(self.prim) and not self.rules:
            gone.append("its inputs (any number of them: at least one line)")
        if not self.summary:
            gone.insert(0, "the first line (what it computes)")
        return gone

    @property
    def unknown(self) -> list[str]:
        """Math lines naming something that is not one of the op's inputs."""
        if _variadic(self.prim):
            return []
        return [n for n in self.rules if n not in self.inputs]


def primitives() -> list[Primitive]:
    """Every primitive chainrule defines, each once: those of every module under
    ``chainrule.ops``, and of any other chainrule module whose source defines one (found by
    reading the files, so the answer does not depend on what happens to be imported)."""
    found: dict[int, Primitive] = {}
    for module in _defining_modules():
        for value in vars(module).values():
            if isinstance(value, Primitive) and value.forward.__module__.startswith("chainrule."):
                found.setdefault(id(value), value)
    return list(found.values())


def entries() -> list[Entry]:
    """The page's rows, in family order and, within a family, in source order."""
    names = _public_names()
    rows = []
    for prim in primitives():
        family = _family(prim.forward.__module__)
        summary, lines = parse_docstring(prim.forward.__doc__ or "")
        inputs = _inputs(prim)
        rules = {}
        for name, line in lines.items():
            rules.setdefault(input_of(name, inputs) or name, line)
        if prim.vjp_argnum is not None:
            differentiable = []
        elif getattr(prim, "vjp_all", None) is not None:  # one rule for all: the tensors
            differentiable = _without_default(prim)
        else:
            differentiable = [
                n for i, n in enumerate(inputs) if i < len(prim.vjps) and prim.vjps[i] is not None
            ]
        rows.append(
            Entry(
                prim=prim,
                family=family,
                names=names.get(id(prim), []),
                summary=summary,
                rules=rules,
                inputs=inputs,
                differentiable=differentiable,
                keeps=_keeps(prim, inputs),
            )
        )
    rows.sort(key=lambda e: (_family_key(e.family), _file_key(e), _line(e.prim)))
    return rows


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """``(summary, {name: math line})`` from a forward's docstring.

    The summary is the first paragraph, up to a blank line or the first math line. A math
    line starts, at the docstring's left margin, with a barred name and ``=`` (``x̄ = ...``,
    ``w̄_hh = ...``, ``x̄w_t = ...``: the bar may sit on any letter, and precomposed letters
    such as ȳ count); lines indented under it continue it. The names are given without
    their bar (``xw_t``); :func:`input_of` matches them to the op's inputs.
    """
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    summary: list[str] = []
    rules: dict[str, str] = {}
    last: str | None = None
    in_summary = True
    for line in lines:
        m = _RULE.match(unicodedata.normalize("NFD", line))
        if m and _BAR in m.group(1):
            in_summary = False
            last = unicodedata.normalize("NFC", m.group(1).replace(_BAR, ""))
            if last in rules:
                last = None  # a second line for the same name: not part of the page
            else:
                rules[last] = unicodedata.normalize("NFC", line.strip())
        elif last is not None and line[:1].isspace() and line.strip():
            rules[last] += " " + line.strip()  # a continuation of the math line above
        elif in_summary and line.strip():
            summary.append(line.strip())
        else:
            in_summary = False
            last = None
    return " ".join(summary), rules


def input_of(name: str, inputs: list[str]) -> str | None:
    """The input a math line's name refers to: the input itself, or the longest input that
    it extends with a subscript (``xw_t`` is ``xw``'s); ``None`` when there is none."""
    if name in inputs:
        return name
    fits = [i for i in inputs if name.startswith(i) and name[len(i)] in "_'′₀₁₂ₜᵢ"]
    return max(fits, key=len) if fits else None


def render() -> str:
    """The whole page, as Markdown."""
    rows = entries()
    families: dict[str, list[Entry]] = {}
    for e in rows:
        families.setdefault(e.family, []).append(e)
    out = [
        "# Ops reference: every derivative",
        "",
        "<!-- Generated by `" + COMMAND + "` from the primitives' docstrings; do not edit. -->",
        "",
        "Every differentiable op in chainrule is a *primitive*: a forward written with NumPy",
        "calls and, per input, a gradient rule (a vector-Jacobian product). This page lists",
        "them all, family by family, with each rule written as math. Read a rule such as",
        "`x̄ = ḡ ⊙ (1 − out²)` as: *the gradient reaching input `x` is the gradient reaching",
        "the output, times 1 − out², element by element*.",
        "",
        "Notation: ḡ is the gradient arriving at the output, `out` the op's output, inputs go",
        "by the forward's parameter names, and a bar (x̄) is the gradient w.r.t. that input;",
        "⊙ is the element-wise product, ᵀ the transpose, Σ a sum. Broadcasting is undone once,",
        "by the engine (each input's gradient is summed down to its shape), so rules are",
        "written for same-shaped operands. *Keeps* is what a recorded node holds on to until",
        "backward (`defvjp(..., keep=)`): an input's data, only its shape (`x.shape`), the",
        "output, or nothing.",
        "",
        f"{len(rows)} primitives in {len(families)} families.",
        "",
    ]
    for family, items in families.items():
        out += [f"## {family}", ""]
        files: dict[str, list[Entry]] = {}
        for e in items:
            files.setdefault(e.prim.forward.__module__, []).append(e)
        if len(files) == 1:
            out += _table(importlib.import_module(next(iter(files))), items)
            continue
        # a family kept in several files (a subpackage): its intro, then a table per file
        intro = _first_paragraph(importlib.import_module(f"chainrule.ops.{family}").__doc__ or "")
        if intro:
            out += [_md(intro), ""]
        for name, part in files.items():
            out += [f"### {family}.{name.rsplit('.', 1)[1]}", ""]
            out += _table(importlib.import_module(name), part)
    return "\n".join(out)


def _table(module: ModuleType, items: list[Entry]) -> list[str]:
    """The Markdown lines of one file's rows: its intro, the table, the composed ops."""
    out = []
    intro = _first_paragraph(module.__doc__ or "")
    if intro:
        out += [_md(intro), ""]
    out += ["| Op | Computes | Gradient | Keeps |", "| --- | --- | --- | --- |"]
    for e in items:
        names = ", ".join(f"`{n}`" for n in e.names) or (
            f"`{e.prim.name}` (internal: `{e.prim.forward.__module__}`)"
        )
        if _variadic(e.prim):
            grads = list(e.rules.values())
        else:
            grads = [e.rules[n] for n in e.inputs if n in e.rules]
        grad = "<br>".join(_md(g) for g in grads) or "(no gradient)"
        out.append(f"| {names} | {_md(e.summary)} | {grad} | {e.keeps} |")
    others = _composed(module, {id(e.prim) for e in items})
    if others:
        out += [
            "",
            "Also in this family, built from the ops above (their gradient follows by the",
            "chain rule) or without a gradient:",
            "",
        ]
        out += [f"- `{name}`" + (f": {_md(doc)}" if doc else "") for name, doc in others]
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the page (or, with ``--check``, say whether it is current). Returns the exit
    status: 1 when ``--check`` finds the page stale or a primitive lacks its math lines."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if stale")
    parser.add_argument("--out", type=Path, default=_repo_root() / PAGE, help="the page's path")
    args = parser.parse_args(argv)
    bad = [f"{e.prim.name}: missing {', '.join(e.missing)}" for e in entries() if e.missing]
    if bad:
        print("primitives without their math docstring lines:\n  " + "\n  ".join(bad))
        return 1
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
        if current != text:
            print(f"{args.out} is stale: run `{COMMAND}`")
            return 1
        return 0
    from chainrule._atomic import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)
    print(f"wrote {args.out} ({len(text.splitlines())} lines)")
    return 0


# ---------------------------------------------------------------------------- helpers
def _defining_modules() -> list[ModuleType]:
    mods = [ops]
    for info in pkgutil.walk_packages(ops.__path__, prefix="chainrule.ops."):
        mods.append(importlib.import_module(info.name))
    root = Path(__file__).resolve().parents[1]  # the chainrule package
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        if rel.parts[0] == "ops" or not _DEFINES.search(path.read_text(encoding="utf-8")):
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        mods.append(importlib.import_module(".".join(["chainrule", *parts])))
    return mods


def _public_names() -> dict[int, list[str]]:
    """id(primitive) -> the names users call it by: ``cr.name``, ``cr.linalg.name``, ...,
    and ``Tensor.name`` where a method of that name exists."""
    names: dict[int, list[str]] = {}
    for n in getattr(ops, "__all__", []):
        v = getattr(ops, n, None)
        if isinstance(v, Primitive):
            names.setdefault(id(v), []).append(f"cr.{n}")
            if callable(Tensor.__dict__.get(n)):
                names[id(v)].append(f"Tensor.{n}")
    for space in _NAMESPACES:  # read by name, as every module is above: this page reads them all
        try:
            mod = importlib.import_module(f"chainrule.{space}")
        except ImportError:
            continue
        for n in getattr(mod, "__all__", [k for k in vars(mod) if not k.startswith("_")]):
            v = getattr(mod, n, None)
            if isinstance(v, Primitive) and f"cr.{space}.{n}" not in names.get(id(v), []):
                names.setdefault(id(v), []).append(f"cr.{space}.{n}")
    return names


def _composed(module: ModuleType, prim_ids: set[int]) -> list[tuple[str, str]]:
    """Public functions of ``module`` (in ``cr``) that are not primitives."""
    res = []
    for n in getattr(ops, "__all__", []):
        v = getattr(ops, n, None)
        if inspect.isfunction(v) and v.__module__ == module.__name__ and id(v) not in prim_ids:
            res.append((n, _first_paragraph(v.__doc__ or "")))
    return sorted(res)


def _inputs(prim: Primitive) -> list[str]:
    return [
        p.name
        for p in inspect.signature(prim.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def _variadic(prim: Primitive) -> bool:
    """Whether the op takes any number of tensors (``*xs``): its math lines name ``xᵢ``."""
    if prim.vjp_argnum is not None:
        return True
    params = inspect.signature(prim.forward).parameters.values()
    return any(p.kind is p.VAR_POSITIONAL for p in params)


def _without_default(prim: Primitive) -> list[str]:
    return [
        p.name
        for p in inspect.signature(prim.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]


def _keeps(prim: Primitive, inputs: list[str]) -> str:
    if prim.vjp_argnum is not None or prim._keep is None:
        return "all inputs, `out`"
    parts = []
    for i, n in enumerate(inputs):
        kind = prim.keeps(i)
        if kind == "data":
            parts.append(n)
        elif kind == "shape":
            parts.append(f"{n}.shape")
    if prim.keeps_out:
        parts.append("out")
    return ", ".join(f"`{p}`" for p in parts) or "nothing"


def _first_paragraph(doc: str) -> str:
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    para = []
    for line in lines:
        if not line.strip():
            break
        para.append(line.strip())
    return " ".join(para)


def _family(module: str) -> str:
    """The family of a forward defined in ``module``: its file under ``chainrule.ops``, or the
    subpackage holding it (``chainrule.ops.elementwise.arithmetic`` is ``elementwise``)."""
    if module.startswith("chainrule.ops."):
        return module.removeprefix("chainrule.ops.").split(".")[0]
    return module.removeprefix("chainrule.")


def _file_key(e: Entry) -> int:
    """A file's place within its family: where the subpackage's docstring names it first."""
    module = e.prim.forward.__module__
    if module.count(".") < 3:
        return 0
    doc = importlib.import_module(module.rsplit(".", 1)[0]).__doc__ or ""
    at = doc.find(module.rsplit(".", 1)[1])
    return at if at >= 0 else len(doc)


def _family_key(family: str) -> tuple[int, str]:
    order = _FAMILY_ORDER.index(family) if family in _FAMILY_ORDER else len(_FAMILY_ORDER)
    return order, family


def _line(prim: Primitive) -> int:
    try:
        return inspect.getsourcelines(prim.forward)[1]
    except (OSError, TypeError):
        return 0


def _md(text: str) -> str:
    """Docstring text as Markdown table-cell text: RST ````code```` becomes `code`, and what
    Markdown would read as markup is escaped (a code span holding a ``|`` becomes plain
    text, since table renderers disagree about pipes inside code spans)."""
    text = re.sub(r":[a-z]+:`~?([^`]*)`", r"``\1``", text).replace("``", "`")  # :func:`clip`
    if text.count("`") % 2:
        text = text.replace("`", "'")
    parts = text.split("`")
    out = []
    for i, p in enumerate(parts):
        if i % 2 and "|" not in p:
            out.append(f"`{p}`")
            continue
        p = p.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
        p = p.replace("<", "&lt;").replace(">", "&gt;").replace("$", "\\$")
        out.append(p.replace("|", "\\|"))
    return "".join(out)


def _repo_root() -> Path:
    # src/chainrule/ops/reference.py -> the repository root (an editable, src-layout install)
    return Path(__file__).resolve().parents[3]


if __name__ == "__main__":
    sys.exit(main())
