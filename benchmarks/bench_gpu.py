"""Training steps on a GPU: chainrule on CuPy against PyTorch CUDA eager, in one run.

Two workloads, the same weights and data in both libraries, float32, a full training step
(forward, cross-entropy, backward, SGD with momentum) timed alternately round after round,
each call followed by a device synchronisation; medians and same-run ratios (PyTorch time /
chainrule time: above 1, chainrule is faster). The goal is a ratio of at least 0.9.

* the wide MLP, 784-1024-1024-10, batch 512;
* a small CNN on 3x32x32 images, batch 128: conv3x3(32)-ReLU-maxpool2, conv3x3(64)-ReLU-maxpool2,
  linear 4096-128-ReLU-10.

    python benchmarks/bench_gpu.py                 # on the GPU (needs CuPy and torch with CUDA)
    python benchmarks/bench_gpu.py --device cpu    # the same script on the CPU (a dry run)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, interleaved, table

import chainrule as cr
from chainrule import nn


def mlp(lib) -> object:
    return lib.Sequential(
        lib.Linear(784, 1024), lib.ReLU(), lib.Linear(1024, 1024), lib.ReLU(), lib.Linear(1024, 10)
    )


def cnn(lib) -> object:
    return lib.Sequential(
        lib.Conv2d(3, 32, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(32, 64, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
        lib.Flatten(), lib.Linear(64 * 8 * 8, 128), lib.ReLU(), lib.Linear(128, 10),
    )  # fmt: skip


WORKLOADS = {
    "wide MLP 784-1024-1024-10, batch 512": (mlp, (512, 784)),
    "CNN on 3x32x32, batch 128": (cnn, (128, 3, 32, 32)),
}


def make_steps(build, shape, device: str):
    """Two closures (chainrule step, torch step) on identical weights and data, and the two
    losses of a first forward (which must agree before timing means anything)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, shape[0])
    torch.manual_seed(0)
    t_model = build(torch.nn).to(device)
    c_model = build(nn)
    c_model.load_state_dict({k: v.detach().cpu().numpy() for k, v in t_model.state_dict().items()})
    c_model.to(device)
    tx, ty = torch.tensor(x, device=device), torch.tensor(y, device=device)
    cx, cy = cr.tensor(x, device=device), cr.tensor(y, device=device)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.01, momentum=0.9)
    c_opt = cr.optim.SGD(c_model.parameters(), lr=0.01, momentum=0.9)
    t_loss, c_loss = torch.nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    sync_t = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync_c = _cupy_sync if device.startswith("cuda") else (lambda: None)
    first = (c_loss(c_model(cx), cy).item(), t_loss(t_model(tx), ty).item())

    def c_step() -> None:
        c_opt.zero_grad()
        c_loss(c_model(cx), cy).backward()
        c_opt.step()
        sync_c()

    def t_step() -> None:
        t_opt.zero_grad()
        t_loss(t_model(tx), ty).backward()
        t_opt.step()
        sync_t()

    return c_step, t_step, first


def _cupy_sync() -> None:
    cr.backend.cupy().cuda.Device().synchronize()


def gpu_name(device: str) -> str:
    if not device.startswith("cuda"):
        return "CPU (dry run)"
    cp = cr.backend.cupy()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"{name} (CuPy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (a dry run)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda"):
        try:
            cr.set_backend("cupy")
        except cr.DeviceError as exc:  # CuPy missing, or no GPU answering: one line
            raise SystemExit(f"bench_gpu: {exc}") from None
        if not torch.cuda.is_available():
            raise SystemExit("PyTorch sees no CUDA GPU: install a CUDA build of torch")
    print(f"device: {gpu_name(args.device)}; torch {torch.__version__}, chainrule {cr.__version__}")
    print(f"host {blas_report()}")
    rows = []
    for name, (build, shape) in WORKLOADS.items():
        c_step, t_step, (c_first, t_first) = make_steps(build, shape, args.device)
        if abs(c_first - t_first) > 1e-3 * max(1.0, abs(t_first)):
            raise SystemExit(f"{name}: losses differ before timing: {c_first} vs {t_first}")
        t = interleaved({"c": c_step, "t": t_step}, rounds=args.rounds, budget_s=0.2)
        batch = shape[0]
        rows.append(
            [name, f"{batch / t['c']:,.0f}", f"{batch / t['t']:,.0f}", f"{t['t'] / t['c']:.2f}"]
        )
    header = ["training step (float32)", "chainrule samples/s", "PyTorch samples/s", "ratio"]
    print(table(rows, header))
    print("ratio = PyTorch time / chainrule time (> 1: chainrule faster), medians, same run")


if __name__ == "__main__":
    main()
