"""Metrics accumulated batch by batch over an epoch: accuracy, top-k, MSE, MAE, R².

Each metric keeps running sums (no per-sample lists), so an epoch's value is exact whatever
the batch size: ``reset()``, then ``update(y_pred, y_true)`` per batch, then ``compute()``.
Predictions are model outputs (logits or scores for classifiers); targets are class indices
or values.
"""

from __future__ import annotations

import abc
import difflib
from typing import Any

import numpy as np

from chainrule.backend import to_numpy
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor


def _host(a: Any) -> np.ndarray:
    return to_numpy(a.data if isinstance(a, Tensor) else a)


class Metric(abc.ABC):
    """Base class: a named quantity computed from running sums over batches.

    Subclasses set ``name``, ``higher_is_better`` and :attr:`sums`, and implement
    :meth:`reset`, :meth:`update` (host arrays or tensors: predictions ``(N, ...)`` and
    targets ``(N, ...)``) and :meth:`compute`.
    """

    name = "metric"
    higher_is_better = True
    sums: tuple[str, ...] = ()
    """The running sums ``compute`` reads (a distributed run adds them over the processes)."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every batch seen."""

    @abc.abstractmethod
    def update(self, y_pred: Any, y_true: Any) -> None:
        """Add one batch of predictions and targets."""

    @abc.abstractmethod
    def compute(self) -> float:
        """The metric over every batch since ``reset()`` (NaN before any)."""

    def sum_state(self) -> list[float]:
        """The values of :attr:`sums`, in order."""
        return [float(getattr(self, k)) for k in self.sums]

    def load_sum_state(self, values: list[float]) -> None:
        """Set :attr:`sums` to ``values`` (e.g. their totals over the processes)."""
        for k, v in zip(self.sums, values):
            setattr(self, k, type(getattr(self, k))(v))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Fraction(Metric):
    """A share of the samples: ``correct`` out of ``total``."""

    sums = ("correct", "total")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class Accuracy(_Fraction):
    """Fraction of samples whose arg-max prediction equals the class index.

    ``update(y_pred, y_true)``: scores ``(N, C)`` (or ``(N, ..., C)``) against class indices
    ``(N,)`` (``(N, ...)``); a single output column ``(N,)`` or ``(N, 1)`` is read as a binary
    classifier's logit (positive: class 1). Raises :class:`~chainrule.errors.ShapeError` when
    the predictions do not fit the targets.

    >>> m = Accuracy(); m.update(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
    >>> m.compute()
    0.5
    """

    name = "accuracy"

    def update(self, y_pred: Any, y_true: Any) -> None:
        p, t = _host(y_pred), _host(y_true)
        if p.ndim == t.ndim + 1 and p.shape[-1] > 1:
            labels = p.argmax(axis=-1)
        else:
            labels = (p.reshape(t.shape) > 0).astype(np.int64)
        if labels.shape != t.shape:
            raise ShapeError(f"accuracy: predictions {p.shape} do not fit targets {t.shape}")
        self.correct += int((labels == t).sum())
        self.total += int(t.size)


class TopKAccuracy(_Fraction):
    """Fraction of samples whose class is among the ``k`` highest-scored.

    ``update(y_pred, y_true)``: scores ``(N, C)`` against class indices ``(N,)``; with fewer
    than ``k`` classes every sample counts. Raises ``ValueError`` for ``k < 1``.
    """

    def __init__(self, k: int = 5) -> None:
        if k < 1:
            raise ValueError(f"top-k accuracy needs k >= 1, got {k}")
        self.k = k
        self.name = f"top{k}_accuracy"
        super().__init__()

    def update(self, y_pred: Any, y_true: Any) -> None:
        p, t = _host(y_pred), _host(y_true)
        k = min(self.k, p.shape[-1])
        top = np.argpartition(-p, k - 1, axis=-1)[..., :k]
        self.correct += int((top == t[..., None]).any(axis=-1).sum())
        self.total += int(t.size)

    def __repr__(self) -> str:
        return f"TopKAccuracy(k={self.k})"


