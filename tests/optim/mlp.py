"""The optimiser tests' shared workload: the seeds' small network trained side by side in
chainrule and PyTorch.

A 5-8-6-3 MLP with tanh hidden units, softmax output and cross-entropy loss, built from raw
weight tensors and functional ops (no ``cr.nn``), trained on fixed float64 data in minibatches
of 8. Both frameworks start from the same weights; :func:`train` runs one optimiser per
framework for the same number of steps, optionally driving each with a scheduler, and returns
the final weights and the learning rates seen, for the tests to compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import chainrule as cr

SIZES = (5, 8, 6, 3)
BATCH = 8
RTOL = 1e-6
ATOL = 1e-10

_rng = np.random.default_rng(20261122)
X = _rng.standard_normal((24, SIZES[0]))
Y = _rng.integers(0, SIZES[-1], 24)


def initial_weights(seed: int = 0, dtype: Any = np.float64) -> list[np.ndarray]:
    """W1, b1, W2, b2, W3, b3 (weights stored (out, in), as the seeds' a = b + W h)."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        out.append((rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype))
        out.append((0.1 * rng.standard_normal(n_out)).astype(dtype))
    return out


def batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    """Minibatch number ``step`` (cycling through the data)."""
    i = (step * BATCH) % len(X)
    return X[i : i + BATCH], Y[i : i + BATCH]


def cr_loss(ps: list[cr.Tensor], x: np.ndarray, y: np.ndarray) -> cr.Tensor:
    h = cr.tensor(x, dtype=ps[0].dtype)
    for k in range(0, len(ps) - 2, 2):
        h = cr.tanh(cr.linear(h, ps[k], ps[k + 1]))
    return cr.cross_entropy(cr.linear(h, ps[-2], ps[-1]), cr.tensor(y))


def torch_loss(ps: list[torch.Tensor], x: np.ndarray, y: np.ndarray) -> torch.Tensor:
    h = torch.tensor(x, dtype=ps[0].dtype)
    for k in range(0, len(ps) - 2, 2):
        h = torch.tanh(F.linear(h, ps[k], ps[k + 1]))
    return F.cross_entropy(F.linear(h, ps[-2], ps[-1]), torch.tensor(y))


def cr_params(weights: list[np.ndarray]) -> list[cr.Tensor]:
    return [cr.tensor(w.copy(), requires_grad=True) for w in weights]


def torch_params(weights: list[np.ndarray]) -> list[torch.Tensor]:
    return [torch.tensor(w.copy(), requires_grad=True) for w in weights]


@dataclass
class Run:
    """One framework's side of a training run."""

    params: list[Any]
    optimizer: Any
    scheduler: Any = None
    lrs: list[list[float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def weights(self) -> list[np.ndarray]:
        return [
            p.detach().numpy().copy() if isinstance(p, torch.Tensor) else p.numpy().copy()
            for p in self.params
        ]


def cr_run(
    make_opt: Callable[[list[cr.Tensor]], Any],
    make_sched: Callable[[Any], Any] | None = None,
    weights: list[np.ndarray] | None = None,
) -> Run:
    ps = cr_params(initial_weights() if weights is None else weights)
    opt = make_opt(ps)
    return Run(ps, opt, make_sched(opt) if make_sched else None)


def torch_run(
    make_opt: Callable[[list[torch.Tensor]], Any],
    make_sched: Callable[[Any], Any] | None = None,
    weights: list[np.ndarray] | None = None,
) -> Run:
    ps = torch_params(initial_weights() if weights is None else weights)
    opt = make_opt(ps)
    return Run(ps, opt, make_sched(opt) if make_sched else None)


def advance(run: Run, steps: int, start: int = 0, metrics: list[float] | None = None) -> Run:
    """Train ``run`` for ``steps`` minibatch steps (numbered from ``start``), stepping its
    scheduler after each optimiser step (with ``metrics[step]`` for ReduceLROnPlateau)."""
    is_torch = isinstance(run.params[0], torch.Tensor)
    loss_fn = torch_loss if is_torch else cr_loss
    for step in range(start, start + steps):
        run.optimizer.zero_grad()
        loss = loss_fn(run.params, *batch(step))
        loss.backward()
        run.optimizer.step()
        run.losses.append(float(loss.item()))
        if run.scheduler is not None:
            if metrics is None:
                run.scheduler.step()
            else:
                run.scheduler.step(metrics[step])
            run.lrs.append([float(lr) for lr in run.scheduler.get_last_lr()])
    return run


def train(
    make_cr: Callable[[list[cr.Tensor]], Any],
    make_torch: Callable[[list[torch.Tensor]], Any],
    steps: int = 50,
    sched_cr: Callable[[Any], Any] | None = None,
    sched_torch: Callable[[Any], Any] | None = None,
    metrics: list[float] | None = None,
) -> tuple[Run, Run]:
    """The same training in both frameworks; returns (chainrule run, PyTorch run)."""
    a = advance(cr_run(make_cr, sched_cr), steps, metrics=metrics)
    b = advance(torch_run(make_torch, sched_torch), steps, metrics=metrics)
    return a, b


def assert_same_weights(a: list[np.ndarray], b: list[np.ndarray], rtol: float = RTOL) -> None:
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b)):
        assert x.shape == y.shape, f"parameter {k}: shape {x.shape} != {y.shape}"
        np.testing.assert_allclose(x, y, rtol=rtol, atol=ATOL, err_msg=f"parameter {k}")


def assert_same_training(a: Run, b: Run, rtol: float = RTOL) -> None:
    """Same final weights and losses along the way (and the weights moved at all)."""
    assert_same_weights(a.weights(), b.weights(), rtol)
    np.testing.assert_allclose(a.losses, b.losses, rtol=rtol, atol=ATOL)
    moved = max(np.abs(w - w0).max() for w, w0 in zip(a.weights(), initial_weights()))
    assert moved > 1e-4, "the optimiser did not move the weights"


def groups_by_layer(ps: list[Any], lrs: tuple[float, ...], **extra: dict[str, Any]) -> list[dict]:
    """One parameter group per layer (weight and bias), with its own lr; ``extra[key]`` gives
    per-layer values of other hyper-parameters."""
    groups = []
    for k, lr in enumerate(lrs):
        g = {"params": ps[2 * k : 2 * k + 2], "lr": lr}
        for key, values in extra.items():
            g[key] = values[k]
        groups.append(g)
    return groups
