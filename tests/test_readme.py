"""The README's Python examples run as written (each block in a fresh namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": "__readme__"})


def test_ci_runs_the_readme_test_command():
    """.ci/run must run exactly the second set-up command at the top of the README."""
    top = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [ln for ln in top.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 2, "the README starts with exactly two set-up commands"
    assert lines[0].startswith("python3 -m venv") and lines[0].endswith("chainrule train")
    assert lines[1].startswith("sh .ci/test-deps && python3 -m venv")  # self-sufficient
    ci = [ln.strip() for ln in (README.parent / ".ci" / "run").read_text().splitlines()]
    assert lines[1] in ci
