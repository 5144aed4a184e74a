"""Floor 2: the tape. Primitives record nodes while grad mode is on.

An op is a :class:`Primitive`: a forward written in backend array calls plus one gradient rule
(a vector-Jacobian product) per positional input. Calling it on tensors that require gradients
records a :class:`Node` holding the rule, the node or leaf each input came from, and what the
rules read: every input and the output, unless the op declared less with ``defvjp(..., keep=)``
(only the output, only some inputs, or only an input's shape).

Whether anything is recorded is one switch, the grad mode: :class:`no_grad`,
:class:`enable_grad`, :class:`inference_mode` and :func:`set_grad_enabled` all set it, as
context managers or decorators, with PyTorch's names and semantics. :class:`detect_anomaly`
turns on the NaN/Inf checks. The backward walk over the recorded nodes is
:mod:`chainrule.autograd`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule._node import Node as Node  # the tape records Nodes; re-exported here
from chainrule._node import _record
from chainrule.errors import (
    AnomalyError,
    ChainruleError,
    DTypeError,
    ShapeError,
)
from chainrule.tensor import Tensor

_grad_enabled = True
_anomaly = False
_in_backward = False  # rules run: anomaly mode checks what they return, not their insides
_SHAPE_WORDS = re.compile(r"shape|broadcast|dimension|size")
_new_tensor = object.__new__
# The capture ``cr.compile`` is running (a chainrule._capture.Capture), else None: the engine
# tells it each primitive applied (here), backward's seed, each rule and each leaf's gradient
# (in chainrule.autograd). Any fast path of Primitive.__call__ must keep this call.
recorder: Any = None


# ---------------------------------------------------------------------------- grad mode
def is_grad_enabled() -> bool:
    """Whether ops record the graph right now."""
    return _grad_enabled


class _GradMode:
    """The one grad-mode switch: entering sets recording to ``mode`` (``None``: leaves it as
    it is), leaving restores what it was; used on a function, it applies ``mode`` around each
    call (re-entrant: every call gets its own switch)."""

    def __init__(self, mode: bool | None) -> None:
        self.mode = None if mode is None else bool(mode)
        self.prev = _grad_enabled

    def __enter__(self) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        if self.mode is not None:
            _grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record nothing (inference, parameter updates).
    ``with cr.no_grad():``, ``@cr.no_grad()`` and ``@cr.no_grad`` all work, as in PyTorch.

    >>> import chainrule as cr
    >>> w = cr.ones(2, requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    def __new__(cls, fn: Callable | None = None) -> Any:
        return super().__new__(cls) if fn is None else cls()(fn)

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_GradMode):
    """Context manager / decorator: record the graph again inside a ``no_grad`` block."""

    def __new__(cls, fn: Callable | None = None) -> Any:
        return super().__new__(cls) if fn is None else cls()(fn)

    def __init__(self) -> None:
        super().__init__(True)


class inference_mode(_GradMode):
    """Context manager / decorator for inference, PyTorch's name: :class:`no_grad` when
    ``mode`` is true (chainrule has no separate inference tensors), nothing changed when
    false."""

    def __new__(cls, mode: bool | Callable = True) -> Any:
        return cls()(mode) if callable(mode) else super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        super().__init__(False if mode else None)


class set_grad_enabled(_GradMode):
    """Turn graph recording on or off: as a call (takes effect at once), a ``with`` block
    (restored on leaving) or a decorator (applied only inside each call), as PyTorch's.

    >>> import chainrule as cr
    >>> with cr.set_grad_enabled(False):
    ...     cr.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        _GradMode.__enter__(self)

    def __enter__(self) -> None:
        pass  # the constructor has already set the mode

    def __call__(self, fn: Callable) -> Callable:
        self.__exit__()  # as a decorator, making it changes nothing outside the calls
        return super().__call__(fn)


