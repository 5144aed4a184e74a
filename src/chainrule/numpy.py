"""``import chainrule.numpy as np``: NumPy's whole namespace, differentiable where chainrule
has a rule.

Existing NumPy code gains gradients by changing its import::

    import chainrule as cr
    import chainrule.numpy as np

    def loss(w, X, y):                      # plain NumPy code
        p = 1 / (1 + np.exp(-(X @ w)))
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    grad_w = cr.grad(loss)(w, X, y)

Every name resolves lazily, on first use (a module ``__getattr__``), so ops added to
chainrule later are picked up without touching this file:

* a name that chainrule's ops also define (``exp``, ``sum``, ``concatenate``, ``sort``,
  ``linalg.solve``...) calls chainrule's op when any argument is a :class:`~chainrule.Tensor`
  (so gradients flow), and NumPy's function otherwise (so code given plain arrays runs and
  returns exactly what NumPy returns);
* ``array`` / ``asarray`` build a differentiable tensor from nested lists holding tensors;
  ``where(condition)`` with one argument is ``nonzero``;
* everything else is NumPy's own: creation functions (``zeros``, ``arange``, ``eye``...),
  dtypes, constants, ``random``, ``fft``. Such a function given a tensor that requires
  gradients, whose result would be a floating array cut from the graph, raises
  :class:`~chainrule.errors.NotDifferentiableError` naming it instead of silently dropping
  the gradient.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as _np

from chainrule import _numpy_protocol
from chainrule.errors import NotDifferentiableError
from chainrule.tensor import Tensor

# NumPy submodules whose names resolve like this module's (chainrule's op when it has one)
_SUBMODULES = {"linalg": "linalg", "fft": "fft", "random": "random"}


def __getattr__(name: str) -> Any:
    if name == "__all__":  # ``from chainrule.numpy import *``: NumPy's public names
        return [n for n in getattr(_np, "__all__", dir(_np)) if not n.startswith("_")]
    if name.startswith("__"):  # module machinery (__path__, __wrapped__...): not NumPy's
        raise AttributeError(f"module 'chainrule.numpy' has no attribute {name!r}")
    obj = _cache.get(name)
    if obj is None:
        obj = _cache[name] = _resolve(_np, name, _cr_namespace(None), f"chainrule.numpy.{name}")
    return obj


def __dir__() -> list[str]:
    return sorted(set(dir(_np)) | set(globals()))


# Resolved names, kept here rather than in the module's globals so that tools walking the
# module (doctest collection) do not take NumPy's functions for this module's own.
_cache: dict[str, Any] = {}


def _cr_namespace(sub: str | None) -> Any:
    """chainrule's namespace mirroring NumPy's module ``sub`` (``None``: the top level):
    the public ops, or ``cr.linalg`` and the like once they exist."""
    if sub is None:  # the names ``cr`` re-exports from its ops
        from chainrule import ops

        return types.SimpleNamespace(**{n: getattr(ops, n) for n in ops.__all__})
    import importlib

    try:  # chainrule.linalg, chainrule.special: modules on this floor
        return importlib.import_module(f"chainrule.{sub}")
    except ImportError:
        return None


def _resolve(np_module: Any, name: str, cr_ns: Any, qualname: str) -> Any:
    try:
        np_obj = getattr(np_module, name)
    except AttributeError:
        raise AttributeError(
            f"module {qualname.rsplit('.', 1)[0]!r} has no attribute {name!r}"
        ) from None
    if np_module is _np and name in _SUBMODULES:
        return _Submodule(np_obj, name)
    if np_module is _np and name in _SPECIAL:
        return _Dispatch(qualname, np_obj, _SPECIAL[name])
    if isinstance(np_obj, (type, types.ModuleType)) or not callable(np_obj):
        return np_obj  # dtypes, classes, constants, other submodules
    cr_name = _numpy_protocol._ALIASES.get(name, name)  # NumPy's aliases: concat, acos...
    cr_obj = getattr(cr_ns, cr_name, None) if cr_ns is not None else None
    if callable(cr_obj):
        return _Dispatch(qualname, np_obj, cr_obj)
    return _Dispatch(qualname, np_obj, None)


class _Dispatch:
    """Calls chainrule's op when a tensor is among the arguments, NumPy's otherwise; other
    attributes (``np.add.at``, ``np.maximum.reduce``) are NumPy's."""

    def __init__(self, qualname: str, np_fn: Callable, cr_fn: Callable | None) -> None:
        self._name = qualname
        self._np = np_fn
        self._cr = cr_fn
        self.__name__ = qualname.rsplit(".", 1)[-1]
        self.__qualname__ = self.__name__
        self.__doc__ = (cr_fn.__doc__ if cr_fn is not None else None) or np_fn.__doc__
        self.__wrapped__ = cr_fn if cr_fn is not None else np_fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _has_tensor(args) and not _has_tensor(tuple(kwargs.values())):
            return self._np(*args, **kwargs)
        if self._cr is not None:
            try:
                return self._cr(*args, **kwargs)
            except TypeError as exc:
                if "unexpected keyword argument" not in str(exc):
                    raise
                if _needs_grad(args) or _needs_grad(tuple(kwargs.values())):
                    raise TypeError(
                        f"{self._name}: chainrule's {self.__name__} does not take NumPy's "
                        f"argument {str(exc).rsplit(' ', 1)[-1]} (it was given a tensor that "
                        "requires gradients); leave the argument out, or use tensor.detach() "
                        "to run NumPy's function"
                    ) from exc
                # no gradient wanted: NumPy's own function takes every argument
        # NumPy on the arrays (a tensor's own __array_function__ would answer for it)
        out = self._np(*_numpy_protocol._unwrap(args), **_numpy_protocol._unwrap(kwargs))
        if self.__name__.endswith("_like"):  # zeros_like & co.: nothing depends on values
            return out
        if _needs_grad(args) or _needs_grad(tuple(kwargs.values())):
            if _is_float_result(out):
                raise NotDifferentiableError(
                    f"{self._name}: chainrule has no gradient rule for numpy's {self.__name__}, "
                    "and a tensor that requires gradients was given; compute it from "
                    "differentiable ops, or pass tensor.detach() to use NumPy's value"
                )
        return out

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._np, attr)

    def __repr__(self) -> str:
        kind = "chainrule op or numpy" if self._cr is not None else "numpy"
        return f"<{self._name} ({kind})>"


