"""Floor 2: the tape. Primitives record nodes; ``backward`` walks them in reverse.

An op is a :class:`Primitive`: a forward written in backend array calls plus one gradient rule
(a vector-Jacobian product) per positional input. Calling it on tensors that require gradients
records a :class:`Node` holding the rule, the node or leaf each input came from, and what the
rules read: every input and the output, unless the op declared less with ``defvjp(..., keep=)``
(only the output, only some inputs, or only an input's shape). ``backward`` then

1. sorts the nodes reachable from the output in reverse topological order, iteratively (no
   recursion, so a chain of 100,000 ops is fine);
2. visits each node once, after every path into it has added its gradient (the seeds' chain rule
   along multiple paths: the sum over paths);
3. calls each rule on the summed output gradient, undoes broadcasting *here and only here* (by
   summing the input gradient down to the input's shape), and passes the result to the node that
   made the input, or adds it into the leaf's ``.grad``;
4. frees each gradient once consumed, and the node's saved buffers unless ``retain_graph``.

Rules are written with chainrule's own differentiable ops, so with ``create_graph=True`` the
backward pass is itself recorded and can be differentiated again; otherwise it runs with
recording off.
"""

from __future__ import annotations

import functools
import inspect
import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import (
    AnomalyError,
    BackwardError,
    ChainruleError,
    DTypeError,
    GraphFreedError,
    InplaceError,
    ShapeError,
)

_grad_enabled = True
_SHAPE_WORDS = re.compile(r"shape|broadcast|dimension|size")
_anomaly = False
_in_backward = False  # rules run: anomaly mode checks what they return, not their insides


# ---------------------------------------------------------------------------- grad mode
def is_grad_enabled() -> bool:
    """Whether ops record the graph right now."""
    return _grad_enabled


