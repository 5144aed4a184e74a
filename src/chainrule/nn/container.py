"""Containers: ``Sequential`` (a chain of layers), ``ModuleList`` and ``ModuleDict``.

Children are registered under their position (``"0"``, ``"1"``, ...) or key, so the names in
``state_dict()`` are PyTorch's (``"0.weight"``, ``"layers.2.bias"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from chainrule.errors import ShapeError
from chainrule.nn.module import Module, _indent, _tree

_C = TypeVar("_C", bound="_Numbered")


class _Numbered(Module):
    """What ``Sequential`` and ``ModuleList`` share: modules in order, usually named by their
    position (``"0"``, ``"1"``, ...); ``len``, iteration, assignment by position, ``append``
    and ``extend``."""

    _kind = "container"  # the class named in index errors

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._key(idx), module)

    def _key(self, idx: int) -> str:
        keys = list(self._modules)
        n = len(keys)
        i = int(idx)
        if not -n <= i < n:
            raise IndexError(f"index {idx} is out of range for a {self._kind} of {n} modules")
        return keys[i % n]

    def _set_modules(self, modules: list[Module]) -> None:
        """Replace every child by ``modules``, named ``"0"``, ``"1"``, ..."""
        for k in list(self._modules):
            delattr(self, k)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def append(self: _C, module: Module) -> _C:
        """Add ``module`` at the end; returns ``self``."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self: _C, modules: Iterable[Module]) -> _C:
        """Append each of ``modules``; returns ``self``."""
        for m in modules:
            self.append(m)
        return self


class Sequential(_Numbered):
    """Modules applied one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Accepts modules as arguments (named ``"0"``, ``"1"``, ...) or one mapping of names to
    modules. Supports ``len``, iteration, integer indexing (negative too) and slicing (a new
    ``Sequential`` with the same names). A :class:`~chainrule.errors.ShapeError` raised by a
    layer is re-raised with the layer's position prepended.

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 2))
    >>> len(net), type(net[-1]).__name__, net(cr.randn(3, 4)).shape
    (3, 'Linear', (3, 2))
    """

    _kind = "Sequential"

    def __init__(self, *args: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Mapping):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:
        for name, module in self._modules.items():
            try:
                input = module(input)
            except ShapeError as exc:
                raise ShapeError(f"in layer ({name}) of Sequential: {exc}") from exc
        return input

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return Sequential(dict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        for k in keys[idx] if isinstance(idx, slice) else [self._key(idx)]:
            delattr(self, k)
        # Keep PyTorch's behaviour: after a deletion, number-named modules are renumbered.
        if all(k.isdigit() for k in self._modules):
            self._set_modules(list(self._modules.values()))

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index``; returns ``self``."""
        mods = list(self._modules.values())
        n = len(mods)
        if not -n <= index <= n:
            raise IndexError(f"index {index} is out of range for a Sequential of {n} modules")
        mods.insert(index + n if index < 0 else index, module)  # -1: before the last
        self._set_modules(mods)
        return self


class ModuleList(_Numbered):
    """A list of modules, registered so that their parameters belong to the owner.

    >>> import chainrule as cr
    >>> blocks = cr.nn.ModuleList([cr.nn.Linear(2, 2) for _ in range(3)])
    >>> len(blocks), len(list(blocks.parameters()))
    (3, 6)
    """

    _kind = "ModuleList"

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._key(idx)]

    def __delitem__(self, idx: int | slice) -> None:
        mods = list(self._modules.values())
        del mods[idx]
        self._set_modules(mods)

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._set_modules(mods)

    def __repr__(self) -> str:
        # Runs of identical children print once, as PyTorch does: "(0-2): 3 x Linear(...)".
        reprs = [repr(m) for m in self._modules.values()]
        lines = []
        i = 0
        while i < len(reprs):
            j = i
            while j + 1 < len(reprs) and reprs[j + 1] == reprs[i]:
                j += 1
            text = _indent(reprs[i], 2)
            lines.append(f"({i}): {text}" if i == j else f"({i}-{j}): {j - i + 1} x {text}")
            i = j + 1
        return _tree(self._get_name(), [], lines)


class ModuleDict(Module):
    """A dict of modules, registered under their keys (insertion order is kept).

    >>> import chainrule as cr
    >>> heads = cr.nn.ModuleDict({"cls": cr.nn.Linear(4, 3), "reg": cr.nn.Linear(4, 1)})
    >>> list(heads.keys()), "cls" in heads
    (['cls', 'reg'], True)
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        """The keys, in insertion order."""
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        """``(key, module)`` pairs, in insertion order."""
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        """The modules, in insertion order."""
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or an iterable of ``(key, module)`` pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self.add_module(key, module)

    def pop(self, key: str) -> Module:
        """Remove the module under ``key`` and return it."""
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every module."""
        for key in list(self._modules):
            delattr(self, key)
