"""Training runs from settings: what ``chainrule train`` does, as functions (floor 5:
nothing here prints).

:func:`start_run` loads the data (:func:`prepare_data`: standardised on the training split
only, with a validation split held out from it), builds the seeds' MLP, its loss, optimiser
and schedule from a :class:`~chainrule.train.settings.TrainSettings`, makes the run folder
and returns a :class:`TrainingRun`, whose :meth:`~TrainingRun.fit` trains (writing
checkpoints and the history every epoch) and :meth:`~TrainingRun.finish` evaluates every
split and writes the run folder of :mod:`chainrule.train.run`.

Regression targets are standardised for training; at the end the scaling is folded into the
last layer, so the saved model predicts in the target's own units.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend, distributed, optim
from chainrule._atomic import FolderLock, remove_stray_temporaries
from chainrule.autograd import no_grad
from chainrule.errors import DataError
from chainrule.nn import Linear, Module, losses
from chainrule.tensor import Tensor
from chainrule.train.batches import make_loader
from chainrule.train.callbacks import (
    Callback,
    EarlyStopping,
    HistoryLogger,
    ModelCheckpoint,
    ProgressBar,
)
from chainrule.train.history import History
from chainrule.train.metrics import (
    Accuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    R2Score,
    confusion_matrix,
)
from chainrule.train.models import image_shape
from chainrule.train.prepare import (
    PreparedData,
    as_columns,
    csv_header,
    is_data_file,
    prepare_data,
)
from chainrule.train.run import (
    build_from_spec,
    model_spec,
    new_run_folder,
    resume_checkpoint,
    resume_settings,
    save_run,
    save_run_settings,
)
from chainrule.train.settings import TrainSettings
from chainrule.train.trainer import Trainer, predict

__all__ = [
    "PreparedData", "SplitResult", "TrainingRun", "as_columns", "csv_header",
    "fold_target_scaling", "is_data_file", "loss_description", "make_loss", "make_optimizer",
    "make_scheduler", "prepare_data", "run_config", "start_run",
]  # fmt: skip


# ---------------------------------------------------------------------------------- runs
@dataclass
class SplitResult:
    """Final numbers for one split: sample count, loss and metrics, and how long one
    evaluation pass took (for training: the training time of all epochs)."""

    samples: int
    metrics: dict[str, float]
    time_s: float
    samples_per_s: float

    def to_dict(self) -> dict[str, Any]:
        """The metrics with ``samples``, ``time_s`` and ``samples_per_s``, as
        ``metrics.json`` holds them per split."""
        return {
            **self.metrics,
            "samples": self.samples,
            "time_s": self.time_s,
            "samples_per_s": self.samples_per_s,
        }


class TrainingRun:
    """A run being trained into ``folder``; made by :func:`start_run`.

    Attributes: ``folder``, ``settings`` (resolved), ``data`` (:class:`PreparedData`),
    ``model``, ``trainer`` (:class:`~chainrule.train.Trainer`), ``resumed_from`` (the
    checkpoint path, or ``None``), ``config`` (what ``config.json`` holds).
    """

    def __init__(
        self,
        folder: Path,
        settings: TrainSettings,
        data: PreparedData,
        resume: Path | None,
        callbacks: list[Callback],
    ) -> None:
        self.folder = folder
        self.settings = settings
        self.data = data
        self.resumed_from = resume
        #: held while this run trains or writes its folder: another process is refused (in a
        #: distributed run, by rank 0, which alone writes there)
        self.lock = FolderLock(folder, "run folder", active=_rank0())
        pre = data.preprocess
        self.spec = model_spec(
            pre.n_features,
            list(settings.hidden),
            data.split.n_outputs,
            settings.activation,
            str(settings.output),
            settings.dropout,
            model=settings.model,
            input_shape=image_shape(pre.input_shape, pre.feature_names),
            channels=list(settings.channels or ()),
        )
        backend.manual_seed(settings.seed)
        self.model = build_from_spec(self.spec)
        # dropout draws from here on: fit() starts from this state whatever ran in between
        self._rng_state = backend.get_rng_state()
        self.loss_fn = make_loss(settings)
        self.optimizer = make_optimizer(settings, self.model)
        # the training batches fit() iterates (unless --augment), built once here because the
        # scheduler needs the steps per epoch
        train = (data.X_train, data.y_train)
        batch = int(settings.batch_size or 1)
        self._train_loader = make_loader(train, self.model, batch, True, settings.seed)
        self.scheduler = make_scheduler(settings, self.optimizer, len(self._train_loader))
        self.config = run_config(settings, data, self.spec)
        monitor = "val_loss" if data.X_val is not None else "loss"
        own: list[Callback] = []
        if settings.early_stopping:
            own.append(EarlyStopping(monitor=monitor, patience=settings.early_stopping))
        own += [
            HistoryLogger(folder / "history.csv"),
            HistoryLogger(folder / "history.json"),
            ModelCheckpoint(folder / "checkpoints", monitor=monitor),
        ]
        metrics: list[Metric]
        if pre.task == "classification":
            metrics = [Accuracy()]
        else:
            mean, scale = data.target_mean, data.target_scale
            metrics = [
                _InTargetUnits(MeanSquaredError(), mean, scale),
                _InTargetUnits(MeanAbsoluteError(), mean, scale),
                _InTargetUnits(R2Score(), mean, scale),
            ]
        progress = [cb for cb in callbacks if isinstance(cb, ProgressBar)]
        self.trainer = Trainer(
            self.model,
            self.loss_fn,
            self.optimizer,
            metrics=metrics,
            scheduler=self.scheduler,
            callbacks=[*own, *(cb for cb in callbacks if not isinstance(cb, ProgressBar))],
            progress=progress[0] if progress else False,
            config=self.config,
        )

    @property
    def checkpoint(self) -> Path:
        """The ``last`` checkpoint's sidecar, the one ``--resume`` continues from."""
        return self.folder / "checkpoints" / "last.json"

    def fit(self) -> History:
        """Train (or continue training) up to ``settings.epochs`` epochs.

        On ``KeyboardInterrupt`` the last checkpoint stays intact and the interrupt
        propagates. Raises what :meth:`Trainer.fit <chainrule.train.Trainer.fit>` raises.
        """
        d = self.data
        val = None if d.X_val is None else (d.X_val, d.y_val)
        if self.resumed_from is None and self.trainer.epoch == 0:
            backend.set_rng_state(self._rng_state)
        with self.lock:
            if _rank0():  # left by writes killed midway (none of ours is open)
                self.clean_stray_files()
            train = self._augmented_loader() if self.settings.augment else self._train_loader
            return self.trainer.fit(
                train,
                val,
                epochs=self.settings.epochs,
                batch_size=self.settings.batch_size,
                seed=self.settings.seed,
                resume=self.resumed_from,
            )

    def clean_stray_files(self) -> list[Path]:
        """Delete the temporary files of writes killed midway (``.NAME.*.tmp``) in the run
        folder and its checkpoints; returns them. Only under :attr:`lock`."""
        return [
            *remove_stray_temporaries(self.folder),
            *remove_stray_temporaries(self.folder / "checkpoints"),
        ]

    def close(self) -> None:
        """Release the run folder's lock if this run still holds it."""
        while self.lock.held:
            self.lock.release()

    def _augmented_loader(self) -> Any:
        """The training batches with random shifts (``--augment``): each batch is taken back
        to the data's own units, shifted (zeros shifted in) and standardised again."""
        from chainrule.data import DataLoader, TensorDataset
        from chainrule.data.transforms import shift_augmentation

        if "input_shape" not in self.spec:
            raise ValueError("--augment shifts images and signals: use --model cnn or resnet")
        if distributed.size() > 1:
            raise ValueError("--augment runs in one process: launch it without mpiexec")
        shape = self.spec["input_shape"]
        pre, s = self.data.preprocess, self.settings
        mean = np.asarray(pre.mean, dtype=np.float32).reshape(shape)
        scale = np.asarray(pre.scale, dtype=np.float32).reshape(shape)
        shift = shift_augmentation(shape, s.seed)

        def augment(xb: np.ndarray) -> np.ndarray:
            raw = np.asarray(xb).reshape(len(xb), *shape) * scale + mean
            return ((shift(raw) - mean) / scale).reshape(len(xb), -1)

        d = self.data
        return DataLoader(TensorDataset(d.X_train, d.y_train), batch_size=s.batch_size,
                          shuffle=True, generator=s.seed, transform=augment)  # fmt: skip

    @property
    def epochs_done(self) -> int:
        """The epochs trained so far (those before a resume included)."""
        return self.trainer.epoch

    def finish(self) -> dict[str, Any]:
        """Evaluate on every split and write the run folder: weights, configuration,
        preprocessing, history, ``metrics.json``, ``curves.png`` and (classifiers)
        ``confusion_matrix.png``. Returns the metrics (what ``metrics.json`` holds)."""
        with self.lock:
            return self._finish()

    def _finish(self) -> dict[str, Any]:
        from chainrule.train.plots import plot_confusion_matrix, plot_history

        d, history = self.data, self.trainer.history
        train_time = float(np.nansum(history["time"])) if "time" in history else 0.0
        results: dict[str, Any] = {}
        train = self._evaluate(d.X_train, d.y_train)
        seen = len(d.X_train) * len(history)
        train.time_s = train_time
        train.samples_per_s = seen / train_time if train_time > 0 else math.nan
        results["train"] = train.to_dict()
        if d.X_val is not None:
            results["validation"] = self._evaluate(d.X_val, d.y_val).to_dict()
        results["test"] = self._evaluate(d.X_test, d.y_test).to_dict()
        if d.task == "regression":
            fold_target_scaling(self.model, d.target_mean, d.target_scale)
        results.update(
            task=d.task,
            epochs=len(history),
            stopped_early=bool(history.stopped_early),
            train_time_s=train_time,
            loss=loss_description(self.settings),
        )
        stopper = [cb for cb in self.trainer.callbacks if isinstance(cb, EarlyStopping)]
        if stopper and stopper[0].best_epoch:
            results["best_epoch"] = stopper[0].best_epoch
        elif "val_loss" in history and len(history):
            results["best_epoch"], _ = history.best("val_loss", "min")
        if not _rank0():  # the other ranks evaluated their shares; rank 0 writes
            return results
        save_run(
            self.folder,
            config=self.config,
            model=self.model,
            preprocess=d.preprocess,
            history=history,
            metrics=results,
        )
        if len(history):
            plot_history(history, self.folder / "curves.png")
        if d.task == "classification":
            out = predict(self.model, d.X_test)
            cm = confusion_matrix(d.y_test, out, n_classes=d.preprocess.n_classes)
            plot_confusion_matrix(
                cm,
                self.folder / "confusion_matrix.png",
                d.preprocess.class_names,
                title=f"{d.split.name}: test split",
            )
        return results

    def _evaluate(self, X: np.ndarray, y: np.ndarray) -> SplitResult:
        t0 = time.perf_counter()
        m = self.trainer.evaluate((X, y), batch_size=1024)
        dt = time.perf_counter() - t0
        return SplitResult(len(X), m, dt, len(X) / dt if dt > 0 else math.nan)


