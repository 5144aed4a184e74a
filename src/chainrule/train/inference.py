"""Using a finished run on new data: what ``chainrule predict`` and ``chainrule evaluate``
do (floor 5: nothing here prints).

:func:`load_data_for_run` reads a CSV or NPZ file, or a bundled dataset's test split, as raw
feature rows for the run; :func:`predict_run` gives class probabilities or values,
:func:`predictions_csv` the CSV text, :func:`evaluate_run` the metrics.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.data import load_csv, load_dataset, load_npz
from chainrule.data.files import existing_file
from chainrule.errors import DataError
from chainrule.tensor import Tensor
from chainrule.train.experiment import make_loss
from chainrule.train.metrics import Accuracy, MeanAbsoluteError, MeanSquaredError, R2Score
from chainrule.train.prepare import as_columns, csv_header, is_data_file
from chainrule.train.run import Preprocess, Run
from chainrule.train.settings import TrainSettings
from chainrule.train.trainer import predict

__all__ = ["evaluate_run", "load_data_for_run", "predict_run", "predictions_csv"]


def load_data_for_run(run: Run, data: str, *, need_target: bool) -> tuple[np.ndarray, Any, str]:
    """Raw feature rows ``(n, n_features)``, targets (or ``None``) and a description of
    ``data`` for a finished ``run``.

    ``data`` is a CSV file (its columns named as in the run's training data; the target
    column is optional unless ``need_target``; with other column names, the columns other
    than the target are taken in order when their number fits), an NPZ file (``X`` and
    optionally ``y``), or a bundled dataset name (its test split, split as in the run when it
    is the run's own dataset).

    Raises :class:`~chainrule.errors.DataError` for a missing file, missing columns or
    target, non-numeric or missing values, or data that does not fit the model.
    """
    pre = run.preprocess
    settings = run.config.get("settings", {})
    target = settings.get("target")
    task = pre.task
    classes = pre.class_names if task == "classification" else None
    if is_data_file(data):
        path = existing_file(data)
        if path.suffix.lower() == ".csv":
            X, y = _csv_for_run(path, pre, target, need_target, task, classes)
        else:
            X, y = _npz_for_run(path, target, need_target, task, classes)
        what = f"{path.name} ({len(X)} rows)"
    else:
        own = str(settings.get("dataset", "")).lower() == data.lower()
        kwargs: dict[str, Any] = {"seed": int(settings.get("seed", 0))} if own else {}
        if own and settings.get("test_size") is not None:
            kwargs["test_size"] = settings["test_size"]
        split = load_dataset(data, **kwargs).flattened()
        if split.task != task or (task == "classification" and split.n_classes != pre.n_classes):
            raise DataError(
                f"{data} ({_kind(split.task, split.n_classes)}) does not fit this run's model "
                f"({_kind(task, pre.n_classes)})"
            )
        X, y = split.X_test, split.y_test
        what = f"the test split of {data} ({len(X)} rows)"
    if X.reshape(len(X), -1).shape[1] != pre.n_features:
        raise DataError(
            f"{what} has {X.reshape(len(X), -1).shape[1]} features per row; the model "
            f"expects {pre.n_features} ({', '.join(pre.feature_names[:8])}"
            f"{', ...' if len(pre.feature_names) > 8 else ''})"
        )
    return X.reshape(len(X), -1), y, what


def _kind(task: str, n_classes: int | None) -> str:
    return f"{n_classes} classes" if task == "classification" else "regression"


def _csv_for_run(
    path: Path, pre: Preprocess, target: str | None, need_target: bool, task: str, classes: Any
) -> tuple[np.ndarray, Any]:
    header = csv_header(path)
    if header and all(_is_number(h) for h in header) and not set(pre.feature_names) <= set(header):
        raise DataError(
            f"{path.name}: the first row holds numbers ({', '.join(header[:4])}"
            f"{', ...' if len(header) > 4 else ''}), not column names; add a header row naming "
            f"the columns ({', '.join(pre.feature_names[:4])}"
            f"{', ...' if len(pre.feature_names) > 4 else ''})"
        )
    # the target column, when there, is read only to evaluate; predicting ignores it
    has_target = need_target and target is not None and target in header
    if need_target and not has_target:
        if target is None:
            raise DataError(
                f"{path.name}: this run was not trained on a CSV file, so its target column "
                "is unknown; evaluate on the bundled dataset or an NPZ file"
            )
        close = difflib.get_close_matches(target, header, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(f"{path.name}: no target column {target!r}{hint}; the columns are {header}")
    features = list(pre.feature_names)
    if not all(f in header for f in features):
        others = [h for h in header if h != target]
        if len(others) == pre.n_features and not any(f in header for f in features):
            features = others
        else:
            missing = [f for f in features if f not in header]
            raise DataError(
                f"{path.name}: missing feature column{'s' if len(missing) > 1 else ''} "
                f"{missing[:8]}{' ...' if len(missing) > 8 else ''}; the model was trained on "
                f"{features[:8]}{' ...' if len(features) > 8 else ''}"
            )
    d = load_csv(
        path,
        target if has_target else None,
        task=task if has_target else None,
        features=features,
        class_names=classes if has_target else None,
    )
    return d.X, d.y


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _npz_for_run(
    path: Path, target: str | None, need_target: bool, task: str, classes: Any
) -> tuple[np.ndarray, Any]:
    y_key = target or "y"
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.files)
    except Exception as exc:
        raise DataError(f"{path.name}: not a readable .npz archive ({exc})") from exc
    has_target = need_target and y_key in keys  # predicting ignores a target array
    if need_target and not has_target:
        raise DataError(f"{path.name}: no target array {y_key!r}; the file holds {keys}")
    d = load_npz(
        path,
        y_key=y_key if has_target else None,
        task=task if has_target else None,
        class_names=classes if has_target else None,
    )
    return d.X, d.y


def predict_run(run: Run, X: np.ndarray) -> np.ndarray:
    """The model's answers for raw feature rows ``X``: class probabilities ``(n, k)`` for a
    classifier (softmax of the outputs), values ``(n, k)`` for regression."""
    out = predict(run.model, run.preprocess.transform(X), batch_size=1024).astype(np.float64)
    if run.preprocess.task == "classification":
        out = out - out.max(axis=1, keepdims=True)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
    return out


def predictions_csv(run: Run, outputs: np.ndarray) -> str:
    """CSV text for :func:`predict_run`'s ``outputs``: for a classifier the columns
    ``prediction`` (class name) and ``p_<class>`` per class; for regression ``prediction``
    (or ``prediction_<i>`` per output)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    pre = run.preprocess
    if pre.task == "classification":
        names = pre.class_names or [str(i) for i in range(outputs.shape[1])]
        w.writerow(["prediction", *(f"p_{n}" for n in names)])
        labels = np.asarray(names, dtype=object)[outputs.argmax(axis=1)]
        probs = np.char.mod("%.6g", outputs)
        w.writerows([[lab, *row] for lab, row in zip(labels.tolist(), probs.tolist())])
    else:
        k = outputs.shape[1]
        w.writerow(["prediction"] if k == 1 else [f"prediction_{i}" for i in range(k)])
        w.writerows(np.char.mod("%.9g", outputs).tolist())
    return buf.getvalue()


def evaluate_run(run: Run, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Metrics of a finished run on raw rows ``X`` and targets ``y``: ``samples``, then
    ``loss`` (the training loss, e.g. cross-entropy with the run's label smoothing) and
    ``accuracy`` for a classifier; ``mse``, ``mae`` and ``r2`` (in the targets' units) for
    regression."""
    pre = run.preprocess
    Xt = pre.transform(X)
    t0 = time.perf_counter()
    out = predict(run.model, Xt, batch_size=1024)
    dt = time.perf_counter() - t0
    result: dict[str, float] = {"samples": len(Xt)}
    if pre.task == "classification":
        settings = TrainSettings.from_mapping(run.config.get("settings", {}))
        settings = settings.resolved("classification")
        with no_grad():
            loss = make_loss(settings)(Tensor(out), Tensor(np.asarray(y, dtype=np.int64)))
        result["loss"] = float(loss.item())
        acc = Accuracy()
        acc.update(out, np.asarray(y))
        result["accuracy"] = acc.compute()
    else:
        t = as_columns(y)
        for m in (MeanSquaredError(), MeanAbsoluteError(), R2Score()):
            m.update(out.astype(np.float64), t)
            result[m.name] = m.compute()
    result["time_s"] = dt
    result["samples_per_s"] = len(Xt) / dt if dt > 0 else math.nan
    return result