class _Submodule(types.ModuleType):
    """``np.linalg``, ``np.fft``, ``np.random``: NumPy's submodule, with chainrule's ops of
    the same name (``cr.linalg.solve``...) when given tensors."""

    def __init__(self, np_module: types.ModuleType, sub: str) -> None:
        super().__init__(f"chainrule.numpy.{sub}", np_module.__doc__)
        self._np_module = np_module
        self._sub = sub
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        obj = self._cache.get(name)
        if obj is None:
            obj = _resolve(
                self._np_module, name, _cr_namespace(self._sub), f"{self.__name__}.{name}"
            )
            self._cache[name] = obj
        return obj

    def __dir__(self) -> list[str]:
        return dir(self._np_module)


# ---------------------------------------------------------------------------- special cases
def _array(obj: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    from chainrule import ops

    if isinstance(obj, Tensor):
        return obj if dtype is None else obj.astype(dtype)
    return ops.array(obj, dtype=dtype)


def _where(condition: Any, *xy: Any) -> Any:
    from chainrule import ops

    if not xy:
        return ops.nonzero(condition)
    return ops.where(condition, *xy)


_SPECIAL: dict[str, Callable] = {"array": _array, "asarray": _array, "asanyarray": _array,
                                 "where": _where}  # fmt: skip


# ---------------------------------------------------------------------------- helpers
def _has_tensor(args: tuple | list) -> bool:
    for a in args:
        if isinstance(a, Tensor):
            return True
        if isinstance(a, (list, tuple)) and _has_tensor(a):
            return True
    return False


def _needs_grad(args: tuple | list) -> bool:
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            return True
        if isinstance(a, (list, tuple)) and _needs_grad(a):
            return True
    return False


def _is_float_result(out: Any) -> bool:
    if isinstance(out, (list, tuple)):
        return any(_is_float_result(o) for o in out)
    return (
        isinstance(out, (_np.ndarray, _np.generic, float)) and _np.asarray(out).dtype.kind in "fc"
    )
