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

import csv
import inspect
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend, distributed, optim
from chainrule._atomic import FolderLock, remove_stray_temporaries
from chainrule.autograd import no_grad
from chainrule.data import SplitData, StandardScaler, load_dataset, train_test_split
from chainrule.data.files import existing_file
from chainrule.errors import CheckpointError, DataError
from chainrule.nn import Linear, Module, losses
from chainrule.tensor import Tensor
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
from chainrule.train.run import (
    Preprocess,
    build_from_spec,
    model_spec,
    save_run,
    save_run_settings,
)
from chainrule.train.settings import RESUMABLE_CHANGES, TrainSettings
from chainrule.train.trainer import Trainer, predict

__all__ = [
    "PreparedData", "SplitResult", "TrainingRun", "csv_header", "fold_target_scaling",
    "is_data_file", "loss_description", "make_loss", "make_optimizer", "make_scheduler",
    "prepare_data", "run_config", "start_run",
]  # fmt: skip

_MODEL_KEYS = ("model", "hidden", "channels", "activation", "output", "dropout")


# ---------------------------------------------------------------------------------- data
@dataclass
class PreparedData:
    """The data of a run, ready for the model: float32 standardised features ``(n, d)``,
    targets (int64 class indices ``(n,)``, or float32 ``(n, k)`` standardised regression
    targets), the :class:`~chainrule.train.run.Preprocess` that made them, and for
    regression the target mean and scale (per output) that standardised the targets."""

    split: SplitData
    preprocess: Preprocess
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray
    target_mean: np.ndarray | None = None
    target_scale: np.ndarray | None = None

    @property
    def task(self) -> str:
        return self.preprocess.task


def is_data_file(name: str) -> bool:
    """Whether ``name`` names a data file (``.csv`` / ``.npz``) rather than a bundled set: by
    its suffix, or because it is a path (it holds a folder separator, or is a directory)."""
    seps = [s for s in (os.sep, os.altsep) if s]
    return (
        Path(name).suffix.lower() in (".csv", ".npz")
        or any(s in name for s in seps)
        or Path(name).expanduser().is_dir()
    )


def prepare_data(settings: TrainSettings) -> PreparedData:
    """Load ``settings.dataset``, split off validation data (``val_size`` of the training
    split, stratified for classes), fit the standardisation on what remains for training,
    and turn every split into model inputs.

    Raises :class:`~chainrule.errors.DataError` for unusable data (unknown dataset, missing
    file or column, non-numeric or missing values, too few rows), ``ValueError`` for
    settings that do not fit the data.
    """
    data = _load_split(settings)
    if data.task == "classification" and (data.n_classes or 0) < 2:
        raise DataError(f"{data.name}: classification needs at least 2 classes in the target")
    data = data.flattened()
    X_tr, y_tr, X_val, y_val = data.X_train, data.y_train, None, None
    if settings.val_size > 0:
        n_val = math.ceil(settings.val_size * len(X_tr))
        if len(X_tr) - n_val < 1 or n_val < 1:
            raise DataError(
                f"{data.name}: {len(X_tr)} training rows are too few to hold out "
                f"{settings.val_size:g} of them for validation"
            )
        stratify = data.task == "classification" and _can_stratify(y_tr, n_val)
        X_tr, X_val, y_tr, y_val = train_test_split(
            X_tr, y_tr, test_size=settings.val_size, stratify=stratify, seed=settings.seed
        )
    if len(X_tr) < settings.batch_size:
        raise DataError(
            f"{data.name}: {len(X_tr)} rows are left for training (after the test and "
            f"validation splits), fewer than the batch size {settings.batch_size}; use "
            f"--batch-size {max(1, len(X_tr))} or less, or more data"
        )
    scaler = StandardScaler().fit(X_tr)
    if settings.model != "mlp":  # one mean and scale for every pixel, as Normalize: a shifted
        mean, std = float(np.mean(X_tr)), float(np.std(X_tr))  # image keeps its values' scale
        scaler.mean_ = np.full(X_tr.shape[1:], mean)
        scaler.scale_ = np.full(X_tr.shape[1:], std if std > 0 else 1.0)
    pre = Preprocess(
        task=data.task,
        n_features=data.n_features,
        input_shape=[int(s) for s in data.input_shape],
        n_classes=data.n_classes if data.task == "classification" else None,
        class_names=list(data.class_names) if data.class_names is not None else None,
        feature_names=list(data.feature_names),
        mean=scaler.mean_.reshape(-1).tolist(),
        scale=scaler.scale_.reshape(-1).tolist(),
    )
    if data.task == "classification" and pre.class_names is None:
        pre.class_names = [str(i) for i in range(int(data.n_classes or 0))]
    y_test = data.y_test
    t_mean = t_scale = None
    if data.task == "regression":
        y_tr, y_test = as_columns(y_tr), as_columns(y_test)
        y_val = None if y_val is None else as_columns(y_val)
        t_mean = y_tr.mean(axis=0)
        t_scale = y_tr.std(axis=0)
        t_scale[t_scale <= 0] = 1.0

        def norm(y: np.ndarray) -> np.ndarray:
            return ((y - t_mean) / t_scale).astype(np.float32)

        y_tr, y_test = norm(y_tr), norm(y_test)
        y_val = None if y_val is None else norm(y_val)
    return PreparedData(
        split=data,
        preprocess=pre,
        X_train=pre.transform(X_tr),
        y_train=y_tr,
        X_val=None if X_val is None else pre.transform(X_val),
        y_val=y_val,
        X_test=pre.transform(data.X_test),
        y_test=y_test,
        target_mean=t_mean,
        target_scale=t_scale,
    )


