"""Timing helpers shared by the benchmarks: interleaved runs, medians, same-run ratios.

This machine's speed drifts 20-50% between runs, so a benchmark times chainrule and its peer
alternately, round after round, in one process, and only reports medians and their ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence


def time_per_call(
    fn: Callable[[], object], number: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Seconds per call of ``fn``, over ``number`` back-to-back calls (``clock``: the wall
    clock by default; ``time.thread_time`` counts only this thread's CPU time)."""
    start = clock()
    for _ in range(number):
        fn()
    return (clock() - start) / number


def calls_for(fn: Callable[[], object], budget_s: float = 0.05) -> int:
    """How many calls of ``fn`` fill about ``budget_s`` seconds (at least 1)."""
    fn()
    t = time_per_call(fn, 1)
    return max(1, int(budget_s / max(t, 1e-7)))


def interleaved(
    cases: dict[str, Callable[[], object]],
    rounds: int = 7,
    budget_s: float = 0.05,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per call of each case, timing the cases in turn, ``rounds`` times,
    on ``clock`` (see :func:`time_per_call`)."""
    numbers = {name: calls_for(fn, budget_s) for name, fn in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(time_per_call(fn, numbers[name], clock))
    return {name: statistics.median(s) for name, s in samples.items()}


def cpu_interleaved(
    cases: dict[str, Callable[[], object]], rounds: int, warm_up: bool = True,
    rotate: bool = False,
) -> dict[str, float]:  # fmt: skip
    """Median CPU seconds (``time.thread_time``: this thread's user and system time, which
    other processes' load inflates less than the wall clock) per call of each case, the cases
    timed in turn, one call each per round (after one warm-up call each, unless told not to).
    With ``rotate`` the order turns by one every round, so that each case follows each other
    equally often (a large step measures slower right after another library's: its caches)."""
    if warm_up:
        for fn in cases.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(rounds):
        k = r % len(names) if rotate and names else 0
        for name in names[k:] + names[:k]:
            start = time.thread_time()
            cases[name]()
            samples[name].append(time.thread_time() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def parse_args(doc: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options of an interleaved chainrule-vs-PyTorch benchmark (``--rounds``,
    ``--threads``), its description the first line of ``doc``; sets the thread pools and
    prints how."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads each")
    args = parser.parse_args(argv)
    print(set_threads(args.threads))
    return args


def set_threads(n: int) -> str:
    """Give NumPy's BLAS and PyTorch ``n`` threads each; returns a description.

    Interleaving two libraries whose thread pools spin after each call makes each one's idle
    spinning steal the other's cores, so timings are only fair with matched, small pools.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    torch.set_num_threads(n)
    native = ""
    import chainrule as cr

    if hasattr(cr.backend, "kernel_threads"):  # chainrule's own native kernels: n threads too
        cr.backend.blas_threads(n).__enter__()
        from chainrule.ops import _native

        built = "built" if _native.built() else "not built"
        native = f"; chainrule's native kernels {built}, {cr.backend.kernel_threads()} thread(s)"
    return f"{blas_report()}; PyTorch {torch.get_num_threads()} thread(s){native}"


def blas_report() -> str:
    """The BLAS (and OpenMP) libraries NumPy runs with, their kernel and thread count, as
    threadpoolctl sees them now: ``BLAS: openblas 0.3.27 SkylakeX, 1 thread``. Also names
    ``OPENBLAS_CORETYPE`` when it is set (it forces an older kernel; benchmarks run with it
    unset: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/...``)."""
    import os

    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl looks for)
    from threadpoolctl import threadpool_info

    libs = [
        f"{i['internal_api']} {i.get('version') or ''} {i.get('architecture') or ''}".replace(
            "  ", " "
        ).strip()
        + f", {i['num_threads']} thread(s)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    forced = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
              if k in os.environ]  # fmt: skip
    note = f" (environment sets {', '.join(forced)})" if forced else ""
    return f"BLAS: {'; '.join(libs) or 'none found'}{note}"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain Markdown table (also readable in a terminal)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])
