"""Which samples each rank sees: a disjoint shard of one global shuffle."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from chainrule.distributed.comm import rank as _rank
from chainrule.distributed.comm import size as _size
from chainrule.errors import DataError


class DistributedSampler:
    """Indices of rank ``rank``'s shard of ``n`` samples, PyTorch's ``DistributedSampler``.

    Every epoch all ranks draw the same permutation, ``numpy.random.default_rng([seed,
    epoch]).permutation(n)`` (the order a single-process
    :class:`~chainrule.data.DataLoader` with ``generator=seed`` visits), pad it by repeating
    its head to a multiple of ``num_replicas`` (or, with ``drop_last``, cut the tail), and rank
    ``r`` takes every ``num_replicas``-th index from position ``r``. Shards are disjoint and
    of equal size, and the ``k``-th batch of ``B / num_replicas`` samples of every rank
    together make the ``k``-th batch of ``B`` of the single-process order.

    Args:
        dataset: the dataset (or its length).
        num_replicas: the number of ranks; default the MPI job's size.
        rank: this process's rank; default its rank in the MPI job.
        shuffle: shuffle each epoch, as PyTorch's.
        seed: seeds the shuffle, as PyTorch's.
        drop_last: cut the tail instead of padding, as PyTorch's.

    Call :meth:`set_epoch` before each epoch (a :class:`~chainrule.data.DataLoader` given this
    sampler does). Raises :class:`~chainrule.errors.DataError` for a rank outside
    ``[0, num_replicas)`` or an empty dataset.

    >>> [list(DistributedSampler(10, num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    """

    def __init__(
        self,
        dataset: object,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        n = dataset if isinstance(dataset, (int, np.integer)) else len(dataset)  # type: ignore[arg-type]
        self.n = int(n)
        self.num_replicas = _size() if num_replicas is None else int(num_replicas)
        self.rank = _rank() if rank is None else int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise DataError(
                f"DistributedSampler: rank {self.rank} is outside [0, {self.num_replicas})"
            )
        if self.n == 0:
            raise DataError("DistributedSampler: the dataset is empty")
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        if drop_last and self.n >= self.num_replicas:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration draw epoch ``epoch``'s permutation."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """This rank's indices (int64) for epoch ``epoch``."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)
        else:
            order = np.arange(self.n, dtype=np.int64)
        if self.total_size > self.n:  # pad by repeating the head (over and over if needed)
            order = np.resize(order, self.total_size)
        return order[self.rank : self.total_size : self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order(self.epoch).tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"DistributedSampler({self.n} samples, rank {self.rank} of {self.num_replicas}, "
            f"shuffle={self.shuffle}, seed={self.seed})"
        )
