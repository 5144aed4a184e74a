"""Floor 2: ``cr.compile``: capture a step once, replay it as flat array calls.

``step = cr.compile(fn)``. The first call runs ``fn`` eagerly (forward, ``backward()``, an
optimiser's step, any mix) while recording what it computes:

- every primitive applied, forward or inside a gradient rule: its array function, its constant
  arguments, and where each input comes from (an input of ``fn``, an earlier result, or a
  tensor from outside such as a parameter, whose current ``.data`` is read at each replay);
- the backward walk as it ran: which rules, in what order, which sums, and what went into each
  leaf's ``.grad`` (assigned or added, as eager decides again at replay);
- the calls marked :func:`replayable`: an optimiser's ``step`` and ``zero_grad``, a
  scheduler's ``step``, gradient clipping, batch norm's running statistics, dropout's mask
  and random tensors. They run again at each replay, so a learning rate changed between steps
  acts, and the random stream advances exactly as in eager mode.

Later calls whose inputs have the same structure, shapes, dtypes and ``requires_grad`` run the
record as one generated Python function of array calls: no Tensor or graph node is made (but
the returned tensors), and each intermediate array is dropped after its last use. A step
whose primitive or gradient rule has an ``into`` form (``linear``'s product and its three
gradients, ``relu``, its ``step_mask``) writes into a buffer the record keeps and reuses at the
next replay while nothing else holds it (a reference count tells: a ``.grad`` kept, a result
returned, a view taken make the next replay allocate anew), so large steps do not allocate
and fault in fresh pages each call; steps whose buffers have the same shape and dtype and
do not live at the same time share one (:mod:`chainrule._plan`), which keeps more of the
replay's memory in cache. Such a record replays in one thread at a time (another thread
calling it meanwhile runs ``fn`` eagerly). A new input signature, grad mode, train/eval mode
of a module called, or parameter set (a parameter replaced, its shape, dtype or
``requires_grad`` changed) captures again (a small cache).

Never wrong: anything the record could not replay, seen during the capture, makes ``fn`` run
eagerly on every call, with one :class:`~chainrule.errors.CompileWarning` naming the reason:
a tensor's value read into Python (``float(t)``, ``bool(t)``, ``.numpy()``, ``.tolist()``;
``.item()`` is fine when its number is only returned), a tensor written in place or its
``.data`` assigned outside a replayable call, a tensor made from arrays the record does not
know (raw NumPy results), random numbers drawn outside a replayable call, gradient hooks,
``retain_grad`` and ``create_graph=True``. Python code that touches no tensor (printing,
appending to a list) runs only during the capture, as under ``jax.jit``.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend, tape
from chainrule._capture import Capture, Entry
from chainrule._watch import Scalar, patch, unpatch
from chainrule.errors import CompileWarning
from chainrule.tensor import Tensor

__all__ = ["Compiled", "compile", "constant", "replayable"]

_SCALARS = (int, float, bool, str, bytes, complex, type(None))
_MISSING = object()
_make = Tensor._make  # the original, also while a capture has the class patched
_lock = threading.RLock()  # one capture at a time: the patches below are process-wide


def compile(fn: Callable | None = None, *, cache_size: int = 8, max_captures: int = 64) -> Any:
    """Compile ``fn`` by capture and replay: ``step = cr.compile(fn)`` (also a decorator).

    The first call with a given input signature runs ``fn`` eagerly while recording its array
    calls; later calls replay the record (see the module docstring of :mod:`chainrule.compile`
    for what is recorded and when it falls back to eager mode). Results are those of eager
    mode: bit for bit in float64, to rounding in float32. Returns a :class:`Compiled`, which
    returns what ``fn`` returns (tensors rebuilt around the replayed arrays, without a graph;
    numbers from ``.item()`` recomputed). ``cache_size``: how many input signatures keep a
    record; ``max_captures``: after that many captures (inputs or state that keep changing) the
    function runs eagerly, with a warning. Raises whatever ``fn`` raises.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = cr.optim.SGD([w], lr=0.1)
    >>> @cr.compile
    ... def step(x):
    ...     opt.zero_grad()
    ...     loss = (w * x).sum()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss.item()
    >>> [step(cr.tensor([1.0, 1.0])) for _ in range(3)]
    [3.0, 2.799999952316284, 2.5999999046325684]
    """
    if fn is None:
        return lambda f: Compiled(f, cache_size=cache_size, max_captures=max_captures)
    return Compiled(fn, cache_size=cache_size, max_captures=max_captures)


def replayable(fn: Callable) -> Callable:
    """Mark an array-level function with side effects as one call to repeat at each replay.

    For functions that ``cr.compile`` should not look inside but call again: they read and
    write arrays and Python state themselves (an optimiser's ``step``, clipping, running
    statistics, a random draw). Outside a capture the wrapper only calls ``fn``. During one,
    ``fn`` runs unrecorded and the call is recorded with its arguments: tensors and arrays
    from the record are passed anew at each replay, anything else (the optimiser, a list of
    parameters) by reference. What it returns (tensors, arrays, or tuples of them) feeds the
    rest of the record.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        rec = tape.recorder
        if rec is None or not rec.own():
            return fn(*args, **kwargs)
        return rec.replayable(fn, args, kwargs)

    return wrapper


