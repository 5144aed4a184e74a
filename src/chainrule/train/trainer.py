"""The fit loop: the seeds' gradient descent, batch by batch, with everything around it.

Per batch, :meth:`Trainer.train_step`: forward, loss, ``zero_grad``, ``backward``, (clip),
``step`` — the seeds' θ ← θ − η ∇θ L on a mini-batch whose gradients add up (seed 002).
Per epoch: metrics, validation (:meth:`Trainer.test_step` per batch), history, callbacks
(learning-rate schedules, checkpoints, early stopping, logs, progress).

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
from chainrule.compile import Compiled, replayable
from chainrule.compile import compile as compile_step
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
from chainrule.tensor import Tensor
from chainrule.train.batches import (
    DataLike,
    Shard,
    batch_size_of,
    make_loader,
    model_dtype,
    split_batch,
)
from chainrule.train.callbacks import Callback, LRScheduler, ProgressBar
from chainrule.train.checkpoint import (
    decode_tree,
    encode_tree,
    json_restore,
    load_checkpoint,
    meta_problem,
    save_checkpoint,
)
from chainrule.train.history import History
from chainrule.train.metrics import Metric, get_metric

__all__ = ["DataLike", "Trainer", "fit", "predict"]


class Trainer:
    """Trains ``model`` by minimising ``loss_fn(model(x), y)`` with ``optimizer``.

    Args:
        model: a :class:`~chainrule.nn.Module`.
        loss_fn: ``loss_fn(output, target) -> one-element Tensor`` (e.g. ``nn.CrossEntropyLoss()``).
        optimizer: a :class:`~chainrule.optim.Optimizer` over the model's parameters.
        metrics: names (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``, ``"mae"``, ``"r2"``) or
            :class:`~chainrule.train.metrics.Metric` objects, logged for training and validation;
            each batch's outputs and targets reach them as host (NumPy) arrays.
        scheduler: a learning-rate scheduler, stepped by an
            :class:`~chainrule.train.callbacks.LRScheduler` callback that this adds: once per
            epoch (per batch for ``OneCycleLR``; ``ReduceLROnPlateau`` gets ``val_loss``, or
            ``loss`` without validation data). For another rhythm pass
            ``callbacks=[LRScheduler(s, interval="batch")]`` instead.
        callbacks: :class:`~chainrule.train.callbacks.Callback` objects.
        progress: add a :class:`~chainrule.train.callbacks.ProgressBar` (rich on a terminal,
            one plain line per epoch elsewhere; at the end, a line saying when an
            :class:`~chainrule.train.callbacks.EarlyStopping` fired and which epoch's weights
            it restored); or pass a ``ProgressBar`` to configure it.
        grad_clip: clip the gradients' global 2-norm to this value before each step.
        config: JSON-serialisable description of the run, stored in checkpoints.
        threads: BLAS threads while training and evaluating: ``"auto"`` (one per idle core,
            see :func:`chainrule.backend.choose_threads`), an int, or ``None`` (as set).
        compile: run the default :meth:`train_step` and :meth:`test_step` through
            :func:`chainrule.compile` (captured once per batch shape, then replayed; the
            same results); ``False`` runs them eagerly.

    **Open for extension** (Keras's design): :meth:`fit` calls :meth:`train_step` on every
    training batch and :meth:`evaluate` calls :meth:`test_step` on every batch (without
    gradients, in eval mode). Override them in a subclass to change what one step does (a
    penalty, several losses, a GAN's two optimisers); each returns the step's logs, a dict
    with at least ``"loss"`` (a float, the batch's mean); the loop averages every value over
    the epoch's samples, adds the metrics, and hands the step's logs to the callbacks'
    ``on_batch_end``. :meth:`optimizer_step` (gradients averaged over the ranks, the
    ``on_after_backward`` hooks, clipping, ``optimizer.step()``) and :meth:`update_metrics`
    are there to call from an override::

        class L1Trainer(Trainer):
            def train_step(self, batch):
                x, y = batch
                out = self.model(x)
                penalty = sum(p.abs().sum() for p in self.model.parameters())
                loss = self.loss_fn(out, y) + 1e-4 * penalty
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer_step()
                self.update_metrics(out, y)
                return {"loss": loss.item()}

    Under ``mpiexec`` (see :mod:`chainrule.distributed`) ``fit`` is data-parallel by itself:
    every rank checks it holds rank 0's data size and model shapes and takes rank 0's
    weights; ``batch_size`` is the global batch, each rank training on a disjoint share of
    it; gradients are averaged over the ranks before clipping and the step; the loss and the
    metrics (their running ``sums``) are added over the ranks, so every rank logs the same
    values; callbacks marked ``rank_zero_only`` (progress, history files, checkpoints) run on
    rank 0 alone. Raises :class:`~chainrule.errors.DataError` when the batch does not split
    evenly over the ranks, :class:`~chainrule.errors.DistributedError` when the ranks hold
    different data sizes or models, or a metric has no ``sums``; ``ValueError`` for metric
    names that repeat or are ``"loss"``.
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
        compile: bool = True,
    ) -> None:
        backend.blas_threads(threads)  # checks the value now, not at the first epoch
        self.compile = bool(compile)
        self._compiled: dict[str, Compiled] = {}
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
        if scheduler is not None:
            self.callbacks.insert(0, LRScheduler(scheduler))
        if isinstance(progress, ProgressBar):
            self.callbacks.append(progress)
        elif progress:
            self.callbacks.append(ProgressBar())
        self.grad_clip = grad_clip
        self.config = dict(config or {})
        self.history = History()
        self.epoch = 0  # epochs completed
        self.epochs = 0  # the target of the current fit
        self.batch_index = 0  # the batch being trained, from 0 in each epoch
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
        self.loader = make_loader(train, self.model, batch_size, shuffle, seed)
        val_loader = (
            None
            if val is None
            else make_loader(val, self.model, max(batch_size, 256), False, 0, check_size=False)
        )
        self.batches_per_epoch = len(self.loader)
        if resume is not None:
            self.load_checkpoint(resume)
        if world > 1:
            self._start_distributed()
        self.epochs = int(epochs)
        self.stop_training = False
        self.callbacks.sort(key=lambda cb: getattr(cb, "order", 0))  # stable: given order kept
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

    def train_step(self, batch: Any) -> dict[str, float]:
        """One optimisation step on one training batch; returns the step's logs.

        ``batch`` is what the loader yields: an ``(inputs, targets)`` pair of tensors whose
        first axis is the batch. The default: ``out = model(x)``, ``loss = loss_fn(out, y)``,
        ``optimizer.zero_grad()``, ``loss.backward()``, :meth:`optimizer_step`,
        :meth:`update_metrics`; returns ``{"loss": loss.item()}``. Override it to change what
        a step does (see the class docstring); the loop weights the returned values by the
        batch's sample count when it averages them over the epoch.

        Raises :class:`~chainrule.errors.NonFiniteError` when the loss is not finite (before
        the step is taken), :class:`~chainrule.errors.DataError` when the batch has no
        targets.
        """
        x, y = split_batch(batch)
        value, out = self._run("train", x, y)
        self.update_metrics(out, y)
        return {"loss": value}

    def test_step(self, batch: Any) -> dict[str, float]:
        """Loss (and metric updates) of one evaluation batch; returns ``{"loss": ...}``.

        :meth:`evaluate` and the validation in :meth:`fit` call it in eval mode under
        :func:`~chainrule.no_grad`. ``batch`` as in :meth:`train_step`; override the two
        together when a step needs more than ``loss_fn(model(x), y)``. Raises
        :class:`~chainrule.errors.DataError` when the batch has no targets.
        """
        x, y = split_batch(batch)
        value, out = self._run("test", x, y)
        self.update_metrics(out, y)
        return {"loss": value}

    def _run(self, kind: str, x: Any, y: Any) -> tuple[float, Tensor]:
        """The default step's arrays (:meth:`_train` or :meth:`_test`), compiled by
        :func:`chainrule.compile` when ``compile`` is on: ``(loss value, outputs)``."""
        body = self._train if kind == "train" else self._test
        if not self.compile:
            return body(x, y)
        if kind not in self._compiled:
            self._compiled[kind] = compile_step(body)
        return self._compiled[kind](x, y)

    def _train(self, x: Any, y: Any) -> tuple[float, Tensor]:
        out = self.model(x)
        loss = self.loss_fn(out, y)
        self._check_loss(loss)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer_step()
        return loss.item(), out.detach()

    def _test(self, x: Any, y: Any) -> tuple[float, Tensor]:
        out = self.model(x)
        return self.loss_fn(out, y).item(), out

    @replayable  # checked again at each replay, before the step
    def _check_loss(self, loss: Tensor) -> None:
        self._finite(loss.item())

    def optimizer_step(self) -> None:
        """Take the optimiser's step from the gradients in ``.grad``: in a distributed run
        they are first averaged over the ranks; then the callbacks' ``on_after_backward``
        run, the gradients are clipped to ``grad_clip`` (when set) and ``optimizer.step()``
        is called."""
        self._gradients_ready()
        if self.grad_clip is not None:
            clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()

    @replayable  # a compiled step runs it again at each replay
    def _gradients_ready(self) -> None:
        if distributed.size() > 1:  # every rank takes the step of the whole batch
            distributed.allreduce_gradients(self.model.parameters())
        self._call("on_after_backward")

    def update_metrics(self, outputs: Tensor, targets: Tensor) -> None:
        """Add one batch's ``outputs`` and ``targets`` (first axis: the batch) to every
        metric, copied to the host once for all of them."""
        if self.metrics:
            p, t = backend.to_numpy(outputs.data), backend.to_numpy(targets.data)
            for m in self.metrics:
                m.update(p, t)

    def _finite(self, value: float) -> float:
        if not math.isfinite(value):
            raise NonFiniteError(
                f"the loss became {value} at epoch {self.epoch + 1}, batch {self.batch_index}; "
                "lower the learning rate, standardise the inputs, or clip gradients (grad_clip)"
            )
        return value

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        for m in self.metrics:
            m.reset()
        self._call("on_epoch_begin", epoch)
        sums: dict[str, float] = {}
        seen = 0
        start = time.perf_counter()
        for b, batch in enumerate(self.loader):
            self.batch_index = b
            self._call("on_batch_begin", b)
            logs = self.train_step(batch)
            self._finite(float(logs["loss"]))  # an override's loss too
            seen += _add_weighted(sums, logs, batch_size_of(batch))
            self._call("on_batch_end", b, logs)
        elapsed = time.perf_counter() - start
        logs = self._epoch_logs(sums, seen)
        logs["time"] = elapsed
        logs["samples_per_s"] = seen / elapsed if elapsed > 0 else math.inf
        return logs

    def _epoch_logs(self, sums: dict[str, float], seen: int, combine: bool = True) -> dict:
        """The means of the steps' logs over ``seen`` samples, then the metrics; in a
        distributed run (``combine``) the sums of all ranks."""
        if combine:
            sums, seen = _reduce(self.metrics, sums, seen)
        logs = {k: v / seen for k, v in sums.items()}
        logs.update({m.name: m.compute() for m in self.metrics})
        return logs

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data: DataLike, batch_size: int = 256) -> dict[str, float]:
        """Loss and metrics of the model on ``data`` (eval mode, no gradients): the means of
        :meth:`test_step`'s logs over the samples, and each metric's value.

        Raises :class:`~chainrule.errors.DataError` for empty data or data without targets.
        """
        return self._evaluate(make_loader(data, self.model, batch_size, False, 0, False))

    def _evaluate(self, loader: DataLoader) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        for m in self.metrics:  # the training values were already computed from them
            m.reset()
        sums: dict[str, float] = {}
        seen = 0
        try:
            with no_grad():
                for batch in loader:
                    seen += _add_weighted(sums, self.test_step(batch), batch_size_of(batch))
        finally:
            self.model.train(was_training)
        # each rank evaluated its share
        return self._epoch_logs(sums, seen, combine=isinstance(loader.sampler, Shard))

    def predict(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """Model outputs for ``X`` (rows), as a NumPy array; eval mode, no gradients."""
        return predict(self.model, X, batch_size=batch_size)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, meta)``: everything a checkpoint holds (the model's weights under
        ``model/``; the epoch, the optimiser's state, the history, the random state, the
        data order, each callback's state, the config)."""
        arrays: dict[str, np.ndarray] = {}
        for k, v in self.model.state_dict().items():
            arrays[f"model/{k}"] = np.asarray(v)
        meta = {
            "epoch": self.epoch,
            "optimizer": encode_tree(self.optimizer.state_dict(), arrays, "optim"),
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
        problem = meta_problem(meta)
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
                # checkpoints before LRScheduler kept the schedule here
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
    compile: bool = True,
) -> History:
    """Train ``model``: a one-call form of :class:`Trainer` (see it for the arguments);
    returns the :class:`~chainrule.train.History`. Raises what :class:`Trainer` and
    :meth:`Trainer.fit` raise.

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
        compile=compile,
    )
    return trainer.fit(train, val, epochs=epochs, batch_size=batch_size, seed=seed, resume=resume)


def predict(model: Module, X: Any, batch_size: int = 256) -> np.ndarray:
    """``model(X)`` batch by batch in eval mode without gradients, as a NumPy array.

    ``X``: an array or tensor of rows ``(n, ...)``, or a dataset (its first element per
    sample); the result is ``(n, *output)``. The model's training mode is restored.
    Raises :class:`~chainrule.errors.DataError` when ``X`` has no rows.
    """
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
            loader = DataLoader(dataset, batch_size=batch_size, dtype=model_dtype(model))
            for batch in loader:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                outs.append(backend.to_numpy(model(x).data))
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)


def _add_weighted(sums: dict[str, float], logs: dict[str, float], n: int) -> int:
    """Add a step's logs, each times its batch's sample count ``n``, to ``sums``; returns
    ``n``."""
    for k, v in logs.items():
        sums[k] = sums.get(k, 0.0) + float(v) * n
    return n


def _reduce(
    metrics: list[Metric], sums: dict[str, float], seen: int
) -> tuple[dict[str, float], int]:
    """The logs' sums, the sample count and every metric's running sums, added over the
    ranks of a distributed run (unchanged in a single process)."""
    if distributed.size() == 1:
        return sums, seen
    states = [m.sum_state() for m in metrics]
    flat = distributed.allreduce_sum([*sums.values(), seen, *(v for st in states for v in st)])
    k = len(sums) + 1
    for m, st in zip(metrics, states):
        m.load_sum_state(flat[k : k + len(st)].tolist())
        k += len(st)
    return {name: float(v) for name, v in zip(sums, flat)}, int(flat[len(sums)])


def _ranked(names: Iterable[str]) -> list[tuple[str, int]]:
    """``(name, k)``: the k-th occurrence (from 0) of each name."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        out.append((name, seen.get(name, 0)))
        seen[name] = seen.get(name, 0) + 1
    return out