class set_grad_enabled:
    """Turn graph recording on or off: as a call, a ``with`` block or a decorator."""

    def __init__(self, mode: bool) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        self.mode = bool(mode)
        _grad_enabled = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode
        self.__exit__()

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class _GradMode:
    mode = True

    def __enter__(self) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record nothing (inference, parameter updates).

    >>> import chainrule as cr
    >>> w = cr.ones(2, requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    mode = False


class enable_grad(_GradMode):
    """Context manager / decorator: record the graph again inside a ``no_grad`` block."""

    mode = True


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
    """

    def __init__(self, forward: Callable, name: str | None = None, view: bool = False) -> None:
        self.forward = forward
        self.name = name or forward.__name__
        self.view = view
        self.vjps: tuple[Callable | None, ...] = ()
        self.vjp_argnum: Callable | None = None
        self.vjp_all: Callable | None = None
        self._keep: tuple[dict[int, str], bool] | None = None  # None: inputs and output
        functools.update_wrapper(self, forward)

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

        For ops with a variable number of tensor inputs (``concatenate``, ``stack``); the node
        keeps every input and the output.
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
        if self._keep is None:
            return "data"
        return self._keep[0].get(i)

    @property
    def keeps_out(self) -> bool:
        """Whether a node of this op keeps the op's output for backward."""
        return self._keep is None or self._keep[1]

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
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
                needs_grad = needs_grad or a._requires_grad
            else:
                raw.append(a)
        if backend.xp is not np:  # the GPU backend is on: the tensors must share a device
            dev = backend.common_device(self.name, [a.data for a in args if isinstance(a, Tensor)])
            if dev == backend.CPU:
                with backend.host():  # CPU tensors (or only constants): computed by NumPy
                    return self(*args, **kwargs)
            # NumPy arrays given as constants follow the tensors to their GPU
            raw = [backend.to_device(r, dev) if type(r) is np.ndarray else r for r in raw]
        try:
            out = self.forward(*raw, **kwargs)
        except ChainruleError:  # the op's own error, already naming it
            raise
        except ValueError as exc:
            if not _SHAPE_WORDS.search(str(exc)):  # not about shapes: the op's own message
                raise
            shapes = " and ".join(str(np.shape(r)) for r in raw if hasattr(r, "shape"))
            raise ShapeError(f"{self.name}: cannot apply to shapes {shapes}: {exc}") from exc
        t = Tensor._make(out)
        if self.view and isinstance(args[0], Tensor):
            t._version = args[0]._version
        if needs_grad and _grad_enabled:
            if t.data.dtype.kind == "c":
                raise DTypeError(
                    f"{self.name}: the result is complex ({t.data.dtype}) but an input requires "
                    "grad; chainrule differentiates real tensors only, and a complex result "
                    "would cut the graph silently. Keep real and imaginary parts as two real "
                    "tensors"
                )
            if t.data.dtype.kind == "f":
                t._node = Node(self, args, kwargs, t)
                t._requires_grad = True
        if _anomaly and not _in_backward:
            _check_finite(t.data, f"{self.name} (forward)")
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


def primitive(forward: Callable | None = None, *, name: str | None = None, view: bool = False):
    """Decorator turning an array function into a :class:`Primitive` (see its docstring)."""
    if forward is None:
        return lambda f: Primitive(f, name=name, view=view)
    return Primitive(forward, name=name, view=view)


class Node:
    """One recorded op application: what backward needs to apply its rule.

    ``parents[i]`` is the node that produced input ``i``, the leaf tensor itself, or ``None``
    when the input needs no gradient. ``args`` holds the inputs the rule reads (others
    ``None``), ``out`` the output array if read; both are dropped after backward unless the
    graph is retained.
    """

    __slots__ = (
        "__weakref__",
        "args",
        "hooks",
        "kwargs",
        "out",
        "out_version",
        "parents",
        "prim",
        "retained",
        "saves",
        "shapes",
        "versions",
    )

    def __init__(self, prim: Primitive, args: tuple, kwargs: dict, out: Tensor) -> None:
        self.prim = prim
        self.kwargs = kwargs
        self.hooks: list[Callable] | None = None
        self.retained: weakref.ref | None = None
        keep = prim._keep
        parents = []
        saved = []
        shapes = []
        versions = []
        for i, a in enumerate(args):
            if not isinstance(a, Tensor):
                shapes.append(None)
                parents.append(None)
                saved.append(a)
                continue
            data = a.data
            shapes.append(data.shape)
            parents.append((a._node or a) if a._requires_grad else None)
            kind = "data" if keep is None else keep[0].get(i)
            if kind == "data":
                saved.append(a)
                versions.append((a._version, a._version[0]))
            else:
                saved.append(_Meta(data.shape, data.dtype) if kind else None)
        self.parents = tuple(parents)
        self.args = tuple(saved)
        self.shapes = tuple(shapes)
        self.versions = versions
        if keep is None or keep[1]:
            self.out = out.data
            self.out_version = out._version
        else:
            self.out = None
            self.out_version = None
        self.saves = bool(versions) or self.out is not None

    @property
    def name(self) -> str:
        """The op's name, with a ``Backward`` suffix as PyTorch prints it."""
        return f"{self.prim.name}Backward"

    @property
    def freed(self) -> bool:
        """Whether backward has already freed what this node kept (graph not retained)."""
        return self.args is None

    @property
    def next_nodes(self) -> tuple:
        """The nodes (or leaf tensors) this node passes gradients to."""
        return tuple(p for p in self.parents if p is not None)

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def _output(self) -> Tensor | None:
        if self.out is None:
            return None
        t = Tensor._make(self.out)
        t._node = self
        t._requires_grad = True
        t._version = self.out_version
        return t

    def _check_saved(self) -> None:
        if self.args is None:
            raise GraphFreedError(
                f"backward through {self.prim.name} a second time: its saved tensors were "
                "freed after the first backward; pass retain_graph=True to the first one"
            )
        for counter, version in self.versions:
            if counter[0] != version:
                raise InplaceError(
                    f"an input saved by {self.prim.name} for backward was modified in place "
                    f"(version {counter[0]}, saved at version {version}); "
                    "clone it before modifying, or recompute the forward"
                )
        if self.out_version is not None and self.out_version[0] != 0:
            raise InplaceError(
                f"the output of {self.prim.name}, saved for backward, was modified in place"
            )

    def _free(self) -> None:
        if self.saves:
            self.args = None
            self.out = None
            self.versions = []


class _Meta:
    """Stands in for an input whose rule reads only its shape, ndim and dtype."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


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


def _check_finite(arr: Any, where: str) -> None:
    if arr.dtype.kind == "f" and not bool(backend.xp.isfinite(arr).all()):
        what = "NaN" if bool(backend.xp.isnan(arr).any()) else "Inf"
        raise AnomalyError(f"{where} produced {what} (output shape {arr.shape})")


# ---------------------------------------------------------------------------- backward
def backward(
    tensor: Tensor,
    grad: Any = None,
    retain_graph: bool = False,
    create_graph: bool = False,
) -> None:
    """Backpropagate from ``tensor`` into the ``.grad`` of every leaf it depends on.

    See :meth:`Tensor.backward`.
    """
    _run([tensor], [grad], retain_graph or create_graph, create_graph, capture=None)


def gradients(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned rather than stored in ``.grad``.

    The same as PyTorch's ``torch.autograd.grad`` (TensorFlow calls it ``gradients``).
    ``grad_outputs`` defaults to ones for one-element outputs. Inputs that the outputs do not
    depend on give ``None`` with ``allow_unused=True`` and raise
    :class:`~chainrule.errors.BackwardError` otherwise.
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        gouts = [grad_outputs] * len(outs) if len(outs) == 1 or grad_outputs is None else None
        if gouts is None:
            raise BackwardError("give one grad_output per output")
    else:
        gouts = list(grad_outputs)
    for t in ins:
        if not t._requires_grad:
            raise BackwardError("an input to gradients() does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    capture: dict[Any, Any] = {}
    for t in ins:
        capture[t._node if t._node is not None else t] = None
    _run(outs, gouts, retain_graph, create_graph, capture=capture)
    result = []
    for i, t in enumerate(ins):
        g = capture[t._node if t._node is not None else t]
        if g is None and not allow_unused:
            raise BackwardError(
                f"input {i} of gradients() was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        if g is not None and (g.data.base is not None or any(g is r for r in result)):
            # a view (read-only when broadcast) or another input's gradient: give a copy
            g = _ops.copy(g) if create_graph else Tensor._make(g.data.copy())
        result.append(g)
    return tuple(result)


def _seed(t: Tensor, grad: Any) -> Tensor:
    if grad is None:
        if t.data.size != 1:
            raise BackwardError(
                f"backward() on a tensor of shape {t.shape} needs a grad argument of that "
                "shape (only one-element outputs get the implicit gradient 1)"
            )
        return Tensor._make(backend.array_module(t.data).ones_like(t.data))
    if isinstance(grad, Tensor):
        g = grad
    else:  # an array or numbers: on the output's device, in its dtype
        arr = backend.to_device(grad, backend.device_of(t.data))
        g = Tensor._make(arr.astype(t.dtype, copy=False))
    if g.shape != t.shape:
        raise ShapeError(f"backward: grad has shape {g.shape} but the output has {t.shape}")
    return g


def _topological_order(roots: list[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, each after all the nodes it depends on (iterative)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in node.parents:
            if type(p) is Node and id(p) not in seen:
                stack.append((p, False))
    return order


def _run(
    outputs: list[Tensor],
    grads: list[Any],
    retain_graph: bool,
    create_graph: bool,
    capture: dict | None,
) -> None:
    global _grad_enabled, _in_backward
    pending: dict[Node | Tensor, Tensor] = {}
    roots: list[Node] = []
    prev_mode, prev_in_backward = _grad_enabled, _in_backward
    _grad_enabled, _in_backward = create_graph, True
    try:
        for t, g in zip(outputs, grads):
            if not t._requires_grad:
                raise BackwardError(
                    "backward() on a tensor that does not require grad: no input of the "
                    "computation had requires_grad=True (or it ran under no_grad())"
                )
            g = _seed(t, g)
            if t._node is None:
                _deliver_leaf(t, g, None, create_graph, capture)
                continue
            node = t._node
            pending[node] = pending[node] + g if node in pending else g
            roots.append(node)
        order = _topological_order(roots)
        reach = None if capture is None else _reaching(order, capture)
        for node in reversed(order):
            g = pending.pop(node, None)
            if g is None:
                continue
            _visit(node, g, pending, retain_graph, create_graph, capture, reach)
        for leaf, g in pending.items():  # leaves with hooks, which see their total gradient
            _deliver_leaf(leaf, g, None, create_graph, capture)
    finally:
        _grad_enabled, _in_backward = prev_mode, prev_in_backward


def _reaching(order: list[Node], capture: dict) -> set[int]:
    """The ids of the nodes and leaves whose gradient ``gradients()`` needs: those captured,
    those with hooks or a retained gradient, and every node on a path to one of them. Rules
    for any other input are not run (PyTorch prunes the same way): a pass that wants the
    gradient w.r.t. one tensor does not pay for the rest of the graph."""
    reach = {id(k) for k in capture}
    for node in order:  # each node after the nodes it depends on
        if node.hooks or node.retained is not None or id(node) in reach:
            reach.add(id(node))
            continue
        for p in node.parents:
            if p is not None and (id(p) in reach or (type(p) is not Node and p._hooks)):
                reach.add(id(node))
                break
    return reach


def _visit(
    node: Node,
    g: Tensor,
    pending: dict,
    retain_graph: bool,
    create_graph: bool,
    capture: dict | None,
    reach: set[int] | None = None,
) -> None:
    if node.hooks:
        g = _run_hooks(node.hooks, g)
    if node.retained is not None:
        t = node.retained()
        if t is not None and t.grad is None:  # its own writable copy, as leaves get
            t.grad = _ops.copy(g) if create_graph else Tensor._make(g.data.copy())
        elif t is not None:
            t.grad = t.grad + g  # accumulates, as leaves do
    if capture is not None and node in capture:
        capture[node] = g if capture[node] is None else capture[node] + g
    if node.args is None or node.versions or node.out_version is not None:
        node._check_saved()
    prim = node.prim
    out = node._output() if prim.keeps_out else None
    args = node.args
    kwargs = node.kwargs
    every = prim.vjp_all(g, out, *args, **kwargs) if prim.vjp_all is not None else None
    for i, parent in enumerate(node.parents):
        if parent is None:
            continue
        if (
            reach is not None
            and id(parent) not in reach
            and not (type(parent) is not Node and parent._hooks)
        ):
            continue  # no captured tensor lies behind this input
        if every is not None:
            gi = every[i]
        elif prim.vjp_argnum is not None:
            gi = prim.vjp_argnum(i, g, out, *args, **kwargs)
        else:
            if i >= len(prim.vjps):
                raise BackwardError(f"{prim.name} has no gradient rule for input {i}")
            rule = prim.vjps[i]
            if rule is None:  # declared not differentiable in this input: nothing flows
                continue
            gi = rule(g, out, *args, **kwargs)
        if gi is None:
            continue
        if not isinstance(gi, Tensor):
            gi = Tensor._make(backend.xp.asarray(gi))
        shape = node.shapes[i]
        if gi.data.shape != shape:
            gi = _unbroadcast(gi, shape, prim.name)
        if _anomaly:
            _check_finite(gi.data, f"{prim.name} (backward, gradient for input {i})")
        if type(parent) is Node or parent._hooks:  # a hooked leaf: summed, delivered last
            prev = pending.get(parent)
            pending[parent] = gi if prev is None else prev + gi
        else:
            _deliver_leaf(parent, gi, g, create_graph, capture)
    if not retain_graph:
        node._free()


def _run_hooks(hooks: list[Callable], g: Tensor) -> Tensor:
    """Call each gradient hook in turn; one returning a tensor replaces the gradient, which
    must keep its shape (as in PyTorch). Raises :class:`BackwardError` naming the hook and
    both shapes otherwise."""
    for hook in list(hooks):
        r = hook(g)
        if r is not None:
            shape = tuple(getattr(r, "shape", ()))
            if shape != tuple(g.shape):
                name = getattr(hook, "__qualname__", None) or repr(hook)
                raise BackwardError(
                    f"hook {name!r} returned a gradient of shape {shape}, but the gradient it "
                    f"was given has shape {tuple(g.shape)}; a hook may change the gradient's "
                    "values, not its shape"
                )
            g = r
    return g


def _deliver_leaf(
    leaf: Tensor, g: Tensor, g_in: Tensor | None, create_graph: bool, capture: dict | None
) -> None:
    if leaf._hooks:
        g = _run_hooks(leaf._hooks, g)
    if capture is not None:
        if leaf in capture:
            capture[leaf] = g if capture[leaf] is None else capture[leaf] + g
        return
    if g.data.dtype != leaf.data.dtype:
        g = Tensor._make(g.data.astype(leaf.data.dtype))
    if create_graph:  # a copy: g may be another leaf's gradient too, or a read-only view
        leaf.grad = _ops.copy(g) if leaf.grad is None else leaf.grad + g
        return
    arr = g.data
    if leaf.grad is None:
        # Own the array before later steps add into it in place: a rule may have passed the
        # incoming gradient through unchanged, or returned a view of another buffer.
        if g_in is None or arr is g_in.data or arr.base is not None:
            arr = arr.copy()
        leaf.grad = Tensor._make(arr)
    else:
        leaf.grad.data += arr


def _unbroadcast(g: Tensor, shape: tuple[int, ...], name: str) -> Tensor:
    """Sum ``g`` down to ``shape``: the one place where broadcasting is undone."""
    gshape = g.data.shape
    lead = len(gshape) - len(shape)
    if lead < 0 or any(s != 1 and gshape[lead + i] != s for i, s in enumerate(shape)):
        raise ShapeError(
            f"gradient rule of {name} returned shape {gshape} for an input of shape {shape}"
        )
    if lead:
        g = _ops.sum(g, axis=tuple(range(lead)))
    ones = tuple(i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
    if ones:
        g = _ops.sum(g, axis=ones, keepdims=True)
    return g


def _require_float(t: Tensor, what: str) -> None:
    if t.dtype.kind != "f":
        raise DTypeError(f"{what} needs floating-point tensors, got {t.dtype}")


# tensor and ops import this module (for ``primitive``), so they are imported last.
from chainrule import ops as _ops  # noqa: E402
from chainrule.tensor import Tensor  # noqa: E402


def __getattr__(name: str) -> Any:
    """The transforms moved to :mod:`chainrule.functional`; their old import path (``from
    chainrule.autograd import grad``) keeps working."""
    if name in ("grad", "hessian", "jacobian", "value_and_grad", "vjp"):
        from chainrule import functional

        return getattr(functional, name)
    raise AttributeError(f"module 'chainrule.autograd' has no attribute {name!r}")
