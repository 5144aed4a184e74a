"""The helpers a replay of ``cr.compile`` calls (the generated function's namespace names
them): buffers made anew, gradients delivered into leaves, rules recorded whole."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend, tape
from chainrule.tensor import Tensor

_make = Tensor._make


def fresh(ns: dict, name: str) -> Any:
    """A new buffer in place of ``ns[name]``, which something outside the record still holds."""
    b = ns[name] = np.empty_like(ns[name])
    return b


def _base_refcount() -> int:
    """What ``RC(b)`` says in a generated function when only its namespace holds ``b``
    (the namespace's reference and the call's argument): measured, not assumed."""
    ns = {"b": np.empty(0), "RC": sys.getrefcount}
    exec("def f():\n    return RC(b)", ns)
    return ns["f"]()


BASE = _base_refcount()


def deliver(leaf: Tensor, arr: Any, copy: bool, dtype: Any) -> None:
    """A gradient into a leaf's ``.grad``, as the eager backward does it: assigned (a copy
    when the array is not the rule's own) when there is none yet, added in place otherwise."""
    if dtype is not None:
        arr = arr.astype(dtype)
    gr = leaf.grad
    if gr is None:
        leaf.grad = _make(arr.copy() if copy else arr)
    else:
        gr.data += arr


def leaf(arr: Any) -> Tensor:
    """A tensor around a replayed array that says it requires grad, as the one a rule was
    given during the capture did (rules may skip the gradients nobody needs)."""
    t = _make(arr)
    t._requires_grad = True
    return t


def rule(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """A gradient rule recorded whole, run as the backward walk runs it (recording off)."""
    with tape.backward_mode(False):
        return fn(*args, **kwargs)


def as_array(r: Any) -> Any:
    """A rule's result as an array (None stays None)."""
    if r is None:
        return None
    return r.data if isinstance(r, Tensor) else backend.xp.asarray(r)
