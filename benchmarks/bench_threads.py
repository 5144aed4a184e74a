"""NumPy's matrix products with 1 thread and with one thread per core, on an idle machine and
on one loaded by busy-looping processes: the measurements behind chainrule's thread policy
(``chainrule.backend.choose_threads``; README "Threads").

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_threads.py

For each product (the MLP's at batch 1 and 128, a 64x64 one, the wide MLP's at batch 512) it
times the two thread counts alternately in this one process, first as the machine is, then
with ``--load`` busy-loop processes (one per core by default) running beside it, and prints
microseconds per product and the ratio (1 thread's time / n threads' time: above 1, the
threads pay).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, calls_for, table, time_per_call

# (name, left shape, right shape): left @ right in float32
PRODUCTS = [
    ("MLP batch 1 (1x784 @ 784x256)", (1, 784), (784, 256)),
    ("64x64 @ 64x64", (64, 64), (64, 64)),
    ("MLP batch 128 (128x784 @ 784x256)", (128, 784), (784, 256)),
    ("weight gradient (256x128 @ 128x784)", (256, 128), (128, 784)),
    ("wide MLP batch 512 (512x1024 @ 1024x1024)", (512, 1024), (1024, 1024)),
]


def busy(n: int) -> list[subprocess.Popen]:
    """Start ``n`` processes that spin a core each (the load of other users)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def measure(rounds: int, threads: int) -> dict[str, tuple[float, float]]:
    """Median seconds per product with 1 thread and with ``threads``, the two timed in turn
    each round (the limit is set once per round: setting it costs far more than a small
    product)."""
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    rng = np.random.default_rng(0)
    out = {}
    for name, a_shape, b_shape in PRODUCTS:
        a = rng.standard_normal(a_shape).astype(np.float32)
        b = rng.standard_normal(b_shape).astype(np.float32)
        fn = lambda a=a, b=b: a @ b
        number = calls_for(fn, 0.05)
        samples: dict[int, list[float]] = {1: [], threads: []}
        for _ in range(rounds):
            for n in samples:
                with controller.limit(limits=n, user_api="blas"):
                    fn()
                    samples[n].append(time_per_call(fn, number))
        out[name] = (statistics.median(samples[1]), statistics.median(samples[threads]))
    return out


def main(argv: list[str] | None = None) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median)")
    parser.add_argument("--threads", type=int, default=cores, help="the 'many' thread count")
    parser.add_argument("--load", type=int, default=cores, help="busy-loop processes")
    args = parser.parse_args(argv)
    print(blas_report())
    print(f"{cores} usable cores; 1 thread vs {args.threads} threads")
    results = {}
    results["as is"] = (os.getloadavg()[0], measure(args.rounds, args.threads))
    procs = busy(args.load)
    try:
        results[f"+{args.load} busy"] = (os.getloadavg()[0], measure(args.rounds, args.threads))
    finally:
        for p in procs:
            p.kill()
            p.wait()
    rows = []
    for label, (load, res) in results.items():
        for name, (t1, tn) in res.items():
            rows.append([f"{label} (load {load:.1f})", name, f"{t1 * 1e6:,.1f}",
                         f"{tn * 1e6:,.1f}", f"{t1 / tn:.2f}"])  # fmt: skip
    print(table(rows, ["machine", "product (float32)", "1 thread µs",
                       f"{args.threads} threads µs", "1 thread / n threads"]))  # fmt: skip
    print("medians of interleaved rounds; load: the 1-minute load average when measuring began")


if __name__ == "__main__":
    main()
