"""A training step (forward, backward, SGD) of a ReLU MLP with softmax cross-entropy in five
ways, timed alternately in this one process: chainrule eager, chainrule compiled
(``cr.compile``, when this chainrule has it), a hand-written NumPy loop, PyTorch eager and JAX
jit. Same initial weights and data, float32, lr 0.01 without momentum.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_frameworks.py

Prints training-step samples/s for the three workloads of issue 12 (784-256-256-10 at batch 128
and batch 1, 784-1024-1024-10 at batch 512) with same-run ratios, timed by the calling thread's
CPU time (``--clock wall`` for elapsed time), the backward/forward time ratio at batch 128, with
``--products`` the steps' matrix products alone from NumPy and from JAX jit (in the same
interleaved run), and each framework's peak resident memory at batch 128, measured in a fresh
process of its own (``--rss-worker``; the kernel's high-water mark ``VmHWM``, which unlike
``getrusage``'s ``ru_maxrss`` does not inherit the launching process's peak across ``exec``)
that imports only that framework. Needs the ``bench`` extra (JAX, threadpoolctl) and PyTorch.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, calls_for, table

WORKLOADS = [
    ((784, 256, 256, 10), 128),
    ((784, 256, 256, 10), 1),
    ((784, 1024, 1024, 10), 512),
]
LR = 0.01
FRAMEWORKS = ["chainrule", "chainrule compiled", "NumPy", "PyTorch", "JAX jit"]


def jax_threads(n: int) -> None:
    """Limit XLA's CPU thread pool before JAX is first imported (its Eigen pool otherwise
    takes every core, which makes interleaved timings of the other libraries unfair). XLA's
    newer CPU runtime sizes its pool from the cores the process may use, so with one thread
    the process is also pinned to one core (Linux), which holds for every framework alike."""
    if n == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if n == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()


def data(sizes: tuple[int, ...], batch: int, seed: int = 0):
    """Inputs, integer targets, and the weights (out, in) and biases every framework starts from."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    ws = [
        (rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32)
        for i, o in itertools.pairwise(sizes)
    ]
    bs = [
        (rng.uniform(-1, 1, o) / np.sqrt(i)).astype(np.float32)
        for i, o in itertools.pairwise(sizes)
    ]
    return x, y, ws, bs


# ----------------------------------------------------------------------------- the five steps
# Each maker returns (step, forward, forward_backward): step() does one training step and
# returns the loss (a framework scalar); forward() computes the loss as a training step does
# (recording what backward needs); forward_backward() the loss and the gradients (no update).


def module_steps(lib, to_lib, sizes, batch):
    """The three closures for a library with PyTorch's API (``chainrule`` or ``torch``):
    ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``nn.CrossEntropyLoss``, ``optim.SGD``;
    ``to_lib`` turns a NumPy array into the library's tensor."""
    x, y, ws, bs = data(sizes, batch)
    layers, state = [], {}
    for k, (w, b) in enumerate(zip(ws, bs)):
        state[f"{len(layers)}.weight"], state[f"{len(layers)}.bias"] = to_lib(w), to_lib(b)
        layers.append(lib.nn.Linear(w.shape[1], w.shape[0]))
        if k < len(ws) - 1:
            layers.append(lib.nn.ReLU())
    model = lib.nn.Sequential(*layers)
    model.load_state_dict(state)
    opt = lib.optim.SGD(model.parameters(), lr=LR)
    loss_fn = lib.nn.CrossEntropyLoss()
    lx, ly = to_lib(x), to_lib(y)

    def forward():
        return loss_fn(model(lx), ly)

    def forward_backward():
        opt.zero_grad()
        loss = forward()
        loss.backward()
        return loss

    def step():
        loss = forward_backward()
        opt.step()
        return loss

    return step, forward, forward_backward


