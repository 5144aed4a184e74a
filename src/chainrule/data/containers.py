"""What the dataset loaders return: arrays plus what a trainer needs to know about them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.data.dataset import TensorDataset
from chainrule.data.split import train_test_split
from chainrule.errors import DataError

__all__ = ["LabeledData", "SplitData"]

TASKS = ("classification", "regression")


@dataclass
class SplitData:
    """A dataset split into training and test parts, with its description.

    Attributes:
        name: the registry name (``"digits"``) or the file it came from.
        X_train, X_test: features, shape ``(n, *feature_shape)``: ``(n, d)`` for tables and
            signals, ``(n, 28, 28)`` uint8 for IDX images (see :meth:`flattened`). Loaders keep
            the source dtype (float64 for tables, uint8 for images); the
            :class:`~chainrule.data.DataLoader` casts to float32.
        y_train, y_test: int64 class indices of shape ``(n,)`` for classification; float
            targets of shape ``(n,)`` (or ``(n, k)`` for several outputs) for regression.
        task: ``"classification"`` or ``"regression"``.
        n_classes: number of classes (``None`` for regression); labels lie in
            ``[0, n_classes)``.
        feature_names: one name per feature of the flattened feature vector.
        class_names: ``class_names[i]`` names class ``i`` (``None`` for regression).
        description: a short paragraph: source, size, task.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int | None = None
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    description: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample's features, e.g. ``(64,)`` or ``(28, 28)``."""
        return tuple(self.X_train.shape[1:])

    @property
    def n_features(self) -> int:
        """Number of features once a sample is flattened."""
        return int(np.prod(self.input_shape, dtype=np.int64))

    @property
    def n_outputs(self) -> int:
        """Outputs a model needs: ``n_classes`` for classification, the number of targets per
        sample for regression."""
        if self.task == "classification":
            return int(self.n_classes or 0)
        return 1 if self.y_train.ndim == 1 else int(np.prod(self.y_train.shape[1:]))

    def train_dataset(self) -> TensorDataset:
        """``TensorDataset(X_train, y_train)``."""
        return TensorDataset(self.X_train, self.y_train)

    def test_dataset(self) -> TensorDataset:
        """``TensorDataset(X_test, y_test)``."""
        return TensorDataset(self.X_test, self.y_test)

    def flattened(self) -> SplitData:
        """A copy whose features are flattened to shape ``(n, n_features)`` (for an MLP)."""
        return dataclasses.replace(
            self,
            X_train=self.X_train.reshape(len(self.X_train), -1),
            X_test=self.X_test.reshape(len(self.X_test), -1),
        )

    def __repr__(self) -> str:
        classes = f", n_classes={self.n_classes}" if self.task == "classification" else ""
        return (
            f"SplitData({self.name!r}, {self.task}{classes}, train {_shape(self.X_train)}, "
            f"test {_shape(self.X_test)})"
        )


@dataclass
class LabeledData:
    """One table of samples, not split yet (what :func:`~chainrule.data.load_csv` and
    :func:`~chainrule.data.load_npz` return).

    Attributes are those of :class:`SplitData` with ``X`` and ``y`` in place of the four
    split arrays (``X`` of shape ``(n, ...)``, ``y`` of shape ``(n,)`` or ``(n, k)``); ``y``
    is ``None`` (and ``task`` too) when the file has no target, e.g. data to predict on.
    """

    name: str
    X: np.ndarray
    y: np.ndarray | None
    task: str | None
    n_classes: int | None = None
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    description: str = ""

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def dataset(self) -> TensorDataset:
        """``TensorDataset(X, y)`` (or ``TensorDataset(X)`` without a target)."""
        return TensorDataset(self.X) if self.y is None else TensorDataset(self.X, self.y)

    def split(
        self, test_size: float | int = 0.2, seed: int | None = 0, stratify: bool | None = None
    ) -> SplitData:
        """Split into a :class:`SplitData` with :func:`~chainrule.data.train_test_split`
        (stratified for classification unless ``stratify=False``).

        Raises :class:`~chainrule.errors.DataError` when there is no target, or as
        :func:`~chainrule.data.train_test_split` does.
        """
        if self.y is None or self.task is None:
            raise DataError(f"{self.name}: there is no target to split on (y is None)")
        if stratify is None:
            stratify = self.task == "classification"
        X_train, X_test, y_train, y_test = train_test_split(
            self.X, self.y, test_size=test_size, stratify=stratify, seed=seed
        )
        return SplitData(
            name=self.name,
            X_train=X_train,
            y_train=y_train,
            X_test=X_test,
            y_test=y_test,
            task=self.task,
            n_classes=self.n_classes,
            feature_names=list(self.feature_names),
            class_names=None if self.class_names is None else list(self.class_names),
            description=self.description,
        )

    def __repr__(self) -> str:
        return f"LabeledData({self.name!r}, {self.task}, X {_shape(self.X)})"


def _shape(a: Any) -> str:
    return f"{a.dtype}{list(a.shape)}"