def start_run(
    settings: TrainSettings,
    out: str | Path = "runs",
    *,
    resume: str | Path | None = None,
    explicit: Mapping[str, Any] | None = None,
    callbacks: list[Callback] | None = None,
    name: str | None = None,
) -> TrainingRun:
    """Load the data, build the model and optimiser, and make the run folder.

    A new run goes into ``out/<dataset>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... if taken), or
    ``out/<name>`` when ``name`` is given (which must not exist yet, or be empty);
    ``config.json`` and ``preprocess.json`` are written at once, so that an interrupted run
    can be resumed. With ``resume`` (a run folder), the run's own settings are used, with
    those in ``explicit`` applied on top: only ``epochs`` and ``early_stopping`` may differ
    from the run's. ``callbacks`` are added to the trainer's (e.g. a
    :class:`~chainrule.train.callbacks.ProgressBar`).

    Raises :class:`~chainrule.errors.CheckpointError` when ``resume`` is not a run folder
    with a checkpoint, or asks for another architecture; ``ValueError`` for other changed
    settings; what :func:`prepare_data` raises.
    """
    checkpoint: Path | None = None
    if resume is not None:
        folder, checkpoint = resume_checkpoint(resume)
        settings = resume_settings(folder, explicit or {})
    data = prepare_data(settings)
    settings = data.settings
    world = distributed.size()
    if settings.batch_size % world:  # refused before any folder is made
        raise DataError(
            f"the batch size {settings.batch_size} does not split evenly over {world} "
            f"processes; use a multiple of {world} (--batch-size is the global batch)"
        )
    if resume is None:  # rank 0 makes the folder (and alone writes into it) and tells the rest
        made = str(new_run_folder(out, settings.dataset, name)) if _rank0() else None
        folder = Path(distributed.allgather_json(made)[0])
    run = TrainingRun(folder, settings, data, checkpoint, list(callbacks or []))
    if resume is None and _rank0():
        save_run_settings(folder, config=run.config, preprocess=data.preprocess)
    return run


