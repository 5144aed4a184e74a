"""Floor 2: Tensor's operators: ``+ - * / ** @``, comparisons, ``[]``, in-place updates,
conversions that are ops (``.T``, ``.to()``, ``.astype()``) and ``.backward()``.

Each forwards to the op of the same idea in :mod:`chainrule.ops`. ``tensor.py`` says what a
Tensor is and imports no op; the class body below is copied onto :class:`Tensor` once, by
:func:`~chainrule.tensor.register_methods`, when the ops load. The named methods (``.sum()``,
``.reshape()``, ...) are in :mod:`chainrule.ops.tensor_methods`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import autograd, backend
from chainrule.errors import InplaceError, ShapeError
from chainrule.ops.elementwise import (
    abs,
    add,
    astype,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    copy,
    divide,
    equal,
    floor_divide,
    greater,
    greater_equal,
    left_shift,
    less,
    less_equal,
    multiply,
    negative,
    not_equal,
    power,
    remainder,
    right_shift,
    subtract,
)
from chainrule.ops.indexing import getitem, index_data
from chainrule.ops.linalg import matmul
from chainrule.ops.shape import swapaxes, to_device, transpose
from chainrule.tape import is_grad_enabled
from chainrule.tensor import ArrayLike, Tensor, register_methods


@register_methods
class _Operators:
    @property
    def T(self) -> Tensor:
        """All axes reversed, as NumPy's ``.T``."""
        return transpose(self)

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped (a batch of matrices transposed)."""
        return swapaxes(self, -1, -2)

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (gradients flow back)."""
        return copy(self)

    def to(
        self,
        *args: Any,
        device: Any = None,
        dtype: Any = None,
        non_blocking: bool = False,
        copy: bool = False,
    ) -> Tensor:
        """This tensor on another device and/or in another dtype, as PyTorch's ``.to``:
        ``t.to("cuda")``, ``t.to("float64")``, ``t.to("cuda", "float16")``, ``t.to(other)``
        (``other``'s device and dtype). Returns ``self`` when nothing changes (a copy with
        ``copy=True``); otherwise a copy that stays in the graph (gradients flow back to this
        tensor's device). ``non_blocking`` is accepted for PyTorch's sake; copies are
        synchronous.

        Moving to a GPU selects the CuPy backend (see :func:`chainrule.set_backend`). Raises
        :class:`~chainrule.errors.DeviceError` for an unknown device name, when CuPy is
        missing or no GPU answers; :class:`~chainrule.errors.DTypeError` for a bad dtype.

        >>> import chainrule as cr
        >>> cr.tensor([1, 2]).to("float64").dtype, cr.tensor([1.0]).to("cpu").device
        (dtype('float64'), device(type='cpu'))
        """
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif backend.is_device(a):
                device = a
            else:
                dtype = a
        out = self
        if device is not None:
            dev = backend.device(device)
            here = self.device
            if dev.type != here.type or (dev.index is not None and dev.index != here.index):
                out = to_device(self, dev, here)
        if dtype is not None and backend.as_dtype(dtype) != out.dtype:
            out = out.astype(dtype)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> Tensor:
        """This tensor on the CPU (``self`` when it is already there)."""
        return self.to(backend.CPU)

    def cuda(self, index: int | None = None) -> Tensor:
        """This tensor on GPU ``index`` (the current one when omitted); see :meth:`to`."""
        return self.to(backend.Device("cuda", index))

    def astype(self, dtype: Any) -> Tensor:
        """This tensor cast to ``dtype`` (differentiable between floating dtypes)."""
        return astype(self, backend.as_dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # ------------------------------------------------------------------ autograd
    def backward(
        self, grad: ArrayLike | None = None, retain_graph: bool = False, create_graph: bool = False
    ) -> None:
        """Backpropagate from this tensor, adding d(self)/d(leaf) into each leaf's ``.grad``.

        ``grad`` is the gradient of the final objective w.r.t. this tensor (same shape); it may
        be omitted only for a one-element tensor. Raises
        :class:`~chainrule.errors.BackwardError` when it is missing for a non-scalar or when
        this tensor does not require grad, :class:`~chainrule.errors.GraphFreedError` on a
        second pass through a freed graph, :class:`~chainrule.errors.InplaceError` when a
        saved tensor was modified in place.
        """
        autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    # ------------------------------------------------------------------ in place
    def _check_inplace(self, what: str, source: Any = None) -> None:
        if self._requires_grad and is_grad_enabled():
            kind = "a leaf tensor that requires grad" if self._node is None else "a graph tensor"
            raise InplaceError(
                f"{what}: cannot modify {kind} in place while gradients are recorded; "
                "use cr.no_grad() or an out-of-place op"
            )
        if getattr(source, "_requires_grad", False) and is_grad_enabled():
            raise InplaceError(
                f"{what}: the value requires grad, and writing it into a tensor would cut it "
                "from the graph; use out-of-place ops (cr.where, cr.concatenate, cr.stack)"
            )

    def _inplace(self, what: str, value: Any, source: Any = None) -> Tensor:
        """Write ``value``, or ``value(self.data)`` when it is a function, into the data
        (``source``: the operand it comes from, checked not to be in the graph)."""
        self._check_inplace(what, source)
        try:
            v = value(self.data) if callable(value) else value
            self.data[...] = v.data if isinstance(v, Tensor) else v
        except ValueError as exc:  # shapes that do not broadcast to ours
            raise ShapeError(
                f"{what}: in place into a tensor of shape {self.shape}: {exc}"
            ) from exc
        self._bump()
        return self

    def add_(self, other: ArrayLike, alpha: float = 1.0) -> Tensor:
        """``self += alpha * other`` in place."""
        o = other.data if isinstance(other, Tensor) else other
        return self._inplace("add_", lambda d: d + (o if alpha == 1.0 else alpha * o), other)

    def sub_(self, other: ArrayLike, alpha: float = 1.0) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return self._inplace("sub_", lambda d: d - (o if alpha == 1.0 else alpha * o), other)

    def mul_(self, other: ArrayLike) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return self._inplace("mul_", lambda d: d * o, other)

    def div_(self, other: ArrayLike) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return self._inplace("div_", lambda d: d / o, other)

    def copy_(self, src: ArrayLike) -> Tensor:
        return self._inplace("copy_", src, src)

    def fill_(self, value: float) -> Tensor:
        return self._inplace("fill_", value)

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def __setitem__(self, index: Any, value: ArrayLike) -> None:
        self._check_inplace("__setitem__", value)
        idx = index_data(index)
        self.data[idx] = value.data if isinstance(value, Tensor) else value
        self._bump()

    def _iop(self, op: Callable, other: ArrayLike, name: str) -> Tensor:
        # ``x += y`` is in place like PyTorch's, except on graph tensors, where it rebinds
        # the name to the out-of-place result (same values and gradients).
        needs_graph = self._requires_grad or getattr(other, "_requires_grad", False)
        if needs_graph and is_grad_enabled():  # e.g. a += w with w a parameter
            if self._node is None:
                self._check_inplace(name)
            return op(self, other)
        return self._inplace(name, op(self, other).data)

    def __iadd__(self, other: ArrayLike) -> Tensor:
        return self._iop(add, other, "+=")

    def __isub__(self, other: ArrayLike) -> Tensor:
        return self._iop(subtract, other, "-=")

    def __imul__(self, other: ArrayLike) -> Tensor:
        return self._iop(multiply, other, "*=")

    def __itruediv__(self, other: ArrayLike) -> Tensor:
        return self._iop(divide, other, "/=")

    # ------------------------------------------------------------------ operators
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return subtract(self, other)

    def __rsub__(self, other):
        return subtract(other, self)

    def __mul__(self, other):
        return multiply(self, other)

    def __rmul__(self, other):
        return multiply(other, self)

    def __truediv__(self, other):
        return divide(self, other)

    def __rtruediv__(self, other):
        return divide(other, self)

    def __pow__(self, other):
        return power(self, other)

    def __rpow__(self, other):
        return power(other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return abs(self)

    def __getitem__(self, index):
        return getitem(self, index)

    def __lt__(self, other):
        return less(self, other)

    def __le__(self, other):
        return less_equal(self, other)

    def __gt__(self, other):
        return greater(self, other)

    def __ge__(self, other):
        return greater_equal(self, other)

    def __eq__(self, other):  # type: ignore[override]
        return equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        return not_equal(self, other)

    def __mod__(self, other):
        return remainder(self, other)

    def __rmod__(self, other):
        return remainder(other, self)

    def __floordiv__(self, other):
        return floor_divide(self, other)

    def __rfloordiv__(self, other):
        return floor_divide(other, self)

    def __divmod__(self, other):
        return floor_divide(self, other), remainder(self, other)

    def __rdivmod__(self, other):
        return floor_divide(other, self), remainder(other, self)

    # Bitwise on integers, logical on booleans (NumPy's operators); floats raise DTypeError.
    def __invert__(self):
        return bitwise_not(self)

    def __and__(self, other):
        return bitwise_and(self, other)

    def __rand__(self, other):
        return bitwise_and(other, self)

    def __or__(self, other):
        return bitwise_or(self, other)

    def __ror__(self, other):
        return bitwise_or(other, self)

    def __xor__(self, other):
        return bitwise_xor(self, other)

    def __rxor__(self, other):
        return bitwise_xor(other, self)

    def __lshift__(self, other):
        return left_shift(self, other)

    def __rlshift__(self, other):
        return left_shift(other, self)

    def __rshift__(self, other):
        return right_shift(self, other)

    def __rrshift__(self, other):
        return right_shift(other, self)
