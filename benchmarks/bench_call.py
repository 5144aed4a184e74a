"""The fixed cost of one op call in eager mode: chainrule's op against the bare NumPy call on a
small array, where the per-call bookkeeping (the call, wrapping the result, recording the node)
is what decides.

Each case is timed by the calling thread's CPU time (``time.thread_time``, which other jobs'
preemption inflates less than the wall clock), ``--number`` calls in a row, over ``--rounds``
rounds with the cases in turn; the least round is reported, per call. ``--against REV`` also
times the chainrule of git revision ``REV`` (its ``src/`` exported to a temporary folder):
the two run in separate processes, alternately, ``--repeats`` times each, and the least of each
case is kept, so before and after are measured in one run under the same load.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_call.py
    python benchmarks/bench_call.py --against main~3 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


def cases(n: int) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """name -> (NumPy call, chainrule call) on (n, n) float64 arrays."""
    import numpy as np

    import chainrule as cr

    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 1.5, (n, n)), rng.uniform(0.5, 1.5, (n, n))
    x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    xc, yc = cr.tensor(a), cr.tensor(b)  # no input requires grad: nothing recorded
    return {
        "add": (lambda: np.add(a, b), lambda: cr.add(x, y)),
        "add, unrecorded": (lambda: np.add(a, b), lambda: cr.add(xc, yc)),
        "x * y": (lambda: a * b, lambda: x * y),
        "x * 2.0": (lambda: a * 2.0, lambda: x * 2.0),
        "exp": (lambda: np.exp(a), lambda: cr.exp(x)),
        "floor": (lambda: np.floor(a), lambda: cr.floor(x)),
        "sum(axis=-1)": (lambda: np.sum(a, axis=-1), lambda: cr.sum(x, axis=-1)),
        "clip": (lambda: np.clip(a, 0.8, 1.2), lambda: cr.clip(x, 0.8, 1.2)),
        "ravel": (lambda: np.ravel(a), lambda: cr.ravel(x)),
        "transpose": (lambda: a.T, lambda: x.T),
    }


def measure(n: int, rounds: int, number: int) -> dict[str, dict[str, float]]:
    """Least per-call thread time (s) of each case's NumPy and chainrule call."""
    timed = cases(n)
    best: dict[str, dict[str, float]] = {k: {"numpy": 1e9, "chainrule": 1e9} for k in timed}
    for _ in range(rounds):
        for name, pair in timed.items():
            for which, fn in zip(("numpy", "chainrule"), pair):
                start = time.thread_time()
                for _ in range(number):
                    fn()
                best[name][which] = min(best[name][which], (time.thread_time() - start) / number)
    return best


def _worker(src: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    cmd = [sys.executable, __file__, "--worker", "--size", str(args.size),
           "--rounds", str(args.rounds), "--number", str(args.number)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _export(rev: str, into: str) -> str:
    """``src/`` of git revision ``rev`` written under ``into``; returns its path."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return os.path.join(into, "src")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="arrays are (size, size)")
    parser.add_argument("--rounds", type=int, default=21, help="rounds, the least kept")
    parser.add_argument("--number", type=int, default=2000, help="calls per round")
    parser.add_argument("--against", help="also time the chainrule of this git revision")
    parser.add_argument("--repeats", type=int, default=2, help="processes each (--against)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        import chainrule

        src = os.environ["PYTHONPATH"]
        assert chainrule.__file__.startswith(src), f"{chainrule.__file__} is not under {src}"
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        print(json.dumps(measure(args.size, args.rounds, args.number)))
        return
    import numpy  # noqa: F401  (loaded first, so that the limit applies to its BLAS)
    from common import blas_report, table
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # as the workers
    print(blas_report())
    print(f"load average {os.getloadavg()[0]:.2f} at start; ({args.size}, {args.size}) float64")
    here = str(ROOT / "src")
    with tempfile.TemporaryDirectory() as tmp:
        srcs = {"this": here}
        if args.against:
            srcs = {args.against: _export(args.against, tmp), "this": here}
        best: dict[str, dict[str, dict[str, float]]] = {}
        for _ in range(args.repeats if args.against else 1):
            for label, src in srcs.items():  # alternately, so both see the same load
                got = _worker(src, args)
                mine = best.setdefault(label, got)
                for case, t in got.items():
                    for which, s in t.items():
                        mine[case][which] = min(mine[case][which], s)
    print(f"load average {os.getloadavg()[0]:.2f} at end\n")
    header = ["op", "NumPy µs"]
    for label in srcs:
        header += [f"chainrule µs ({label})", f"/NumPy ({label})"]
    rows = []
    for case in best["this"]:
        numpy_us = min(best[label][case]["numpy"] for label in srcs) * 1e6
        row = [case, f"{numpy_us:.2f}"]
        for label in srcs:
            us = best[label][case]["chainrule"] * 1e6
            row += [f"{us:.2f}", f"{us / numpy_us:.2f}"]
        rows.append(row)
    print(table(rows, header))


if __name__ == "__main__":
    main()
