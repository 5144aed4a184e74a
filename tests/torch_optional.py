"""``torch`` and ``torch_ref`` for test modules whose other tests must run without PyTorch.

Where torch is optional (Pythons without its CPU wheel, see ``tests/conftest.py``) and not
installed, both are stand-ins: any call through them raises ``ModuleNotFoundError`` for torch,
which the conftest reports as a skip with its one reason. Elsewhere they are the real modules,
and a missing torch is an error as usual."""

from __future__ import annotations

import sys
from typing import Any


class _Missing:
    """A stand-in for torch or a name in it: reading a name is fine, calling fails."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _Missing:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ModuleNotFoundError(f"No module named 'torch' (needed by {self._name})", name="torch")

    def __repr__(self) -> str:
        return f"<missing {self._name}>"


try:
    import torch

    import torch_ref
except ModuleNotFoundError as exc:
    if exc.name != "torch" or sys.version_info[:2] == (3, 11):
        raise
    torch = _Missing("torch")  # type: ignore[assignment]
    torch_ref = _Missing("torch_ref")  # type: ignore[assignment]

AVAILABLE = not isinstance(torch, _Missing)
"""Whether the real torch is here (a test may then add its PyTorch comparison to checks that
run on every Python, rather than raising into the skip inside a hypothesis test, which
hypothesis would try to shrink)."""

__all__ = ["AVAILABLE", "torch", "torch_ref"]
