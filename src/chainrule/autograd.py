"""Floor 2: backward, the walk over the tape in reverse.

The tape itself (:class:`Primitive`, :class:`Node`, what each node keeps, the grad modes and
anomaly mode) is :mod:`chainrule.tape`; its names are importable from here too. Given the
nodes recorded there, ``backward``

1. sorts the nodes reachable from the output in reverse topological order, iteratively (no
   recursion, so a chain of 100,000 ops is fine);
2. visits each node once, after every path into it has added its gradient (the seeds' chain rule
   along multiple paths: the sum over paths);
3. calls each rule on the summed output gradient, undoes broadcasting *here and only here* (by
   summing the input gradient down to the input's shape), and passes the result to the node that
   made the input, or adds it into the leaf's ``.grad``, running hooks on the way;
4. frees each gradient once consumed, and the node's saved buffers unless ``retain_graph``.

Rules are written with chainrule's own differentiable ops, so with ``create_graph=True`` the
backward pass is itself recorded and can be differentiated again; otherwise it runs with
recording off. Such a plain walk also sums the gradients reaching one tensor in place, into
one array it made, and lets a slice's rule return a :class:`Scattered` (its ḡ at an index of
zeros) that is written into that array: k slices of a tensor cost one array, not k.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import backend, tape
from chainrule.errors import BackwardError, ShapeError
from chainrule.tape import (
    Node,
    Primitive,
    backward_mode,
    check_finite,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    primitive,
    set_grad_enabled,
)
from chainrule.tensor import Tensor

__all__ = [
    "Node", "Primitive", "Scattered", "backward", "detect_anomaly", "enable_grad", "gradients",
    "inference_mode", "is_anomaly_enabled", "is_grad_enabled", "no_grad", "plain_backward",
    "primitive", "set_grad_enabled", "topological_order",
]  # fmt: skip

_walk = threading.local()  # .plain: this thread's walk is plain (its rules may scatter)


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
    :class:`~chainrule.errors.BackwardError` otherwise. As PyTorch's, a gradient may be a
    view of ``grad_outputs`` (a view op's gradient is a reshape or transpose of it); the
    gradients of different inputs never share memory, and none is read-only.
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
    given: dict[int, list] = {}  # the returned arrays, by the buffer they view
    for i, t in enumerate(ins):
        g = capture[t._node if t._node is not None else t]
        if type(g) is _Sum or type(g) is Scattered:  # a plain walk's sum, as a tensor
            g = _tensor(g)
        if g is None and not allow_unused:
            raise BackwardError(
                f"input {i} of gradients() was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        if g is not None and _shared(g.data, given):
            g = g.clone() if create_graph else Tensor._make(g.data.copy())
        result.append(g)
    return tuple(result)


def _shared(arr: Any, given: dict[int, list]) -> bool:
    """Whether a gradient ``gradients()`` returns needs its own copy: a read-only view
    (broadcast), or memory it shares with a gradient already given for another input (a later
    in-place write to one would change the other). A writable view of ḡ (a reshape, a
    transpose, a flip) is returned as it is, as PyTorch does: it may share memory with the
    ``grad_outputs`` given (rules return new arrays or views of ḡ), never with another
    input's gradient. ``given`` groups the arrays returned so far by the buffer they view;
    past a few views of one buffer (``cr.array`` of many rows) each is simply copied."""
    base = arr.base
    root = arr
    if base is not None:
        if not getattr(arr.flags, "writeable", True):
            return True
        root = base
        while getattr(root, "base", None) is not None:
            root = root.base
    same = given.get(id(root))  # (each array listed keeps its root, so the id, alive)
    if same is None:
        given[id(root)] = [arr]
        return False
    if base is None or len(same) >= _VIEWS_CHECKED:  # the buffer itself, or one view too many
        return True
    share = backend.array_module(arr).may_share_memory
    for r in same:
        if r.base is None or share(arr, r):
            return True
    same.append(arr)
    return False


_VIEWS_CHECKED = 8  # gradients that view one buffer checked for overlap before copying


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


def topological_order(roots: list[Node]) -> list[Node]:
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
    pending: dict[Node | Tensor, Any] = {}
    roots: list[Node] = []
    anomaly = is_anomaly_enabled()
    # Plain: no graph recorded and no cr.compile capture. Then the gradients reaching one node
    # or leaf are summed in place into one array the walk owns (a _Sum), and a rule may return
    # a Scattered (a slice's gradient), written into that array at its index.
    plain = not create_graph and tape.recorder is None
    was_plain = getattr(_walk, "plain", False)
    with backward_mode(create_graph):
        for t, g in zip(outputs, grads):
            if not t._requires_grad:
                raise BackwardError(
                    "backward() on a tensor that does not require grad: no input of the "
                    "computation had requires_grad=True (or it ran under no_grad())"
                )
            seeded = _seed(t, g)
            if tape.recorder is not None:  # cr.compile's capture
                tape.recorder.seed(t, g, seeded, create_graph)
            g = seeded
            if t._node is None:
                _deliver_leaf(t, g, None, create_graph, capture, plain)
                continue
            node = t._node
            pending[node] = pending[node] + g if node in pending else g
            roots.append(node)
        order = topological_order(roots)
        reach = None if capture is None else _reaching(order, capture)
        _walk.plain = plain
        try:
            for node in reversed(order):
                g = pending.pop(node, None)
                if g is None:
                    continue
                if type(g) is _Sum or type(g) is Scattered:
                    g = _tensor(g)
                _visit(node, g, pending, retain_graph, create_graph, capture, reach, anomaly, plain)
        finally:
            _walk.plain = was_plain
        for leaf, g in pending.items():  # leaves with hooks (which see their total gradient)
            owned = type(g) is _Sum or type(g) is Scattered  # or summed here: a new array
            if owned:
                g = _tensor(g)
            _deliver_leaf(leaf, g, None, create_graph, capture, plain, owned)


def plain_backward() -> bool:
    """Whether the gradient rule running now was called by a backward walk (in this thread)
    that records nothing (no ``create_graph``, no ``cr.compile`` capture). Only then may a
    rule return a :class:`Scattered` instead of a tensor; any other caller gets tensors."""
    return getattr(_walk, "plain", False)


class Scattered:
    """A gradient given as where it is not zero: zeros of ``shape`` with ``values`` written
    at the basic ``index`` (integers, slices, ``None``, ``...`` and boolean masks: no element
    picked twice), ``values`` shaped like ``zeros(shape)[index]``.

    A slice's gradient (``x[a:b]``, a split's pieces, an LSTM's gates cut from one tensor).
    Returned by a rule only in a :func:`plain_backward`; the walk writes it into the one
    array that sums its input's gradients, so k slices of one tensor cost one input-sized
    array, not k. Hooks, ``retain_grad`` and ``gradients()`` see it as the dense tensor.
    """

    __slots__ = ("copy", "index", "shape", "values")

    def __init__(self, values: Any, index: Any, shape: tuple[int, ...]) -> None:
        self.values = values
        self.shape = tuple(shape)
        items = index if isinstance(index, tuple) else (index,)
        # Integers, slices, None and ... make arr[index] a view (with a trailing ..., so that
        # all integers give a 0-d view rather than a scalar); a mask (True, False or an
        # array) makes it a copy, which add_to writes back.
        self.copy = not all(
            i is None or i is ... or type(i) is slice or type(i) is int or isinstance(i, np.integer)
            for i in items
        )
        if not self.copy and not any(i is ... for i in items):
            index = (*items, ...)
        self.index = index

    @property
    def dtype(self) -> Any:
        return self.values.dtype

    def dense(self, dtype: Any = None) -> Any:
        """A new array: zeros with the values written in."""
        xp = backend.array_module(self.values)
        z = xp.zeros(self.shape, dtype=self.values.dtype if dtype is None else dtype)
        z[self.index] = self.values
        return z

    def add_to(self, arr: Any) -> None:
        """Add the values into ``arr`` (of ``shape``) at the index, in place."""
        if self.copy:
            arr[self.index] += self.values  # (a mask picks each element once)
        else:
            part = arr[self.index]
            part += self.values


class _Sum:
    """The running sum of the gradients reaching one node or leaf in a plain walk: an array
    the walk made itself, so later gradients are added into it in place. ``written`` lists
    the views of it that Scattered gradients were written into while the rest stayed zero
    (``None`` once unknown): a Scattered that overlaps none of them is written, not added
    (the same result; an add reads the zeros back, three times slower through a strided
    view such as an LSTM's gate columns)."""

    __slots__ = ("arr", "written")

    def __init__(self, arr: Any, written: list | None = None) -> None:
        self.arr = np.asarray(arr) if isinstance(arr, np.generic) else arr  # (0-d sums)
        self.written = written

    def add(self, g: Any) -> _Sum:
        """Add a Tensor or a Scattered, in place unless the dtype promotes."""
        arr = self.arr
        scattered = type(g) is Scattered
        new = g.values if scattered else g.data
        dt = backend.array_module(arr).result_type(arr.dtype, new.dtype)
        if not scattered:
            if dt != arr.dtype:
                return _Sum(arr + new)
            arr += new
            self.written = None
            return self
        if dt != arr.dtype:
            self.arr = arr = arr.astype(dt)
        written = self.written
        if written is not None and not g.copy and len(written) < _VIEWS_CHECKED:
            view = arr[g.index]
            if not any(_overlap(view, w) for w in written):
                view[...] = new
                written.append(view)
                return self
        self.written = None
        g.add_to(arr)
        return self


def _overlap(a: Any, b: Any) -> bool:
    """Whether two views of one array may share an element (True when that is too hard to
    tell quickly)."""
    try:
        return bool(backend.array_module(a).shares_memory(a, b, max_work=1000))
    except Exception:  # NumPy's TooHardError, or an array module without the check
        return True


def _tensor(g: Scattered | _Sum) -> Tensor:
    return Tensor._make(g.arr if type(g) is _Sum else g.dense())


def _plus(prev: Any, g: Any) -> _Sum:
    """``prev + g`` in a plain walk (each a Tensor, a Scattered or a _Sum), as NumPy adds
    (dtypes promoted), into the array of a _Sum: made by the first sum, written later."""
    if type(prev) is _Sum:
        return prev.add(g)
    if type(prev) is Scattered:  # the dense one first (addition commutes exactly)
        prev, g = g, prev
    if type(prev) is Scattered:  # both scattered: zeros with the first written in
        dt = backend.array_module(prev.values).result_type(prev.dtype, g.dtype)
        acc = prev.dense(dt)
        return _Sum(acc, None if prev.copy else [acc[prev.index]]).add(g)
    if type(g) is Scattered:
        p = prev.data
        acc = p.astype(backend.array_module(p).result_type(p.dtype, g.dtype), copy=True)
        return _Sum(acc).add(g)
    return _Sum(prev.data + g.data)


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
    anomaly: bool = False,
    plain: bool = False,
) -> None:
    if node.hooks:
        g = _run_hooks(node.hooks, g)
    if node.retained is not None:
        t = node.retained()
        if t is not None and t.grad is None:  # its own writable copy, as leaves get
            t.grad = g.clone() if create_graph else Tensor._make(g.data.copy())
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
    rec = tape.recorder  # cr.compile's capture records each rule
    every = None
    if prim.vjp_all is not None:
        every = (
            prim.vjp_all(g, out, *args, **kwargs)
            if rec is None
            else rec.rule(prim.vjp_all, (), g, out, args, kwargs)
        )
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
            gi = (
                prim.vjp_argnum(i, g, out, *args, **kwargs)
                if rec is None
                else rec.rule(prim.vjp_argnum, (i,), g, out, args, kwargs)
            )
        else:
            if i >= len(prim.vjps):
                raise BackwardError(f"{prim.name} has no gradient rule for input {i}")
            rule = prim.vjps[i]
            if rule is None:  # declared not differentiable in this input: nothing flows
                continue
            gi = (
                rule(g, out, *args, **kwargs)
                if rec is None
                else rec.rule(rule, (), g, out, args, kwargs)
            )
        if gi is None:
            continue
        if type(gi) is Scattered:  # (only from a rule called in a plain walk)
            if gi.shape != node.shapes[i]:
                raise ShapeError(
                    f"gradient rule of {prim.name} returned a Scattered of shape {gi.shape} "
                    f"for an input of shape {node.shapes[i]}"
                )
            if anomaly:
                check_finite(gi.values, f"{prim.name} (backward, gradient for input {i})")
        else:
            if not isinstance(gi, Tensor):
                gi = Tensor._make(backend.xp.asarray(gi))
            shape = node.shapes[i]
            if gi.data.shape != shape:
                gi = _unbroadcast(gi, shape, prim.name)
            if anomaly:
                check_finite(gi.data, f"{prim.name} (backward, gradient for input {i})")
        if (
            type(parent) is Node
            or parent._hooks  # a hooked leaf: summed, delivered last
            or (plain and (type(gi) is Scattered or parent in pending))  # (same: one array)
        ):
            prev = pending.get(parent)
            if prev is None:
                pending[parent] = gi
            else:
                pending[parent] = _plus(prev, gi) if plain else prev + gi
        else:
            _deliver_leaf(parent, gi, g, create_graph, capture, plain)
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
    leaf: Tensor,
    g: Any,
    g_in: Tensor | None,
    create_graph: bool,
    capture: dict | None,
    plain: bool = False,
    owned: bool = False,
) -> None:
    """Add ``g`` into ``leaf.grad`` or, for ``gradients()``, into what is captured for it.
    ``g_in`` is the gradient the rule that made ``g`` was given (``g`` may be it, or a view
    of it: then ``.grad`` gets a copy); ``owned``: ``g`` is a new array the walk made."""
    if tape.recorder is not None:  # cr.compile's capture
        tape.recorder.deliver(leaf, g, g_in, create_graph, capture)
    if leaf._hooks:
        g = _run_hooks(leaf._hooks, g)
        owned = False  # (a hook may keep the tensor it was given)
    if capture is not None:
        if leaf in capture:
            prev = capture[leaf]
            if prev is None:
                capture[leaf] = g
            else:
                capture[leaf] = _plus(prev, g) if plain else prev + g
        return
    if g.data.dtype != leaf.data.dtype:
        g = Tensor._make(g.data.astype(leaf.data.dtype))
    if create_graph:  # a copy: g may be another leaf's gradient too, or a read-only view
        leaf.grad = g.clone() if leaf.grad is None else leaf.grad + g
        return
    arr = g.data
    if leaf.grad is None:
        # Own the array before later steps add into it in place: a rule may have passed the
        # incoming gradient through unchanged, or returned a view of another buffer.
        if not owned and (g_in is None or arr is g_in.data or arr.base is not None):
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
        g = g.sum(tuple(range(lead)))
    ones = tuple(i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
    if ones:
        g = g.sum(ones, True)
    return g


def __getattr__(name: str) -> Any:
    """The transforms live in :mod:`chainrule.functional`; their old import path (``from
    chainrule.autograd import grad``) keeps working."""
    if name in ("grad", "hessian", "jacobian", "value_and_grad", "vjp"):
        from chainrule import functional

        return getattr(functional, name)
    raise AttributeError(f"module 'chainrule.autograd' has no attribute {name!r}")
