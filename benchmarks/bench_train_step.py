"""A full training step (forward, backward, optimiser step) of the 784-256-256-10 MLP at batch
128, with SGD (momentum) and Adam: chainrule's nn/optim vs PyTorch's, same weights and data,
timed alternately in this one process.

    python benchmarks/bench_train_step.py

Ratios are PyTorch time / chainrule time: above 1 means chainrule is faster.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, parse_args, table

import chainrule as cr
from chainrule import nn

SIZES = (784, 256, 256, 10)
BATCH = 128


def _models(seed: int = 0):
    cr.manual_seed(seed)
    c_model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    t_model = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    t_model.load_state_dict({k: torch.tensor(v) for k, v in c_model.state_dict().items()})
    return c_model, t_model


def make_steps(optimizer: str):
    """Two closures doing one full training step each, on identical models and data."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    c_model, t_model = _models()
    if optimizer == "sgd":
        c_opt = cr.optim.SGD(c_model.parameters(), lr=0.01, momentum=0.9)
        t_opt = torch.optim.SGD(t_model.parameters(), lr=0.01, momentum=0.9)
    else:
        c_opt = cr.optim.Adam(c_model.parameters(), lr=1e-3)
        t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-3, foreach=False)
    c_loss, t_loss = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    cx, cy, tx, ty = cr.tensor(x), cr.tensor(y), torch.tensor(x), torch.tensor(y)

    def c_step():
        c_opt.zero_grad()
        c_loss(c_model(cx), cy).backward()
        c_opt.step()

    def t_step():
        t_opt.zero_grad()
        t_loss(t_model(tx), ty).backward()
        t_opt.step()

    return c_step, t_step


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv)
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    rows = []
    for opt in ("sgd", "adam"):
        c_step, t_step = make_steps(opt)
        t = interleaved({"c": c_step, "t": t_step}, rounds=args.rounds)
        rows.append(
            [
                f"{'-'.join(map(str, SIZES))}, batch {BATCH}, {opt}",
                f"{BATCH / t['c']:,.0f}",
                f"{BATCH / t['t']:,.0f}",
                f"{t['t'] / t['c']:.2f}",
            ]
        )
    print(
        table(
            rows, ["training step (float32)", "chainrule samples/s", "PyTorch samples/s", "ratio"]
        )
    )
    print("ratio = PyTorch time / chainrule time (> 1: chainrule faster), medians, same run")


if __name__ == "__main__":
    main()
