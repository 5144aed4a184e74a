"""The README's `chainrule explain` example, run as written into a pipe: its ReLU units pass
gradients back to the first layer, and every table is printed whole (no column cropped)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_command() -> list[str]:
    text = README.read_text()
    m = re.search(r"^(chainrule explain --layers .*?)(?<!\\)$", text, flags=re.M | re.S)
    assert m, "the README has no 'chainrule explain --layers' example"
    command = m.group(1).replace("\\\n", " ")
    return shlex.split(command.split("#")[0])[1:]


def test_readme_relu_example_shows_gradients_flowing_and_whole_tables(cli, tmp_path):
    args = _readme_command()
    assert "relu" in args and "--fd" in args
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # one check column per table, in every forward and backward table
    tables = [ln for ln in lines if ln.startswith("┏")]
    headers = [ln for ln in lines if "quantity" in ln and "= formula" in ln]
    assert len(tables) == len(headers) == 6
    assert all("Δ formula" in h and "Δ fd" in h for h in headers), headers
    assert not any("…" in ln for ln in lines)
    # the first layer's gradient is not all zeros: some ReLU units are alive
    row = next(ln for ln in lines if ln.startswith("│ ∇_{W_1} ℒ"))
    norm = float(row.split("│")[4])
    assert norm > 0.1
    grad_a1 = next(ln for ln in lines if ln.startswith("│ ∇_{a_1} ℒ"))
    values = re.search(r"\[([^\]]*)\]", grad_a1).group(1).split()
    assert np.count_nonzero(np.array(values, dtype=float)) == 3
    assert (tmp_path / "walk.html").is_file() and (tmp_path / "graph.svg").is_file()
