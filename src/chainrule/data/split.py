"""Splitting arrays into training and test parts, stratified by class when asked."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.data.dataset import _as_host_array, _resolve_seed
from chainrule.errors import DataError, ShapeError

__all__ = ["train_test_split"]


def train_test_split(
    X: Any,
    y: Any,
    test_size: float | int = 0.25,
    stratify: bool | None = None,
    seed: int | None = 0,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``X`` (shape ``(n, ...)``) and ``y`` (shape ``(n, ...)``) into
    ``X_train, X_test, y_train, y_test`` (scikit-learn's order).

    Args:
        test_size: a fraction in ``(0, 1)`` (the test part gets ``ceil(test_size * n)``
            samples) or a number of test samples.
        stratify: keep each class's share the same in both parts. ``None`` (the default)
            stratifies when ``y`` holds integer (or bool) class labels of one value per sample,
            i.e. for classification, and not for regression targets.
        seed: the split is drawn from ``numpy.random.default_rng(seed)``; ``None`` draws a seed
            from chainrule's generator.
        shuffle: ``False`` keeps the order and puts the last samples in the test part (no
            stratification then).

    With stratification each class ``c`` of ``n_c`` samples sends about
    ``n_c * n_test / n`` of them to the test part (rounded so that the total is exactly
    ``n_test``, the largest remainders rounding up), and both parts are shuffled.

    Raises :class:`~chainrule.errors.ShapeError` when ``X`` and ``y`` differ in length,
    :class:`~chainrule.errors.DataError` for a ``test_size`` leaving either part empty,
    ``stratify=True`` with non-integer labels, or ``stratify=True`` with ``shuffle=False``.

    >>> import numpy as np
    >>> y = np.array([0] * 8 + [1] * 4)
    >>> X_train, X_test, y_train, y_test = train_test_split(np.arange(12), y, test_size=0.25)
    >>> np.bincount(y_train).tolist(), np.bincount(y_test).tolist()
    ([6, 3], [2, 1])
    """
    X = _as_host_array(X)
    y = _as_host_array(y)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ShapeError(
            "train_test_split: X and y must have the same number of samples (first dimension); "
            f"got X shape {X.shape} and y shape {y.shape}"
        )
    n = X.shape[0]
    n_test = _test_count(n, test_size)
    labels_like = y.ndim == 1 and y.dtype.kind in "iub"
    if stratify is None:
        stratify = labels_like and shuffle
    if stratify and not shuffle:
        raise DataError("train_test_split: stratify=True needs shuffle=True")
    if stratify and not labels_like:
        raise DataError(
            "train_test_split: stratify=True needs integer class labels of shape (n,); "
            f"got y of dtype {y.dtype} and shape {y.shape} (use stratify=False for regression)"
        )
    if not shuffle:
        train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
    else:
        rng = np.random.default_rng(_resolve_seed(seed))
        if stratify:
            train_idx, test_idx = _stratified(y, n_test, rng)
        else:
            perm = rng.permutation(n)
            train_idx, test_idx = perm[n_test:], perm[:n_test]
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def _test_count(n: int, test_size: float | int) -> int:
    if isinstance(test_size, (bool, np.bool_)):
        raise DataError(
            f"train_test_split: test_size must be a fraction or a count, got {test_size}"
        )
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        n_test = math.ceil(float(test_size) * n)
    else:
        raise DataError(
            "train_test_split: test_size must be a fraction in (0, 1) or a number of samples, "
            f"got {test_size!r}"
        )
    if not 0 < n_test < n:
        raise DataError(
            f"train_test_split: test_size={test_size!r} gives {n_test} test samples out of {n}; "
            "both the training and the test part need at least one sample"
        )
    return n_test


def _stratified(
    y: np.ndarray, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = y.shape[0]
    _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = counts * (n_test / n)
    take = np.floor(exact).astype(np.int64)
    short = n_test - int(take.sum())
    if short:
        # the largest remainders round up; ties go to the larger classes
        rank = np.lexsort((-counts, -(exact - take)))
        take[rank[:short]] += 1
    # group a random permutation by class, then send the first take[c] of each group to test
    perm = rng.permutation(n)
    grouped = perm[np.argsort(codes[perm], kind="stable")]
    starts = np.cumsum(counts) - counts
    rank_in_class = np.arange(n) - np.repeat(starts, counts)
    is_test = rank_in_class < np.repeat(take, counts)
    test_idx = rng.permutation(grouped[is_test])
    train_idx = rng.permutation(grouped[~is_test])
    return train_idx, test_idx
