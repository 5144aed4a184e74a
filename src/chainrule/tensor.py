"""Floor 2: the Tensor: an array, its gradient, and the node of the graph that made it.

A ``Tensor`` wraps one backend array (``.data``). When it takes part in a computation that
needs gradients, the op that produced it leaves a :class:`~chainrule.autograd.Node` in
``._node``; ``backward()`` walks those nodes. Leaves (tensors no op produced) that require
gradients receive them in ``.grad``.

Operators and methods below only forward to the functions in :mod:`chainrule.ops`, where each
op and its gradient rule live.
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

    @property
    def T(self) -> Tensor:
        """All axes reversed, as NumPy's ``.T``."""
        return _ops.transpose(self)

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped (a batch of matrices transposed)."""
        return _ops.swapaxes(self, -1, -2)

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

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (gradients flow back)."""
        return _ops.copy(self)

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
            elif isinstance(a, backend.Device) or (isinstance(a, str) and _is_device_name(a)):
                device = a
            else:
                dtype = a
        out = self
        if device is not None:
            dev = backend.device(device)
            here = self.device
            if dev.type != here.type or (dev.index is not None and dev.index != here.index):
                out = _ops.shape.to_device(self, dev, here)
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
        return _ops.astype(self, backend.as_dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

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
        _autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

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

    # ------------------------------------------------------------------ in place
    def _check_inplace(self, what: str, source: Any = None) -> None:
        if self._requires_grad and _autograd.is_grad_enabled():
            kind = "a leaf tensor that requires grad" if self._node is None else "a graph tensor"
            raise InplaceError(
                f"{what}: cannot modify {kind} in place while gradients are recorded; "
                "use cr.no_grad() or an out-of-place op"
            )
        if getattr(source, "_requires_grad", False) and _autograd.is_grad_enabled():
            raise InplaceError(
                f"{what}: the value requires grad, and writing it into a tensor would cut it "
                "from the graph; use out-of-place ops (cr.where, cr.concatenate, cr.stack)"
            )

    def _bump(self) -> None:
        self._version[0] += 1

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
        idx = _ops.index_data(index)
        self.data[idx] = value.data if isinstance(value, Tensor) else value
        self._bump()

    def _iop(self, op: Callable, other: ArrayLike, name: str) -> Tensor:
        # ``x += y`` is in place like PyTorch's, except on graph tensors, where it rebinds
        # the name to the out-of-place result (same values and gradients).
        needs_graph = self._requires_grad or getattr(other, "_requires_grad", False)
        if needs_graph and _autograd.is_grad_enabled():  # e.g. a += w with w a parameter
            if self._node is None:
                self._check_inplace(name)
            return op(self, other)
        return self._inplace(name, op(self, other).data)

    def __iadd__(self, other: ArrayLike) -> Tensor:
        return self._iop(_ops.add, other, "+=")

    def __isub__(self, other: ArrayLike) -> Tensor:
        return self._iop(_ops.subtract, other, "-=")

    def __imul__(self, other: ArrayLike) -> Tensor:
        return self._iop(_ops.multiply, other, "*=")

    def __itruediv__(self, other: ArrayLike) -> Tensor:
        return self._iop(_ops.divide, other, "/=")

    # ------------------------------------------------------------------ operators
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.subtract(self, other)

    def __rsub__(self, other):
        return _ops.subtract(other, self)

    def __mul__(self, other):
        return _ops.multiply(self, other)

    def __rmul__(self, other):
        return _ops.multiply(other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __pow__(self, other):
        return _ops.power(self, other)

    def __rpow__(self, other):
        return _ops.power(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __lt__(self, other):
        return _ops.less(self, other)

    def __le__(self, other):
        return _ops.less_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    def __eq__(self, other):  # type: ignore[override]
        return _ops.equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        return _ops.not_equal(self, other)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __divmod__(self, other):
        return _ops.floor_divide(self, other), _ops.remainder(self, other)

    def __rdivmod__(self, other):
        return _ops.floor_divide(other, self), _ops.remainder(other, self)

    # Bitwise on integers, logical on booleans (NumPy's operators); floats raise DTypeError.
    def __invert__(self):
        return _ops.bitwise_not(self)

    def __and__(self, other):
        return _ops.bitwise_and(self, other)

    def __rand__(self, other):
        return _ops.bitwise_and(other, self)

    def __or__(self, other):
        return _ops.bitwise_or(self, other)

    def __ror__(self, other):
        return _ops.bitwise_or(other, self)

    def __xor__(self, other):
        return _ops.bitwise_xor(self, other)

    def __rxor__(self, other):
        return _ops.bitwise_xor(other, self)

    def __lshift__(self, other):
        return _ops.left_shift(self, other)

    def __rlshift__(self, other):
        return _ops.left_shift(other, self)

    def __rshift__(self, other):
        return _ops.right_shift(self, other)

    def __rrshift__(self, other):
        return _ops.right_shift(other, self)

    # ------------------------------------------------------------------ methods
    # Reductions take NumPy's axis=/keepdims= and PyTorch's dim=/keepdim= (synonyms).
    def sum(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("sum", axis, keepdims, kw)
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("mean", axis, keepdims, kw)
        return _ops.mean(self, axis, keepdims)

    def var(self, axis=None, ddof=0, keepdims=False, **kw):
        return _ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims, **kw)

    def std(self, axis=None, ddof=0, keepdims=False, **kw):
        return _ops.std(self, axis=axis, ddof=ddof, keepdims=keepdims, **kw)

    def max(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("max", axis, keepdims, kw)
        return _ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("min", axis, keepdims, kw)
        return _ops.min(self, axis, keepdims)

    def prod(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("prod", axis, keepdims, kw)
        return _ops.prod(self, axis, keepdims)

    def argmax(self, axis=None, keepdims=False, **kw):
        return _ops.argmax(self, axis=axis, keepdims=keepdims, **kw)

    def argmin(self, axis=None, keepdims=False, **kw):
        return _ops.argmin(self, axis=axis, keepdims=keepdims, **kw)

    def dot(self, other):
        return _ops.dot(self, other)

    def trace(self, offset=0, axis1=0, axis2=1):
        return _ops.trace(self, offset, axis1, axis2)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _ops.diagonal(self, offset, axis1, axis2)

    def logsumexp(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("logsumexp", axis, keepdims, kw)
        return _ops.logsumexp(self, axis, keepdims)

    def all(self, axis=None, keepdims=False, **kw):
        return _ops.all(self, axis=axis, keepdims=keepdims, **kw)

    def any(self, axis=None, keepdims=False, **kw):
        return _ops.any(self, axis=axis, keepdims=keepdims, **kw)

    def cumsum(self, axis=None, **kw):
        if kw:
            axis, _ = _axis_kw("cumsum", axis, False, kw)
        return _ops.cumsum(self, axis)

    def cumprod(self, axis=None, **kw):
        if kw:
            axis, _ = _axis_kw("cumprod", axis, False, kw)
        return _ops.cumprod(self, axis)

    def softmax(self, axis=-1):
        return _ops.softmax(self, axis=axis)

    def log_softmax(self, axis=-1):
        return _ops.log_softmax(self, axis=axis)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    # Element-wise methods under NumPy's names where ndarray has them (round, clip) and
    # PyTorch's elsewhere (x.tan(), x.log1p(), x.floor(), ...): see ``_ELEMENTWISE_METHODS``.
    def round(self, decimals=0):
        """Rounded to ``decimals`` places, halves to even (zero gradient)."""
        return _ops.round(self, decimals)

    def __round__(self, ndigits=None):
        """``round(t)`` / ``round(t, n)``: a tensor, as PyTorch's (zero gradient)."""
        return _ops.round(self, 0 if ndigits is None else ndigits)

    def clamp(self, min=None, max=None):
        """PyTorch's name for :meth:`clip` (``min``/``max`` for ``a_min``/``a_max``)."""
        return _ops.clip(self, min, max)

    def clip(self, a_min=None, a_max=None):
        return _ops.clip(self, a_min, a_max)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """All elements as 1-D (NumPy's ``flatten()``; its ``order="C"`` is accepted), or
        axes ``start_dim`` to ``end_dim`` merged as PyTorch's ``flatten(1)``."""
        if start_dim == "C":
            start_dim = 0
        return _ops.flatten(self, start_dim, end_dim)

    def transpose(self, *axes):
        """Axes permuted as NumPy's ``transpose`` (reversed when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    def swapaxes(self, axis1, axis2):
        return _ops.swapaxes(self, axis1, axis2)

    def expand_dims(self, axis):
        return _ops.expand_dims(self, axis)

    def squeeze(self, axis=None, *, dim=None):
        """Size-1 axes removed: all, or ``axis`` (which must have size 1, as NumPy's);
        PyTorch's ``dim=`` leaves axes whose size is not 1 alone, as PyTorch does."""
        if dim is not None:
            dims = (dim,) if isinstance(dim, int) else tuple(dim)
            axis = tuple(d for d in dims if self.shape[d] == 1)
            if not axis:
                return self
        return _ops.squeeze(self, axis)

    def broadcast_to(self, shape):
        return _ops.broadcast_to(self, shape)

    # ------------------------------------------------------------------ shape and indexing
    # NumPy's methods follow NumPy (``repeat``, ``nonzero``, ``sort`` returns the values);
    # PyTorch's (``view``, ``permute``, ``gather``, ``topk``, ...) follow PyTorch.
    def ravel(self):
        return _ops.ravel(self)

    def view(self, *shape):
        """PyTorch's ``view``: :meth:`reshape` (a view when the layout allows, else a copy)."""
        return self.reshape(*shape)

    def permute(self, *dims):
        """PyTorch's ``permute``: the axes in the order ``dims`` (see :meth:`transpose`)."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _ops.transpose(self, tuple(dims))

    def unsqueeze(self, dim):
        """PyTorch's ``unsqueeze``: a size-1 axis inserted at ``dim``."""
        return _ops.expand_dims(self, dim)

    def expand(self, *sizes):
        """PyTorch's ``expand``: broadcast to ``sizes``, where ``-1`` keeps an axis's size
        (new axes go in front)."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand: {len(sizes)} sizes given for a tensor of shape {self.shape}")
        shape = tuple(
            self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes)
        )
        return _ops.broadcast_to(self, shape)

    def moveaxis(self, source, destination):
        return _ops.moveaxis(self, source, destination)

    movedim = moveaxis

    def flip(self, axis=None, *, dims=None):
        """Reversed along ``axis`` (NumPy) or ``dims`` (PyTorch); all axes when neither."""
        return _ops.flip(self, dims if dims is not None else axis)

    def fliplr(self):
        return _ops.fliplr(self)

    def flipud(self):
        return _ops.flipud(self)

    def rot90(self, k=1, axes=(0, 1), *, dims=None):
        return _ops.rot90(self, k, dims if dims is not None else axes)

    def roll(self, shift, axis=None, *, dims=None):
        return _ops.roll(self, shift, dims if dims is not None else axis)

    def repeat(self, repeats, axis=None, *, dim=None):
        """NumPy's ``repeat`` (each element ``repeats`` times); PyTorch's ``repeat`` is
        :meth:`tile`."""
        return _ops.repeat(self, repeats, _dim(axis, dim))

    def tile(self, *reps):
        if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
            reps = tuple(reps[0])
        return _ops.tile(self, reps)

    def take(self, indices, axis=None, *, dim=None):
        return _ops.take(self, indices, _dim(axis, dim))

    def take_along_axis(self, indices, axis=None, *, dim=None):
        return _ops.take_along_axis(self, indices, _dim(axis, dim))

    take_along_dim = take_along_axis

    def gather(self, dim, index):
        return _ops.gather(self, dim, index)

    def scatter(self, dim, index, src=None, *, value=None):
        return _ops.scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim, index, src):
        return _ops.scatter_add(self, dim, index, src)

    def index_add(self, dim, index, source, alpha=1):
        return _ops.index_add(self, dim, index, source, alpha)

    def masked_fill(self, mask, value):
        return _ops.masked_fill(self, mask, value)

    def sort(self, axis=-1, *, dim=None, descending=False):
        """The values sorted along ``axis`` (out of place, unlike NumPy's ``ndarray.sort``)."""
        return _ops.sort(self, _dim(axis, dim), descending=descending)

    def argsort(self, axis=-1, *, dim=None, descending=False):
        return _ops.argsort(self, _dim(axis, dim), descending=descending)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return _ops.topk(self, k, dim, largest, sorted)

    def partition(self, kth, axis=-1, *, dim=None):
        """The partitioned values (out of place, unlike NumPy's ``ndarray.partition``)."""
        return _ops.partition(self, kth, _dim(axis, dim))

    def argpartition(self, kth, axis=-1, *, dim=None):
        return _ops.argpartition(self, kth, _dim(axis, dim))

    def searchsorted(self, v, side="left", sorter=None):
        return _ops.searchsorted(self, v, side, sorter)

    def unique(
        self, return_index=False, return_inverse=False, return_counts=False, axis=None, *, dim=None
    ):
        return _ops.unique(self, return_index, return_inverse, return_counts, _dim(axis, dim))

    def nonzero(self):
        """NumPy's ``nonzero``: one index tensor per axis (PyTorch's form is :meth:`argwhere`)."""
        return _ops.nonzero(self)

    def argwhere(self):
        return _ops.argwhere(self)


# Tensor.name() -> cr.name(self): PyTorch's method name -> chainrule's op.
_ELEMENTWISE_METHODS = {
    "tan": "tan", "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "sinh": "sinh", "cosh": "cosh",
    "arcsinh": "arcsinh", "arccosh": "arccosh", "arctanh": "arctanh", "asinh": "arcsinh",
    "acosh": "arccosh", "atanh": "arctanh", "log1p": "log1p", "expm1": "expm1",
    "log2": "log2", "log10": "log10", "exp2": "exp2", "square": "square",
    "reciprocal": "reciprocal", "sinc": "sinc", "deg2rad": "deg2rad", "rad2deg": "rad2deg",
    "sign": "sign", "floor": "floor", "ceil": "ceil", "trunc": "trunc", "fix": "trunc",
    "rint": "rint", "erf": "erf", "erfc": "erfc", "erfinv": "erfinv", "lgamma": "gammaln",
    "digamma": "digamma", "nan_to_num": "nan_to_num", "bitwise_not": "bitwise_not",
    "isinf": "isinf", "isnan": "isnan", "isfinite": "isfinite",
    "silu": "silu", "mish": "mish", "selu": "selu", "celu": "celu", "hardtanh": "hardtanh",
    "relu6": "relu6", "hardsigmoid": "hardsigmoid", "hardswish": "hardswish",
    "softsign": "softsign", "logsigmoid": "logsigmoid", "softmin": "softmin",
    "gelu": "gelu", "elu": "elu", "softplus": "softplus", "leaky_relu": "leaky_relu",
}  # fmt: skip
_BINARY_METHODS = {
    "arctan2": "arctan2", "atan2": "arctan2", "hypot": "hypot", "fmod": "fmod",
    "remainder": "remainder", "floor_divide": "floor_divide", "fmax": "fmax", "fmin": "fmin",
    "copysign": "copysign", "logaddexp": "logaddexp", "logaddexp2": "logaddexp2",
    "xlogy": "xlogy", "heaviside": "heaviside", "maximum": "maximum", "minimum": "minimum",
    "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
}  # fmt: skip


def _method(op_name: str, method_name: str) -> Callable:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(_ops, op_name)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = method_name
    method.__doc__ = f"``cr.{op_name}(self, ...)``."
    return method


for _name, _op in (_ELEMENTWISE_METHODS | _BINARY_METHODS).items():
    if not hasattr(Tensor, _name):  # methods written out above take precedence
        setattr(Tensor, _name, _method(_op, _name))


def _dim(axis: Any, dim: Any) -> Any:
    """A method's ``axis`` or, when given, PyTorch's ``dim`` for it."""
    return axis if dim is None else dim


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


def _axis_kw(name: str, axis: Any, keepdims: Any, kw: dict) -> tuple[Any, bool]:
    """``(axis, keepdims)`` from a method given PyTorch's ``dim=`` / ``keepdim=``; NumPy's
    ``out=None`` and ``dtype=None`` are accepted too (what ``numpy.sum(t)`` would pass)."""
    extra = set(kw) - {"dim", "keepdim", "out", "dtype"}
    if extra:
        raise TypeError(f"Tensor.{name}() got unexpected keyword arguments {sorted(extra)}")
    if kw.get("out") is not None:
        raise TypeError(
            f"Tensor.{name}(out=...): chainrule ops return a new tensor and write into none; "
            "use the result instead"
        )
    if kw.get("dtype") is not None:
        raise TypeError(
            f"Tensor.{name}(dtype={kw['dtype']!r}): cast first, t.astype(dtype).{name}(...)"
        )
    return _ops.reduction.pick_axis(name, axis, kw.get("dim"), keepdims, kw.get("keepdim"))


def _is_device_name(name: str) -> bool:
    return name.split(":")[0].strip().lower() in ("cpu", "cuda", "gpu")


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


# The ops module imports Tensor from here, so it is imported last.
from chainrule import autograd as _autograd  # noqa: E402
from chainrule import ops as _ops  # noqa: E402
