"""What a ``cr.compile`` capture watches on tensors while the function runs.

During a capture a few ``Tensor`` members are patched (process-wide, acting only on the
capturing thread): value reads (``item``, ``float()``, ``bool()``, ``.numpy()``...), in-place
bumps, ``.data`` and ``.grad`` assignment, hooks. What the record cannot replay makes the capture
fall back (:meth:`chainrule._capture.Capture.fail`); ``.item()`` gives a :class:`Scalar`, a
float the replay recomputes, and a tensor made from an array the record knows is a step.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule import autograd, tape
from chainrule.tensor import Tensor

if TYPE_CHECKING:
    from chainrule._capture import Capture

_TENSOR_FILE = os.path.join(os.path.dirname(__file__), "tensor.py")
_ENGINE = ("tensor.py", "tape.py", "autograd.py", "_capture.py", "_replay.py", "_watch.py")
_PACKAGE = os.path.dirname(__file__) + os.sep
_SKIP = tuple(os.path.join(os.path.dirname(__file__), f) for f in _ENGINE)


def where() -> str:
    """Where (file:line) the code outside the engine that made a tensor is."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename in _SKIP:
        f = f.f_back
    if f is None:
        return ""
    return f"at {os.path.basename(f.f_code.co_filename)}:{f.f_lineno} ({f.f_code.co_name})"


class Scalar(float):
    """``t.item()`` of a recorded tensor during a capture: a float whose value the replay
    recomputes when it is returned; any other use of it is a value read and falls back."""

    def __new__(cls, value: float, capture: Capture, slot: int, item: bool = True) -> Scalar:
        s = super().__new__(cls, value)
        s.capture = capture
        s.slot = slot
        s.value = value
        s.item = item  # from .item() (the replay calls it), else a replayable's number
        return s


def _in_forward(frame: Any) -> bool:
    """Whether ``frame`` is (inside) a primitive's forward or a tensor's construction: both
    run again at each replay on the number's new value, so using the number there is fine."""
    codes = (tape.Primitive.__call__.__code__, Tensor.__init__.__code__)
    for _ in range(3):
        if frame is None:
            return False
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _scalar_op(name: str) -> Callable:
    base = getattr(float, name)

    def op(self: Scalar, *a: Any) -> Any:
        rec = tape.recorder
        if rec is self.capture and rec.own() and not _in_forward(sys._getframe(1)):
            self.capture.fail(f"a number read from a tensor is used in Python ({name})")
        return base(self.value, *a)

    return op


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__",
    "__rpow__", "__neg__", "__pos__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__",
    "__eq__", "__ne__", "__bool__", "__int__", "__float__", "__round__", "__format__",
    "__str__", "__repr__", "__trunc__", "__floor__", "__ceil__", "__divmod__", "__rdivmod__",
):  # fmt: skip
    setattr(Scalar, _name, _scalar_op(_name))
Scalar.__hash__ = float.__hash__  # type: ignore[assignment]

_READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__array__")


