"""cr.compile's memory plan: steps whose buffers have the same shape and dtype and do not live
at the same time share one array, the replay stays eager mode bit for bit, an array that went
into a ``.grad`` or anywhere else is never taken over, and replays do not allocate anew."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule._plan import rename, share_buffers


def _make(width=16, depth=4, foreach=None):
    cr.set_default_dtype("float64")
    cr.manual_seed(0)
    layers = [nn.Linear(12, width), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(width, 3))
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, foreach=foreach)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step, model


def _data(steps=5):
    rng = np.random.default_rng(1)
    return [(cr.tensor(rng.standard_normal((8, 12))), cr.tensor(rng.integers(0, 3, 8)))
            for _ in range(steps)]  # fmt: skip


def _buffers(fast):
    entry = next(iter(fast.cache.values()))[0]
    ns = entry.run.__globals__
    return entry, {n: ns[n].shape for n in ns if n[0] == "b" and n[1:].isdigit()}


def test_same_shaped_buffers_are_shared_and_the_replay_is_still_eager_bit_for_bit():
    eager, eager_model = _make()
    step, model = _make()
    fast = cr.compile(step)
    for x, y in _data():
        assert fast(x, y) == eager(x, y)
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    entry, buffers = _buffers(fast)
    uses = entry.source.count(" if RC(b")
    assert len(buffers) < uses  # fewer arrays than steps writing into one
    # the hidden layers' input gradients (8, 16), made one after another, share
    shared = [n for n in buffers if entry.source.count(f"({n} if RC") > 1]
    assert any(buffers[n] == (8, 16) for n in shared)


def test_replays_reuse_the_planned_buffers_without_allocating():
    step, _ = _make()
    fast = cr.compile(step)
    data = _data(6)
    for x, y in data[:3]:
        fast(x, y)
    entry = next(iter(fast.cache.values()))[0]
    ns = entry.run.__globals__
    fresh, made = ns["N"], []
    ns["N"] = lambda name: made.append(name) or fresh(name)  # counts the buffers made anew
    for x, y in data[3:]:
        fast(x, y)
    assert made == []
    assert "RC(b" in entry.source


def test_gradients_kept_by_the_caller_keep_their_values():
    step, model = _make()
    fast = cr.compile(step)
    eager, eager_model = _make()
    kept = []
    for x, y in _data():
        fast(x, y)
        eager(x, y)
        kept.append([(p.grad, q.grad) for p, q in zip(model.parameters(),
                                                      eager_model.parameters())])  # fmt: skip
    for pairs in kept:
        for g, w in pairs:
            np.testing.assert_array_equal(g.data, w.data)
    firsts = [pairs[0][0].data for pairs in kept]
    assert len({id(a) for a in firsts}) == len(firsts)  # each step's its own array


def _steps(lines):
    """Steps as the capture keeps them: (line, slots read, slots written)."""
    out = []
    for line in lines:
        head = line.split(" = ")[0] if " = " in line else ""
        writes = tuple(int(w[1:]) for w in head.split(", ") if w.startswith("s"))
        reads = tuple(int(r) for r in re.findall(r"\bs(\d+)\b", line.split(" = ")[-1]))
        out.append((line, reads, writes))
    return out


@pytest.mark.parametrize("escape", ["D(l0, s1, False, None)", "k3(T(s1))", "s9 = f4(s1)"])
def test_a_buffer_whose_array_went_elsewhere_is_not_taken_over(escape):
    shape = ((4, 4), np.dtype("float64"))
    lines = ["s1 = f0(b0, s0)", "s2 = f0(b1, s1)", escape, "s3 = f0(b2, s2)", "s4 = f0(b3, s3)"]
    steps = _steps(lines)
    last = {}
    for j, (_, reads, _) in enumerate(steps):
        for n in reads:
            last[n] = j
    buffers = {f"b{i}": shape for i in range(4)}
    bound = {"b0": 1, "b1": 2, "b2": 3, "b3": 4}
    plan = share_buffers(steps, buffers, bound, last, live={4})
    assert plan["b0"] == "b0" and plan["b1"] == "b1"
    assert plan["b2"] == "b2"  # s1 escaped: b0 is never free; s2 is read by b2's step
    assert plan["b3"] == "b1"  # s2 died at b2's step, read only by steps into buffers
    assert rename("s4 = f0((b3 if RC(b3) == 2 else N('b3')), s3)", plan) == (
        "s4 = f0((b1 if RC(b1) == 2 else N('b1')), s3)"
    )
    other = share_buffers(steps, {**buffers, "b3": ((4, 5), shape[1])}, bound, last, {4})
    assert other["b3"] == "b3"  # another shape: its own
