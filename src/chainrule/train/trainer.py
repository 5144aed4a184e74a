"""The fit loop: the seeds' gradient descent, batch by batch, with everything around it.

Per batch: forward, loss, ``zero_grad``, ``backward``, (clip), ``step`` — the seeds'
θ ← θ − η ∇θ L on a mini-batch whose gradients add up (seed 002). Per epoch: metrics,
validation, scheduler, history, callbacks (checkpoints, early stopping, logs, progress).

A run resumed from a checkpoint continues exactly as the uninterrupted run would have: the
checkpoint holds the weights, the optimiser's and scheduler's state, the epoch, the history,
the state of chainrule's random generator (dropout) and of the data order.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend, distributed
from chainrule.autograd import no_grad
from chainrule.data import DataLoader, Dataset, TensorDataset
from chainrule.errors import (
    CheckpointError,
    DataError,
    DistributedError,
    NonFiniteError,
    StateDictError,
)
from chainrule.nn import Module
from chainrule.nn.utils import clip_grad_norm_
from chainrule.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau
from chainrule.tensor import Tensor
from chainrule.train.callbacks import Callback, ProgressBar
from chainrule.train.checkpoint import (
    decode_tree,
    encode_tree,
    json_restore,
    load_checkpoint,
    save_checkpoint,
)
from chainrule.train.history import History
from chainrule.train.metrics import Metric, get_metric

DataLike = Any  # a Dataset, a DataLoader, or a tuple (X, y) of arrays/tensors


class Trainer:
    """Trains ``model`` by minimising ``loss_fn(model(x), y)`` with ``optimizer``.

    Args:
        model: a :class:`~chainrule.nn.Module`.
        loss_fn: ``loss_fn(output, target) -> one-element Tensor`` (e.g. ``nn.CrossEntropyLoss()``).
        optimizer: a :class:`~chainrule.optim.Optimizer` over the model's parameters.
        metrics: names (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``, ``"mae"``, ``"r2"``) or
            :class:`~chainrule.train.metrics.Metric` objects, logged for training and validation;
            each batch's outputs and targets reach them as host (NumPy) arrays.
        scheduler: a learning-rate scheduler; stepped once per epoch (per batch for
            ``OneCycleLR``; ``ReduceLROnPlateau`` gets ``val_loss``, or ``loss`` without
            validation data).
        callbacks: :class:`~chainrule.train.callbacks.Callback` objects.
        progress: add a :class:`~chainrule.train.callbacks.ProgressBar` (rich on a terminal,
            one plain line per epoch elsewhere; at the end, a line saying when an
            :class:`~chainrule.train.callbacks.EarlyStopping` fired and which epoch's weights
            it restored); or pass a ``ProgressBar`` to configure it.
        grad_clip: clip the gradients' global 2-norm to this value before each step.
        config: JSON-serialisable description of the run, stored in checkpoints.
        threads: BLAS threads while training and evaluating: ``"auto"`` (one per idle core,
            see :func:`chainrule.backend.choose_threads`), an int, or ``None`` (as set).

    Under ``mpiexec`` (see :mod:`chainrule.distributed`) ``fit`` is data-parallel by itself:
    every rank checks it holds rank 0's data size and model shapes and takes rank 0's
    weights; ``batch_size`` is the global batch, each rank training on a disjoint share of
    it; gradients are averaged over the ranks before clipping and the step; the loss and the
    metrics (their running ``sums``) are added over the ranks, so every rank logs the same
    values; callbacks marked ``rank_zero_only`` (progress, history files, checkpoints) run on
    rank 0 alone. Raises :class:`~chainrule.errors.DataError` when the batch does not split
    evenly over the ranks, :class:`~chainrule.errors.DistributedError` when the ranks hold
    different data sizes or models, or a metric has no ``sums``.
    """

    def __init__(
        self,
        model: Module,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        optimizer: Any,
        *,
        metrics: Iterable[str | Metric] = (),
        scheduler: Any = None,
        callbacks: Iterable[Callback] = (),
        progress: bool | ProgressBar = True,
        grad_clip: float | None = None,
        config: dict[str, Any] | None = None,
        threads: int | str | None = "auto",
    ) -> None:
        backend.blas_threads(threads)  # checks the value now, not at the first epoch
        self.threads = threads
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.metrics = [get_metric(m) for m in metrics]
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"metric names must be distinct and not 'loss': {names}")
        self.scheduler = scheduler
        self.callbacks = list(callbacks)
        if isinstance(progress, ProgressBar):
            self.callbacks.append(progress)
        elif progress:
            self.callbacks.append(ProgressBar())
        self.grad_clip = grad_clip
        self.config = dict(config or {})
        self.history = History()
        self.epoch = 0  # epochs completed
        self.epochs = 0  # the target of the current fit
        self.stop_training = False
        self.loader: DataLoader | None = None
        self.batches_per_epoch = 0

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        train: DataLike,
        val: DataLike | None = None,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        resume: str | Path | None = None,
    ) -> History:
        """Train for ``epochs`` epochs (in total, counting those before a resume).

        ``train`` and ``val`` are datasets, data loaders, or ``(X, y)`` pairs of arrays.
        ``seed`` fixes the order of the batches. ``resume`` names a checkpoint (its ``.json``
        sidecar or a folder holding ``last.json``) to continue from.

        Returns the :class:`~chainrule.train.history.History`. Raises
        :class:`~chainrule.errors.DataError` for unusable data (empty, or fewer samples than
        ``batch_size``), :class:`~chainrule.errors.NonFiniteError` when the loss stops being
        finite, :class:`~chainrule.errors.CheckpointError` for a checkpoint that is corrupt or
        does not match the model. On ``KeyboardInterrupt`` the last checkpoint is left intact
        and the interrupt propagates (``history.interrupted`` is set).
        """
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        world = distributed.size()
        if world > 1 and not isinstance(train, DataLoader) and batch_size % world:
            raise DataError(
                f"the batch size {batch_size} does not split evenly over {world} processes; "
                f"use a multiple of {world} (--batch-size is the global batch)"
            )
        self.loader = self._loader(train, batch_size, shuffle, seed)
        val_loader = (
            None
            if val is None
            else self._loader(val, max(batch_size, 256), False, 0, check_size=False)
        )
        self.batches_per_epoch = len(self.loader)
        if resume is not None:
            self.load_checkpoint(resume)
        if world > 1:
            self._start_distributed()
        self.epochs = int(epochs)
        self.stop_training = False
        self._call("on_train_begin")
        try:
            while self.epoch < self.epochs and not self.stop_training:
                epoch = self.epoch + 1
                with backend.blas_threads(self.threads):  # README "Threads"
                    logs = self._train_epoch(epoch)
                    if val_loader is not None:
                        val_logs = self._evaluate(val_loader)
                        logs.update({f"val_{k}": v for k, v in val_logs.items()})
                logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
                self._step_scheduler_epoch(logs)
                self.epoch = epoch
                self.history.append(epoch, logs)
                self._call("on_epoch_end", epoch, logs)
            self.history.stopped_early = self.stop_training and self.epoch < self.epochs
        except KeyboardInterrupt:
            self.history.interrupted = True
            # the interrupt is what propagates: a callback failing to wrap up an epoch that
            # was cut short must not replace it (the last checkpoint is intact either way)
            with contextlib.suppress(Exception):
                self._call("on_train_end")
            raise
        except BaseException:
            self._call("on_train_end")
            raise
        self._call("on_train_end")
        return self.history

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        model, opt, loss_fn = self.model, self.optimizer, self.loss_fn
        model.train()
        for m in self.metrics:
            m.reset()
        self._call("on_epoch_begin", epoch)
        per_batch_scheduler = isinstance(self.scheduler, OneCycleLR)
        distributed_run = distributed.size() > 1
        total, seen = 0.0, 0
        start = time.perf_counter()
        for b, batch in enumerate(self.loader):
            self._call("on_batch_begin", b)
            x, y = _split_batch(batch)
            out = model(x)
            loss = loss_fn(out, y)
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteError(
                    f"the loss became {value} at epoch {epoch}, batch {b}; lower the learning "
                    "rate, standardise the inputs, or clip gradients (grad_clip)"
                )
            opt.zero_grad()
            loss.backward()
            if distributed_run:  # every rank takes the step of the whole batch
                distributed.allreduce_gradients(model.parameters())
            self._call("on_after_backward")
            if self.grad_clip is not None:
                clip_grad_norm_(self.model.parameters(), self.grad_clip)
            opt.step()
            if per_batch_scheduler:
                self.scheduler.step()
            n = len(y)
            total += value * n
            seen += n
            _update_metrics(self.metrics, out, y)
            self._call("on_batch_end", b, {"loss": value})
        elapsed = time.perf_counter() - start
        total, seen = _reduce(self.metrics, total, seen)
        logs = {"loss": total / seen}
        logs.update({m.name: m.compute() for m in self.metrics})
        logs["time"] = elapsed
        logs["samples_per_s"] = seen / elapsed if elapsed > 0 else math.inf
        return logs

    def _step_scheduler_epoch(self, logs: dict[str, float]) -> None:
        s = self.scheduler
        if s is None or isinstance(s, OneCycleLR):
            return
        if isinstance(s, ReduceLROnPlateau):
            s.step(logs.get("val_loss", logs["loss"]))
        else:
            s.step()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data: DataLike, batch_size: int = 256) -> dict[str, float]:
        """Loss and metrics of the model on ``data`` (eval mode, no gradients)."""
        return self._evaluate(self._loader(data, batch_size, False, 0, check_size=False))

    def _evaluate(self, loader: DataLoader) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        metrics = self.metrics  # the training values were already computed from them
        for m in metrics:
            m.reset()
        total, seen = 0.0, 0
        try:
            with no_grad():
                for batch in loader:
                    x, y = _split_batch(batch)
                    out = self.model(x)
                    n = len(y)
                    total += self.loss_fn(out, y).item() * n
                    seen += n
                    _update_metrics(metrics, out, y)
        finally:
            self.model.train(was_training)
        if isinstance(loader.sampler, _Shard):  # each rank evaluated its share
            total, seen = _reduce(metrics, total, seen)
        logs = {"loss": total / seen}
        logs.update({m.name: m.compute() for m in metrics})
        return logs

    def predict(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """Model outputs for ``X`` (rows), as a NumPy array; eval mode, no gradients."""
        return predict(self.model, X, batch_size=batch_size)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, meta)``: everything a checkpoint holds."""
        arrays: dict[str, np.ndarray] = {}
        for k, v in self.model.state_dict().items():
            arrays[f"model/{k}"] = np.asarray(v)
        meta = {
            "epoch": self.epoch,
            "optimizer": encode_tree(self.optimizer.state_dict(), arrays, "optim"),
            "scheduler": None
            if self.scheduler is None
            else encode_tree(self.scheduler.state_dict(), arrays, "sched"),
            "history": self.history.to_dict(),
            "rng": backend.get_rng_state(),
            "loader": None if self.loader is None else self.loader.state_dict(),
            "callbacks": [
                {"type": type(cb).__name__, "state": encode_tree(cb.state_dict(), arrays, f"cb{i}")}
                for i, cb in enumerate(self.callbacks)
            ],
            "config": self.config,
        }
        return arrays, meta

    def save_checkpoint(self, folder: str | Path, name: str = "last") -> Path:
        """Write checkpoint ``name`` into ``folder`` atomically; returns its sidecar path."""
        arrays, meta = self.state_dict()
        return save_checkpoint(folder, name, arrays, meta)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore the state saved by :meth:`save_checkpoint` (model, optimiser, scheduler,
        epoch, history, random state, data order, callbacks).

        Raises :class:`~chainrule.errors.CheckpointError` for a missing, corrupt or
        truncated checkpoint, or one saved from a different architecture.
        """
        arrays, meta = load_checkpoint(path)
        meta = json_restore(meta)
        problem = _meta_problem(meta)
        if problem:
            raise CheckpointError(f"checkpoint {path} is malformed: {problem}")
        weights = {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}
        try:
            self.model.load_state_dict(weights, strict=True)
        except StateDictError as exc:
            raise CheckpointError(f"checkpoint {path} does not match the model: {exc}") from exc
        try:
            self.optimizer.load_state_dict(decode_tree(meta["optimizer"], arrays))
            if self.scheduler is not None and meta.get("scheduler") is not None:
                self.scheduler.load_state_dict(decode_tree(meta["scheduler"], arrays))
            if self.loader is not None and meta.get("loader") is not None:
                self.loader.load_state_dict(meta["loader"])
            # callbacks are matched by type and rank among those of their type, so that
            # adding or removing a callback of another type does not misplace states
            saved_cbs = {
                key: c["state"]
                for key, c in zip(
                    _ranked(c["type"] for c in meta.get("callbacks", [])),
                    meta.get("callbacks", []),
                )
            }
            for key, cb in zip(_ranked(type(cb).__name__ for cb in self.callbacks), self.callbacks):
                state = saved_cbs.get(key)
                if state:
                    cb.load_state_dict(decode_tree(state, arrays))
            backend.set_rng_state(meta["rng"])
            self.epoch = int(meta["epoch"])
            self.history = History.from_dict(meta["history"])
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise CheckpointError(f"checkpoint {path} cannot be restored: {exc!r}") from exc

    # ------------------------------------------------------------------ helpers
    def _call(self, hook: str, *args: Any) -> None:
        others = distributed.rank() != 0
        for cb in self.callbacks:
            if others and cb.rank_zero_only:
                continue
            getattr(cb, hook)(self, *args)

    def _start_distributed(self) -> None:
        """Every rank checks it holds the same data and model as rank 0, then takes rank 0's
        weights (after a resume too, so that the ranks cannot drift apart)."""
        for m in self.metrics:
            if not m.sums:
                raise DistributedError(
                    f"the metric {m.name!r} cannot be combined over processes: list the "
                    "running sums its compute() reads in its class attribute 'sums'"
                )
        distributed.check_consistent(self.model, len(self.loader.dataset))
        distributed.broadcast_parameters(self.model)

    def _loader(
        self, data: DataLike, batch_size: int, shuffle: bool, seed: int, check_size: bool = True
    ) -> DataLoader:
        if isinstance(data, DataLoader):
            return data
        dataset = _as_dataset(data)
        n = len(dataset)
        if n == 0:
            raise DataError("the dataset is empty")
        if check_size and n < batch_size:
            raise DataError(
                f"the training data has {n} samples, fewer than the batch size {batch_size}; "
                "use a smaller batch size"
            )
        world = distributed.size()
        if world > 1 and check_size:  # training: each rank a share of every global batch
            sampler = distributed.DistributedSampler(n, shuffle=shuffle, seed=seed)
            return DataLoader(
                dataset,
                batch_size=batch_size // world,
                sampler=sampler,
                dtype=_model_dtype(self.model),
            )
        if world > 1 and n >= world:  # evaluation: disjoint shares, summed afterwards
            return DataLoader(
                dataset,
                batch_size=batch_size,
                sampler=_Shard(n, distributed.rank(), world),
                dtype=_model_dtype(self.model),
            )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=seed,
            dtype=_model_dtype(self.model),
        )


def fit(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Any,
    train: DataLike,
    val: DataLike | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    metrics: Iterable[str | Metric] = (),
    scheduler: Any = None,
    callbacks: Iterable[Callback] = (),
    progress: bool | ProgressBar = True,
    seed: int = 0,
    resume: str | Path | None = None,
    grad_clip: float | None = None,
    threads: int | str | None = "auto",
) -> History:
    """Train ``model``: a one-call form of :class:`Trainer` (see it for the arguments).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> X = np.random.default_rng(0).normal(size=(64, 2)); y = (X[:, 0] > 0).astype(np.int64)
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> h = fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.5),
    ...         (X, y), epochs=20, batch_size=16, metrics=["accuracy"], progress=False)
    >>> h["accuracy"][-1] > 0.9
    True
    """
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        metrics=metrics,
        scheduler=scheduler,
        callbacks=callbacks,
        progress=progress,
        grad_clip=grad_clip,
        threads=threads,
    )
    return trainer.fit(train, val, epochs=epochs, batch_size=batch_size, seed=seed, resume=resume)


def predict(model: Module, X: Any, batch_size: int = 256) -> np.ndarray:
    """``model(X)`` batch by batch in eval mode without gradients, as a NumPy array."""
    data = X.data if isinstance(X, Tensor) else X
    if isinstance(data, Dataset):
        dataset = data
    else:
        data = np.asarray(data)
        if data.shape[0] == 0:
            raise DataError("nothing to predict: X has no rows")
        dataset = TensorDataset(data)
    was_training = model.training
    model.eval()
    outs = []
    try:
        with no_grad():
            loader = DataLoader(dataset, batch_size=batch_size, dtype=_model_dtype(model))
            for batch in loader:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                outs.append(backend.to_numpy(model(x).data))
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)


def _update_metrics(metrics: list[Metric], out: Tensor, y: Tensor) -> None:
    """Add a batch to every metric, copied to the host once for all of them."""
    if metrics:
        p, t = backend.to_numpy(out.data), backend.to_numpy(y.data)
        for m in metrics:
            m.update(p, t)


class _Shard:
    """Samples ``rank, rank + size, ...`` of ``0..n-1``: a rank's share of an evaluation."""

    def __init__(self, n: int, rank: int, size: int) -> None:
        self.indices = np.arange(rank, n, size, dtype=np.int64)

    def order(self, epoch: int) -> np.ndarray:
        return self.indices

    def __len__(self) -> int:
        return len(self.indices)