def _rank0() -> bool:
    return distributed.rank() == 0


def run_config(settings: TrainSettings, data: PreparedData, spec: dict[str, Any]) -> dict[str, Any]:
    """What ``config.json`` holds: the model spec, the settings (flat, as in a ``--config``
    file, under ``"settings"`` and also at the top level), and how to load the data again
    (``"data"``: ``name`` and loader ``options``)."""
    s = settings.to_dict()
    options: dict[str, Any] = {}
    name = settings.dataset
    if is_data_file(name):
        name = str(Path(name).expanduser().resolve())
        if settings.target is not None:
            options["target" if name.lower().endswith(".csv") else "y_key"] = settings.target
    return {
        **s,
        "model": spec,
        "task": data.task,
        "settings": s,
        "data": {"name": name, "options": options},
    }


def loss_description(settings: TrainSettings) -> str:
    """A phrase naming the loss, e.g. ``"cross-entropy, label smoothing 0.1"``."""
    try:
        record = losses.get(str(settings.loss))
    except ValueError:
        return str(settings.loss)
    text = record.title
    if settings.label_smoothing:
        text += f", label smoothing {settings.label_smoothing:g}"
    if record.task == "regression":
        text += " on standardised targets"
    return text


def make_loss(settings: TrainSettings) -> Module:
    """The loss module for resolved ``settings`` (from its record in
    :mod:`chainrule.nn.losses`; label smoothing passed on when set).

    Raises ``ValueError`` for an unknown loss."""
    module = losses.get(str(settings.loss)).module
    smoothing = float(settings.label_smoothing or 0.0)
    return module(label_smoothing=smoothing) if smoothing else module()


