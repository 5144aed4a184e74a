"""The documentation site: `mkdocs build --strict` (warnings are errors: a broken link, a
docstring mkdocstrings cannot read, a page missing from the nav) and the Python examples of
the guides, each block run as written in a fresh namespace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = sorted((ROOT / "docs" / "guide").glob("*.md"))
BLOCKS = [
    (page.name, i, block)
    for page in GUIDES
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))
]


def test_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    site = tmp_path / "site"
    api = (site / "api" / "train" / "index.html").read_text()
    for name in ("TensorBoard", "CSVLogger", "LambdaCallback", "lr_find", "EarlyStopping"):
        assert f'id="chainrule.train.{name}"' in api, name
    assert "load_model" in (site / "api" / "io" / "index.html").read_text()
    assert (site / "reference" / "ops" / "index.html").is_file()  # the engine's ops reference
    for page in GUIDES:
        assert (site / "guide" / page.stem / "index.html").is_file()


def test_readme_links_each_section_to_its_page():
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))
    for page in [*GUIDES, ROOT / "docs" / "reference" / "ops.md"]:
        assert str(page.relative_to(ROOT)) in linked, f"the README does not link {page.name}"
    for target in linked:
        assert (ROOT / target).is_file(), target


@pytest.mark.slow  # several train small networks: about 20 s together
@pytest.mark.parametrize(("page", "index", "block"), BLOCKS, ids=[f"{p}-{i}" for p, i, _ in BLOCKS])
def test_guide_example_runs(page, index, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"docs/guide/{page} block {index}", "exec"), {"__name__": "__docs__"})
