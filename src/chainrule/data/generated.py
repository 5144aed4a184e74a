"""Small synthetic datasets, generated from a seed: spirals, moons, XOR and a noisy sine.

Each ``make_*`` function draws from ``numpy.random.default_rng(seed)`` only, so the same seed
gives the same arrays whatever else ran before (``seed=None`` draws a seed from chainrule's
generator, see :func:`chainrule.manual_seed`), and returns ``(X, y)`` with ``X`` float64 of
shape ``(n_samples, n_features)``.
"""

from __future__ import annotations

import numpy as np

from chainrule.data.dataset import _resolve_seed
from chainrule.errors import DataError

__all__ = ["make_moons", "make_sine", "make_spirals", "make_xor"]


def make_spirals(
    n_samples: int = 1000,
    n_classes: int = 2,
    noise: float = 0.05,
    turns: float = 1.5,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spirals, one arm per class, centred on the origin (the classic test that a
    linear model fails and an MLP passes).

    Sample ``i`` belongs to class ``i % n_classes`` (so classes are balanced, order shuffled);
    it sits at radius ``r ~ U(0, 1)`` and angle ``2π (c / n_classes + turns · r)``, plus
    Gaussian noise of standard deviation ``noise`` on each coordinate.

    Returns ``X`` of shape ``(n_samples, 2)`` and ``y`` int64 of shape ``(n_samples,)``.
    Raises :class:`~chainrule.errors.DataError` for ``n_samples < 1``, ``n_classes < 2`` or a
    negative ``noise``.

    >>> X, y = make_spirals(6, n_classes=3)
    >>> X.shape, sorted(y.tolist())
    ((6, 2), [0, 0, 1, 1, 2, 2])
    """
    _check(n_samples, noise)
    if n_classes < 2:
        raise DataError(f"make_spirals: n_classes must be at least 2, got {n_classes}")
    rng = np.random.default_rng(_resolve_seed(seed))
    y = rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)
    r = rng.uniform(0.0, 1.0, n_samples)
    angle = 2 * np.pi * (y / n_classes + turns * r)
    X = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return X + noise * rng.standard_normal(X.shape), y


def make_moons(
    n_samples: int = 1000, noise: float = 0.1, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: class 0 is the upper arc ``(cos t, sin t)``, class 1 the
    lower arc ``(1 - cos t, 0.5 - sin t)``, ``t ~ U(0, π)``, plus Gaussian noise ``noise``.

    Returns ``X`` of shape ``(n_samples, 2)`` and ``y`` int64 of shape ``(n_samples,)``
    (classes balanced). Raises :class:`~chainrule.errors.DataError` for ``n_samples < 1`` or
    a negative ``noise``.

    >>> X, y = make_moons(10)
    >>> X.shape, int(y.sum())
    ((10, 2), 5)
    """
    _check(n_samples, noise)
    rng = np.random.default_rng(_resolve_seed(seed))
    y = rng.permutation(np.arange(n_samples) % 2).astype(np.int64)
    t = rng.uniform(0.0, np.pi, n_samples)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    X = np.where(y[:, None] == 0, upper, lower)
    return X + noise * rng.standard_normal(X.shape), y


def make_xor(
    n_samples: int = 1000, noise: float = 0.05, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: points uniform in ``[-1, 1]²``, labelled 1 when exactly one coordinate
    is positive (``(x0 > 0) != (x1 > 0)``), then moved by Gaussian noise ``noise``.

    Returns ``X`` of shape ``(n_samples, 2)`` and ``y`` int64 of shape ``(n_samples,)``.
    Raises :class:`~chainrule.errors.DataError` for ``n_samples < 1`` or a negative ``noise``.

    >>> X, y = make_xor(8, noise=0.0)
    >>> bool(np.all(y == ((X[:, 0] > 0) != (X[:, 1] > 0))))
    True
    """
    _check(n_samples, noise)
    rng = np.random.default_rng(_resolve_seed(seed))
    X = rng.uniform(-1.0, 1.0, (n_samples, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    return X + noise * rng.standard_normal(X.shape), y


def make_sine(
    n_samples: int = 1000, noise: float = 0.1, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Regression on a noisy sine: ``x ~ U(-π, π)``, ``y = sin(x) + noise · N(0, 1)``.

    Returns ``X`` of shape ``(n_samples, 1)`` and ``y`` float64 of shape ``(n_samples,)``.
    Raises :class:`~chainrule.errors.DataError` for ``n_samples < 1`` or a negative ``noise``.

    >>> X, y = make_sine(5, noise=0.0)
    >>> X.shape, y.shape, bool(np.allclose(y, np.sin(X[:, 0])))
    ((5, 1), (5,), True)
    """
    _check(n_samples, noise)
    rng = np.random.default_rng(_resolve_seed(seed))
    X = rng.uniform(-np.pi, np.pi, (n_samples, 1))
    return X, np.sin(X[:, 0]) + noise * rng.standard_normal(n_samples)


def _check(n_samples: int, noise: float) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise DataError(f"n_samples must be a positive int, got {n_samples!r}")
    if n_samples < 1:
        raise DataError(f"n_samples must be a positive int, got {n_samples}")
    if noise < 0:
        raise DataError(f"noise must be non-negative, got {noise}")
