"""Floor 2: the Tensor: an array, its gradient, and the node of the graph that made it.

A ``Tensor`` wraps one backend array (``.data``). When it takes part in a computation that
needs gradients, the op that produced it leaves a :class:`~chainrule.autograd.Node` in
``._node``; ``backward()`` walks those nodes. Leaves (tensors no op produced) that require
gradients receive them in ``.grad``.

This module imports no op: Tensor's operators and op methods (``+``, ``.sum()``, ``.to()``,
``.backward()``) are defined in :mod:`chainrule.ops.tensor_operators` and
:mod:`chainrule.ops.tensor_methods`, which hand them to :func:`register_methods` once when the
ops load. The import order stays one-way: tensor, then the tape, then the ops.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule import _numpy_protocol, backend
from chainrule.errors import DTypeError, InplaceError, ShapeError

ArrayLike = Any


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``Tensor(data, dtype=None, requires_grad=False)`` is the same as :func:`tensor`.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.], dtype=float32)
    """

    __slots__ = (
        "__weakref__",
        "_hooks",
        "_node",
        "_requires_grad",
        "_version",
        "data",
        "grad",
    )
    __array_priority__ = 1000  # so that ndarray (op) Tensor defers to Tensor's reflected op

    def __init__(self, data: ArrayLike, dtype: Any = None, requires_grad: bool = False) -> None:
        self.data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self._node = None
        self._version = [0]
        self._hooks: list[Callable] | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data: Any) -> Tensor:
        """Wrap an array an op produced, skipping the checks of ``__init__`` (hot path)."""
        t = object.__new__(cls)
        if type(data) is not np.ndarray:
            data = backend.xp.asarray(data)
        t.data = data
        t.grad = None
        t._node = None
        t._version = [0]
        t._hooks = None
        t._requires_grad = False
        return t

    # ------------------------------------------------------------------ properties
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to (leaf) or through (non-leaf) this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._node is not None:
            raise InplaceError(
                "requires_grad can only be changed on leaf tensors; use .detach() to get a leaf"
            )
        if value and self.data.dtype.kind != "f":
            raise DTypeError(
                f"only floating-point tensors can require gradients, this one is {self.dtype}; "
                "make it with dtype='float32' or 'float64'"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return ``self``."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self):
        """The graph node that produced this tensor (``None`` for leaves)."""
        return self._node

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> backend.Device:
        """Where the data lives: ``device(type='cpu')`` or ``device(type='cuda', index=N)``."""
        return backend.device_of(self.data)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements (NumPy's ``size``)."""
        return self.data.size

    def numel(self) -> int:
        """Number of elements (PyTorch's name)."""
        return self.data.size

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU, copies from a GPU)."""
        return backend.to_numpy(self.data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """A leaf sharing this tensor's data, cut from the graph."""
        t = Tensor._make(self.data)
        t._version = self._version
        return t

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    # NumPy functions given tensors run as chainrule ops where chainrule has them (np.sum(t),
    # np.exp(t), ndarray + t) and say what to call where a gradient would be lost
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _numpy_protocol.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return _numpy_protocol.array_function(func, args, kwargs)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    def _repr_html_(self) -> str:
        """Jupyter's view: shape, dtype and gradient status, then the values (a table for
        up to 2 dimensions and 400 numbers, NumPy's summary otherwise)."""
        import html

        a = self.numpy()
        info = [f"shape {tuple(a.shape)}", str(a.dtype)]
        if self._node is not None:
            info.append(f"grad_fn {self._node.name}")
        elif self._requires_grad:
            info.append("requires_grad")
        if self.grad is not None:
            info.append("has .grad")
        head = f"<div><code>Tensor</code> {html.escape(', '.join(info))}</div>"
        if a.ndim <= 2 and a.size <= 400 and a.size > 0:
            rows = np.atleast_2d(a)
            cells = np.char.mod("%.6g", rows) if a.dtype.kind == "f" else rows.astype(str)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                for r in cells.tolist()
            )
            return f"{head}<table class='chainrule-tensor'>{body}</table>"
        text = np.array2string(a, separator=", ", precision=4, threshold=200)
        return f"{head}<pre>{html.escape(text)}</pre>"

    def __repr__(self) -> str:
        body = np.array2string(
            self.numpy(), separator=", ", prefix="tensor(", precision=4, threshold=200
        )
        extra = ""
        if self.dtype != np.int64 and self.dtype != np.bool_:
            extra += f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Callable[[], None]:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one.

        Returns a function that removes the hook.
        """
        if not self._requires_grad:
            raise InplaceError("cannot register a hook on a tensor that does not require grad")
        hooks = self._node.hooks if self._node is not None else None
        if self._node is not None:
            if hooks is None:
                hooks = self._node.hooks = []
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return lambda: hooks.remove(hook) if hook in hooks else None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after ``backward()`` (leaves always do)."""
        if self._node is None:
            return
        self._node.retained = weakref.ref(self)

    def _bump(self) -> None:
        self._version[0] += 1


