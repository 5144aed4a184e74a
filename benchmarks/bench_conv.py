"""A training step (forward, backward, SGD with momentum) of two convolutional networks:
LeNet-5 on 28x28 inputs at batch 64, and a small ResNet (a stem and two stages of residual
blocks, batch norm, global average pooling) on 32x32x3 inputs at batch 32; chainrule vs
PyTorch eager on the CPU, same weights and data, timed alternately in this one process.

    python benchmarks/bench_conv.py [--rounds 9] [--threads 1]

Ratios are PyTorch time / chainrule time: above 1 means chainrule is faster. Each step is
timed twice, interleaved: by the wall clock, and by the CPU time of the calling thread
(``time.thread_time``; with one thread each, all of both libraries' work runs there), which
other jobs on a shared, loaded machine disturb far less, the order rotated every round (a step
measures slower right after another library's). Peak memory is
the growth of the resident set (sampled every half millisecond) over five steps beyond what
the process held before them, each library in a fresh process of its own
(``--memory-worker``; Linux); the memory ratio is chainrule / PyTorch. Where this chainrule has
``cr.compile``, the same step compiled (its own copy of the model) is timed alongside, and where
it has native convolution kernels (``chainrule.ops._native``, built), the eager step without
them (its NumPy formulation, ``_native.disabled()``) too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_interleaved, interleaved, parse_args, table

CASES = {"lenet5": ((64, 1, 28, 28), 10), "resnet": ((32, 3, 32, 32), 10)}


def build(lib: str, kind: str):
    """The network in ``lib`` ("chainrule" or "torch")."""
    if lib == "chainrule":
        import chainrule.nn as nn

        residual = nn.Residual
    else:
        import torch.nn as nn

        class residual(nn.Module):  # x + block(x), as chainrule's Residual
            def __init__(self, module):
                super().__init__()
                self.module = module

            def forward(self, x):
                return x + self.module(x)

    if kind == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )  # fmt: skip

    def block(c):
        return residual(nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)))  # fmt: skip

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        block(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        block(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip


def steps(kind: str, compiled: bool = False):
    """(chainrule step, PyTorch step) on the same weights and data (chainrule's through
    ``cr.compile`` with ``compiled``)."""
    import torch

    import chainrule as cr

    shape, k = CASES[kind]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, k, shape[0])
    cr.manual_seed(0)
    cm, tm = build("chainrule", kind), build("torch", kind)
    tm.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in cm.state_dict().items()})
    copt = cr.optim.SGD(cm.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    closs, tloss = cr.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    cx, cy, tx, ty = cr.tensor(x), cr.tensor(y), torch.tensor(x), torch.tensor(y)

    def c_step():
        copt.zero_grad()
        closs(cm(cx), cy).backward()
        copt.step()

    def t_step():
        topt.zero_grad()
        tloss(tm(tx), ty).backward()
        topt.step()

    return (cr.compile(c_step) if compiled else c_step), t_step


def _without_native(step, native):
    """The step with chainrule's native convolution kernels off (its NumPy formulation)."""

    def run():
        with native.disabled():
            step()

    return run


def memory_worker(lib: str, kind: str, threads: int) -> None:
    """Print the growth of peak RSS (MiB) over 5 training steps, after the model is built."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    import torch

    torch.set_num_threads(threads)
    c_step, t_step = steps(kind, compiled=lib == "compiled")
    step = t_step if lib == "torch" else c_step
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    before, top, done = rss(), [0], threading.Event()

    def sample() -> None:  # the resident set, every half millisecond, while the steps run
        while not done.is_set():
            top[0] = max(top[0], rss())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(5):
        step()
    done.set()
    sampler.join()
    print(json.dumps({"peak_mib": (max(top[0], rss()) - before) / 2**20}))


def peak(lib: str, kind: str, threads: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-worker", lib, kind, str(threads)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])["peak_mib"]


def main() -> None:
    args = parse_args(__doc__)  # prints the BLAS kernel and thread counts
    import chainrule as cr

    have_compile = hasattr(cr, "compile")
    if not have_compile:
        print("this chainrule has no cr.compile: no compiled column")
    try:
        from chainrule.ops import _native
    except ImportError:
        _native = None
    have_native = _native is not None and _native.built()
    if not have_native:
        print("no native convolution kernels here: no NumPy-formulation column")
    rows = []
    for kind in CASES:
        c_step, t_step = steps(kind)
        cases = {"chainrule": c_step, "torch": t_step}
        if have_compile:
            cases["compiled"] = steps(kind, compiled=True)[0]
        if have_native:
            cases["numpy"] = _without_native(steps(kind)[0], _native)
        t = interleaved(cases, rounds=args.rounds, budget_s=0.3)
        cpu = cpu_interleaved(cases, rounds=3 * args.rounds, rotate=True)
        mc, mt = peak("chainrule", kind, args.threads), peak("torch", kind, args.threads)
        row = [kind, f"{t['chainrule'] * 1e3:.1f} ms", f"{t['torch'] * 1e3:.1f} ms",
               f"{t['torch'] / t['chainrule']:.2f}x",
               f"{cpu['chainrule'] * 1e3:.1f} / {cpu['torch'] * 1e3:.1f} ms",
               f"{cpu['torch'] / cpu['chainrule']:.2f}x"]  # fmt: skip
        if have_compile:
            mk = peak("compiled", kind, args.threads)
            row += [f"{t['compiled'] * 1e3:.1f} ms", f"{t['torch'] / t['compiled']:.2f}x",
                    f"{cpu['torch'] / cpu['compiled']:.2f}x", f"{mk:.0f} MiB"]  # fmt: skip
        if have_native:
            row += [f"{t['numpy'] * 1e3:.1f} ms", f"{t['torch'] / t['numpy']:.2f}x",
                    f"{cpu['torch'] / cpu['numpy']:.2f}x"]  # fmt: skip
        row += [f"{mc:.0f} MiB", f"{mt:.0f} MiB", f"{mc / max(mt, 1e-9):.2f}x"]
        rows.append(row)
    header = ["network", "chainrule step", "PyTorch step", "speed (PyTorch/chainrule)",
              "CPU time chainrule / PyTorch", "CPU-time speed"]  # fmt: skip
    if have_compile:
        header += ["compiled step", "speed (PyTorch/compiled)", "CPU-time speed (compiled)",
                   "compiled peak"]  # fmt: skip
    if have_native:
        header += ["NumPy-formulation step", "speed (PyTorch/NumPy formulation)",
                   "CPU-time speed (NumPy formulation)"]  # fmt: skip
    header += ["chainrule peak", "PyTorch peak", "memory (chainrule/PyTorch)"]
    print(table(rows, header))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--memory-worker":
        memory_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