class detect_anomaly:
    """Context manager: raise :class:`~chainrule.errors.AnomalyError` naming the op as soon
    as any forward result or backward gradient contains NaN or Inf. Slower; for debugging.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        global _anomaly
        self.prev = _anomaly
        _anomaly = self.enabled

    def __exit__(self, *exc: Any) -> None:
        global _anomaly
        _anomaly = self.prev


def is_anomaly_enabled() -> bool:
    """Whether :class:`detect_anomaly` checks results for NaN and Inf right now."""
    return _anomaly


class backward_mode:
    """Context manager for the backward walk while rules run: recording on only when
    ``create_graph`` (so the backward pass can be differentiated again), and anomaly checks
    on the gradients rules return rather than on the ops inside them."""

    def __init__(self, create_graph: bool) -> None:
        self.create_graph = create_graph

    def __enter__(self) -> None:
        global _grad_enabled, _in_backward
        self.prev = _grad_enabled, _in_backward
        _grad_enabled, _in_backward = self.create_graph, True

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled, _in_backward
        _grad_enabled, _in_backward = self.prev


# ---------------------------------------------------------------------------- primitives
class Primitive:
    """A differentiable op: a forward on arrays and one gradient rule per positional input.

    Use it as a decorator on the forward, then give the rules with :meth:`defvjp`:

    >>> import chainrule as cr
    >>> @cr.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> cube.defvjp(lambda g, out, x: g * 3 * x * x)
    >>> x = cr.tensor([2.0], requires_grad=True)
    >>> cube(x).sum().backward()
    >>> x.grad
    tensor([12.], dtype=float32)

    The forward receives arrays (tensors unwrapped) and keyword parameters, and returns an
    array. A rule receives ``g`` (the gradient w.r.t. the output, a Tensor), ``out`` (the
    output) and the op's arguments as Tensors, plus the keyword parameters; it returns the
    gradient w.r.t. its input, shaped like the output or broadcastable to the input (the engine
    sums broadcasting away). Write rules with chainrule ops so higher derivatives work.
    Arguments that are not tensors are constants and get no gradient.

    An op that is exactly one function of the array backend says so with ``xp="name"``
    (``@primitive(xp="add")`` over a ``def add(x, y)`` holding only the docstring): its forward
    is then NumPy's ``name`` on the CPU, called directly, and CuPy's on a GPU.
    """

    # What every call reads sits in slots: read fast whatever else an instance holds.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_both",
        "_call1",
        "_call2",
        "_keep_decl",
        "_keeps_out",
        "_plan",
        "forward",
        "name",
        "view",
        "vjp_all",
        "vjp_argnum",
        "vjps",
    )

    def __init__(
        self,
        forward: Callable,
        name: str | None = None,
        view: bool = False,
        xp: str | None = None,
    ) -> None:
        direct, arity = forward, 0
        if xp is not None:
            forward, direct, arity = _backend_function(forward, xp)
        self.forward = forward
        # What the common case calls on one or two NumPy arrays given by position.
        self._call1 = direct if arity == 1 else forward
        self._call2 = direct if arity == 2 else forward
        self.name = name or forward.__name__
        self.view = view
        self.vjps: tuple[Callable | None, ...] = ()
        self.vjp_argnum: Callable | None = None
        self.vjp_all: Callable | None = None
        self._keep = None
        functools.update_wrapper(self, forward)

    @property
    def _keep(self) -> tuple[dict[int, str], bool] | None:
        """What a node keeps: ``(kinds, keeps_out)``, ``kinds`` mapping an input's position to
        ``"data"`` or ``"shape"`` (absent: nothing); ``None``: every input and the output."""
        return self._keep_decl

    @_keep.setter
    def _keep(self, keep: tuple[dict[int, str], bool] | None) -> None:
        # Also the plan _record follows: what a node keeps of inputs 0 and 1, and the output.
        self._keep_decl = keep
        if keep is None:
            self._plan = ("data", "data")
            self._keeps_out = True
        else:
            self._plan = (keep[0].get(0), keep[0].get(1))
            self._keeps_out = keep[1]
        # True: both of inputs 0 and 1 kept for their data; False: neither kept at all.
        both = {("data", "data"): True, (None, None): False}
        self._both = both.get(self._plan)

    def defvjp(self, *rules: Callable | None, keep: str | None = None) -> None:
        """Register one gradient rule per positional input (``None``: not differentiable).

        ``keep`` declares what the rules read, so that a node holds on to nothing more. By
        default (``None``) a node keeps every tensor input and the output. Otherwise it is a
        space-separated list of the rules' own parameter names: ``"out"`` keeps the output,
        ``"x"`` input ``x``'s data, ``"x.shape"`` only its shape, ndim and dtype; ``""`` keeps
        nothing. Constant (non-tensor) arguments are always passed to the rules.

        >>> import chainrule as cr
        >>> @cr.primitive
        ... def double(x):
        ...     return 2 * x
        >>> double.defvjp(lambda g, out, x: 2 * g, keep="")
        >>> double.keeps(0), double.keeps_out
        (None, False)

        Raises ``ValueError`` for a name that is not one of the rules' parameters.
        """
        self.vjps = rules
        self._keep = None if keep is None else _parse_keep(self.name, rules, keep)

    def defvjp_argnum(self, rule: Callable) -> None:
        """Register one rule for all inputs: ``rule(argnum, g, out, *args, **kwargs)``.

        For ops with a variable number of tensor inputs (``einsum``); the node keeps every
        input and the output. (Where every input's gradient comes from one pass, as
        ``concatenate``'s and ``stack``'s slices of ``g`` do, :meth:`defvjp_all` is cheaper:
        one call rather than one per input.)
        """
        self.vjp_argnum = rule
        self._keep = None

    def defvjp_all(self, rule: Callable, keep: str | None = None) -> None:
        """Register one rule that returns every input's gradient at once:
        ``rule(g, out, *args, **kwargs) -> tuple`` (one entry per positional argument,
        ``None`` where nothing flows). For fused ops whose inputs' gradients share one pass
        (backpropagation through time of a whole recurrent layer). ``keep`` as in
        :meth:`defvjp`, read against ``rule``'s parameters.
        """
        self.vjp_all = rule
        self.vjps = (rule,)
        self._keep = None if keep is None else _parse_keep(self.name, (rule,), keep)

    def keeps(self, i: int) -> str | None:
        """What a node of this op keeps of its ``i``-th input for backward: ``"data"``,
        ``"shape"`` (shape, ndim and dtype only) or ``None`` (nothing)."""
        if self._keep_decl is None:
            return "data"
        return self._keep_decl[0].get(i)

    @property
    def keeps_out(self) -> bool:
        """Whether a node of this op keeps the op's output for backward."""
        return self._keeps_out

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        # Every op pays this path, so it is written for speed: in the common case (``plain``:
        # the CPU backend, no cr.compile capture, no anomaly mode) one or two arguments are
        # passed on without a list, the result is wrapped inline and _record builds the node.
        # The GPU backend's device checks, anomaly mode's check and the capture are the rest.
        plain = recorder is None and not _anomaly and backend.xp is np
        n = len(args)
        raw = None
        if not plain or kwargs or n > 2 or n == 0:
            if recorder is not None:  # cr.compile: numbers it records become plain floats
                args, kwargs = recorder.enter(args, kwargs)
            if kwargs:
                for v in kwargs.values():
                    if isinstance(v, Tensor):
                        args, kwargs = _bind_tensor_kwargs(self._positional, args, kwargs)
                        break
            raw = []
            needs_grad = False
            for a in args:
                if isinstance(a, Tensor):
                    raw.append(a.data)
                    if a._requires_grad:
                        needs_grad = True
                else:
                    raw.append(a)
            if backend.xp is not np:  # the GPU backend is on: the tensors must share a device
                tensors = [a.data for a in args if isinstance(a, Tensor)]
                dev = backend.common_device(self.name, tensors)
                if dev == backend.CPU:
                    with backend.host():  # CPU tensors (or only constants): computed by NumPy
                        return self(*args, **kwargs)
                # NumPy arrays given as constants follow the tensors to their GPU
                raw = [backend.to_device(r, dev) if type(r) is np.ndarray else r for r in raw]
        try:
            if raw is not None:
                out = self.forward(*raw, **kwargs) if kwargs else self.forward(*raw)
            elif n == 2:
                forward = self._call2
                x, y = args
                if isinstance(x, Tensor):
                    if isinstance(y, Tensor):
                        out = forward(x.data, y.data)
                        needs_grad = x._requires_grad or y._requires_grad
                    else:
                        out = forward(x.data, y)
                        needs_grad = x._requires_grad
                elif isinstance(y, Tensor):
                    out = forward(x, y.data)
                    needs_grad = y._requires_grad
                else:
                    out = forward(x, y)
                    needs_grad = False
            else:
                forward = self._call1
                x = args[0]
                if isinstance(x, Tensor):
                    out = forward(x.data)
                    needs_grad = x._requires_grad
                else:
                    out = forward(x)
                    needs_grad = False
        except ValueError as exc:
            err = _shape_error(self.name, args, exc)
            if err is None:
                raise
            raise err from exc
        if type(out) is not np.ndarray:  # a scalar, or a GPU array
            out = backend.xp.asarray(out)
        t = _new_tensor(Tensor)  # Tensor._make(out), inlined
        t.data = out
        t.grad = None
        t._hooks = None
        t._version = args[0]._version if self.view and isinstance(args[0], Tensor) else [0]
        node = None
        if needs_grad and _grad_enabled:
            kind = out.dtype.kind
            if kind == "f":
                node = _record(self, args, kwargs, t)
            elif kind == "c":
                raise _complex_error(self.name, out)
        t._node = node
        t._requires_grad = node is not None
        if not plain:
            if _anomaly and not _in_backward:
                check_finite(out, f"{self.name} (forward)")
            if recorder is not None:
                recorder.apply(self, args, kwargs, t)
        return t

    @functools.cached_property
    def _positional(self) -> tuple[inspect.Parameter, ...]:
        # The forward's positional parameters, read once: tensors given by keyword bind here.
        return tuple(
            p
            for p in inspect.signature(self.forward).parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        )

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def primitive(
    forward: Callable | None = None,
    *,
    name: str | None = None,
    view: bool = False,
    xp: str | None = None,
):
    """Decorator turning an array function into a :class:`Primitive` (see its docstring)."""
    if forward is None:
        return lambda f: Primitive(f, name=name, view=view, xp=xp)
    return Primitive(forward, name=name, view=view, xp=xp)