def tensor(
    data: ArrayLike, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    Python floats become the default dtype (float32 unless :func:`set_default_dtype` changed
    it); NumPy arrays keep their dtype; ``dtype`` (a NumPy dtype or its name) overrides both.
    Raises :class:`~chainrule.errors.DTypeError` for non-numeric data or when an integer
    tensor is asked to require gradients.

    >>> tensor([1, 2]).dtype, tensor([1.0, 2.0]).dtype, tensor([1, 2], dtype="float64").dtype
    (dtype('int64'), dtype('float32'), dtype('float64'))
    """
    if isinstance(data, Tensor):
        data = data.data
    if device is not None:
        dev = backend.device(device)
        if dev.type == "cpu" and backend.xp is not np:
            if backend.device_of(data) is not backend.CPU:
                data = backend.to_numpy(data)  # a GPU array: copied to the host
            with backend.host():
                return tensor(data, dtype, requires_grad)
        data = backend.to_device(_to_array(data, dtype), dev)
    t = Tensor(data, dtype=dtype, requires_grad=requires_grad)
    if (
        hasattr(data, "dtype")
        and backend.device_of(data) == t.device
        and backend.array_module(t.data).may_share_memory(t.data, data)
    ):
        t.data = t.data.copy()
    return t


def _to_array(data: ArrayLike, dtype: Any) -> Any:
    xp = backend.xp
    if isinstance(data, Tensor):
        data = data.data
    typed = isinstance(data, (np.ndarray, np.generic)) or (
        xp is not np and isinstance(data, xp.ndarray)
    )
    try:
        arr = xp.asarray(data)
    except (ValueError, TypeError) as exc:
        raise DTypeError(f"cannot make a tensor from {type(data).__name__}: {exc}") from exc
    if dtype is not None:
        return arr.astype(backend.as_dtype(dtype), copy=False)
    kind = arr.dtype.kind
    if kind == "f":
        return arr if typed else arr.astype(backend.get_default_dtype(), copy=False)
    if kind in "iub":
        return arr
    raise DTypeError(f"cannot make a tensor from data of dtype {arr.dtype}; use numbers")


_NOT_COPIED = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__hash__"}


def register_methods(source: type) -> type:
    """Class decorator: copy the methods, properties and attributes defined in ``source``'s
    body onto :class:`Tensor` (they then read as ``chainrule.tensor.Tensor.NAME``), and return
    ``source``. How :mod:`chainrule.ops` gives tensors their operators and methods without
    this module importing the ops, which import it."""
    for name, value in vars(source).items():
        if name in _NOT_COPIED or name.startswith("__static") or name.startswith("__first"):
            continue
        fn = value.fget if isinstance(value, property) else value
        if callable(fn) and getattr(fn, "__name__", None) == name:
            fn.__qualname__ = f"Tensor.{name}"
            fn.__module__ = __name__
        setattr(Tensor, name, value)
    return source
