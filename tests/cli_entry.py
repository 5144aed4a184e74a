"""The installed ``chainrule`` console script, for the tests that run the command as a user
does (tests/test_cli.py, tests/explain)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def entry_point() -> list[str]:
    """The command line that runs the installed ``chainrule`` console script (the real entry
    point): the one beside this Python, else the one on PATH."""
    script = Path(sys.executable).parent / "chainrule"
    if script.exists():
        return [str(script)]
    found = shutil.which("chainrule")
    if found:
        return [found]
    raise RuntimeError("the chainrule console script is not installed (pip install -e .)")
