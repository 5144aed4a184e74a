"""Worker processes of a DataLoader: each fetches whole batches (host NumPy arrays) that the
main process turns into tensors, in the order the batches were asked for.

Batch ``b`` of an epoch goes to worker ``b % num_workers``; at most ``prefetch_factor`` batches
per worker are outstanding; results that arrive early wait in a buffer until their turn, so
the order is that of ``num_workers=0``. A worker that fails sends the exception, the sample
index and its traceback; the main process raises it. Workers ignore Ctrl-C (the main process
stops them), exit when their parent dies, and are joined (or terminated) whenever iteration
ends, normally or not.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.errors import DataError

_POLL_S = 0.1  # how often a waiting process checks that the other side is alive


def fetch(
    dataset: Any,
    idx: np.ndarray,
    use_arrays: bool,
    collate_fn: Callable[[list[Any]], Any] | None,
    stack: Callable[[list[Any]], Any],
    where: list[Any],
) -> Any:
    """One batch as host data: the dataset's arrays, the stacked samples, or ``collate_fn``'s
    result. ``where[0]`` tracks the sample (or samples) being read, for error messages."""
    if use_arrays:
        where[0] = f"samples {idx.tolist()}" if len(idx) <= 8 else f"samples {idx[:8].tolist()}..."
        got = dataset.__getitems__(idx)
        return stack(got) if isinstance(got, list) else got
    samples = []
    for i in idx:
        where[0] = f"sample {int(i)}"
        samples.append(dataset[int(i)])
    where[0] = f"the batch of samples {idx[:8].tolist()}{'...' if len(idx) > 8 else ''}"
    return stack(samples) if collate_fn is None else collate_fn(samples)


class WorkerPool:
    """``num_workers`` processes fetching batches of one dataset."""

    def __init__(
        self,
        dataset: Any,
        num_workers: int,
        use_arrays: bool,
        collate_fn: Callable[[list[Any]], Any] | None,
        stack: Callable[[list[Any]], Any],
        seed: int,
        worker_init_fn: Callable[[int], Any] | None,
    ) -> None:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(num_workers)]
        self.workers = []
        for w in range(num_workers):
            p = ctx.Process(
                target=_worker_loop,
                args=(
                    w,
                    dataset,
                    use_arrays,
                    collate_fn,
                    stack,
                    self.tasks[w],
                    self.results,
                    seed,
                    worker_init_fn,
                    os.getpid(),
                ),
                daemon=True,
                name=f"chainrule-loader-{w}",
            )
            p.start()
            self.workers.append(p)
        self.generation = 0  # tells results of an abandoned epoch from the current one

    def run(self, batches: list[np.ndarray], epoch: int, prefetch: int) -> Iterator[Any]:
        """Yield the host data of ``batches`` (index arrays) in order."""
        self.generation += 1
        gen = self.generation
        n_workers = len(self.workers)
        for t in self.tasks:
            t.put(("epoch", epoch))
        sent = 0
        ready: dict[int, Any] = {}
        limit = prefetch * n_workers
        for b in range(len(batches)):
            while sent < len(batches) and sent - b < limit:
                self.tasks[sent % n_workers].put(("batch", gen, sent, batches[sent]))
                sent += 1
            while b not in ready:
                self._receive(gen, ready)
            yield ready.pop(b)

    def _receive(self, gen: int, ready: dict[int, Any]) -> None:
        while True:
            try:
                msg = self.results.get(timeout=_POLL_S)
                break
            except queue.Empty:
                dead = [p for p in self.workers if not p.is_alive()]
                if dead:
                    p = dead[0]
                    raise DataError(
                        f"DataLoader worker {self.workers.index(p)} (pid {p.pid}) exited "
                        f"unexpectedly with status {p.exitcode}"
                    ) from None
        kind, g, b = msg[0], msg[1], msg[2]
        if g != gen:
            return  # left over from an epoch that was abandoned
        if kind == "ok":
            ready[b] = msg[3]
            return
        _, _, b, worker, where, exc, text = msg
        raise _rebuild(exc, f"DataLoader worker {worker}, batch {b}, {where}: ", text)

    def close(self) -> None:
        """Stop and join every worker (terminating those that do not stop within 5 s)."""
        for t in self.tasks:
            try:
                t.put(None)
            except (OSError, ValueError):
                pass
        for p in self.workers:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for q in (*self.tasks, self.results):
            q.cancel_join_thread()
            q.close()
        self.workers = []

    def __del__(self) -> None:
        if getattr(self, "workers", None):
            self.close()


def _worker_loop(
    worker: int,
    dataset: Any,
    use_arrays: bool,
    collate_fn: Any,
    stack: Any,
    tasks: Any,
    results: Any,
    seed: int,
    worker_init_fn: Any,
    parent: int,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    from chainrule import backend

    backend.set_backend("numpy")  # workers make host arrays; the main process moves them
    if worker_init_fn is not None:
        worker_init_fn(worker)
    while True:
        try:
            task = tasks.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent:  # the main process died: nobody will ask again
                return
            continue
        if task is None:
            return
        if task[0] == "epoch":  # a seed of its own per (loader seed, epoch, worker)
            s = np.random.SeedSequence([seed, task[1], worker]).generate_state(1)[0]
            backend.manual_seed(int(s))
            np.random.seed(int(s))  # noqa: NPY002 - transforms that draw from NumPy's global state
            continue
        _, gen, b, idx = task
        where: list[Any] = [f"samples {idx[:8].tolist()}"]
        try:
            data = fetch(dataset, idx, use_arrays, collate_fn, stack, where)
            results.put(("ok", gen, b, data))
        except Exception as exc:  # sent to the main process, which raises it
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            try:
                results.put(("error", gen, b, worker, where[0], exc, text))
            except Exception:  # an exception that cannot be pickled: its text only
                results.put(("error", gen, b, worker, where[0], None, text))


def _rebuild(exc: BaseException | None, prefix: str, text: str) -> BaseException:
    """The worker's exception, its message prefixed with where it happened, the worker's
    traceback as a note; a DataError when it cannot be rebuilt."""
    last = text.strip().splitlines()[-1] if text.strip() else "an error"
    message = prefix + (" ".join(str(exc).split()) if exc is not None and str(exc) else last)
    new: BaseException
    try:
        new = type(exc)(message) if exc is not None else DataError(message)
    except Exception:
        new = DataError(message)
    note = "traceback in the worker:\n" + text.rstrip()
    if sys.version_info >= (3, 11):
        new.add_note(note)
    else:  # PEP 678's notes set by hand: 3.10 keeps them, though its tracebacks do not print them
        new.__notes__ = [*getattr(new, "__notes__", []), note]
    return new
