"""Datasets: what a :class:`~chainrule.data.DataLoader` draws samples from.

A :class:`Dataset` answers two questions, ``len(ds)`` and ``ds[i]``. Datasets held as arrays
(:class:`TensorDataset`, and :class:`Subset` of one) also answer ``ds.__getitems__(indices)``
with a whole batch at once, one fancy-index per array, so the loader never loops over samples in
Python. ``__getitems__`` is PyTorch's name for the same hook.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import DataError, ShapeError
from chainrule.tensor import Tensor

__all__ = ["Dataset", "Subset", "TensorDataset", "random_split"]


class Dataset(abc.ABC):
    """A collection of samples with a length, indexed by ``0 <= i < len(self)``.

    Subclasses implement ``__getitem__(i)`` (one sample: an array, or a tuple such as
    ``(features, label)``) and ``__len__``. A subclass that can gather many samples at once may
    also implement ``__getitems__(indices)`` returning the batch as a tuple of arrays whose first
    axis is the batch (or, as in PyTorch, a list of samples);
    :class:`~chainrule.data.DataLoader` then calls it once per batch.
    """

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The sample at ``index``."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of samples."""


class TensorDataset(Dataset):
    """Samples made of rows of one or more arrays with the same first dimension.

    ``TensorDataset(X, y)`` with ``X`` of shape ``(n, ...)`` and ``y`` of shape ``(n, ...)``:
    sample ``i`` is ``(X[i], y[i])``. Arrays, Tensors and nested lists are accepted and kept as
    NumPy arrays (their dtypes unchanged; conversion to tensors happens in the loader).

    Raises :class:`~chainrule.errors.ShapeError` when no array is given, when one is 0-d, or
    when the first dimensions differ (the message lists every shape).

    >>> import numpy as np
    >>> ds = TensorDataset(np.zeros((4, 3)), np.arange(4))
    >>> len(ds), ds[1][1]
    (4, np.int64(1))
    >>> [a.shape for a in ds.__getitems__(np.array([3, 0]))]
    [(2, 3), (2,)]
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ShapeError("TensorDataset needs at least one array, e.g. TensorDataset(X, y)")
        self.arrays: tuple[np.ndarray, ...] = tuple(_as_host_array(a) for a in arrays)
        shapes = [a.shape for a in self.arrays]
        if any(len(s) == 0 for s in shapes):
            raise ShapeError(
                f"TensorDataset: every array needs a first (sample) dimension; got shapes {shapes}"
            )
        if len({s[0] for s in shapes}) != 1:
            raise ShapeError(
                "TensorDataset: arrays must have the same first dimension (number of samples); "
                f"got shapes {shapes}"
            )

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    def __getitems__(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The rows ``indices`` of every array: one fancy-index per array."""
        return tuple(a[indices] for a in self.arrays)

    def __repr__(self) -> str:
        inner = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({inner})"


class Subset(Dataset):
    """The samples ``indices`` of ``dataset``, in that order.

    Gathers batches through the parent's ``__getitems__`` when it has one, so a subset of an
    array-backed dataset stays array-backed. Raises :class:`~chainrule.errors.DataError` for
    indices outside ``[0, len(dataset))``.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise DataError(
                f"Subset: indices must lie in [0, {n}) for a dataset of {n} samples; "
                f"got range [{idx.min()}, {idx.max()}]"
            )
        self.dataset = dataset
        self.indices = idx

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __getattr__(self, name: str) -> Any:
        # ``__getitems__`` exists only when the parent has it, so that ``hasattr`` tells the
        # loader which path to take.
        if name == "__getitems__" and hasattr(self.dataset, "__getitems__"):
            parent = self.dataset
            return lambda indices: parent.__getitems__(self.indices[indices])
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, {len(self)} samples)"


def random_split(
    dataset: Dataset,
    lengths: Sequence[int | float],
    seed: int | None = None,
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    ``lengths`` are either sample counts summing to ``len(dataset)`` or fractions summing to 1;
    fractions are turned into counts by flooring, the samples left over then going one each to
    the first subsets (so ``[0.5, 0.5]`` of 5 samples gives 3 and 2). The permutation comes from
    ``numpy.random.default_rng(seed)``; ``seed=None`` draws a seed from chainrule's generator
    (:func:`chainrule.manual_seed`), so the split never depends on NumPy's global state.

    Raises :class:`~chainrule.errors.DataError` for negative lengths or lengths that do not add
    up.

    >>> import numpy as np
    >>> a, b = random_split(TensorDataset(np.arange(10)), [0.7, 0.3], seed=0)
    >>> len(a), len(b), sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    (7, 3, True)
    """
    n = len(dataset)
    counts = _split_counts(n, lengths)
    perm = np.random.default_rng(_resolve_seed(seed)).permutation(n)
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, perm[lo:hi]) for lo, hi in itertools.pairwise(bounds)]


# ---------------------------------------------------------------------------------- helpers
def _split_counts(n: int, lengths: Sequence[int | float]) -> list[int]:
    lengths = list(lengths)
    if not lengths:
        raise DataError("random_split: lengths is empty; give counts or fractions")
    if any(x < 0 for x in lengths):
        raise DataError(f"random_split: lengths must be non-negative, got {lengths}")
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        if sum(lengths) != n:
            raise DataError(
                f"random_split: counts {lengths} add up to {sum(lengths)}, "
                f"but the dataset has {n} samples"
            )
        return [int(x) for x in lengths]
    if abs(sum(lengths) - 1.0) > 1e-6:
        raise DataError(
            f"random_split: fractions {lengths} add up to {sum(lengths):g}, not 1 "
            "(or give integer counts summing to the dataset's length)"
        )
    counts = [int(np.floor(n * f)) for f in lengths]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def _resolve_seed(seed: Any) -> int:
    """An int seed: ``seed`` itself, one drawn from ``seed`` if it is a Generator, or one drawn
    from chainrule's generator when ``None``."""
    if seed is None:
        return int(backend.rng().integers(2**63 - 1))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63 - 1))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise DataError(f"seed must be a non-negative int, a numpy Generator or None; got {seed!r}")
    if seed < 0:
        raise DataError(f"seed must be non-negative, got {seed}")
    return int(seed)


def _as_host_array(a: Any) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.numpy()
    return backend.to_numpy(a) if not isinstance(a, np.ndarray) else a