def _backend_function(template: Callable, name: str) -> tuple[Callable, Callable, int]:
    """The forward of an op that is the array backend's function ``name`` (NumPy's, CuPy's
    on a GPU), ``template`` giving its name, parameters, defaults and docstring; NumPy's
    function; and how many arrays it is called with directly (0: not directly, the template
    has defaults to fill in)."""
    function = getattr(np, name)  # an AttributeError at import for a name NumPy lacks
    signature = inspect.signature(template)
    params = signature.parameters.values()
    defaults = tuple(p.default for p in params if p.default is not p.empty)
    n = len(params)
    first = n - len(defaults)  # the first parameter with a default

    @functools.wraps(template)
    def forward(*arrays: Any, **kwargs: Any) -> Any:
        if first <= len(arrays) < n and not kwargs:  # the template's defaults for the rest
            arrays += defaults[len(arrays) - first :]
        elif kwargs or len(arrays) != n:  # bound as the template's parameters (or raises)
            bound = signature.bind(*arrays, **kwargs)
            bound.apply_defaults()
            arrays = bound.args
        return getattr(backend.xp, name)(*arrays)

    return forward, function, 0 if defaults else n


def _shape_error(name: str, args: Any, exc: ValueError) -> ShapeError | None:
    """NumPy's ValueError about shapes as a ShapeError naming the op and the shapes; None for
    the op's own errors and other ValueErrors, which are raised as they are."""
    if isinstance(exc, ChainruleError) or not _SHAPE_WORDS.search(str(exc)):
        return None
    shapes = " and ".join(str(np.shape(a)) for a in args if hasattr(a, "shape"))
    return ShapeError(f"{name}: cannot apply to shapes {shapes}: {exc}")


