"""DataLoader: batches of tensors drawn from a dataset, in a reproducible order.

Two ways to build a batch:

* array path: when the dataset has ``__getitems__`` (a :class:`~chainrule.data.TensorDataset`
  or a :class:`~chainrule.data.Subset` of one) and no ``collate_fn`` was given, the loader
  asks for the whole batch at once, which costs one fancy-index per array. A tuple (or a
  single array) it returns is the batch; a list is taken, as in PyTorch, for a list of
  samples and goes through :func:`default_collate`;
* sample path: otherwise it fetches ``dataset[i]`` for each index and hands the list to
  ``collate_fn`` (:func:`default_collate` unless given), which stacks the fields.

Either way the arrays become tensors by one rule (see :func:`default_collate`): floating arrays
and per-sample multi-value integer arrays (images, integer features) become ``dtype``
(``float32`` unless given, ``None`` keeps them); integer arrays with one value per sample
(class labels) become ``int64``.

Order: epoch ``e`` (counted from 0, one per ``iter(loader)``) visits the samples in the order
``numpy.random.default_rng([seed, e]).permutation(n)`` when ``shuffle=True``, else ``0..n-1``.
``seed`` is the ``generator`` argument, or a number drawn once, at construction, from
chainrule's generator (:func:`chainrule.manual_seed`) — never from NumPy's global state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.data.dataset import Dataset, _resolve_seed
from chainrule.errors import DataError, StateDictError
from chainrule.tensor import Tensor

__all__ = ["DataLoader", "check_batch_size", "default_collate"]

_STATE_KEYS = ("seed", "epoch", "batches_done", "n_samples", "batch_size", "shuffle", "drop_last")


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples, as tensors.

    Args:
        dataset: a :class:`~chainrule.data.Dataset` (anything with ``__len__`` and
            ``__getitem__``).
        batch_size: samples per batch; the last batch is smaller unless ``drop_last``.
        shuffle: visit the samples in a new random order each epoch.
        drop_last: drop the last batch when it has fewer than ``batch_size`` samples.
        generator: an ``int`` seed, a NumPy ``Generator`` (one seed is drawn from it), or
            ``None`` (one seed is drawn from chainrule's generator). See the module docstring
            for how each epoch's order derives from it.
        collate_fn: turns a list of samples into a batch; given, it replaces the array path.
        dtype: what floating data and integer features become (``"float32"``); ``None`` keeps
            their dtypes. Integer labels always become ``int64``.
        sampler: where the indices come from instead (e.g. a
            :class:`~chainrule.distributed.DistributedSampler`): an object with ``__len__``
            and ``order(epoch)`` (an int array), or with ``set_epoch`` and ``__iter__``; it
            excludes ``shuffle``.
        num_workers: worker processes fetching batches (0: in this process). Batches come
            in the same order, with the same contents, as with 0; a worker's error is raised
            here, its message naming the worker, the batch and the sample index. Each worker
            seeds chainrule's and NumPy's global generators from ``(seed, epoch, worker)``.
        persistent_workers: keep the workers between epochs (else started per epoch).
        prefetch_factor: batches fetched ahead per worker (2 when ``num_workers > 0``).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each new worker.
        transform: applied to the inputs (the first field) of every batch, an array
            (N, ...), e.g. a :mod:`chainrule.data.transforms` augmentation; ``None``: none.

    Each batch is a tuple of tensors (one per field of a sample, e.g. ``(x, y)`` of shapes
    ``(B, ...)`` and ``(B,)``), or a single tensor when samples are single arrays.

    Raises :class:`~chainrule.errors.DataError` for an empty dataset, a non-positive batch
    size, ``drop_last=True`` with ``batch_size > len(dataset)`` (every batch would be
    dropped), a negative ``num_workers``, or ``prefetch_factor`` / ``persistent_workers``
    without workers.

    >>> import numpy as np
    >>> from chainrule.data import TensorDataset
    >>> ds = TensorDataset(np.zeros((5, 3)), np.arange(5))
    >>> [(tuple(x.shape), str(y.dtype)) for x, y in DataLoader(ds, batch_size=2)]
    [((2, 3), 'int64'), ((2, 3), 'int64'), ((1, 3), 'int64')]
    >>> len(DataLoader(ds, batch_size=2, drop_last=True))
    2
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: int | np.random.Generator | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        dtype: Any = "float32",
        sampler: Any = None,
        num_workers: int = 0,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
        worker_init_fn: Callable[[int], Any] | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if sampler is not None and shuffle:
            raise DataError("DataLoader: give either shuffle=True or a sampler, not both")
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise DataError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise DataError(
                "DataLoader: prefetch_factor and persistent_workers need num_workers > 0"
            )
        if prefetch_factor is not None and prefetch_factor < 1:
            raise DataError(f"DataLoader: prefetch_factor must be >= 1, got {prefetch_factor}")
        self.num_workers = int(num_workers)
        self.persistent_workers = bool(persistent_workers)
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.worker_init_fn = worker_init_fn
        self._pool: Any = None
        n = len(dataset) if sampler is None else len(sampler)
        check_batch_size(n, batch_size, drop_last)
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.dtype = None if dtype is None else backend.as_dtype(dtype)
        self.seed = _resolve_seed(generator)
        self._n = n
        self._next_epoch = 0  # the epoch the next iter() starts
        self._resume: tuple[int, int] | None = None  # set by load_state_dict
        self._current: object | None = None  # token of the latest iterator
        self._position = (0, 0)  # (epoch, batches yielded) of the latest iterator
        self._use_arrays = collate_fn is None and hasattr(dataset, "__getitems__")
        self.transform = transform

    # ------------------------------------------------------------------ iteration
    def __len__(self) -> int:
        """Batches per epoch: ``n // batch_size`` with ``drop_last``, else the ceiling."""
        if self.drop_last:
            return self._n // self.batch_size
        return math.ceil(self._n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        if self._resume is not None:
            epoch, start = self._resume
            self._resume = None
        else:
            epoch, start = self._next_epoch, 0
        self._next_epoch = epoch + 1
        token = object()
        self._current = token
        self._position = (epoch, start)
        return self._batches(self.order(epoch), epoch, start, token)

    def order(self, epoch: int) -> np.ndarray:
        """The order (a permutation of ``0..n-1``, int64) in which epoch ``epoch`` visits the
        samples."""
        if self.sampler is not None:
            if hasattr(self.sampler, "order"):
                return np.asarray(self.sampler.order(epoch), dtype=np.int64)
            self.sampler.set_epoch(epoch)
            return np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))
        if not self.shuffle:
            return np.arange(self._n, dtype=np.int64)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self._n)

    def _batches(self, order: np.ndarray, epoch: int, start: int, token: object) -> Iterator[Any]:
        if self.num_workers:
            yield from self._worker_batches(order, epoch, start, token)
            return
        bs = self.batch_size
        for b in range(start, len(self)):
            idx = order[b * bs : (b + 1) * bs]
            if self._use_arrays:
                got = self.dataset.__getitems__(idx)
                if isinstance(got, list):  # PyTorch's convention: a list of samples
                    batch = default_collate(got, self.dtype)
                else:
                    batch = _to_tensors(got, self.dtype)
            elif self.collate_fn is None:
                batch = default_collate([self.dataset[int(i)] for i in idx], self.dtype)
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in idx])
            if self.transform is not None:
                batch = self._transformed(batch)
            if self._current is token:
                self._position = (epoch, b + 1)
            yield batch
        if self._current is token:
            self._current = None

    def _worker_batches(
        self, order: np.ndarray, epoch: int, start: int, token: object
    ) -> Iterator[Any]:
        from chainrule.data._workers import WorkerPool

        pool = self._pool
        if pool is None:
            pool = WorkerPool(
                self.dataset,
                self.num_workers,
                self._use_arrays,
                self.collate_fn,
                _stack,
                self.seed,
                self.worker_init_fn,
            )
            if self.persistent_workers:
                self._pool = pool
        bs = self.batch_size
        batches = [order[b * bs : (b + 1) * bs] for b in range(start, len(self))]
        finished = False
        try:
            for b, raw in enumerate(pool.run(batches, epoch, self.prefetch_factor), start):
                batch = raw if self.collate_fn is not None else _to_tensors(raw, self.dtype)
                if self.transform is not None:
                    batch = self._transformed(batch)
                if self._current is token:
                    self._position = (epoch, b + 1)
                yield batch
            finished = True
        finally:  # after an error, Ctrl-C or a loop left early: no worker is left behind
            if not (finished and self.persistent_workers):
                pool.close()
                if self._pool is pool:
                    self._pool = None
        if self._current is token:
            self._current = None

    def shutdown_workers(self) -> None:
        """Stop the persistent workers now (they stop by themselves when the loader goes)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None  # processes do not travel
        return state

    def _transformed(self, batch: Any) -> Any:
        """``transform`` applied to the batch's inputs (its first field), as an array."""
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = Tensor._make(backend.xp.asarray(self.transform(first.data)))
        if self.dtype is not None:
            x = Tensor._make(x.data.astype(self.dtype, copy=False))
        if isinstance(batch, (tuple, list)):
            return type(batch)([x, *batch[1:]])
        return x

    # ------------------------------------------------------------------ state
    @property
    def epoch(self) -> int:
        """The epoch the next ``iter(loader)`` starts (or resumes)."""
        return self._resume[0] if self._resume is not None else self._next_epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` start epoch ``epoch`` from its first batch."""
        if epoch < 0:
            raise DataError(f"set_epoch: epoch must be non-negative, got {epoch}")
        self._resume = None
        self._current = None
        self._next_epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Where the data stream stands, as a JSON-serialisable dict.

        ``{"seed", "epoch", "batches_done", "n_samples", "batch_size", "shuffle",
        "drop_last"}``: during an iteration, ``epoch`` is the epoch being iterated and
        ``batches_done`` how many of its batches were already yielded; between iterations it is
        the next epoch and 0. :meth:`load_state_dict` makes the next ``iter(loader)`` yield
        exactly the batches that would have come next.
        """
        if self._resume is not None:
            epoch, done = self._resume
        elif self._current is not None:
            epoch, done = self._position
        else:
            epoch, done = self._next_epoch, 0
        if done >= len(self):
            epoch, done = epoch + 1, 0
        return {
            "seed": self.seed,
            "epoch": epoch,
            "batches_done": done,
            "n_samples": self._n,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`: the next ``iter(loader)`` continues from there.

        Raises :class:`~chainrule.errors.StateDictError` for missing or unexpected keys, or a
        state saved with another dataset size, batch size, ``shuffle`` or ``drop_last``.
        """
        missing = [k for k in _STATE_KEYS if k not in state]
        unexpected = [k for k in state if k not in _STATE_KEYS]
        if missing or unexpected:
            raise StateDictError(
                f"DataLoader.load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        mine = self.state_dict()
        for key in ("n_samples", "batch_size", "shuffle", "drop_last"):
            if state[key] != mine[key]:
                raise StateDictError(
                    f"DataLoader.load_state_dict: the state has {key}={state[key]!r} but this "
                    f"loader has {key}={mine[key]!r}; resume with the same data and settings"
                )
        epoch, done = int(state["epoch"]), int(state["batches_done"])
        if epoch < 0 or not 0 <= done <= len(self):
            raise StateDictError(
                f"DataLoader.load_state_dict: bad position epoch={epoch}, batches_done={done}"
            )
        self.seed = _resolve_seed(int(state["seed"]))
        self._current = None
        self._resume = (epoch, done)

    def __repr__(self) -> str:
        return (
            f"DataLoader({self._n} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})"
        )


def check_batch_size(n_samples: int, batch_size: int, drop_last: bool = False) -> None:
    """Raise :class:`~chainrule.errors.DataError` unless ``batch_size`` suits ``n_samples``.

    Errors: an empty dataset, a batch size that is not a positive integer, and, with
    ``drop_last=True``, fewer samples than one batch (every batch would be dropped).

    >>> check_batch_size(100, 32)
    >>> check_batch_size(10, 32, drop_last=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.DataError: batch_size=32 is larger than the dataset (10 samples) and ...
    """
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
        raise DataError(f"batch_size must be a positive int, got {batch_size!r}")
    if batch_size < 1:
        raise DataError(f"batch_size must be a positive int, got {batch_size}")
    if n_samples == 0:
        raise DataError("the dataset is empty (0 samples); there is nothing to load")
    if drop_last and batch_size > n_samples:
        raise DataError(
            f"batch_size={batch_size} is larger than the dataset ({n_samples} samples) and "
            f"drop_last=True would drop every batch; use batch_size <= {n_samples} or "
            "drop_last=False"
        )


def default_collate(samples: list[Any], dtype: Any = "float32") -> Any:
    """Stack a list of samples into a batch of tensors.

    Samples that are tuples (or lists) give a tuple with one tensor per field, dicts a dict,
    arrays/numbers/tensors a single tensor; each field is stacked with one ``numpy.stack``.
    Conversion: floating fields, and integer/bool fields with more than one value per sample,
    become ``dtype`` (``None`` keeps the dtype); integer/bool fields with one value per sample
    (class labels) become ``int64``.

    Raises :class:`~chainrule.errors.DataError` for an empty list, samples of different
    structure or shapes, and non-numeric fields.

    >>> import numpy as np
    >>> x, y = default_collate([(np.ones(3), 1), (np.zeros(3), 0)])
    >>> x.shape, x.dtype, y.tolist(), y.dtype
    ((2, 3), dtype('float32'), [1, 0], dtype('int64'))
    """
    if not samples:
        raise DataError("default_collate: no samples to collate")
    d = None if dtype is None else backend.as_dtype(dtype)
    return _to_tensors(_stack(samples), d)


# ---------------------------------------------------------------------------------- helpers
def _stack(samples: list[Any]) -> Any:
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(not isinstance(s, (tuple, list)) or len(s) != len(first) for s in samples):
            raise DataError("default_collate: samples have different numbers of fields")
        return tuple(_stack_field([s[i] for s in samples], i) for i in range(len(first)))
    if isinstance(first, Mapping):
        return {k: _stack_field([s[k] for s in samples], k) for k in first}
    return _stack_field(samples, None)


def _stack_field(values: list[Any], field: Any) -> np.ndarray:
    arrays = [v.numpy() if isinstance(v, Tensor) else v for v in values]
    try:
        return np.stack([np.asarray(a) for a in arrays])
    except ValueError as exc:
        shapes = sorted({np.shape(a) for a in arrays})
        where = "" if field is None else f" field {field!r}:"
        raise DataError(
            f"default_collate:{where} samples have different shapes {shapes}; "
            "pad them to one shape or pass a collate_fn"
        ) from exc


def _to_tensors(batch: Any, dtype: np.dtype | None) -> Any:
    if isinstance(batch, tuple):
        return tuple(_to_tensor(a, dtype) for a in batch)
    if isinstance(batch, list):
        return tuple(_to_tensor(a, dtype) for a in batch)
    if isinstance(batch, Mapping):
        return {k: _to_tensor(a, dtype) for k, a in batch.items()}
    return _to_tensor(batch, dtype)


def _to_tensor(a: Any, dtype: np.dtype | None) -> Tensor:
    if isinstance(a, Tensor):
        a = a.numpy()
    a = np.asarray(a)
    kind = a.dtype.kind
    if kind in "iub" and a.ndim <= 1:
        return Tensor._make(backend.xp.asarray(a.astype(np.int64, copy=False)))
    if kind in "iubf":
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return Tensor._make(backend.xp.asarray(a))
    raise DataError(
        f"cannot make a tensor from a batch of dtype {a.dtype} (shape {a.shape}); "
        "datasets must hold numbers: encode strings as class indices or features first"
    )
