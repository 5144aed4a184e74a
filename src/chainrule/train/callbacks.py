"""Callbacks: code that runs at fixed points of :meth:`Trainer.fit`.

Hooks, each optional: ``on_train_begin(trainer)``, ``on_epoch_begin(trainer, epoch)``,
``on_batch_begin(trainer, batch)``, ``on_after_backward(trainer)`` (gradients are in
``.grad``, the optimiser has not stepped),
``on_batch_end(trainer, batch, logs)``, ``on_epoch_end(trainer, epoch, logs)``,
``on_train_end(trainer)``. A callback with state that must survive a resume implements
``state_dict()`` / ``load_state_dict()``; the trainer stores it in checkpoints. At each hook
the callbacks run in the order of their ``order`` (lower first; 0 by default; the same order
in which they were given otherwise): :class:`LRScheduler` (``order = -10``) steps the
schedule before the others see the end of an epoch, so checkpoints hold the stepped schedule.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import IO, Any

from chainrule.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau


class Callback:
    """Base class; override the hooks you need.

    In a distributed run every rank calls every callback with the same (summed over the
    ranks) logs, except those with ``rank_zero_only = True`` (the ones that print or write
    files), which only rank 0 calls.
    """

    rank_zero_only = False
    #: when this callback runs at each hook, relative to the others (lower first)
    order = 0

    def on_train_begin(self, trainer: Any) -> None:
        """Before the first epoch (also after a resume)."""

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        """Before the first batch of ``epoch`` (1-based)."""

    def on_batch_begin(self, trainer: Any, batch: int) -> None:
        """Before the forward pass of batch ``batch`` (0-based)."""

    def on_after_backward(self, trainer: Any) -> None:
        """After ``loss.backward()``, before the optimiser step."""

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        """After the optimiser step of batch ``batch`` (0-based); ``logs["loss"]``."""

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        """After validation; ``logs`` holds the epoch's metrics. May set
        ``trainer.stop_training = True``."""

    def on_train_end(self, trainer: Any) -> None:
        """After the last epoch, or when training stopped or was interrupted."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback (arrays allowed); ``{}``: nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class LRScheduler(Callback):
    """Steps a learning-rate ``scheduler`` during training, as PyTorch's loops do.

    ``interval="epoch"``: ``scheduler.step()`` once per epoch, after validation;
    ``"batch"``: after every optimiser step. ``None`` (the default): ``"batch"`` for
    :class:`~chainrule.optim.lr_scheduler.OneCycleLR` (its ``total_steps`` counts batches),
    ``"epoch"`` for the others. A
    :class:`~chainrule.optim.lr_scheduler.ReduceLROnPlateau` is stepped with the logged value
    ``monitor`` (``"auto"``: ``val_loss`` when there is validation data, ``loss`` otherwise;
    per batch, the batch's ``loss``). Any scheduler with PyTorch's ``step()`` works, composed
    ones such as a warm-up followed by cosine annealing included.

    ``Trainer(scheduler=s)`` adds ``LRScheduler(s)``. Its ``order`` is -10: it steps before
    the other callbacks see the epoch's end, so a checkpoint holds the stepped schedule.
    Its state (the scheduler's ``state_dict``) goes into checkpoints.

    Raises ``ValueError`` for another ``interval``; ``KeyError`` naming the logs when the
    monitored value is not logged.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=0.1)
    >>> cb = LRScheduler(cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    >>> cb.interval
    'epoch'
    """

    order = -10

    def __init__(self, scheduler: Any, interval: str | None = None, monitor: str = "auto") -> None:
        if interval is None:
            interval = "batch" if isinstance(scheduler, OneCycleLR) else "epoch"
        if interval not in ("epoch", "batch"):
            raise ValueError(f"interval must be 'epoch' or 'batch', got {interval!r}")
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        if self.interval == "batch":
            self._step(logs)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if self.interval == "epoch":
            self._step(logs)

    def _step(self, logs: dict[str, float]) -> None:
        if not isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step()
            return
        name = self.monitor
        if name == "auto":
            name = "val_loss" if "val_loss" in logs else "loss"
        if name not in logs:
            raise KeyError(f"LRScheduler cannot monitor {name!r}: the logs hold {sorted(logs)}")
        self.scheduler.step(logs[name])

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's ``state_dict``, under ``"scheduler"``."""
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the scheduler's state saved by :meth:`state_dict`."""
        self.scheduler.load_state_dict(state["scheduler"])


def _mode_for(monitor: str, mode: str) -> str:
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    name = monitor.removeprefix("val_")
    return "max" if name in ("accuracy", "r2") or name.endswith("accuracy") else "min"


