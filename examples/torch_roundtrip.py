"""PyTorch weights into chainrule and back, in memory and through safetensors files.

A PyTorch ``nn.Sequential`` and the chainrule model with the same layers have the same
``state_dict`` keys, so the weights move with a dict comprehension either way:

    python examples/torch_roundtrip.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

import chainrule as cr
from chainrule import nn


def main() -> None:
    torch.manual_seed(0)
    torch_net = torch.nn.Sequential(
        torch.nn.Linear(8, 32),
        torch.nn.BatchNorm1d(32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.LayerNorm(32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 4),
    )
    torch_net.train()
    with torch.no_grad():  # a few batches, so BatchNorm's running statistics mean something
        for _ in range(5):
            torch_net(torch.randn(64, 8) * 2 + 1)
    torch_net.eval()

    cr_net = nn.Sequential(
        nn.Linear(8, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Linear(32, 32),
        nn.LayerNorm(32),
        nn.Tanh(),
        nn.Linear(32, 4),
    )

    # 1. PyTorch -> chainrule: arrays by the same names (strict: every key must fit)
    cr_net.load_state_dict({k: v.numpy() for k, v in torch_net.state_dict().items()})
    cr_net.eval()
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    with torch.no_grad():
        want = torch_net(torch.from_numpy(x)).numpy()
    with cr.no_grad():
        got = cr_net(cr.tensor(x)).numpy()
    print(f"torch -> chainrule: largest difference {np.abs(got - want).max():.2e}")

    # 2. chainrule -> PyTorch: train one step in chainrule, then load its state_dict back
    cr_net.train()
    opt = cr.optim.Adam(cr_net.parameters(), lr=1e-2)
    loss = cr.nn.functional.cross_entropy(cr_net(cr.tensor(x)), cr.tensor([0, 1, 2, 3, 0]))
    loss.backward()
    opt.step()
    cr_net.eval()
    torch_net.load_state_dict({k: torch.from_numpy(v) for k, v in cr_net.state_dict().items()})
    with torch.no_grad():
        want = torch_net(torch.from_numpy(x)).numpy()
    with cr.no_grad():
        got = cr_net(cr.tensor(x)).numpy()
    print(f"chainrule -> torch: largest difference {np.abs(got - want).max():.2e}")

    # 3. Through files: cr.save writes safetensors, which PyTorch reads with safetensors.torch
    folder = Path(tempfile.mkdtemp())
    cr.save(cr_net, folder / "chainrule.safetensors")
    torch_net.load_state_dict(safetensors.torch.load_file(folder / "chainrule.safetensors"))
    safetensors.torch.save_file(torch_net.state_dict(), folder / "torch.safetensors")
    again = cr.load(folder / "torch.safetensors", model=cr_net)
    with cr.no_grad():
        got = again(cr.tensor(x)).numpy()
    print(f"through {sorted(p.name for p in folder.iterdir())}: {np.abs(got - want).max():.2e}")


if __name__ == "__main__":
    main()