def constant(arr: Any) -> Any:
    """Mark ``arr``, an array computed from shapes and constants alone (never from a tensor's
    values), as a constant of the record a capture is making: it is kept in the record
    rather than computed again. Returns ``arr``; outside a capture, only that."""
    rec = tape.recorder
    if rec is not None and rec.own():
        rec.constant(arr)
    return arr


class Compiled:
    """A function compiled by :func:`compile`: call it as the function.

    ``captures`` counts the captures so far, ``reason`` is ``None`` or why the function runs
    eagerly (said once by a :class:`~chainrule.errors.CompileWarning`).
    """

    def __init__(self, fn: Callable, cache_size: int = 8, max_captures: int = 64) -> None:
        self.fn = fn
        self.cache_size = int(cache_size)
        self.max_captures = int(max_captures)
        self.cache: OrderedDict[tuple, list[Entry]] = OrderedDict()
        self.captures = 0
        self.reason: str | None = None
        self.name = getattr(fn, "__qualname__", None) or repr(fn)
        functools.update_wrapper(self, fn)
        func = getattr(fn, "__func__", fn)  # a bound method's function
        code = getattr(func, "__code__", None)
        self._cells = tuple(getattr(func, "__closure__", None) or ())
        self._globals = getattr(func, "__globals__", {})
        self._names = code.co_names if code is not None else ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.reason is not None:
            return self.fn(*args, **kwargs)
        rec = tape.recorder
        if rec is not None and rec.own():  # inside another capture: recorded there
            return self.fn(*args, **kwargs)
        if tape.is_anomaly_enabled() or backend.xp is not np:
            return self.fn(*args, **kwargs)  # detect_anomaly's checks, the GPU: eager mode
        leaves: list = []
        key: list = [tape.is_grad_enabled(), backend.get_default_dtype()]
        _flatten(args, leaves, key)
        if kwargs:
            _flatten(kwargs, leaves, key)
        env = self._environment()
        key.append(tuple(map(id, env)))
        k = tuple(key)
        entries = self.cache.get(k)
        if entries:
            for e in entries:
                if e.guard():
                    self.cache.move_to_end(k)
                    lock = e.lock
                    if lock is None:
                        return e.run(*leaves)
                    if not lock.acquire(blocking=False):  # its buffers are in use by another
                        return self.fn(*args, **kwargs)  # thread's replay: eager mode
                    try:
                        return e.run(*leaves)
                    finally:
                        lock.release()
        return self._capture(k, leaves, args, kwargs, env)

    def _environment(self) -> tuple:
        """What ``fn``'s free variables and the globals it names hold now: the record is of
        those objects (a rebound ``model`` or ``optimizer`` captures again)."""
        glob = self._globals
        env = [glob.get(n, _MISSING) for n in self._names]
        for c in self._cells:
            try:
                env.append(c.cell_contents)
            except ValueError:  # an empty cell
                env.append(_MISSING)
        return tuple(env)

    def _capture(self, key: tuple, leaves: list, args: tuple, kwargs: dict, env: tuple) -> Any:
        with _lock:
            cap = Capture(self.name, leaves)
            try:
                return self._record(cap, key, args, kwargs, env)
            finally:
                cap.release()  # every intermediate array and node it saw: freed now

    def _record(self, cap: Capture, key: tuple, args: tuple, kwargs: dict, env: tuple) -> Any:
        # (called by _capture only, which holds _lock)
        saved = patch(cap)
        try:
            result = self.fn(*args, **kwargs)
        finally:
            tape.recorder = None
            unpatch(saved)
        cap.check_rng()
        out = cap.output(result)
        self.captures += 1
        if cap.reason is None and self.captures > self.max_captures:
            cap.fail(
                f"it was captured {self.captures} times (its input shapes, modes, parameters "
                "or the objects it names keep changing), more than max_captures="
                f"{self.max_captures}"
            )
        if cap.reason is not None:
            self.reason = cap.reason
            self.cache.clear()
            warnings.warn(
                f"cr.compile({self.name}) runs eagerly from now on: {cap.reason}",
                CompileWarning,
                stacklevel=3,
            )
        else:
            entry = cap.build(out)
            entry.env = env  # alive, so that the ids in the key stay theirs
            entries = self.cache.setdefault(key, [])
            entries.append(entry)
            del entries[: -self.cache_size]  # the newest records of this signature
            self.cache.move_to_end(key)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return _plain(result)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """As a method decorator: the instance is the first argument (one record each)."""
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self) -> str:
        state = f"eager: {self.reason}" if self.reason else f"{len(self.cache)} records"
        return f"<cr.compile {self.name} ({state})>"