def _complex_error(name: str, out: Any) -> DTypeError:
    """A complex result where an input requires grad: it would cut the graph silently."""
    return DTypeError(
        f"{name}: the result is complex ({out.dtype}) but an input requires grad; chainrule "
        "differentiates real tensors only, and a complex result would cut the graph "
        "silently. Keep real and imaginary parts as two real tensors"
    )


def _parse_keep(name: str, rules: tuple, keep: str) -> tuple[dict[int, str], bool]:
    """Read a ``keep`` declaration against the rules' parameters ``(g, out, *inputs)``."""
    rule = next((r for r in rules if r is not None), None)
    params = list(inspect.signature(rule).parameters) if rule is not None else []
    inputs = params[2:]
    kept: dict[int, str] = {}
    keeps_out = False
    for word in keep.replace(",", " ").split():
        base, _, attr = word.partition(".")
        if len(params) > 1 and base == params[1] and not attr:
            keeps_out = True
        elif base in inputs and attr in ("", "shape"):
            i = inputs.index(base)
            if kept.get(i) != "data":
                kept[i] = "shape" if attr else "data"
        else:
            raise ValueError(
                f"{name}.defvjp: keep={keep!r} names {word!r}; expected the output "
                f"{params[1:2]} or an input of {inputs}, optionally as NAME.shape"
            )
    return kept, keeps_out


def _bind_tensor_kwargs(
    params: tuple[inspect.Parameter, ...], args: tuple, kwargs: dict
) -> tuple[tuple, dict]:
    """Move tensors given by keyword for positional parameters (``linear(x, w, bias=b)``)
    into ``args``, the parameters before them filled with their defaults, so that they are
    inputs of the node (and get gradients) exactly as when given by position."""
    names = [p.name for p in params]
    wanted = [names.index(k) for k, v in kwargs.items() if isinstance(v, Tensor) and k in names]
    if not wanted:
        return args, kwargs
    args, kwargs = list(args), dict(kwargs)
    for p in params[len(args) : max(wanted) + 1]:
        args.append(kwargs.pop(p.name) if p.name in kwargs else p.default)
    return tuple(args), kwargs


def check_finite(arr: Any, where: str) -> None:
    """Raise :class:`~chainrule.errors.AnomalyError` naming ``where`` if ``arr`` holds NaN or
    Inf (anomaly mode's check)."""
    if arr.dtype.kind == "f" and not bool(backend.xp.isfinite(arr).all()):
        what = "NaN" if bool(backend.xp.isnan(arr).any()) else "Inf"
        raise AnomalyError(f"{where} produced {what} (output shape {arr.shape})")
