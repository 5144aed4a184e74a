"""The training thread policy (README "Threads"): ``backend.choose_threads`` gives one BLAS
thread per idle core, ``backend.blas_threads`` applies a count for a block and restores the
previous one, and ``Trainer``/``fit`` train under it (``threads=``). Logic only, no timings
(benchmarks/bench_threads.py measures why)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import chainrule as cr
from chainrule import backend, nn
from chainrule.train import Callback, Trainer, fit


def blas_threads_now() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [
        (2, 0.0, 2),  # idle: one per core
        (2, 0.4, 2),  # rounded to the nearest whole core
        (2, 0.6, 1),
        (2, 1.0, 1),
        (2, 7.5, 1),  # over-subscribed: never below one
        (8, 5.2, 3),
        (8, 0.0, 8),
        (1, 0.0, 1),
        (4, -1.0, 4),  # never above the cores
    ],
)
def test_choose_threads_is_one_per_idle_core(cores, load, expected):
    assert backend.choose_threads(cores, load, own=0.0) == expected


@pytest.mark.parametrize(
    ("cores", "load", "own", "expected"),
    [
        (2, 2.0, 2.0, 2),  # all of the load is this process's own training
        (2, 1.1, 1.0, 2),  # others: 0.1
        (2, 2.0, 1.0, 1),  # others: 1.0
        (4, 3.0, 1.0, 2),
        (2, 0.5, 3.0, 2),  # its own share above the load (averaged differently): others 0
    ],
)
def test_choose_threads_does_not_count_its_own_load(cores, load, own, expected):
    assert backend.choose_threads(cores, load, own) == expected


def test_choose_threads_reads_the_machine_by_default(monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (50.0, 0.0, 0.0))
    assert backend.choose_threads() == 1
    monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))
    assert backend.choose_threads(cores=3) == 3
    monkeypatch.setattr("os.getloadavg", lambda: (1.0, 0.0, 0.0))
    monkeypatch.setattr(backend, "own_load", lambda: 1.0)  # the load is this process
    assert backend.choose_threads(cores=2) == 2


def test_own_load_is_this_process_cpu_share():
    """A process that has kept a core busy has a share between 0 and its cores (busy-looping
    until the process is a second old, which it usually is already)."""
    import os
    import time

    deadline = time.monotonic() + 3
    while backend.own_load() == 0.0 and time.monotonic() < deadline:
        pass
    assert 0.0 < backend.own_load() <= len(os.sched_getaffinity(0)) + 0.5


def test_blas_threads_sets_and_restores():
    assert blas_threads_now(), "NumPy's BLAS is visible to threadpoolctl"
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads_now()
        with backend.blas_threads(1) as limit:
            assert limit.threads == 1
            assert blas_threads_now() == {1}
        assert blas_threads_now() == before
        with backend.blas_threads(None) as limit:  # leaves the limits alone
            assert limit.threads is None
            assert blas_threads_now() == before


def test_blas_threads_auto_follows_the_policy(monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (99.0, 0.0, 0.0))
    with backend.blas_threads("auto") as limit:
        assert limit.threads == 1
        assert blas_threads_now() == {1}


def test_blas_threads_without_threadpoolctl_changes_nothing(monkeypatch):
    """threadpoolctl is optional: without it the block runs with the libraries' settings."""
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads_now()
        monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
        with backend.blas_threads(1) as limit:
            assert limit.threads is None
            monkeypatch.undo()
            assert blas_threads_now() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "many", True])
def test_blas_threads_rejects_other_values(bad):
    with pytest.raises(ValueError, match=r"threads=.*positive int, 'auto' or None"):
        backend.blas_threads(bad)
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="threads="):
        Trainer(model, nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1), threads=bad)


class _Record(Callback):
    def __init__(self) -> None:
        self.seen: list[set[int]] = []

    def on_batch_end(self, trainer, batch, logs) -> None:
        self.seen.append(blas_threads_now())


def test_fit_trains_with_the_given_thread_count_and_restores_it():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    model = nn.Linear(3, 1)
    record = _Record()
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads_now()
        fit(model, nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=2,
            batch_size=8, callbacks=[record], progress=False, threads=1)  # fmt: skip
        assert blas_threads_now() == before
    assert record.seen == [{1}] * 4  # 2 epochs of 2 batches
