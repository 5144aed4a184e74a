"""Small data and models shared by the training tests."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn


def blobs(n: int = 96, d: int = 4, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 points in ``d`` dimensions around ``k`` centres; int64 labels."""
    centres = np.random.default_rng(1234).normal(scale=3.0, size=(k, d))  # the same for all
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = centres[y] + rng.normal(size=(n, d))
    return X.astype(np.float32), y.astype(np.int64)


def mlp(d: int = 4, k: int = 3, hidden: int = 16, dropout: float = 0.0, seed: int = 0):
    """A small tanh MLP, with dropout when asked; initialised from ``seed``."""
    cr.manual_seed(seed)
    layers = [nn.Linear(d, hidden), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, k)]
    return nn.Sequential(*layers)


def same_weights(a, b) -> bool:
    """Bit-for-bit equality of two modules' state dicts."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
