"""Metrics against scikit-learn's metric functions, batch by batch and whole."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import chainrule as cr
from chainrule.errors import ShapeError
from chainrule.train.metrics import (
    Accuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    R2Score,
    TopKAccuracy,
    confusion_matrix,
    get_metric,
)


def _batched(metric, pred, true, sizes=(7, 13, 1, 50)):
    """Feed ``metric`` in uneven batches; returns ``compute()``."""
    metric.reset()
    start = 0
    for n in sizes:
        metric.update(pred[start : start + n], true[start : start + n])
        start += n
    metric.update(pred[start:], true[start:])
    return metric.compute()


@pytest.fixture
def scores():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(120, 6))
    labels = rng.integers(0, 6, size=120)
    return logits, labels


def test_accuracy_matches_sklearn(scores):
    logits, labels = scores
    expected = skm.accuracy_score(labels, logits.argmax(axis=1))
    assert _batched(Accuracy(), logits, labels) == pytest.approx(expected, abs=0)


def test_accuracy_accepts_tensors_and_binary_logits():
    m = Accuracy()
    m.update(cr.tensor([[2.0, 1.0], [0.0, 3.0]]), cr.tensor(np.array([0, 1])))
    assert m.compute() == 1.0
    m = Accuracy()  # one column: a binary classifier's logit, positive means class 1
    m.update(np.array([[0.3], [-2.0], [1.0]]), np.array([1, 0, 0]))
    assert m.compute() == pytest.approx(2 / 3)


def test_accuracy_shape_mismatch():
    with pytest.raises(ShapeError, match="accuracy: predictions"):
        Accuracy().update(np.zeros((4, 3)), np.zeros((5,), dtype=np.int64))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_topk_accuracy_matches_sklearn(scores, k):
    logits, labels = scores
    expected = skm.top_k_accuracy_score(labels, logits, k=k, labels=np.arange(6))
    got = _batched(TopKAccuracy(k), logits, labels)
    assert got == pytest.approx(expected, abs=1e-12)
    assert TopKAccuracy(k).name == f"top{k}_accuracy"


def test_topk_k_larger_than_classes_and_bad_k():
    m = TopKAccuracy(10)
    m.update(np.zeros((3, 4)), np.array([0, 1, 3]))
    assert m.compute() == 1.0
    with pytest.raises(ValueError, match="k >= 1"):
        TopKAccuracy(0)


@pytest.mark.parametrize("shape", [(90,), (90, 3)])
def test_regression_metrics_match_sklearn(shape):
    rng = np.random.default_rng(2)
    true = rng.normal(size=shape) * 3 + 1
    pred = true + rng.normal(size=shape)
    flat_t, flat_p = true.reshape(-1), pred.reshape(-1)
    assert _batched(MeanSquaredError(), pred, true) == pytest.approx(
        skm.mean_squared_error(flat_t, flat_p), rel=1e-12
    )
    assert _batched(MeanAbsoluteError(), pred, true) == pytest.approx(
        skm.mean_absolute_error(flat_t, flat_p), rel=1e-12
    )
    # chainrule's R² pools every output (one SS_tot over all values), as sklearn's on the
    # flattened arrays
    assert _batched(R2Score(), pred, true) == pytest.approx(skm.r2_score(flat_t, flat_p), rel=1e-9)


def test_regression_metric_reshapes_column_predictions():
    m = MeanSquaredError()
    m.update(np.array([[1.0], [2.0]]), np.array([1.0, 4.0]))
    assert m.compute() == pytest.approx(2.0)
    with pytest.raises(ShapeError, match="mse: predictions"):
        m.update(np.zeros((3, 2)), np.zeros(4))


def test_metrics_are_nan_before_any_batch_and_r2_of_constant_targets():
    for m in (Accuracy(), TopKAccuracy(3), MeanSquaredError(), MeanAbsoluteError(), R2Score()):
        assert np.isnan(m.compute())
    r2 = R2Score()
    r2.update(np.array([1.0, 2.0]), np.array([3.0, 3.0]))
    assert np.isnan(r2.compute())


def test_confusion_matrix_matches_sklearn(scores):
    logits, labels = scores
    expected = skm.confusion_matrix(labels, logits.argmax(axis=1), labels=np.arange(6))
    np.testing.assert_array_equal(confusion_matrix(labels, logits), expected)
    np.testing.assert_array_equal(
        confusion_matrix(labels, logits.argmax(axis=1), n_classes=8)[:6, :6], expected
    )
    with pytest.raises(ShapeError, match="confusion_matrix: 3 targets but 2 predictions"):
        confusion_matrix([0, 1, 1], [0, 1])


@pytest.mark.parametrize(
    ("name", "cls"),
    [("accuracy", Accuracy), ("acc", Accuracy), ("mse", MeanSquaredError),
     ("MAE", MeanAbsoluteError), ("r2", R2Score), ("top5_accuracy", TopKAccuracy)],
)  # fmt: skip
def test_get_metric_by_name(name, cls):
    assert isinstance(get_metric(name), cls)
    m = Accuracy()
    assert get_metric(m) is m


def test_get_metric_unknown_suggests():
    with pytest.raises(ValueError, match="unknown metric 'acuracy'; did you mean 'accuracy'"):
        get_metric("acuracy")