def patch(cap: Capture) -> dict[str, Any]:
    """Set ``cap`` as the recorder and patch Tensor's members that it watches."""
    saved = {name: Tensor.__dict__[name] for name in (*_READS, "_bump", "data", "grad",
                                                      "register_hook", "retain_grad")}  # fmt: skip
    member = saved["data"]
    grad_member = saved["grad"]

    def set_grad(t: Tensor, value: Any) -> None:
        grad_member.__set__(t, value)
        rec = tape.recorder
        if rec is not None and rec.own() and id(t) not in rec.born:
            if not _delivering(sys._getframe(1)):
                rec.grad_assigned(t, value)

    def get_data(t: Tensor) -> Any:
        rec = tape.recorder
        if rec is not None and not rec.rule_depth and rec.own():
            code = sys._getframe(1).f_code
            if not code.co_filename.startswith(_PACKAGE):  # the function's own code
                rec.fail(f"it reads a tensor's .data {where()} (the record cannot follow "
                         "what is done with the array; use the tensor)")  # fmt: skip
        return member.__get__(t, Tensor)

    def set_data(t: Tensor, value: Any) -> None:
        rec = tape.recorder
        if rec is None or threading.get_ident() != rec.thread:
            member.__set__(t, value)
            return
        try:
            old = member.__get__(t, Tensor)
            had = True
        except AttributeError:
            old, had = None, False
        member.__set__(t, value)
        if not had or id(t) in rec.born:  # a tensor made here (cr.tensor copies): new data
            rec.born.add(id(t))
            i = id(value)
            if not rec.suspended and i not in rec.slot and i not in rec.consts:
                if not _conversion(rec, value, old, sys._getframe(1)):
                    rec.untracked[i] = where()
                    rec.hold(value)
        elif not rec.suspended and not _delivering(sys._getframe(1)):
            rec.fail(f"a tensor's .data is assigned {where()} (outside a replayable call)")

    def reader(name: str) -> Callable:
        base = saved[name]

        def read(t: Tensor, *a: Any, **k: Any) -> Any:
            rec = tape.recorder
            if rec is None or not rec.own():
                return base(t, *a, **k)
            if rec.rule_depth:
                rec.dirty = True
                return base(t, *a, **k)
            arr = member.__get__(t, Tensor)
            n = rec.slot.get(id(arr))
            if name == "item" and n is not None and not a and not k:
                return Scalar(base(t), rec, n)
            if id(arr) not in rec.consts:
                what = f"{name}()" if not name.startswith("__") else f"{name.strip('_')}(tensor)"
                rec.fail(f"it reads a tensor's value into Python with {what} {where()}")
            return base(t, *a, **k)

        return read

    def bump(t: Tensor) -> None:
        rec = tape.recorder
        if rec is not None and rec.own():
            if rec.rule_depth:
                rec.dirty = True
            else:
                rec.fail(f"a tensor is changed in place {where()} (outside a replayable call)")
        saved["_bump"](t)

    def hooked(name: str) -> Callable:
        base = saved[name]

        def f(t: Tensor, *a: Any, **k: Any) -> Any:
            rec = tape.recorder
            if rec is not None and rec.own():
                rec.fail(f"{name}() is called on a tensor inside the function")
            return base(t, *a, **k)

        return f

    for name in _READS:
        setattr(Tensor, name, reader(name))
    Tensor._bump = bump
    Tensor.register_hook = hooked("register_hook")
    Tensor.retain_grad = hooked("retain_grad")
    Tensor.data = property(get_data, set_data)
    Tensor.grad = property(grad_member.__get__, set_grad)
    tape.recorder = cap
    return saved


def _conversion(rec: Capture, value: Any, old: Any, frame: Any) -> bool:
    """Record ``Tensor(data, dtype)``'s conversion of an array the record made, or
    ``cr.tensor``'s copy of it, as a step; False for any other new data."""
    code = frame.f_code
    if code.co_filename != _TENSOR_FILE or rec.rule_depth:
        return False
    reads: list = []
    if code.co_name == "__init__" and old is None:
        src = frame.f_locals.get("data")
        if type(src) in (list, tuple) and any(type(v) is Scalar for v in src):
            rec.fail("a tensor is made from a list holding a number read from a tensor")
        elif type(src) in (int, float, bool, list, tuple):  # Python numbers: a constant
            rec.constant(value)
            return True
        src = src.data if isinstance(src, Tensor) else src
        if type(src) is Scalar and src.capture is rec:  # t.item() made a tensor again
            e = rec.arg(src, "", reads)
        else:
            e = rec.recorded(src, reads) if type(src) is np.ndarray else None
        if e is None:
            return False
        dtype = rec.obj(frame.f_locals.get("dtype"))
        line = f"TA({e}, dtype={dtype}).data"
    elif code.co_name == "tensor" and old is not None:
        e = rec.recorded(old, reads)
        if e is None:
            return False
        line = f"{e}.copy()"
    else:
        return False
    n = rec.new_slot(value)
    rec.code(f"s{n} = {line}", reads, (n,))
    return True


def _delivering(frame: Any) -> bool:
    """Whether ``frame`` is the engine adding a gradient into a leaf's ``.grad`` (recorded)."""
    code = frame.f_code
    return code.co_name == "_deliver_leaf" and code.co_filename == autograd.__file__


def unpatch(saved: dict[str, Any]) -> None:
    tape.recorder = None
    for name, v in saved.items():
        setattr(Tensor, name, v)
