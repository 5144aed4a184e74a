"""Every public function and class of the user-facing namespaces has a docstring of its own.

The namespaces are ``cr``, ``cr.nn``, ``cr.optim``, ``cr.data`` and ``cr.train`` (the issue's
list) and the sub-namespaces users call by name (``cr.nn.functional``, ``cr.nn.init``,
``cr.optim.lr_scheduler``, ``cr.linalg``, ``cr.special``). Their public names are their
``__all__`` (or, without one, every name not starting with ``_``); of those, every function,
class and primitive that chainrule defines (re-exported NumPy dtypes and constants are NumPy's
to document) needs a docstring that is not empty and not the one Python writes for a
dataclass or a named tuple (``Name(field, ...)``), nor one inherited from a base class.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

from chainrule.autograd import Primitive

NAMESPACES = [
    "chainrule",
    "chainrule.nn",
    "chainrule.optim",
    "chainrule.data",
    "chainrule.train",
    "chainrule.nn.functional",
    "chainrule.nn.init",
    "chainrule.optim.lr_scheduler",
    "chainrule.linalg",
    "chainrule.special",
]


def public_names(module: ModuleType) -> list[str]:
    """The module's ``__all__``, or its names that do not start with ``_``."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return list(names)


def own_docstring(obj: object) -> str | None:
    """The docstring written for ``obj`` itself (a primitive's is its forward's), or ``None``
    when there is none, it is blank, or Python generated it."""
    if isinstance(obj, Primitive):
        doc = obj.forward.__doc__
    elif inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")  # a class's __doc__ is never inherited, but be sure
    else:
        doc = getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return None
    name = getattr(obj, "__name__", "")
    if name and doc.startswith(f"{name}("):  # dataclass / namedtuple: "Name(field, ...)"
        return None
    return doc


def documented_objects(space: str) -> list[tuple[str, object]]:
    """``(qualified name, object)`` for each public function, class and primitive of
    ``space`` that chainrule defines."""
    module = importlib.import_module(space)
    found = []
    for name in public_names(module):
        obj = getattr(module, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        if not str(getattr(obj, "__module__", None) or "").startswith("chainrule"):
            continue  # NumPy's dtypes and functions re-exported as they are
        found.append((f"{space}.{name}", obj))
    return found


@pytest.mark.parametrize("space", NAMESPACES)
def test_every_public_name_has_a_docstring(space):
    objects = documented_objects(space)
    assert objects, f"{space}: no public functions or classes found"
    missing = sorted(name for name, obj in objects if own_docstring(obj) is None)
    assert not missing, (
        f"{len(missing)} public names of {space} without a docstring (say what it computes, "
        "the shapes, and what it raises):\n  " + "\n  ".join(missing)
    )


def test_the_check_sees_what_it_should():
    from typing import NamedTuple

    from chainrule import nn

    class Bare(NamedTuple):
        a: int

    class Quiet(nn.Module):
        pass

    def blank():
        """ """

    @Primitive
    def twice(x):
        """2x.

        x̄ = 2 ḡ
        """
        return 2 * x

    assert own_docstring(Bare) is None  # the generated "Bare(a,)"
    assert own_docstring(Quiet) is None  # nn.Module's docstring is not Quiet's
    assert own_docstring(blank) is None
    assert own_docstring(twice).startswith("2x.")
    assert own_docstring(nn.Linear).strip()
    assert ("chainrule.tanh", importlib.import_module("chainrule").tanh) in documented_objects(
        "chainrule"
    )
    # NumPy's own objects re-exported by cr are not chainrule's to document
    assert all(not name.endswith(".float32") for name, _ in documented_objects("chainrule"))
