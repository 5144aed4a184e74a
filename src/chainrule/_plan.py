"""Memory planning for ``cr.compile``'s replay: which steps' own buffers can be one array.

A step whose primitive or gradient rule has an ``into`` form writes into a buffer the record
keeps (see :mod:`chainrule._capture`). Steps that run one after another often make arrays of
the same shape and dtype whose lifetimes do not overlap (a layer's input gradient, dead once
the next layer's is made); giving them one buffer keeps the replay's memory, and the part of
it in the cache, smaller. The reference count that guards each buffer at replay still decides:
an array something else holds (a ``.grad``, a view, a returned result) makes that step
allocate anew, so a plan never shares an array in use; to keep that from happening at every
replay, a buffer is passed on only when its array went nowhere but into other steps that
write into buffers of their own (an ``into`` form returns its buffers, never a view of an
input): not into a ``.grad``, a replayable call, a rule run whole, another op or the result.
"""

from __future__ import annotations

import re
from typing import Any

_BUFFER = re.compile(r"\bb\d+\b")


def share_buffers(
    steps: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    buffers: dict[str, tuple[Any, Any]],
    bound: dict[str, int],
    last: dict[int, int],
    live: set[int],
) -> dict[str, str]:
    """For each buffer name used by ``steps`` (lines of the replay, in order), the name of
    the array it uses: one of an earlier step of the same shape and dtype (``buffers``: name
    -> (shape, dtype)) whose slot (``bound``: name -> the slot it holds) was last read
    (``last``: slot -> step) before this step, only by steps writing into buffers, and is
    not returned (``live``); else its own. The buffer freed last is taken first (most likely
    still in cache)."""
    kept = set(live)  # slots whose arrays may outlive their last read
    for line, reads, _ in steps:
        if not _BUFFER.search(line):
            kept.update(reads)
    free: dict[tuple, list[str]] = {}
    frees: dict[int, list[tuple[tuple, str]]] = {}  # step -> buffers free after it
    plan: dict[str, str] = {}
    for j, (line, _, _) in enumerate(steps):
        for key, name in frees.pop(j - 1, ()):
            free.setdefault(key, []).append(name)
        for name in dict.fromkeys(_BUFFER.findall(line)):
            if name not in bound or name in plan:
                continue
            key = buffers[name]
            pool = free.get(key)
            plan[name] = pool.pop() if pool else name
            n = bound[name]
            if n not in kept:  # a slot never read is dead after its own step
                frees.setdefault(last.get(n, j), []).append((key, plan[name]))
    return plan


def rename(line: str, plan: dict[str, str]) -> str:
    """``line`` with each buffer name replaced by the one ``plan`` gives it."""
    return _BUFFER.sub(lambda m: plan.get(m.group(0), m.group(0)), line)