def make_optimizer(settings: TrainSettings, model: Module) -> Any:
    """The optimiser for resolved ``settings`` over ``model``'s parameters (looked up in
    :data:`chainrule.optim.OPTIMIZERS`; ``momentum`` goes to those that take one)."""
    kwargs: dict[str, Any] = {"lr": float(settings.lr or 0.0)}
    kwargs["weight_decay"] = settings.weight_decay
    if "momentum" in inspect.signature(optim.OPTIMIZERS[settings.optimizer]).parameters:
        kwargs["momentum"] = settings.momentum
    return optim.get(settings.optimizer, list(model.named_parameters()), **kwargs)


# the schedules of ``--schedule``, each with its arguments from the settings and the number
# of batches per epoch
_SCHEDULE_ARGS: dict[str, Any] = {
    "cosine": lambda s, n: {"T_max": s.epochs},
    "step": lambda s, n: {"step_size": max(1, math.ceil(s.epochs / 3)), "gamma": 0.1},
    "onecycle": lambda s, n: {"max_lr": s.lr, "epochs": s.epochs, "steps_per_epoch": n},
}


def make_scheduler(settings: TrainSettings, optimizer: Any, steps_per_epoch: int = 1) -> Any:
    """The learning-rate schedule: cosine annealing to 0 over the epochs, a step schedule
    (×0.1 at each third of the epochs), the one-cycle policy (up from lr/25 to ``lr`` over
    the first 30% of the ``epochs × steps_per_epoch`` batches, then down to lr/25e4, stepped
    per batch; β1 or the momentum the other way, as PyTorch's ``OneCycleLR``), or none
    (looked up in :data:`chainrule.optim.SCHEDULERS`)."""
    if settings.schedule not in _SCHEDULE_ARGS:
        return None
    kwargs = _SCHEDULE_ARGS[settings.schedule](settings, int(steps_per_epoch))
    return optim.get_scheduler(str(settings.schedule), optimizer, **kwargs)


def fold_target_scaling(model: Module, mean: np.ndarray | None, scale: np.ndarray | None) -> None:
    """Make a model trained on standardised targets predict in the targets' own units:
    the last ``Linear`` becomes ``W ← scale·W``, ``b ← scale·b + mean`` (in place)."""
    if mean is None or scale is None:
        return
    last = [m for m in model.modules() if isinstance(m, Linear)][-1]
    s = backend.xp.asarray(np.asarray(scale, dtype=np.float64)).astype(last.weight.dtype)
    mu = backend.xp.asarray(np.asarray(mean, dtype=np.float64)).astype(last.weight.dtype)
    with no_grad():
        last.weight.data = last.weight.data * s[:, None]
        if last.bias is not None:
            last.bias.data = last.bias.data * s + mu


class _InTargetUnits(Metric):
    """A regression metric computed in the targets' own units from standardised outputs."""

    def __init__(self, metric: Metric, mean: Any, scale: Any) -> None:
        self.metric = metric
        self.name = metric.name
        self.higher_is_better = metric.higher_is_better
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    def reset(self) -> None:
        self.metric.reset()

    def update(self, y_pred: Any, y_true: Any) -> None:
        p = backend.to_numpy(y_pred.data if isinstance(y_pred, Tensor) else y_pred)
        t = backend.to_numpy(y_true.data if isinstance(y_true, Tensor) else y_true)
        p = p.reshape(len(p), -1) * self.scale + self.mean
        t = t.reshape(len(t), -1) * self.scale + self.mean
        self.metric.update(p, t)

    def compute(self) -> float:
        return self.metric.compute()

    @property
    def sums(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.metric.sums

    def sum_state(self) -> list[float]:
        return self.metric.sum_state()

    def load_sum_state(self, values: list[float]) -> None:
        self.metric.load_sum_state(values)
