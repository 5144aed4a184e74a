"""From what :meth:`Trainer.fit <chainrule.train.Trainer.fit>`, ``evaluate`` and ``predict``
take to batches: a dataset, a data loader or an ``(X, y)`` pair becomes a
:class:`~chainrule.data.DataLoader` in the model's dtype, shared out over the ranks of a
distributed run; a batch splits into inputs and targets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend, distributed
from chainrule.data import DataLoader, Dataset, TensorDataset
from chainrule.errors import DataError
from chainrule.nn import Module
from chainrule.tensor import Tensor

__all__ = ["DataLike", "Shard", "as_dataset", "batch_size_of", "make_loader", "model_dtype",
           "split_batch"]  # fmt: skip

DataLike = Any  # a Dataset, a DataLoader, or a tuple (X, y) of arrays/tensors


def make_loader(
    data: DataLike,
    model: Module,
    batch_size: int,
    shuffle: bool,
    seed: int,
    check_size: bool = True,
) -> DataLoader:
    """``data`` as a :class:`~chainrule.data.DataLoader` of batches in ``model``'s dtype (a
    loader is returned as it is).

    ``check_size`` marks training data: it must hold at least ``batch_size`` samples, and in
    a distributed run each rank gets ``batch_size / size`` samples of every global batch
    (:class:`~chainrule.distributed.DistributedSampler`). Evaluation data
    (``check_size=False``) is shared out in disjoint :class:`Shard` s instead, whose results
    the ranks add up. ``seed`` fixes the shuffled order.

    Raises :class:`~chainrule.errors.DataError` for empty data, training data with fewer
    samples than ``batch_size``, or data that is not a dataset, loader or ``(X, y)`` pair.
    """
    if isinstance(data, DataLoader):
        return data
    dataset = as_dataset(data)
    n = len(dataset)
    if n == 0:
        raise DataError("the dataset is empty")
    if check_size and n < batch_size:
        raise DataError(
            f"the training data has {n} samples, fewer than the batch size {batch_size}; "
            "use a smaller batch size"
        )
    dtype = model_dtype(model)
    world = distributed.size()
    if world > 1 and check_size:  # training: each rank a share of every global batch
        sampler = distributed.DistributedSampler(n, shuffle=shuffle, seed=seed)
        return DataLoader(dataset, batch_size=batch_size // world, sampler=sampler, dtype=dtype)
    if world > 1 and n >= world:  # evaluation: disjoint shares, summed afterwards
        shard = Shard(n, distributed.rank(), world)
        return DataLoader(dataset, batch_size=batch_size, sampler=shard, dtype=dtype)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=seed, dtype=dtype)


class Shard:
    """Samples ``rank, rank + size, ...`` of ``0..n-1``: a rank's share of an evaluation, in
    the sampler form :class:`~chainrule.data.DataLoader` takes (``order(epoch)``, ``len``)."""

    def __init__(self, n: int, rank: int, size: int) -> None:
        self.indices = np.arange(rank, n, size, dtype=np.int64)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of this share, the same every epoch."""
        return self.indices

    def __len__(self) -> int:
        return len(self.indices)


def model_dtype(model: Module) -> Any:
    """The dtype of ``model``'s first parameter (the default dtype for a model without)."""
    for p in model.parameters():
        return p.dtype
    return backend.get_default_dtype()


def as_dataset(data: DataLike) -> Dataset:
    """A :class:`~chainrule.data.Dataset` as it is, an ``(X, y)`` pair of arrays or tensors
    (``n`` rows each) as a :class:`~chainrule.data.TensorDataset`.

    Raises :class:`~chainrule.errors.DataError` for anything else.
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = (d.data if isinstance(d, Tensor) else d for d in data)
        return TensorDataset(X, y)
    raise DataError(
        "training data must be a Dataset, a DataLoader or an (X, y) pair, "
        f"got {type(data).__name__}"
    )


def split_batch(batch: Any) -> tuple[Tensor, Tensor]:
    """``(inputs, targets)`` of a batch; raises :class:`~chainrule.errors.DataError` when the
    batch is not such a pair (the data has no targets)."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise DataError("each batch must be an (inputs, targets) pair; the data has no targets")
    return batch[0], batch[1]


def batch_size_of(batch: Any) -> int:
    """The number of samples in ``batch``: the length of its last element (the targets of an
    ``(inputs, targets)`` pair), or of the batch itself when it is a single array."""
    return len(batch[-1]) if isinstance(batch, (tuple, list)) else len(batch)