def make_chainrule(sizes, batch, compiled: bool = False):
    import chainrule as cr

    step, forward, forward_backward = module_steps(cr, cr.tensor, sizes, batch)
    if compiled:
        graph_forward = forward
        step, forward_backward = cr.compile(step), cr.compile(forward_backward)
        # a compiled function may not return a tensor still in the graph: the loss detached
        forward = cr.compile(lambda: graph_forward().detach())
    return step, forward, forward_backward


def make_numpy(sizes, batch):
    """The same step written by hand in NumPy: forward, softmax cross-entropy, backward by the
    chain rule, SGD in place."""
    x, y, ws, bs = data(sizes, batch)
    n = len(ws)
    rows = np.arange(batch)

    def forward_cache():
        hs = [x]
        for k in range(n):
            a = hs[-1] @ ws[k].T
            a += bs[k]
            if k < n - 1:
                np.maximum(a, 0, out=a)
            hs.append(a)
        z = hs[-1]
        z = z - z.max(axis=1, keepdims=True)
        ez = np.exp(z)
        s = ez.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s)[:, 0] - z[rows, y]))
        return loss, hs, ez / s

    def grads():
        loss, hs, p = forward_cache()
        g = p
        g[rows, y] -= 1
        g /= batch
        out = []
        for k in range(n - 1, -1, -1):
            out.append((g.T @ hs[k], g.sum(axis=0)))
            if k:
                g = g @ ws[k]
                g *= hs[k] > 0
        return loss, out[::-1]

    def step():
        loss, gs = grads()
        for k, (gw, gb) in enumerate(gs):
            gw *= LR
            ws[k] -= gw
            bs[k] -= LR * gb
        return loss

    return step, lambda: forward_cache()[0], lambda: grads()[0]


def make_torch(sizes, batch):
    import torch

    return module_steps(torch, torch.from_numpy, sizes, batch)


def make_jax(sizes, batch):
    import jax
    import jax.numpy as jnp

    # Each call waits for its result anyway; dispatching it from another thread only adds a
    # thread hand-off per step (costly on a loaded machine).
    if "jax_cpu_enable_async_dispatch" in jax.config.values:
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    x, y, ws, bs = data(sizes, batch)
    params = [jnp.asarray(a) for pair in zip(ws, bs) for a in pair]
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    n = len(ws)

    def loss_fn(params, x, y):
        h = x
        for k in range(n):
            h = h @ params[2 * k].T + params[2 * k + 1]
            if k < n - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def _step(params, x, y):
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, [p - LR * gp for p, gp in zip(params, g)]

    step_jit = jax.jit(_step, donate_argnums=0)
    fwd_jit = jax.jit(loss_fn)
    grad_jit = jax.jit(jax.value_and_grad(loss_fn))
    state = [params]

    def step():
        loss, state[0] = step_jit(state[0], jx, jy)
        return loss.block_until_ready()

    def forward():
        return fwd_jit(state[0], jx, jy).block_until_ready()

    def forward_backward():
        loss, g = grad_jit(state[0], jx, jy)
        jax.block_until_ready(g)
        return loss

    return step, forward, forward_backward


def make_products(sizes, batch):
    """The training step's matrix products alone (per layer the forward's, the weight
    gradient's, and but for the first layer the input gradient's: eight for three layers), on
    arrays of the step's shapes, as two functions: NumPy's ``@`` and one ``jax.jit`` of the same
    products. What a replay of NumPy calls cannot go below, against what JAX fuses the rest
    of its step into."""
    import jax
    import jax.numpy as jnp

    x, _, ws, _ = data(sizes, batch)
    rng = np.random.default_rng(1)
    n = len(ws)
    hs = [x] + [rng.standard_normal((batch, o)).astype(np.float32) for o in sizes[1:-1]]
    gs = [rng.standard_normal((batch, o)).astype(np.float32) / batch for o in sizes[1:]]

    def products(hs, gs, ws):
        out = [hs[k] @ ws[k].T for k in range(n)]
        out += [gs[k].T @ hs[k] for k in range(n)]
        return out + [gs[k] @ ws[k] for k in range(1, n)]

    jitted = jax.jit(products)
    args = [[jnp.asarray(a) for a in arrays] for arrays in (hs, gs, ws)]

    def jax_products():
        return jax.block_until_ready(jitted(*args))

    return lambda: products(hs, gs, ws), jax_products