class _Regression(Metric):
    """Running sums over every element of every batch; each metric adds only the sums its
    ``compute`` reads (``_add``)."""

    higher_is_better = False
    sums = ("n", "sum_abs", "sum_sq", "sum_y", "sum_y2")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.sum_abs = 0.0
        self.sum_sq = 0.0
        self.sum_y = 0.0
        self.sum_y2 = 0.0

    def update(self, y_pred: Any, y_true: Any) -> None:
        p, t = _host(y_pred).astype(np.float64), _host(y_true).astype(np.float64)
        if p.shape != t.shape and p.size == t.size:
            p = p.reshape(t.shape)
        if p.shape != t.shape:
            raise ShapeError(f"{self.name}: predictions {p.shape} do not fit targets {t.shape}")
        self.n += t.size
        self._add(p - t, t)

    @abc.abstractmethod
    def _add(self, d: np.ndarray, t: np.ndarray) -> None:
        """Add a batch's errors ``d = prediction - target`` and targets ``t`` to the sums."""


class MeanSquaredError(_Regression):
    """Mean of (prediction - target)² over every element.

    ``update(y_pred, y_true)``: predictions and targets of one shape ``(N, ...)`` (or the same
    number of elements); raises :class:`~chainrule.errors.ShapeError` otherwise. The same for
    :class:`MeanAbsoluteError` and :class:`R2Score`.
    """

    name = "mse"

    def _add(self, d: np.ndarray, t: np.ndarray) -> None:
        self.sum_sq += float((d * d).sum())

    def compute(self) -> float:
        return self.sum_sq / self.n if self.n else float("nan")


class MeanAbsoluteError(_Regression):
    """Mean of |prediction - target| over every element (shapes as :class:`MeanSquaredError`)."""

    name = "mae"

    def _add(self, d: np.ndarray, t: np.ndarray) -> None:
        self.sum_abs += float(np.abs(d).sum())

    def compute(self) -> float:
        return self.sum_abs / self.n if self.n else float("nan")


class R2Score(_Regression):
    """Coefficient of determination 1 - SS_res / SS_tot (over all outputs together; shapes
    as :class:`MeanSquaredError`)."""

    name = "r2"
    higher_is_better = True

    def _add(self, d: np.ndarray, t: np.ndarray) -> None:
        self.sum_sq += float((d * d).sum())
        self.sum_y += float(t.sum())
        self.sum_y2 += float((t * t).sum())

    def compute(self) -> float:
        if not self.n:
            return float("nan")
        ss_tot = self.sum_y2 - self.sum_y * self.sum_y / self.n
        return 1.0 - self.sum_sq / ss_tot if ss_tot > 0 else float("nan")


_NAMED = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "r2": R2Score,
}


def get_metric(metric: str | Metric) -> Metric:
    """A metric from its name (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``, ``"mae"``,
    ``"r2"``) or the metric itself. Raises ``ValueError`` suggesting the closest name.

    >>> get_metric("top3_accuracy")
    TopKAccuracy(k=3)
    """
    if isinstance(metric, Metric):
        return metric
    name = str(metric).lower()
    if name in _NAMED:
        return _NAMED[name]()
    if name.startswith("top") and name.endswith("_accuracy") and name[3:-9].isdigit():
        return TopKAccuracy(int(name[3:-9]))
    close = difflib.get_close_matches(name, [*_NAMED, "top5_accuracy"], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown metric {metric!r}{hint} (known: {', '.join(_NAMED)}, topK_accuracy)")


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of class ``i`` predicted as ``j`` (int64, n x n).

    ``y_true``: class indices ``(N,)``; ``y_pred`` may be class indices ``(N,)`` or scores
    ``(N, C)`` (arg-max taken over the last axis). ``n`` is ``n_classes`` when given, else one
    more than the largest index seen. Raises :class:`~chainrule.errors.ShapeError` when the
    numbers of targets and predictions differ.

    >>> confusion_matrix([0, 1, 1], [0, 1, 0])
    array([[1, 0],
           [1, 1]])
    """
    t = np.asarray(_host(y_true)).reshape(-1).astype(np.int64)
    p = np.asarray(_host(y_pred))
    if p.ndim == 2:
        p = p.argmax(axis=1)
    p = p.reshape(-1).astype(np.int64)
    if t.shape != p.shape:
        raise ShapeError(f"confusion_matrix: {t.shape[0]} targets but {p.shape[0]} predictions")
    n = n_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)
