"""The suite's order under xdist (tests/conftest.py): the long tests it starts first exist,
so that a renamed one does not silently lose its place and start late again."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from suite_order import LONG_TESTS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("nodeid", LONG_TESTS)
def test_each_long_test_exists_and_is_marked_slow(nodeid):
    path, name = nodeid.split("::")
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert name in functions, f"{nodeid}: no such test; update LONG_TESTS in tests/conftest.py"
    module_slow = "pytestmark = pytest.mark.slow" in ast.unparse(tree)
    marks = [ast.unparse(d) for d in functions[name].decorator_list]
    assert module_slow or "pytest.mark.slow" in marks, f"{nodeid} is not marked slow"


def test_long_tests_are_listed_once():
    assert len(set(LONG_TESTS)) == len(LONG_TESTS)