def makers(have_compile: bool):
    out = {"chainrule": make_chainrule}
    if have_compile:
        out["chainrule compiled"] = lambda s, b: make_chainrule(s, b, compiled=True)
    out.update({"NumPy": make_numpy, "PyTorch": make_torch, "JAX jit": make_jax})
    return out


# ----------------------------------------------------------------------------- peak memory
def rss_worker(framework: str, threads: int) -> None:
    """Run in a fresh process: import one framework, build the batch-128 workload, take 30
    training steps, print the peak resident set and the set after import, in MiB."""
    jax_threads(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    if framework == "PyTorch":
        import torch

        torch.set_num_threads(threads)
    sizes, batch = WORKLOADS[0]
    make = {
        "chainrule": make_chainrule,
        "chainrule compiled": lambda s, b: make_chainrule(s, b, compiled=True),
        "NumPy": make_numpy,
        "PyTorch": make_torch,
        "JAX jit": make_jax,
    }[framework]
    if framework.startswith("chainrule"):
        import chainrule  # noqa: F401
    elif framework == "JAX jit":
        import jax  # noqa: F401
    before = _rss_now_mib()
    step, _, _ = make(sizes, batch)
    for _ in range(30):
        step()
    print(f"{_status_mib('VmHWM'):.1f} {before:.1f}")


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (Linux), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_now_mib() -> float:
    return _status_mib("VmRSS")


def peak_rss(framework: str, threads: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-worker", framework, "--threads", str(threads)],
        capture_output=True, text=True, check=True, env=os.environ,
    ).stdout.split()  # fmt: skip
    return float(out[-2]), float(out[-1])


# ----------------------------------------------------------------------------- timing
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def timed(cases: dict, rounds: int, budget_s: float, clock: str) -> dict[str, float]:
    """Median seconds per call of each case: ``rounds`` rounds, each timing every case for
    about ``budget_s`` seconds of back-to-back calls, in an order rotated by one each round
    (so that no case always follows the same one). ``clock``: ``"cpu"``, the calling thread's
    CPU time (``time.thread_time``, which the other jobs of a shared machine inflate less than
    the wall clock; every framework here computes on the calling thread: XLA runs its
    single-threaded computation there, and OpenBLAS and PyTorch have one thread), or
    ``"wall"``."""
    now = CLOCKS[clock]
    numbers = {name: calls_for(fn, budget_s) for name, fn in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, number = cases[name], numbers[name]
            start = now()
            for _ in range(number):
                fn()
            samples[name].append((now() - start) / number)
    return {name: statistics.median(s) for name, s in samples.items()}


# ----------------------------------------------------------------------------- main
def check_same_loss(steps: dict) -> None:
    """Every framework's first loss (same weights, same data) agrees before timing."""
    losses = {}
    for name, fns in steps.items():
        value = fns[1]()
        losses[name] = value.item() if hasattr(value, "item") else float(value)
    ref = losses["NumPy"]
    for name, value in losses.items():
        assert abs(value - ref) < 1e-3 * max(1.0, abs(ref)), (name, value, ref)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch/XLA threads each")
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per case per round")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-memory processes")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="cpu: the calling thread's CPU time (default); wall: elapsed",
    )
    parser.add_argument(
        "--products",
        action="store_true",
        help="also time the steps' matrix products alone, NumPy and JAX jit",
    )
    parser.add_argument(
        "--workloads",
        default="0,1,2",
        help="which workloads, by position (0: batch 128, 1: batch 1, 2: wide)",
    )
    parser.add_argument("--rss-worker", metavar="FRAMEWORK", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_worker:
        rss_worker(args.rss_worker, args.threads)
        return
    jax_threads(args.threads)
    import jax
    import torch
    from threadpoolctl import threadpool_limits

    import chainrule as cr

    threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    have_compile = hasattr(cr, "compile")
    print(
        f"numpy {np.__version__}, chainrule {cr.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} thread(s)), jax {jax.__version__} "
        f"(XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r})"
    )
    print(blas_report())
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "all"
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; this process on {cores}")
    if not have_compile:
        print("this chainrule has no cr.compile: no compiled column")
    make = makers(have_compile)
    names = list(make)
    rows, fb_rows, product_rows = [], [], []
    chosen = [WORKLOADS[int(i)] for i in args.workloads.split(",")]
    for sizes, batch in chosen:
        steps = {name: m(sizes, batch) for name, m in make.items()}
        check_same_loss(steps)
        cases = {name: fns[0] for name, fns in steps.items()}
        if args.products:
            cases["NumPy products"], cases["JAX products"] = make_products(sizes, batch)
        t = timed(cases, args.rounds, args.budget, args.clock)
        label = f"{'-'.join(map(str, sizes))}, batch {batch}"
        rate = {name: batch / t[name] for name in names}
        row = [label, *(f"{rate[n] / 1e3:,.1f}k" for n in names)]
        row += [f"{t['PyTorch'] / t['chainrule']:.2f}", f"{t['JAX jit'] / t['chainrule']:.2f}"]
        if have_compile:
            c = t["chainrule compiled"]
            row += [f"{t['JAX jit'] / c:.2f}", f"{t['NumPy'] / c:.2f}"]
        rows.append(row)
        if args.products:
            ms = {k: f"{t[k] * 1e3:.3f}" for k in t}
            product_rows.append([label, ms["NumPy products"], ms["JAX products"], ms["JAX jit"],
                                 ms.get("chainrule compiled", "-"), ms["NumPy"],
                                 f"{t['JAX jit'] / t['NumPy products']:.2f}"])  # fmt: skip
        if batch == 128 and sizes == WORKLOADS[0][0]:
            cases = {}
            for name, (_, fwd, fb) in steps.items():
                cases[name + " f"], cases[name + " fb"] = fwd, fb
            tf = timed(cases, args.rounds, args.budget, args.clock)
            for name in names:
                f, fb = tf[name + " f"], tf[name + " fb"]
                fb_rows.append([name, f"{f * 1e3:.3f}", f"{(fb - f) * 1e3:.3f}",
                                f"{(fb - f) / f:.2f}"])  # fmt: skip
    header = ["workload (training step, float32)", *(f"{n} samples/s" for n in names)]
    header += ["chainrule / PyTorch", "chainrule / JAX"]
    if have_compile:
        header += ["compiled / JAX", "compiled / NumPy"]
    print(table(rows, header))
    print("ratios: the other's time / chainrule's time (> 1: chainrule faster), medians, same run,")
    print(f"{args.clock} clock; load average {os.getloadavg()[0]:.2f} at the end")
    if product_rows:
        print()
        print(table(product_rows, ["workload", "NumPy products ms", "JAX products ms",
                                   "JAX jit step ms", "compiled step ms", "NumPy loop step ms",
                                   "JAX step / NumPy products"]))  # fmt: skip
        print("products: the step's matrix products alone (8 for 3 layers), same interleaved run")
    if fb_rows:
        print()
        print(table(fb_rows, ["784-256-256-10, batch 128", "forward ms", "backward ms",
                              "backward / forward"]))  # fmt: skip
        print("backward = (forward + backward) - forward, medians of the same interleaved run")
    if not args.no_rss:
        print()
        mem = {name: peak_rss(name, args.threads) for name in names}
        ref = mem["NumPy"][0]
        print(table([[n, f"{p:.0f}", f"{b:.0f}", f"{p / ref:.2f}"] for n, (p, b) in mem.items()],
                    ["784-256-256-10, batch 128", "peak RSS MiB", "RSS after import MiB",
                     "peak / NumPy's"]))  # fmt: skip
        print("each in a fresh process importing only its framework; 30 steps")


if __name__ == "__main__":
    main()