class _Monitor:
    """Tracks the best value of a logged quantity."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def value(self, logs: dict[str, float]) -> float:
        if self.monitor not in logs:
            raise KeyError(
                f"cannot monitor {self.monitor!r}: the logs hold {sorted(logs)} "
                "(val_* names need validation data)"
            )
        return float(logs[self.monitor])

    def improved(self, v: float) -> bool:
        if math.isnan(v):
            return False
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``mode="auto"`` maximises accuracies and R², minimises the rest. With
    ``restore_best_weights`` the model gets back the weights of its best epoch at the end.

    Raises ``ValueError`` for a ``mode`` other than ``"min"``, ``"max"``, ``"auto"``;
    ``KeyError`` naming the logs at an epoch's end when ``monitor`` is not logged.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ) -> None:
        self._m = _Monitor(monitor, mode, min_delta)
        self.patience = int(patience)
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.restored_epoch = 0  # the epoch whose weights were restored at the end (0: none)
        self._best_weights: dict[str, Any] | None = None

    @property
    def monitor(self) -> str:
        """The name of the logged value watched, e.g. ``"val_loss"``."""
        return self._m.monitor

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        v = self._m.value(logs)
        if self._m.improved(v):
            self._m.best = v
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self._best_weights = {k: a.copy() for k, a in trainer.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                trainer.stop_training = True

    def on_train_end(self, trainer: Any) -> None:
        if self.restore_best_weights and self._best_weights is not None and self.stopped_epoch:
            trainer.model.load_state_dict(self._best_weights)
            self.restored_epoch = self.best_epoch

    def summary(self) -> str:
        """One line on what happened, e.g. ``early stopping at epoch 9: val_loss did not
        improve for 3 epochs; restored the weights of epoch 6 (val_loss 0.1234)``."""
        if not self.stopped_epoch:
            return f"early stopping did not fire ({self.monitor} best at epoch {self.best_epoch})"
        text = (
            f"early stopping at epoch {self.stopped_epoch}: {self.monitor} did not improve for "
            f"{self.patience} epoch{'s' if self.patience != 1 else ''}"
        )
        if self.restored_epoch:
            return (
                f"{text}; restored the weights of epoch {self.restored_epoch} "
                f"({self.monitor} {self._m.best:.4f})"
            )
        return f"{text}; kept the last weights (best: epoch {self.best_epoch})"

    def state_dict(self) -> dict[str, Any]:
        """Patience count, best value and epoch, and the best weights (when kept), so that a
        resumed run stops and restores exactly as the uninterrupted one would."""
        state: dict[str, Any] = {
            "wait": self.wait,
            "best": self._m.best,
            "best_epoch": self.best_epoch,
        }
        if self._best_weights is not None:
            state["best_weights"] = dict(self._best_weights)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait = int(state["wait"])
        self._m.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        weights = state.get("best_weights")
        self._best_weights = None if weights is None else {k: v for k, v in weights.items()}


class ModelCheckpoint(Callback):
    """Save checkpoints into ``folder`` at the end of each epoch: ``last`` always (when
    ``save_last``) and ``best`` whenever ``monitor`` improves (when ``save_best``).

    Checkpoints hold everything needed to resume (see :mod:`chainrule.train.checkpoint`) and
    are written atomically, so an interrupted run keeps its previous checkpoint. Without
    validation data a ``val_*`` monitor falls back to the training value.

    Raises ``ValueError`` for an unknown ``mode``; ``KeyError`` naming the logs when
    ``monitor`` is not logged.
    """

    rank_zero_only = True

    def __init__(
        self,
        folder: str | Path,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best: bool = True,
        save_last: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self._m = _Monitor(monitor, mode, 0.0)
        self.save_best = save_best
        self.save_last = save_last
        self.best_epoch = 0

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if self.save_best and self._m.monitor not in logs and self._m.monitor.startswith("val_"):
            self._m.monitor = self._m.monitor.removeprefix("val_")  # no validation data
        improved = False
        if self.save_best:
            v = self._m.value(logs)
            improved = self._m.improved(v)
            if improved:
                self._m.best = v
                self.best_epoch = epoch
        # ``last`` goes after ``best`` so that it records this callback's updated state.
        if improved:
            trainer.save_checkpoint(self.folder, "best")
        if self.save_last:
            trainer.save_checkpoint(self.folder, "last")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self._m.best, "best_epoch": self.best_epoch, "monitor": self._m.monitor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._m.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self._m.monitor = str(state.get("monitor", self._m.monitor))


class HistoryLogger(Callback):
    """Rewrite the run's history to ``path`` after every epoch: CSV (``.csv``) or JSON.

    Raises ``ValueError`` for another suffix.
    """

    rank_zero_only = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix not in (".csv", ".json"):
            raise ValueError(f"history file must end in .csv or .json, got {self.path.name}")

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if self.path.suffix == ".csv":
            trainer.history.to_csv(self.path)
        else:
            trainer.history.to_json(self.path)


class ProgressBar(Callback):
    """A progress bar per epoch with the running loss, then one line of metrics.

    On a terminal it uses rich; elsewhere (a CI log, a pipe) it writes one plain line per
    epoch, nothing per batch.
    """

    rank_zero_only = True

    def __init__(self, stream: IO[str] | None = None, force_plain: bool = False) -> None:
        self.stream = stream
        self.force_plain = force_plain
        self._progress: Any = None
        self._task: Any = None
        self._t0 = 0.0

    def _out(self) -> IO[str]:
        return self.stream if self.stream is not None else sys.stdout

    def _rich(self) -> bool:
        return not self.force_plain and is_terminal(self._out())

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        self._t0 = time.perf_counter()
        if not self._rich():
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn(f"epoch {epoch}/{trainer.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"),
            TimeRemainingColumn(),
            console=Console(file=self._out()),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=trainer.batches_per_epoch, loss="")

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=f"loss {logs['loss']:.4f}")

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._out().write(format_epoch(epoch, trainer.epochs, logs) + "\n")
        self._out().flush()

    def on_train_end(self, trainer: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        for cb in trainer.callbacks:
            if isinstance(cb, EarlyStopping) and cb.stopped_epoch:
                self._out().write(cb.summary() + "\n")
                self._out().flush()


def format_epoch(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    """One line: ``epoch 3/20  loss 0.1234  accuracy 0.9650 ...  1.2s``."""
    parts = [f"epoch {epoch}/{epochs}"]
    for k, v in logs.items():
        if k in ("time", "samples_per_s"):
            continue
        parts.append(f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}")
    if "time" in logs:
        parts.append(f"{logs['time']:.1f}s")
    if "samples_per_s" in logs:
        parts.append(f"{logs['samples_per_s']:,.0f} samples/s")
    return "  ".join(parts)


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default ``sys.stdout``) is a terminal that rich can draw on."""
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class CSVLogger(Callback):
    """Append one CSV row per epoch to ``filename``, as Keras's ``CSVLogger``: the column
    ``epoch`` then the logged names (``loss``, ``accuracy``, ``val_loss``, ``lr``, ...).

    The row is written and flushed when each epoch ends, so the file can be followed while a
    run trains. With ``append=True`` rows are added to an existing file (a resumed run);
    otherwise the file starts afresh when training begins. ``separator`` is the field
    delimiter.
    """

    def __init__(self, filename: str | Path, separator: str = ",", append: bool = False) -> None:
        self.filename = Path(filename)
        self.separator = separator
        self.append = append
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._keys: list[str] | None = None

    def on_train_begin(self, trainer: Any) -> None:
        import csv

        self._keys = None
        if self.append and self.filename.is_file() and self.filename.stat().st_size > 0:
            with self.filename.open(newline="") as f:
                self._keys = next(csv.reader(f, delimiter=self.separator))[1:]
            mode = "a"
        else:
            mode = "w"
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.filename.open(mode, newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if self._file is None:
            self.on_train_begin(trainer)
        if self._keys is None:
            self._keys = list(logs)
            self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch, *(repr(float(logs.get(k, math.nan))) for k in self._keys)])
        assert self._file is not None
        self._file.flush()

    def on_train_end(self, trainer: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LambdaCallback(Callback):
    """A callback made of functions, as Keras's ``LambdaCallback``.

    Each argument is optional and called with Keras's arguments: ``on_epoch_begin(epoch,
    logs)``, ``on_epoch_end(epoch, logs)``, ``on_batch_begin(batch, logs)``,
    ``on_batch_end(batch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``; epochs
    are counted from 1 and batches from 0, as in chainrule's other hooks. ``on_after_backward()``
    (gradients in ``.grad``, before the step) is chainrule's addition.

    >>> losses = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin: Any = None,
        on_epoch_end: Any = None,
        on_batch_begin: Any = None,
        on_batch_end: Any = None,
        on_train_begin: Any = None,
        on_train_end: Any = None,
        on_after_backward: Any = None,
    ) -> None:
        self._fns = {
            "epoch_begin": on_epoch_begin,
            "epoch_end": on_epoch_end,
            "batch_begin": on_batch_begin,
            "batch_end": on_batch_end,
            "train_begin": on_train_begin,
            "train_end": on_train_end,
            "after_backward": on_after_backward,
        }

    def _fn(self, name: str) -> Any:
        return self._fns[name]

    def on_train_begin(self, trainer: Any) -> None:
        if self._fn("train_begin"):
            self._fn("train_begin")({})

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        if self._fn("epoch_begin"):
            self._fn("epoch_begin")(epoch, {})

    def on_batch_begin(self, trainer: Any, batch: int) -> None:
        if self._fn("batch_begin"):
            self._fn("batch_begin")(batch, {})

    def on_after_backward(self, trainer: Any) -> None:
        if self._fn("after_backward"):
            self._fn("after_backward")()

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        if self._fn("batch_end"):
            self._fn("batch_end")(batch, logs)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if self._fn("epoch_end"):
            self._fn("epoch_end")(epoch, logs)

    def on_train_end(self, trainer: Any) -> None:
        if self._fn("train_end"):
            self._fn("train_end")(trainer.history.last() if trainer.history else {})