def _reduce(metrics: list[Metric], total: float, seen: int) -> tuple[float, int]:
    """The loss sum, the sample count and every metric's running sums, added over the ranks
    of a distributed run (unchanged in a single process)."""
    if distributed.size() == 1:
        return total, seen
    states = [m.sum_state() for m in metrics]
    flat = distributed.allreduce_sum([total, seen, *(v for st in states for v in st)])
    k = 2
    for m, st in zip(metrics, states):
        m.load_sum_state(flat[k : k + len(st)].tolist())
        k += len(st)
    return float(flat[0]), int(flat[1])


def _model_dtype(model: Module) -> Any:
    for p in model.parameters():
        return p.dtype
    return backend.get_default_dtype()


def _as_dataset(data: DataLike) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = (d.data if isinstance(d, Tensor) else d for d in data)
        return TensorDataset(X, y)
    raise DataError(
        "training data must be a Dataset, a DataLoader or an (X, y) pair, "
        f"got {type(data).__name__}"
    )


def _split_batch(batch: Any) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise DataError("each batch must be an (inputs, targets) pair; the data has no targets")
    return batch[0], batch[1]


def _ranked(names: Iterable[str]) -> list[tuple[str, int]]:
    """``(name, k)``: the k-th occurrence (from 0) of each name."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        out.append((name, seen.get(name, 0)))
        seen[name] = seen.get(name, 0) + 1
    return out


def _meta_problem(meta: Any) -> str | None:
    """What is wrong with a checkpoint's ``meta`` (as :meth:`Trainer.state_dict` writes it),
    or ``None``: the epoch, and a history of exactly that many epochs."""
    if not isinstance(meta, dict):
        return "its meta is not an object"
    missing = [k for k in ("epoch", "optimizer", "history", "rng") if k not in meta]
    if missing:
        return f"it has no {', '.join(map(repr, missing))}"
    epoch = meta["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        return f"'epoch' must be a whole number >= 0, got {epoch!r}"
    h = meta["history"]
    if not isinstance(h, dict) or not isinstance(h.get("epochs"), list):
        return f"'history' must be an object with a list 'epochs', got {_brief(h)}"
    epochs = h["epochs"]
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in epochs) or any(
        b <= a for a, b in zip(epochs, epochs[1:])
    ):
        return "'history.epochs' must be increasing whole numbers"
    if len(epochs) != epoch:
        return f"its history has {len(epochs)} epochs but 'epoch' is {epoch}"
    logged = h.get("history", {})
    if not isinstance(logged, dict):
        return f"'history.history' must be an object, got {_brief(logged)}"
    for name, values in logged.items():
        if not isinstance(values, list) or len(values) != len(epochs):
            return f"'history.history.{name}' must hold one value per epoch ({len(epochs)})"
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                   for v in values):  # fmt: skip
            return f"'history.history.{name}' must hold numbers"
    for key in ("optimizer",):
        if not isinstance(meta[key], dict):
            return f"{key!r} must be an object, got {_brief(meta[key])}"
    cbs = meta.get("callbacks", [])
    if not isinstance(cbs, list) or not all(isinstance(c, dict) and "type" in c for c in cbs):
        return "'callbacks' must be a list of objects with a 'type'"
    return None


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
