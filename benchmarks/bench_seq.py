"""Training steps of sequence models, chainrule vs PyTorch eager (CPU, float32, same weights).

Two workloads of the sequence-model issue, each a full step (forward, cross-entropy on the last
output, backward, SGD update), timed alternately in this one process; medians of interleaved
rounds. Ratio = PyTorch time / chainrule time (> 1: chainrule faster). Where this chainrule
has ``cr.compile``, the same step compiled (its own copy of the model) is timed alongside.

- a 2-layer LSTM, hidden 128, sequence 40, batch 64, input 1 (MNIST-1D as a sequence);
- a 4-layer Transformer encoder, d_model 128, 4 heads, feed-forward 512, sequence 64, batch 32.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_seq.py
"""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_interleaved, interleaved, parse_args, table

import chainrule as cr


def _lstm(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = lib.nn.LSTM(1, 128, num_layers=2)
            self.head = lib.nn.Linear(128, 10)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[-1])

    return Net()


def _transformer(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = lib.nn.Linear(1, 128)
            layer = lib.nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
            kw = {"enable_nested_tensor": False} if lib is torch else {}
            self.encoder = lib.nn.TransformerEncoder(layer, 4, **kw)
            self.head = lib.nn.Linear(128, 10)

        def forward(self, x):
            return self.head(self.encoder(self.embed(x)).mean(1))

    return Net()


WORKLOADS = [
    ("2-layer LSTM, hidden 128, seq 40, batch 64", _lstm, (40, 64, 1)),
    ("4-layer Transformer, d 128, 4 heads, seq 64, batch 32", _transformer, (32, 64, 1)),
]


def make_pair(build, shape, seed: int = 0, compiled: bool = False):
    """Training-step closures for chainrule and PyTorch with identical weights and data
    (chainrule's step through ``cr.compile`` with ``compiled``)."""
    torch.manual_seed(seed)
    theirs = build(torch)
    ours = build(cr)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    batch = shape[1] if build is _lstm else shape[0]
    y = rng.integers(0, 10, batch)
    cx, cy, tx, ty = cr.tensor(x), cr.tensor(y), torch.tensor(x), torch.tensor(y)
    c_opt = cr.optim.SGD(ours.parameters(), lr=1e-3)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=1e-3)

    def c_step():
        c_opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(ours(cx), cy)
        loss.backward()
        c_opt.step()
        return loss

    def t_step():
        t_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(theirs(tx), ty)
        loss.backward()
        t_opt.step()
        return loss

    with torch.no_grad(), cr.no_grad():  # same weights: same loss before timing
        assert abs(float(cr.nn.functional.cross_entropy(ours(cx), cy).item())
                   - float(torch.nn.functional.cross_entropy(theirs(tx), ty))) < 1e-4  # fmt: skip
    return (cr.compile(c_step) if compiled else c_step), t_step, batch


def peak_mib(fn) -> float:
    """Peak Python-tracked allocation (NumPy arrays included) of one call, in MiB."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv)  # prints the BLAS kernel and thread counts
    have_compile = hasattr(cr, "compile")
    print(f"numpy {np.__version__}, torch {torch.__version__}, chainrule {cr.__version__}"
          + ("" if have_compile else " (no cr.compile: no compiled column)"))  # fmt: skip
    rows = []
    for name, build, shape in WORKLOADS:
        cs, ts, _ = make_pair(build, shape)
        cases = {"c": cs, "t": ts}
        if have_compile:
            cases["k"] = make_pair(build, shape, compiled=True)[0]
        t = interleaved(cases, rounds=args.rounds, budget_s=0.3)
        cpu = cpu_interleaved({"c": cs, "t": ts}, rounds=max(15, 2 * args.rounds), warm_up=False)
        row = [name, f"{t['c'] * 1e3:.1f}", f"{t['t'] * 1e3:.1f}", f"{t['t'] / t['c']:.2f}"]
        row += [f"{cpu['c'] * 1e3:.1f} / {cpu['t'] * 1e3:.1f}", f"{cpu['t'] / cpu['c']:.2f}"]
        if have_compile:
            row += [f"{t['k'] * 1e3:.1f}", f"{t['t'] / t['k']:.2f}", f"{t['c'] / t['k']:.2f}"]
        rows.append([*row, f"{peak_mib(cs):.0f}"])
    header = ["workload (float32, training step)", "chainrule ms", "PyTorch ms", "ratio",
              "CPU ms (chainrule / PyTorch)", "CPU ratio"]  # fmt: skip
    if have_compile:
        header += ["compiled ms", "compiled ratio", "compiled speed-up"]
    print(table(rows, [*header, "chainrule peak MiB"]))
    print("ratio = PyTorch time / chainrule time (> 1: chainrule faster), medians, same run; "
          "CPU: this thread's CPU time per step, medians of interleaved single steps; "
          "speed-up = eager time / compiled time")  # fmt: skip


if __name__ == "__main__":
    main()
