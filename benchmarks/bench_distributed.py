"""Data-parallel training throughput over MPI: the wide MLP (784-1024-1024-10, global batch
512, SGD) on 1, 2 and 4 processes, samples/s, efficiency and bytes allreduced per step.

    python benchmarks/bench_distributed.py               # launches mpiexec -n 1, 2, 4
    python benchmarks/bench_distributed.py --ranks 1 2   # fewer
    mpiexec -n 2 python benchmarks/bench_distributed.py --worker   # one measurement

Each process uses one BLAS thread. Every step is the whole data-parallel step: forward and
backward on the rank's share of the batch, the bucketed allreduce of the gradients, the SGD
step. Efficiency = samples/s on N processes / (N x samples/s on 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report

SIZES = (784, 1024, 1024, 10)
BATCH = 512


def worker(steps: int, rounds: int) -> None:
    from threadpoolctl import threadpool_limits

    import chainrule as cr

    threadpool_limits(1)
    d = cr.distributed
    rank, size = d.rank(), d.size()
    if BATCH % size:
        raise SystemExit(f"the batch {BATCH} does not split over {size} processes")
    local = BATCH // size
    rng = np.random.default_rng(rank)
    x = cr.tensor(rng.standard_normal((local, SIZES[0])).astype(np.float32))
    y = cr.tensor(rng.integers(0, SIZES[-1], local))
    cr.manual_seed(0)
    layers = []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        layers += [cr.nn.Linear(i, o), cr.nn.ReLU()]
    model = cr.nn.Sequential(*layers[:-1])
    d.broadcast_parameters(model)
    opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = cr.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        d.allreduce_gradients(model.parameters())
        opt.step()

    for _ in range(3):
        step()
    d.comm_stats(reset=True)
    times = []
    for _ in range(rounds):
        d.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        d.barrier()
        times.append((time.perf_counter() - start) / steps)
    stats = d.comm_stats()
    if rank == 0:
        blas = blas_report()  # each rank: one thread
        print(
            json.dumps(
                {
                    "ranks": size,
                    "step_s": statistics.median(times),
                    "bytes_per_step": stats["allreduce_bytes"] / (steps * rounds),
                    "allreduces_per_step": stats["allreduce_calls"] / (steps * rounds),
                    "blas": blas,
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="one measurement (under mpiexec)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=5, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median)")
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.rounds)
        return
    beside = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(beside) if beside.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("mpiexec not found: pip install 'chainrule[mpi]'")
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    results = []
    for n in args.ranks:
        out = subprocess.run(
            [mpiexec, "-n", str(n), sys.executable, __file__, "--worker",
             "--steps", str(args.steps), "--rounds", str(args.rounds)],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{results[0]['blas']} in each rank; {os.cpu_count()} CPU cores")
    base = BATCH / results[0]["step_s"] if results[0]["ranks"] == 1 else None
    print("| processes | samples/s | efficiency | allreduced per step (each rank) | allreduces |")
    print("|---|---|---|---|---|")
    for r in results:
        rate = BATCH / r["step_s"]
        eff = f"{rate / (r['ranks'] * base):.0%}" if base else "-"
        print(
            f"| {r['ranks']} | {rate:,.0f} | {eff} | {r['bytes_per_step'] / 2**20:.2f} MiB | "
            f"{r['allreduces_per_step']:.0f} |"
        )


if __name__ == "__main__":
    main()