def _flatten(obj: Any, leaves: list, key: list) -> None:
    """The tensors and arrays of ``obj`` (nested tuples, lists, dicts) in order, and a key of
    its structure, their shapes, dtypes and ``requires_grad``, and its other values."""
    t = type(obj)
    if t is tuple or t is list:
        key.append((t, len(obj)))
        for x in obj:
            _flatten(x, leaves, key)
    elif isinstance(obj, Tensor):
        d = obj.data
        if obj._requires_grad:
            key.append((d.shape, d.dtype, True, obj._hooks is None, _alias(obj, leaves)))
        else:
            key.append((d.shape, d.dtype, _alias(obj, leaves)))
        leaves.append(obj)
    elif t is np.ndarray:
        key.append((obj.shape, obj.dtype, None, _alias(obj, leaves)))
        leaves.append(obj)
    elif t is dict:
        key.append((dict, tuple(obj)))
        for x in obj.values():
            _flatten(x, leaves, key)
    elif isinstance(obj, _SCALARS):
        key.append((t, obj))
    else:
        key.append(("id", id(obj)))


def _alias(obj: Any, leaves: list) -> int:
    """-1, or the index of an earlier leaf that is the same object (aliasing is part of the
    key: the record of f(x, x) is not that of f(x, y))."""
    for i, x in enumerate(leaves):
        if x is obj:
            return i
    return -1


def _plain(result: Any) -> Any:
    """``fn``'s result with recorded numbers turned back into plain Python floats."""
    t = type(result)
    if t is Scalar:
        return result.value
    if t is tuple or t is list:
        return t(_plain(x) for x in result)
    if t is dict:
        return {k: _plain(v) for k, v in result.items()}
    return result
