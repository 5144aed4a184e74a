"""The data of a training run, ready for the model (floor 5: nothing here prints).

:func:`prepare_data` loads ``settings.dataset`` (a bundled set or a CSV/NPZ file), holds a
validation split out of the training split, fits the standardisation on what remains for
training, and returns a :class:`PreparedData`: every split turned into model inputs, with
the :class:`~chainrule.train.run.Preprocess` that made them. Regression targets are
standardised too (their mean and scale are kept, to fold back into the model at the end).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data import SplitData, StandardScaler, load_dataset, train_test_split
from chainrule.data.files import existing_file, is_data_file
from chainrule.errors import DataError
from chainrule.train.models import image_shape
from chainrule.train.run import Preprocess
from chainrule.train.settings import TrainSettings

__all__ = ["PreparedData", "as_columns", "csv_header", "is_data_file", "prepare_data"]


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
    settings: TrainSettings
    """The run's settings with every default filled in for this data
    (:meth:`TrainSettings.resolved <chainrule.train.settings.TrainSettings.resolved>`)."""
    target_mean: np.ndarray | None = None
    target_scale: np.ndarray | None = None

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``, as the preprocessing records it."""
        return self.preprocess.task


def prepare_data(settings: TrainSettings) -> PreparedData:
    """Load ``settings.dataset``, split off validation data (``val_size`` of the training
    split, stratified for classes), fit the standardisation on what remains for training,
    and turn every split into model inputs; the settings' defaults are filled in for the data
    (``PreparedData.settings``).

    Raises :class:`~chainrule.errors.DataError` for unusable data (unknown dataset, missing
    file or column, non-numeric or missing values, too few rows), ``ValueError`` for
    settings that do not fit the data.
    """
    data = _load_split(settings)
    if data.task == "classification" and (data.n_classes or 0) < 2:
        raise DataError(f"{data.name}: classification needs at least 2 classes in the target")
    data = data.flattened()
    X_tr, y_tr, X_val, y_val = data.X_train, data.y_train, None, None
    # what the task and the model kind choose, from the whole training split (once, here)
    settings = settings.resolved(
        data.task, image_shape(data.input_shape, data.feature_names), len(X_tr)
    )
    val_size, batch_size = float(settings.val_size or 0.0), int(settings.batch_size or 1)
    if val_size > 0:
        n_val = math.ceil(val_size * len(X_tr))
        if len(X_tr) - n_val < 1 or n_val < 1:
            raise DataError(
                f"{data.name}: {len(X_tr)} training rows are too few to hold out "
                f"{val_size:g} of them for validation"
            )
        stratify = data.task == "classification" and _can_stratify(y_tr, n_val)
        X_tr, X_val, y_tr, y_val = train_test_split(
            X_tr, y_tr, test_size=val_size, stratify=stratify, seed=settings.seed
        )
    if len(X_tr) < batch_size:
        raise DataError(
            f"{data.name}: {len(X_tr)} rows are left for training (after the test and "
            f"validation splits), fewer than the batch size {batch_size}; use "
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
        settings=settings,
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
    """Regression targets as a float64 matrix ``(n, k)``: ``(n,)`` becomes ``(n, 1)``."""
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
