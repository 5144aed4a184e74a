"""The test folders' one convention (README, "Development"): plain folders, not packages.

pytest finds ``tests/conftest.py`` at the root and, in its default ("prepend") import mode, puts
each test file's folder on ``sys.path`` and imports the file by its name alone. So no folder
under ``tests/`` has an ``__init__.py`` (a package ``tests/distributed`` would hide the
``distributed`` package that dask imports), and every module name is unique across the suite:
a file takes its folder's name as a prefix (``tests/nn/test_nn_layers.py``) where the plain
name is taken.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_folder_is_a_package():
    packages = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("__init__.py"))
    assert not packages, f"test folders are plain folders (see this file's docstring): {packages}"


def test_every_module_name_is_unique_across_the_suite():
    seen: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name != "conftest.py" and "__pycache__" not in path.parts:
            seen[path.stem].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, (
        "module names that pytest would import twice under one name (prefix the file with its "
        f"folder's name, as tests/nn/test_nn_layers.py): {clashes}"
    )
