"""The recorder behind ``cr.compile``: what a capture sees, and the replay it generates.

A capture is one eager call of the compiled function with a :class:`Capture` set as
``tape.recorder``. The engine calls it at four places: each primitive applied
(``apply``), the backward seed (``seed``), each gradient rule (``rule``) and each gradient
delivered into a leaf (``deliver``); :func:`chainrule.compile.replayable` calls ``replayable``
and modules call ``module``. While it runs, a few ``Tensor`` members are patched (value
reads, in-place bumps, ``.data`` assignment, hooks) so that what the record cannot replay is
seen, and the capture marked to fall back.

The record is a list of steps, each one line of Python over numbered arrays ``s0, s1, ...``
(generated as one function, with each array deleted after its last use) and named objects
(``f`` forwards, ``e`` outside tensors read through ``.data``, ``l`` leaves, ``c`` constants).
What the capture watches on tensors meanwhile is :mod:`chainrule._watch`.
"""

from __future__ import annotations

import builtins
import functools
import random
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import _replay as replay
from chainrule import autograd, backend
from chainrule._plan import rename, share_buffers
from chainrule._watch import Scalar, where
from chainrule.tensor import Tensor

_make = Tensor._make


class Entry:
    """One record: ``run(*leaves)`` replays it, ``guard()`` says whether it still applies."""

    __slots__ = ("env", "guard", "lock", "run", "source")

    def __init__(self, run: Callable, guard: Callable, source: str, buffered: bool) -> None:
        self.run = run
        self.guard = guard
        self.source = source
        self.env: tuple = ()
        # a record writing into buffers of its own replays in one thread at a time
        self.lock = threading.Lock() if buffered else None


