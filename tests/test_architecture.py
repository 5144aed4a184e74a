"""The house's structure (DESIGN.md "The house"), checked on the source itself.

* no ``.py`` file under ``src/`` longer than 600 lines;
* no upward import: every module imports only modules on its own floor or below (all imports,
  at the top and inside functions, read with ``ast``);
* no private name (``_x``) imported across packages or between top-level modules; the root's
  private helper modules (``chainrule._atomic``, ...) may be imported from anywhere;
* ``import chainrule`` loads the engine, nn, optim and data, and not the heavy floors nor their
  optional dependencies (checked in a fresh interpreter).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "chainrule"
MAX_LINES = 600

# Each top-level module or package of chainrule and its floor. A module imports only modules
# on floors at or below its own. The root package (the public face) sits above them all.
FLOORS = {
    # 1: the array namespace and what needs nothing of chainrule
    "errors": 1, "backend": 1, "cuda": 1,  # and the root's private helpers (_atomic, ...)
    # 2: the engine
    "tensor": 2, "tape": 2, "autograd": 2, "functional": 2, "pytree": 2, "compile": 2,
    "_capture": 2, "_replay": 2, "_watch": 2, "_node": 2,
    "ops": 2, "numpy": 2, "_numpy_protocol": 2, "creation": 2, "linalg": 2, "special": 2,
    # 3: checks and layers
    "check": 3, "nn": 3, "serialization": 3,
    # 4: what trains layers
    "optim": 4, "data": 4, "distributed": 4,
    # 5: the fit loop
    "train": 5,
    # 6: inspection and the ways in and out
    "explain": 6, "io": 6, "onnx": 6, "sklearn": 6,
    # 7: the command line
    "cli": 7,
}  # fmt: skip
# ``chainrule/__init__.py``, the public face, re-exports every floor; only the command line,
# beside it on the top floor, may import it.
FACE = 7


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _floor(module: str) -> int:
    """The floor of a dotted module name under chainrule."""
    parts = module.split(".")
    if len(parts) == 1:
        return FACE
    if parts[1] not in FLOORS and parts[1].startswith("_"):
        return 1  # the root's private helpers may be imported from anywhere: the ground floor
    if parts[1] not in FLOORS:
        raise KeyError(f"{module}: give its top-level module {parts[1]!r} a floor in FLOORS")
    return FLOORS[parts[1]]


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, imported module, names taken from it)`` for every import in the file,
    relative ones resolved; ``from pkg import sub`` counts as an import of ``pkg.sub``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package_of(module, path).split(".")
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            names = []
            for a in node.names:
                if f"{base}.{a.name}" in MODULES:
                    found.append((node.lineno, f"{base}.{a.name}", []))
                else:
                    names.append(a.name)
            if names:
                found.append((node.lineno, base, names))
    return [f for f in found if f[1] == "chainrule" or f[1].startswith("chainrule.")]


def _top(module: str) -> str:
    """The package (``chainrule.nn``) or top-level module (``chainrule.io``) a module is in."""
    return ".".join(module.split(".")[:2])


def _is_root_helper(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 2 and parts[1].startswith("_")


# --------------------------------------------------------------------------------- checks
def _long_files() -> list[str]:
    out = []
    for path in MODULES.values():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            out.append(f"{path.relative_to(SRC.parent)} ({n} lines)")
    return sorted(out)


def _upward_imports_of(module: str, path: Path) -> list[str]:
    own = _floor(module)
    return [
        f"{target} (floor {_floor(target)})"
        for _, target, _ in _imports(module, path)
        if _floor(target) > own
    ]


def _upward_imports() -> list[str]:
    out = []
    for module, path in MODULES.items():
        if module != "chainrule":
            where = f"{path.relative_to(SRC.parent)} (floor {_floor(module)})"
            out += [f"{where} imports {up}" for up in _upward_imports_of(module, path)]
    return sorted(out)


def _private_imports() -> list[str]:
    out = []
    for module, path in MODULES.items():
        for line, target, names in _imports(module, path):
            if _top(target) == _top(module) or _is_root_helper(target):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if not names and target.rpartition(".")[2].startswith("_"):
                private.append(target)  # a private module of another package
            out += [f"{path.relative_to(SRC.parent)}:{line}: {target} {n}" for n in private]
    return sorted(out)


def test_no_file_is_longer_than_600_lines():
    long = _long_files()
    assert not long, "split these along a real seam:\n" + "\n".join(long)


def test_no_module_imports_a_floor_above_its_own():
    up = _upward_imports()
    assert not up, "upward imports (DESIGN.md, The house):\n" + "\n".join(up)


def test_no_private_name_is_imported_across_packages():
    private = _private_imports()
    assert not private, "make these public in their owner or move them down:\n" + "\n".join(private)


def test_imports_come_before_the_first_definition():
    """No module imports at its end to break an import cycle (tensor and autograd once did):
    the import order is one-way, so every top-level import precedes the first def or class."""
    late = []
    for path in MODULES.values():
        first = None
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = first or node.lineno
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and first:
                late.append(f"{path.relative_to(SRC.parent)}:{node.lineno} (after line {first})")
    assert not late, "imports after the first definition:\n" + "\n".join(late)


def test_every_module_has_a_floor():
    for module in MODULES:
        _floor(module)  # raises KeyError naming a module without one


def test_the_checks_see_what_they_look_for(tmp_path):
    """The import reader resolves relative imports, imports inside functions and submodules
    taken with ``from pkg import sub``."""
    mod = PACKAGE / "nn" / "functional.py"
    targets = {t for _, t, _ in _imports("chainrule.nn.functional", mod)}
    assert "chainrule.autograd" in targets
    assert _floor("chainrule.train.trainer") == 5 and _floor("chainrule") == FACE
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from . import loss\n    from ..train import _x\n")
    got = _imports("chainrule.nn.m", fake)
    assert (2, "chainrule.nn.loss", []) in got
    assert (3, "chainrule.train", ["_x"]) in got
    assert _upward_imports_of("chainrule.nn.m", fake) == ["chainrule.train (floor 5)"]


LAZY = ("chainrule.explain", "chainrule.train", "chainrule.sklearn", "chainrule.onnx",
        "chainrule.cli", "rich", "matplotlib", "safetensors", "onnx")  # fmt: skip


def test_import_chainrule_leaves_the_heavy_floors_unloaded():
    """``import chainrule`` loads the engine, nn, optim and data only; the floors above and
    their optional dependencies load on first use (``cr.train``, ``from chainrule import
    explain``)."""
    code = (
        "import sys, chainrule as cr\n"
        f"print([m for m in {LAZY!r} if m in sys.modules])\n"
        "assert all(m in sys.modules for m in "
        "('chainrule.nn', 'chainrule.optim', 'chainrule.data'))\n"
        "cr.train.Trainer; from chainrule import explain; explain.trace\n"
        "print('chainrule.train' in sys.modules, 'chainrule.explain' in sys.modules)\n"
    )
    env_path = str(SRC)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": ""},
    ).stdout.split("\n")
    assert out[0] == "[]", f"loaded by import chainrule: {out[0]}"
    assert out[1] == "True True"


def test_version_comes_from_the_package_metadata(monkeypatch):
    """``cr.__version__`` is the installed distribution's version, read on first use; a
    source tree never installed says ``0+unknown``."""
    import importlib.metadata

    import chainrule as cr
    from chainrule import _version

    assert cr.__version__ == importlib.metadata.version("chainrule")

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    _version.version.cache_clear()
    try:
        assert _version.version() == _version.UNKNOWN == "0+unknown"
    finally:
        _version.version.cache_clear()