def _load_split(settings: TrainSettings) -> SplitData:
    name = settings.dataset
    options: dict[str, Any] = {}
    if is_data_file(name):
        path = existing_file(name)
        if path.suffix.lower() == ".csv":
            if settings.target is None:
                raise DataError(
                    f"{path.name}: say which column to predict with --target COLUMN "
                    f"(the columns are {csv_header(path)})"
                )
            options["target"] = settings.target
        elif settings.target is not None:
            options["y_key"] = settings.target
        return load_dataset(path, test_size=settings.test_size, seed=settings.seed, **options)
    if settings.target is not None:
        raise DataError(
            f"--target is for CSV and NPZ files; the bundled dataset {name!r} has its own target"
        )
    return load_dataset(name, test_size=settings.test_size, seed=settings.seed)


def _can_stratify(y: np.ndarray, n_val: int) -> bool:
    return y.ndim == 1 and n_val >= len(np.unique(y))


def as_columns(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y.reshape(len(y), -1)


def csv_header(path: str | Path) -> list[str]:
    """The column names in the first row of a CSV file (``[]`` for an empty file).

    Raises :class:`~chainrule.errors.DataError` when the file cannot be read as text.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f):
                if row and any(cell.strip() for cell in row):
                    return [cell.strip() for cell in row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{Path(path).name}: not a readable CSV file ({exc})") from exc
    return []


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
        self.scheduler = make_scheduler(settings, self.optimizer)
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
            train: Any = (d.X_train, d.y_train)
            if self.settings.augment:
                train = self._augmented_loader()
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
        folder, checkpoint = _run_to_resume(Path(resume))
        settings = _resume_settings(folder, explicit or {})
    data = prepare_data(settings)
    settings = settings.resolved(data.task)
    world = distributed.size()
    if settings.batch_size % world:  # refused before any folder is made
        raise DataError(
            f"the batch size {settings.batch_size} does not split evenly over {world} "
            f"processes; use a multiple of {world} (--batch-size is the global batch)"
        )
    if resume is None:  # rank 0 makes the folder (and alone writes into it) and tells the rest
        made = str(_new_run_folder(Path(out), settings.dataset, name)) if _rank0() else None
        folder = Path(distributed.allgather_json(made)[0])
    run = TrainingRun(folder, settings, data, checkpoint, list(callbacks or []))
    if resume is None and _rank0():
        save_run_settings(folder, config=run.config, preprocess=data.preprocess)
    return run


def _rank0() -> bool:
    return distributed.rank() == 0


def _run_to_resume(path: Path) -> tuple[Path, Path]:
    if path.suffix == ".json" and path.parent.name == "checkpoints":
        folder, checkpoint = path.parent.parent, path
    elif path.name == "checkpoints":
        folder, checkpoint = path.parent, path / "last.json"
    else:
        folder, checkpoint = path, path / "checkpoints" / "last.json"
    if not folder.is_dir():
        raise CheckpointError(f"cannot resume {path}: no such run folder")
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"cannot resume {path}: it is not a run folder (config.json is missing)"
        )
    if not checkpoint.is_file():
        raise CheckpointError(
            f"cannot resume {path}: there is no checkpoint {checkpoint.relative_to(folder)} "
            "(the run stopped before its first epoch ended); start it again instead"
        )
    return folder, checkpoint


def _resume_settings(folder: Path, explicit: Mapping[str, Any]) -> TrainSettings:
    from chainrule.train.run import _read_json

    config = _read_json(folder / "config.json")
    saved = config.get("settings")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{folder / 'config.json'} holds no training settings to resume")
    try:
        base = TrainSettings.from_mapping(saved, source=str(folder / "config.json"))
    except ValueError as exc:
        raise CheckpointError(f"cannot resume {folder}: {exc}") from exc
    wanted = TrainSettings.from_mapping(explicit, base=base)
    arch = [k for k in _MODEL_KEYS if getattr(wanted, k) != getattr(base, k)]
    if arch:
        spec = config.get("model", {})
        have = "-".join(str(s) for s in _layer_sizes(spec)) if spec else "?"
        asked = ", ".join(f"--{k} {_show(getattr(wanted, k))}" for k in arch)
        raise CheckpointError(
            f"cannot resume {folder}: its checkpoint holds a {have} "
            f"{base.activation} network (hidden {_show(base.hidden)}), but {asked} asks for a "
            "different architecture; resume without changing the architecture, or start a new run"
        )
    changed = [
        k for k in TrainSettings.keys() if getattr(wanted, k) != getattr(base, k)
        and k not in RESUMABLE_CHANGES
    ]  # fmt: skip
    if changed:
        what = ", ".join(
            f"{k.replace('_', '-')} {_show(getattr(base, k))} -> {_show(getattr(wanted, k))}"
            for k in changed
        )
        raise ValueError(
            f"cannot resume {folder} with other settings ({what}); a resumed run may only "
            "change --epochs and --early-stopping"
        )
    return wanted


def _layer_sizes(spec: Mapping[str, Any]) -> list[int]:
    return [spec.get("input_dim"), *spec.get("hidden", []), spec.get("n_outputs")]


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v) or "none"
    return str(v)


def _new_run_folder(out: Path, dataset: str, name: str | None = None) -> Path:
    if name is not None:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"a run name must be a plain folder name, got {name!r}")
        folder = out / name
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ValueError(
                f"{folder} already exists; choose another name, or continue that run with "
                f"--resume {folder}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    stem = Path(dataset).stem if is_data_file(dataset) else dataset
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        folder = out / (f"{stem}-{stamp}" if i == 1 else f"{stem}-{stamp}-{i}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise OSError(f"could not make a new run folder in {out}")


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


# the schedules of ``--schedule``, each with its arguments from the settings
_SCHEDULE_ARGS: dict[str, Any] = {
    "cosine": lambda s: {"T_max": s.epochs},
    "step": lambda s: {"step_size": max(1, math.ceil(s.epochs / 3)), "gamma": 0.1},
}


def make_scheduler(settings: TrainSettings, optimizer: Any) -> Any:
    """The learning-rate schedule: cosine annealing to 0 over the epochs, a step schedule
    (×0.1 at each third of the epochs), or none (looked up in
    :data:`chainrule.optim.SCHEDULERS`)."""
    if settings.schedule not in _SCHEDULE_ARGS:
        return None
    kwargs = _SCHEDULE_ARGS[settings.schedule](settings)
    return optim.get_scheduler(settings.schedule, optimizer, **kwargs)


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