class Capture:
    """The record being made, and what the capture has seen that it cannot replay."""

    def __init__(self, name: str, leaves: list) -> None:
        self.name = name
        self.thread = threading.get_ident()
        self.steps: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
        self.ns: dict[str, Any] = {"T": _make, "R": replay.leaf, "D": replay.deliver,
                                   "A": replay.as_array, "G": replay.rule,
                                   "TA": Tensor}  # fmt: skip
        self.nslots = 0
        self.slot: dict[int, int] = {}  # id(array) -> its number
        self.keep: list = []  # objects whose ids the maps here use, kept alive until the end
        self.refs: dict[int, weakref.ref] = {}  # id -> weak reference to an array or node
        self.untracked: dict[int, str] = {}  # id(array) -> where a tensor was made of it
        self.consts: dict[int, str] = {}  # id(array) -> name of a constant array
        self.names: dict[int, str] = {}  # id(object) -> its name in the replay
        self.born: set[int] = set()  # ids of the tensors made during the capture
        self.external: dict[int, str] = {}  # id(array) -> how to read it from its tensor
        self.roots: set[int] = set()  # ids of the nodes backward started from
        self.nodes: set[int] = set()  # ids of the graph nodes made during the capture
        self.numbers: dict[int, Any] = {}  # id(float) -> the recorded number it holds
        self.leaves: list[tuple[Tensor, str]] = []
        self.guards: dict[str, None] = {}
        self.reason: str | None = None
        self.suspended = 0
        self.rule_depth = 0
        self.dirty = False
        self.entry: list[str] = []
        self.buffers: dict[str, tuple] = {}  # name -> (shape, dtype) of a step's own buffer
        self.bound: dict[str, int] = {}  # buffer name -> the slot its step writes there
        self.nleaves = len(leaves)
        for k, x in enumerate(leaves):
            arr = x.data if isinstance(x, Tensor) else x
            if isinstance(x, Tensor):
                self.names[id(x)] = f"i{k}"
                self.keep.append(x)
            if id(arr) in self.slot:
                continue
            n = self.new_slot(arr)
            self.entry.append(f"s{n} = i{k}.data" if isinstance(x, Tensor) else f"s{n} = i{k}")
        self.rng_state = _random_states()

    # ------------------------------------------------------------------ bookkeeping
    def own(self) -> bool:
        """Whether a hook call belongs to this capture (its thread, not inside a replayable)."""
        return self.suspended == 0 and threading.get_ident() == self.thread

    def fail(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def new_slot(self, arr: Any) -> int:
        n = self.nslots
        self.nslots += 1
        self.slot[id(arr)] = n
        self.hold(arr)
        self.untracked.pop(id(arr), None)
        return n

    def hold(self, o: Any) -> None:
        """Keep the maps keyed by ``id(o)`` (an array, a graph node) true while the capture
        runs: a weak reference drops ``o``'s id from them when ``o`` dies (so that an object
        made later with the same id is not taken for it), instead of keeping every
        intermediate array of the step alive until the capture ends. Objects that take no
        weak reference are kept."""
        i = id(o)
        if i in self.refs:
            return
        try:
            self.refs[i] = weakref.ref(o, functools.partial(_forget, self, i))
        except TypeError:
            self.keep.append(o)

    def release(self) -> None:
        """Drop what the capture held (every intermediate array and graph node it saw, the
        maps of their ids): called once the record is built or abandoned, so that nothing
        waits for Python's cycle collector (a recorded number refers to its capture)."""
        self.refs.clear()
        for d in (self.slot, self.untracked, self.consts, self.names, self.external,
                  self.numbers, self.ns, self.buffers, self.bound):  # fmt: skip
            d.clear()
        for c in (self.keep, self.steps, self.leaves, self.entry):
            c.clear()
        self.born.clear()
        self.roots.clear()
        self.nodes.clear()

    def obj(self, o: Any, prefix: str = "c") -> str:
        name = self.names.get(id(o))
        if name is None:
            name = f"{prefix}{len(self.ns)}"
            self.ns[name] = o
            self.names[id(o)] = name
            self.keep.append(o)
        return name

    def buffer(self, arr: Any) -> str | None:
        """The replay's expression for a buffer of its own shaped like ``arr`` (a fresh
        array a step makes), written by an ``into`` form at each replay; None when ``arr``
        is not a plain C-contiguous array of its own. The buffer is reused while nothing
        but the record holds it (its reference count says so: a gradient kept in a
        ``.grad``, an array returned, a view of it taken, make the next replay allocate a
        new one)."""
        if type(arr) is not np.ndarray or not arr.flags.c_contiguous or arr.base is not None:
            return None
        name = f"b{len(self.buffers)}"
        self.buffers[name] = (arr.shape, arr.dtype)
        return f"({name} if RC({name}) == {replay.BASE} else N({name!r}))"

    def untracked_use(self, arr: Any, what: str) -> str:
        where = self.untracked.get(id(arr), "")
        if self.rule_depth:
            self.dirty = True
        else:
            self.fail(f"{what} uses a tensor made from raw array data {where} (not by a "
                      "chainrule op or a replayable call)")  # fmt: skip
        return "None"

    def grad_of(self, arr: Any) -> str | None:
        for leaf, name in self.leaves:
            if leaf.grad is not None and leaf.grad.data is arr:
                return f"{name}.grad.data"
        return None

    def known(self, t: Tensor) -> bool:
        """Whether the record knows where tensor ``t``'s array comes from."""
        i = id(t.data)
        return (
            i in self.slot
            or i in self.consts
            or id(t) not in self.born
            or (self.grad_of(t.data) is not None)
        )

    def recorded(self, arr: Any, reads: list) -> str | None:
        """The replay's expression for an array the record made (a leaf's gradient, a
        numbered array, a constant), else None."""
        g = self.grad_of(arr)  # first: at replay, the gradient may have been added instead
        if g is not None:
            return g
        n = self.slot.get(id(arr))
        if n is not None:
            reads.append(n)
            return f"s{n}"
        return self.consts.get(id(arr))

    def ref_array(self, arr: Any, what: str, reads: list) -> str:
        """The replay's expression for an array argument."""
        e = self.recorded(arr, reads)
        if e is not None:
            return e
        i = id(arr)
        if i in self.untracked:
            return self.untracked_use(arr, what)
        e = self.external.get(i)
        if e is not None:
            return e
        if self.rule_depth:  # an array the rule computed itself: the rule is recorded whole
            self.dirty = True
        else:
            self.fail(f"{what} is given an array computed outside chainrule's ops {where()} "
                      "(the record cannot follow raw NumPy)")  # fmt: skip
        return "None"

    def ref_tensor(self, t: Tensor, what: str, reads: list) -> str:
        """The replay's expression for a tensor argument's array."""
        arr = t.data
        e = self.recorded(arr, reads)
        if e is not None:
            return e
        if id(t) not in self.born:  # from outside the function (a parameter, a buffer)
            name = self.obj(t, "e")
            dt = self.obj(arr.dtype)
            self.guards[f"{name}.data.shape == {arr.shape!r}"] = None
            self.guards[f"{name}.data.dtype == {dt}"] = None
            self.guards[f"{name}._requires_grad is {t._requires_grad}"] = None
            self.external[id(arr)] = f"{name}.data"
            return f"{name}.data"
        return self.untracked_use(arr, what)

    def arg(self, a: Any, what: str, reads: list, wrap: bool = False) -> str:
        """The replay's expression for a primitive's or replayable's argument ``a``."""
        if isinstance(a, Tensor):
            e = self.ref_tensor(a, what, reads)
            if not wrap:
                return e
            name = self.names.get(id(a), "")
            if name.startswith("i"):  # an input tensor itself (its .grad, its identity)
                return name
            if e.endswith(".data") and not e.endswith(".grad.data"):
                return e[:-5]  # the outside tensor itself
            return f"R({e})" if a._requires_grad else f"T({e})"
        t = type(a)
        if t is np.ndarray:
            return self.ref_array(a, what, reads)
        if t is float and id(a) in self.numbers:  # a recorded number, made plain
            a, t = self.numbers[id(a)], Scalar
        if t is Scalar and a.capture is self:  # a recorded number: its value at replay
            reads.append(a.slot)
            return f"s{a.slot}.item()" if a.item else f"s{a.slot}"
        if (t is tuple or t is list) and any(isinstance(x, (Tensor, np.ndarray)) for x in a):
            inner = [self.arg(x, what, reads, wrap=True) for x in a]
            return f"({', '.join(inner)},)" if t is tuple else f"[{', '.join(inner)}]"
        return self.obj(a)

    def code(self, line: str, reads: list, writes: tuple[int, ...] = ()) -> None:
        self.steps.append((line, tuple(reads), writes))

    # ------------------------------------------------------------------ engine hooks
    def apply(self, prim: Any, args: tuple, kwargs: dict, out: Tensor) -> None:
        """A primitive was applied: record its forward on the replay's arrays."""
        if not self.own():
            return
        reads: list = []
        parts = [self.arg(a, prim.name, reads) for a in args]
        for k, v in kwargs.items():
            if isinstance(v, Tensor):
                self.fail(f"{prim.name} was given a tensor as keyword argument {k!r}")
            parts.append(f"{k}={self.arg(v, prim.name, reads)}")
        into = getattr(prim, "into", None)  # the forward writing into a given array
        buf = None if into is None else self.buffer(out.data)
        n = self.new_slot(out.data)
        if out._node is not None:
            self.nodes.add(id(out._node))
            self.hold(out._node)
        if buf is not None:
            parts.insert(0, buf)
            self.bound[buf[1 : buf.index(" ")]] = n
            f = self.obj(into, "f")
        else:
            f = self.obj(prim.forward, "f")
        self.code(f"s{n} = {f}({', '.join(parts)})", reads, (n,))

    def seed(self, t: Tensor, grad: Any, g: Tensor, create_graph: bool) -> None:
        """backward's starting gradient for ``t``: ones (a constant), or the tensor given."""
        if not self.own():
            return
        self.roots.add(id(t._node))
        if t._node is not None and any(
            id(n) not in self.nodes for n in autograd.topological_order([t._node])
        ):
            self.fail("backward reaches a graph made outside the function (a non-leaf input)")
        if create_graph:
            self.fail("backward(create_graph=True) (higher-order gradients) is not recorded")
        if grad is None:
            self.constant(g.data)
        elif not isinstance(grad, Tensor):
            self.fail("backward(grad=...) was given an array, not a tensor")

    def grad_assigned(self, t: Tensor, value: Any) -> None:
        """``t.grad = value`` in the function, on a tensor from outside: a step."""
        name = self.names.get(id(t))
        if name is None or not name.startswith("i"):
            name = self.obj(t, "l")
        if all(x is not t for x, _ in self.leaves):
            self.leaves.append((t, name))
        reads: list = []
        if value is None:
            self.code(f"{name}.grad = None", reads)
        elif isinstance(value, Tensor):
            self.code(f"{name}.grad = {self.arg(value, '.grad', reads, wrap=True)}", reads)
        else:
            self.fail(f"a tensor's .grad is assigned {type(value).__name__}")

    def constant(self, arr: Any) -> None:
        """An array made from shapes and constants alone: kept in the record."""
        self.untracked.pop(id(arr), None)
        self.consts[id(arr)] = self.obj(arr)

    def enter(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """A primitive is about to run: the recorded numbers among its arguments become the
        plain floats they hold (NumPy would promote a float subclass to float64), known to
        the record by identity."""
        if not self.own():
            return args, kwargs
        if any(type(a) is Scalar for a in args):
            args = tuple(self.plain(a) for a in args)
        if kwargs and any(type(v) is Scalar for v in kwargs.values()):
            kwargs = {k: self.plain(v) for k, v in kwargs.items()}
        return args, kwargs

    def plain(self, a: Any) -> Any:
        """A recorded number's plain float, remembered by identity."""
        if type(a) is not Scalar or a.capture is not self:
            return a
        self.numbers[id(a.value)] = a
        self.keep.append(a.value)
        return a.value

    def rule(self, fn: Callable, lead: tuple, g: Tensor, out: Any, args: tuple, kw: dict) -> Any:
        """A gradient rule: its primitives are recorded one by one when the rule used only
        arrays the record knows; otherwise the rule itself is recorded, called on tensors
        wrapped around the replay's arrays."""
        if not self.own():
            return fn(*lead, g, out, *args, **kw)
        mark, outer = len(self.steps), self.dirty
        self.dirty = False
        self.rule_depth += 1
        try:
            res = fn(*lead, g, out, *args, **kw)
        finally:
            self.rule_depth -= 1
        multi = isinstance(res, (tuple, list))
        items = list(res) if multi else [res]
        for j, r in enumerate(items):
            if r is not None and not isinstance(r, Tensor):
                items[j] = _make(backend.xp.asarray(r))
                self.dirty = True
            elif r is not None and not self.known(r):
                self.dirty = True
        into = getattr(fn, "into", None)  # the rule writing its results into given arrays
        if self.dirty and into is not None and not lead and multi:
            bufs = [None if r is None else self.buffer(r.data) for r in items]
            if all(b is not None for b, r in zip(bufs, items) if r is not None):
                del self.steps[mark:]
                reads = []
                parts = [f"({', '.join(b or 'False' for b in bufs)},)"]
                parts.append(self.arg(g, "a gradient rule", reads))
                parts.append("None" if out is None else self.arg(out, "a rule", reads))
                parts += [self.arg(a, "a gradient rule", reads) for a in args]
                parts += [f"{k}={self.obj(v)}" for k, v in kw.items()]
                outs = [None if r is None else self.new_slot(r.data) for r in items]
                self.bound.update((b[1 : b.index(" ")], n) for b, n in zip(bufs, outs) if b)
                lines = [f"_r = {self.obj(into, 'r')}({', '.join(parts)})"]
                lines += [f"s{n} = _r[{j}]" for j, n in enumerate(outs) if n is not None]
                self.code("\n".join(lines), reads, tuple(n for n in outs if n is not None))
                self.dirty = False
        if self.dirty:
            del self.steps[mark:]
            reads: list = []
            parts = [repr(i) for i in lead]
            parts.append(self.arg(g, "a gradient rule", reads, wrap=True))
            parts.append("None" if out is None else self.arg(out, "a rule", reads, wrap=True))
            parts += [self.arg(a, "a gradient rule", reads, wrap=True) for a in args]
            parts += [f"{k}={self.obj(v)}" for k, v in kw.items()]
            call = f"G({self.obj(fn, 'r')}, {', '.join(parts)})"
            outs = [None if r is None else self.new_slot(r.data) for r in items]
            if multi:
                lines = [f"_r = {call}"]
                lines += [f"s{n} = A(_r[{j}])" for j, n in enumerate(outs) if n is not None]
                self.code("\n".join(lines), reads, tuple(n for n in outs if n is not None))
            elif outs[0] is not None:
                self.code(f"s{outs[0]} = A({call})", reads, (outs[0],))
        self.dirty = outer
        return tuple(items) if multi else items[0]

    def deliver(self, leaf: Tensor, g: Tensor, g_in: Any, create_graph: bool, capture: Any) -> None:
        """A gradient about to go into a leaf's ``.grad``."""
        if not self.own() or capture is not None:
            return
        if leaf._hooks:
            self.fail("a leaf tensor has a gradient hook (register_hook)")
        if create_graph:
            self.fail("backward(create_graph=True) (higher-order gradients) is not recorded")
        if id(leaf) in self.born:
            self.fail("a gradient goes into a tensor made inside the function")
        reads: list = []
        e = self.ref_tensor(g, "a gradient", reads)
        arr = g.data
        cast = arr.dtype != leaf.data.dtype
        copy = g_in is None if cast else (g_in is None or arr is g_in.data or arr.base is not None)
        name = self.names.get(id(leaf))
        if name is None or not name.startswith("i"):
            name = self.obj(leaf, "l")
        if all(x is not leaf for x, _ in self.leaves):
            self.leaves.append((leaf, name))
        if name.startswith("l"):  # (an input's hooks and dtype are in the cache key)
            self.guards[f"{name}._hooks is None"] = None
            self.guards[f"{name}.data.dtype == {self.obj(leaf.data.dtype)}"] = None
        dt = self.obj(leaf.data.dtype) if cast else "None"
        self.code(f"D({name}, {e}, {copy}, {dt})", reads)

    def module(self, m: Any) -> None:
        """A module was called: its train/eval mode, hooks, parameters, buffers and children
        guard the record (a child replaced or added, ``model[1] = nn.Tanh()``, captures
        again: the record would call the old one's arithmetic)."""
        if not self.own():
            return
        name = self.obj(m, "m")
        self.guards[f"{name}.training is {bool(m.training)}"] = None
        children = tuple(getattr(m, "_modules", {}).values())
        if children:
            self.guards[f"tuple({name}._modules.values()) == {self.obj(children)}"] = None
        for reg in ("_forward_pre_hooks", "_forward_hooks"):  # the hooks: replayed, guarded
            now = tuple(getattr(m, reg, {}).values())
            if not now:  # (the common case, cheaper to test)
                self.guards[f"not {name}.{reg}"] = None
                continue
            self.guards[f"tuple({name}.{reg}.values()) == {self.obj(now)}"] = None
        for reg in ("_parameters", "_buffers"):
            for k, p in getattr(m, reg, {}).items():
                self.guards[f"{name}.{reg}.get({k!r}) is {self.obj(p)}"] = None

    def replayable(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        """A call marked replayable: run it unrecorded, record the call."""
        args = tuple(list(a) if _is_iterator(a) else a for a in args)
        kwargs = {k: list(v) if _is_iterator(v) else v for k, v in kwargs.items()}
        what = getattr(fn, "__qualname__", "a replayable call")
        reads: list = []
        parts = [self.arg(a, what, reads, wrap=True) for a in args]
        parts += [f"{k}={self.arg(v, what, reads, wrap=True)}" for k, v in kwargs.items()]
        args = tuple(self.plain(a) for a in args)  # as at replay: plain floats
        kwargs = {k: self.plain(v) for k, v in kwargs.items()}
        self.check_rng()
        self.suspended += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            self.suspended -= 1
        self.rng_state = _random_states()
        call = f"{self.obj(fn, 'k')}({', '.join(parts)})"
        paths: list[tuple[str, int]] = []
        result = self.results(result, "_r", paths)
        if not paths:
            self.code(call, reads)
        else:
            lines = [f"_r = {call}"] + [f"s{n} = {p}" for p, n in paths]
            self.code("\n".join(lines), reads, tuple(n for _, n in paths))
        return result

    def results(self, r: Any, path: str, paths: list) -> Any:
        """Give the arrays in a replayable's result numbers in the record; its Python numbers
        come back as recorded numbers (returning them is fine, any other use falls back)."""
        t = type(r)
        if isinstance(r, Tensor):
            paths.append((f"{path}.data", self.new_slot(r.data)))
        elif t is np.ndarray:
            paths.append((path, self.new_slot(r)))
        elif t is float:  # (ints are left alone: shapes and counts from shapes)
            n = self.nslots
            self.nslots += 1
            paths.append((path, n))
            return Scalar(r, self, n, item=False)
        elif t is tuple or t is list:
            return t(self.results(x, f"{path}[{j}]", paths) for j, x in enumerate(r))
        return r

    def check_rng(self) -> None:
        now, then = _random_states(), self.rng_state
        if now[0] is not then[0] or now[1] != then[1]:
            self.fail("it draws random numbers outside a replayable call")
        elif now[2] != then[2] or not np.array_equal(now[3], then[3]):
            self.fail("it draws from NumPy's or Python's global random generator")

    # ------------------------------------------------------------------ the replay
    def output(self, r: Any) -> str:
        """The replay's expression rebuilding ``fn``'s result ``r``."""
        t = type(r)
        if isinstance(r, Tensor):
            for leaf, name in self.leaves:
                if r is leaf.grad:
                    return f"{name}.grad"
            node = r._node
            if node is not None and r._requires_grad and id(node) not in self.roots:
                self.fail("it returns a tensor still in the graph (call backward() inside it)")
            reads: list = []
            e = self.ref_tensor(r, "the result", reads)
            if e.endswith(".grad.data"):
                return e[:-5]
            if e.endswith(".data"):
                return e[:-5]
            return f"T({e})"
        if t is Scalar:
            if r.capture is not self:
                return self.obj(r.value)
            return f"s{r.slot}.item()" if r.item else f"s{r.slot}"
        if t is tuple or t is list:
            inner = [self.output(x) for x in r]
            return f"({', '.join(inner)},)" if t is tuple else f"[{', '.join(inner)}]"
        if isinstance(r, tuple) and hasattr(r, "_fields"):
            return f"{self.obj(t)}({', '.join(self.output(x) for x in r)})"
        if t is dict:
            return "{" + ", ".join(f"{self.obj(k)}: {self.output(v)}" for k, v in r.items()) + "}"
        if t is np.ndarray:
            return self.ref_array(r, "the result", [])
        return self.obj(r)

    def build(self, out: str) -> Entry:
        """Generate the replay function and the guard."""
        last: dict[int, int] = {}
        for j, (_, reads, _) in enumerate(self.steps):
            for n in reads:
                last[n] = j
        live = {int(s[1:]) for s in _slot_names(out)}
        lines = [f"def _replay({', '.join(f'i{k}' for k in range(self.nleaves))}):"]
        lines += [f"    {x}" for x in self.entry]
        unused = [n for n in range(self.nslots) if n not in last and n not in live]
        for n in unused:  # inputs never read
            if any(x.startswith(f"s{n} =") for x in self.entry):
                lines.append(f"    del s{n}")
        dead: dict[int, list[int]] = {}
        for n, j in last.items():
            if n not in live:
                dead.setdefault(j, []).append(n)
        plan = share_buffers(self.steps, self.buffers, self.bound, last, live)
        for j, (line, _, writes) in enumerate(self.steps):
            lines += [f"    {x}" for x in rename(line, plan).split("\n")]
            gone = dead.get(j, []) + [n for n in writes if n not in last and n not in live]
            if "_r = " in line:
                lines.append("    del _r")
            if gone:
                lines.append(f"    del {', '.join(f's{n}' for n in sorted(set(gone)))}")
        lines.append(f"    return {out}")
        guard = " and ".join(self.guards) or "True"
        lines += ["", "def _guard():", f"    return {guard}"]
        source = "\n".join(lines)
        ns = dict(self.ns)
        for name in set(plan.values()):
            ns[name] = np.empty(*self.buffers[name])
        ns["RC"] = sys.getrefcount
        ns["N"] = functools.partial(replay.fresh, ns)
        exec(builtins.compile(source, f"<cr.compile {self.name}>", "exec"), ns)
        return Entry(ns["_replay"], ns["_guard"], source, bool(plan))


def _random_states() -> tuple:
    """chainrule's generator and its state, Python's and NumPy's global ones' states."""
    rng = backend.rng()
    legacy = np.random.get_state()  # noqa: NPY002 - watched, not used
    return rng, rng.bit_generator.state, (random.getstate(), legacy[2:]), legacy[1]


def _slot_names(expr: str) -> list[str]:
    import re

    return re.findall(r"\bs\d+\b", expr)


def _is_iterator(x: Any) -> bool:
    return hasattr(x, "__next__") and hasattr(x, "__iter__")


def _forget(cap: Capture, i: int, _ref: Any) -> None:
    """An object ``cap`` held weakly (by id ``i``) died: its id may be reused from now on."""
    cap.refs.pop(i, None)
    cap.slot.pop(i, None)
    cap.untracked.pop(i, None)
    cap.nodes.discard(i)
