"""Forward and forward+backward of an MLP with softmax cross-entropy: chainrule vs PyTorch eager.

Same weights, same data, float32, both libraries timed alternately in this one process.
Ratios are PyTorch time / chainrule time: above 1 means chainrule is faster.

    python benchmarks/bench_mlp.py            # the three workloads of issue 2
    python benchmarks/bench_mlp.py --rounds 3 # quicker, noisier
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, parse_args, table

import chainrule as cr

WORKLOADS = [
    ((784, 256, 256, 10), 128),
    ((784, 256, 256, 10), 1),
    ((784, 1024, 1024, 10), 512),
]


def make_pair(sizes: tuple[int, ...], batch: int, seed: int = 0):
    """Four closures: chainrule/torch forward and forward+backward on identical data."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    ws = [
        (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)
        for i, o in itertools.pairwise(sizes)
    ]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]
    c_params = [cr.tensor(a, requires_grad=True) for pair in zip(ws, bs) for a in pair]
    t_params = [torch.tensor(a, requires_grad=True) for pair in zip(ws, bs) for a in pair]
    cx, cy = cr.tensor(x), cr.tensor(y)
    tx, ty = torch.tensor(x), torch.tensor(y)
    n_layers = len(ws)

    def c_forward():
        h = cx
        for k in range(n_layers):
            h = cr.linear(h, c_params[2 * k], c_params[2 * k + 1])
            if k < n_layers - 1:
                h = cr.relu(h)
        return cr.cross_entropy(h, cy)

    def t_forward():
        h = tx
        for k in range(n_layers):
            h = torch.nn.functional.linear(h, t_params[2 * k], t_params[2 * k + 1])
            if k < n_layers - 1:
                h = torch.relu(h)
        return torch.nn.functional.cross_entropy(h, ty)

    def c_step():
        for p in c_params:
            p.grad = None
        c_forward().backward()

    def t_step():
        for p in t_params:
            p.grad = None
        t_forward().backward()

    # Same weights and data: the losses must agree before timing means anything.
    assert abs(c_forward().item() - t_forward().item()) < 1e-4
    return c_forward, t_forward, c_step, t_step


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv)
    print(
        f"numpy {np.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), chainrule {cr.__version__}"
    )
    rows = []
    for sizes, batch in WORKLOADS:
        cf, tf, cs, ts = make_pair(sizes, batch)
        t = interleaved({"cf": cf, "tf": tf, "cs": cs, "ts": ts}, rounds=args.rounds)
        name = "-".join(map(str, sizes))
        rows.append(
            [
                f"{name}, batch {batch}",
                f"{batch / t['cs']:,.0f}",
                f"{batch / t['ts']:,.0f}",
                f"{t['tf'] / t['cf']:.2f}",
                f"{t['ts'] / t['cs']:.2f}",
                f"{(t['cs'] - t['cf']) / t['cf']:.2f}",
            ]
        )
    header = [
        "workload (float32)",
        "chainrule samples/s (fwd+bwd)",
        "PyTorch samples/s",
        "fwd ratio",
        "fwd+bwd ratio",
        "chainrule bwd/fwd",
    ]
    print(table(rows, header))
    print("ratio = PyTorch time / chainrule time (> 1: chainrule faster), medians, same run")


if __name__ == "__main__":
    main()
