"""The ops reference (docs/reference/ops.md): every primitive carries its derivative as math
lines, and the checked-in page is what the generator writes now."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainrule as cr
from chainrule.autograd import Primitive
from chainrule.ops import reference

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = f"run `{reference.COMMAND}` to regenerate {reference.PAGE}"


def test_every_primitive_has_its_math_lines():
    rows = reference.entries()
    assert len(rows) > 40
    missing = [f"{e.prim.forward.__module__}.{e.prim.name}: {', '.join(e.missing)}" for e in rows]
    missing = [m for m, e in zip(missing, rows) if e.missing]
    assert not missing, (
        "primitives without their math docstring lines (a first line saying what the op "
        "computes, then one line per differentiable input such as 'x̄ = ḡ ⊙ (1 − out²)'):\n  "
        + "\n  ".join(missing)
        + f"\nthen {REGENERATE}"
    )
    unknown = [f"{e.prim.name}: {e.unknown} (inputs: {e.inputs})" for e in rows if e.unknown]
    assert not unknown, "math lines naming no input of the op:\n  " + "\n  ".join(unknown)


def test_the_reference_page_is_current():
    page = ROOT / reference.PAGE
    assert page.exists(), f"{reference.PAGE} is missing: {REGENERATE}"
    assert page.read_text(encoding="utf-8") == reference.render(), (
        f"{reference.PAGE} is stale (a primitive or its docstring changed): {REGENERATE}"
    )


def test_every_primitive_anywhere_is_on_the_page():
    import sys

    documented = {id(p) for p in reference.primitives()}
    loose = [
        f"{name}.{v.name}"
        for name, mod in list(sys.modules.items())
        if name.startswith("chainrule.") and mod is not None
        for v in list(vars(mod).values())
        if isinstance(v, Primitive)
        and v.forward.__module__.startswith("chainrule.")
        and id(v) not in documented
    ]
    assert not loose, f"primitives the generator does not find: {loose}"
    names = {p.name for p in reference.primitives()}
    assert {"tanh", "matmul", "softmax_cross_entropy", "sum", "reshape"} <= names


def test_docstring_parsing():
    doc = """Element-wise x ** y, the summary
    continuing here.
    x̄ = ḡ ⊙ y xʸ⁻¹
    ȳ = ḡ ⊙ out ⊙ log x

    More text that is not the summary: z = 3.
    """
    summary, rules = reference.parse_docstring(doc)
    assert summary == "Element-wise x ** y, the summary continuing here."
    assert rules == {"x": "x̄ = ḡ ⊙ y xʸ⁻¹", "y": "ȳ = ḡ ⊙ out ⊙ log x"}
    # a precomposed barred letter (ȳ, U+0233) and a combining bar (y + U+0304) are the same
    assert reference.parse_docstring("s\n\ny\u0304 = 1")[1] == {"y": "ȳ = 1"}
    assert reference.parse_docstring("s\n\n\u0233 = 1")[1] == {"y": "ȳ = 1"}
    assert reference.parse_docstring("") == ("", {})
    # the bar on any letter of the name, a subscript, and indented continuation lines
    summary, rules = reference.parse_docstring(
        "A scan.\nx̄w_t = ā_t, with\n    ā_t = ḡ_t + ā_{t+1} W\nw̄_hh = Σ_t ā_tᵀ h_{t−1}\n"
    )
    assert summary == "A scan."
    assert rules == {
        "xw_t": "x̄w_t = ā_t, with ā_t = ḡ_t + ā_{t+1} W",
        "w_hh": "w̄_hh = Σ_t ā_tᵀ h_{t−1}",
    }
    assert reference.input_of("xw_t", ["xw", "h0", "w_hh"]) == "xw"
    assert reference.input_of("w_hh", ["w", "w_hh"]) == "w_hh"
    assert reference.input_of("h0", ["h"]) is None


def test_a_primitive_without_lines_is_reported_and_the_cell_text_is_escaped():
    @cr.primitive
    def twice(x, y):
        """Twice ``x | y`` in a_b."""
        return 2 * x

    twice.defvjp(lambda g, out, x, y: 2 * g, None, keep="")
    summary, rules = reference.parse_docstring(twice.forward.__doc__)
    entry = reference.Entry(twice, "t", [], summary, rules, ["x", "y"], ["x"], "nothing")
    assert entry.missing == ["x"]
    assert reference._md(summary) == "Twice x \\| y in a\\_b."
    assert reference._md("``a_b`` |x|") == "`a_b` \\|x\\|"


def test_the_command_checks_and_writes(tmp_path, capsys):
    out = tmp_path / "docs" / "reference" / "ops.md"  # folders made as needed
    assert reference.main(["--check", "--out", str(out)]) == 1
    assert "is stale: run `python -m chainrule.ops.reference`" in capsys.readouterr().out
    assert reference.main(["--out", str(out)]) == 0
    assert reference.main(["--check", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "| `cr.tanh`, `Tensor.tanh`" in text and "## loss" in text


@pytest.mark.parametrize("family", ["elementwise", "reduction", "linalg", "shape", "loss"])
def test_each_family_has_a_table(family):
    text = reference.render()
    section = text.split(f"\n## {family}\n", 1)[1].split("\n## ", 1)[0]
    assert "| Op | Computes | Gradient | Keeps |" in section
    rows = [r for r in section.splitlines() if r.startswith("| `")]
    assert rows and all(r.count(" | ") >= 3 for r in rows)
