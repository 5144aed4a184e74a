"""TensorDataset, Subset, random_split, train_test_split and StandardScaler."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import StandardScaler, Subset, TensorDataset, random_split, train_test_split
from chainrule.errors import DataError, ShapeError, StateDictError


# ------------------------------------------------------------------------------ datasets
def test_tensor_dataset_items_and_inputs():
    X = cr.tensor(np.arange(12.0).reshape(4, 3))
    ds = TensorDataset(X, [0, 1, 0, 1])
    assert len(ds) == 4
    x, y = ds[2]
    np.testing.assert_array_equal(x, [6.0, 7.0, 8.0])
    assert y == 0
    xb, yb = ds.__getitems__(np.array([3, 1]))
    assert xb.shape == (2, 3) and yb.tolist() == [1, 1]
    assert "TensorDataset(" in repr(ds)


def test_tensor_dataset_shape_errors_name_the_shapes():
    with pytest.raises(ShapeError, match=r"\(4, 3\).*\(5,\)"):
        TensorDataset(np.zeros((4, 3)), np.zeros(5))
    with pytest.raises(ShapeError, match="at least one array"):
        TensorDataset()
    with pytest.raises(ShapeError, match="first"):
        TensorDataset(np.float64(3.0))


def test_random_split_counts_fractions_and_reproducibility():
    ds = TensorDataset(np.arange(10))
    a, b = random_split(ds, [6, 4], seed=0)
    assert (len(a), len(b)) == (6, 4)
    assert sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    c, _ = random_split(ds, [6, 4], seed=0)
    np.testing.assert_array_equal(a.indices, c.indices)
    parts = random_split(ds, [1 / 3, 1 / 3, 1 / 3], seed=1)
    assert [len(p) for p in parts] == [4, 3, 3]
    assert isinstance(parts[0], Subset)
    np.testing.assert_array_equal(parts[0][0][0], ds[int(parts[0].indices[0])][0])


def test_random_split_bad_lengths():
    ds = TensorDataset(np.arange(10))
    with pytest.raises(DataError, match="add up to 9"):
        random_split(ds, [5, 4])
    with pytest.raises(DataError, match="not 1"):
        random_split(ds, [0.5, 0.6])
    with pytest.raises(DataError, match="non-negative"):
        random_split(ds, [12, -2])
    with pytest.raises(DataError, match="indices"):
        Subset(ds, [0, 10])


# ------------------------------------------------------------------------------ train_test_split
def _imbalanced():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    X = np.arange(len(y) * 2, dtype=np.float64).reshape(-1, 2)
    return X, y


def test_stratified_split_keeps_class_proportions():
    X, y = _imbalanced()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=3)
    assert len(y_test) == 200 and len(y_train) == 800
    assert np.bincount(y_test).tolist() == [120, 60, 20]
    assert np.bincount(y_train).tolist() == [480, 240, 80]
    # rows stay with their labels, and nothing is lost or duplicated
    np.testing.assert_array_equal(y[(X_test[:, 0] / 2).astype(int)], y_test)
    ids = np.concatenate([X_train[:, 0], X_test[:, 0]]) / 2
    assert sorted(ids.astype(int).tolist()) == list(range(1000))


def test_stratified_split_rounds_to_the_exact_test_size():
    y = np.repeat([0, 1, 2], [7, 7, 7])
    *_, y_test = train_test_split(np.zeros((21, 1)), y, test_size=0.25, seed=0)
    assert len(y_test) == 6  # ceil(0.25 * 21)
    assert sorted(np.bincount(y_test, minlength=3).tolist()) == [2, 2, 2]


def test_auto_stratify_only_for_class_labels():
    X, y = _imbalanced()
    # stratified by default: test proportions are exact for every seed
    for seed in range(3):
        *_, y_test = train_test_split(X, y, test_size=0.1, seed=seed)
        assert np.bincount(y_test).tolist() == [60, 30, 10]
    # regression targets are split at random, with no error
    *_, t_test = train_test_split(X, y.astype(float), test_size=0.1)
    assert len(t_test) == 100
    with pytest.raises(DataError, match="integer class labels"):
        train_test_split(X, y.astype(float), stratify=True)


def test_split_is_reproducible_by_seed():
    X, y = _imbalanced()
    a = train_test_split(X, y, seed=5)
    b = train_test_split(X, y, seed=5)
    c = train_test_split(X, y, seed=6)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


def test_split_without_shuffle_and_with_counts():
    X = np.arange(10)
    y = np.arange(10)
    X_train, X_test, _, _ = train_test_split(X, y, test_size=3, shuffle=False)
    assert X_train.tolist() == list(range(7)) and X_test.tolist() == [7, 8, 9]
    with pytest.raises(DataError, match="shuffle"):
        train_test_split(X, y, stratify=True, shuffle=False)


def test_split_bad_input():
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=int)
    with pytest.raises(ShapeError, match=r"\(10, 2\).*\(9,\)"):
        train_test_split(X, y[:9])
    for bad in (0.0, 1.0, 1.5, 0, 10, -1, True, "0.2"):
        with pytest.raises(DataError, match="test_size"):
            train_test_split(X, y, test_size=bad)


# ------------------------------------------------------------------------------ StandardScaler
def test_scaler_fitted_on_train_only():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(200, 4))
    X_train, X_test = X[:150], X[150:] + 5.0
    scaler = StandardScaler().fit(X_train)
    np.testing.assert_allclose(scaler.mean_, X_train.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, X_train.std(axis=0))
    Z_train, Z_test = scaler.transform(X_train), scaler.transform(X_test)
    np.testing.assert_allclose(Z_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z_train.std(axis=0), 1.0)
    # the test data is scaled with the training statistics, so its shift shows
    np.testing.assert_allclose(Z_test, (X_test - X_train.mean(0)) / X_train.std(0))
    assert np.all(Z_test.mean(axis=0) > 1.0)


def test_scaler_matches_scikit_learn():
    from sklearn.preprocessing import StandardScaler as Reference

    X = np.random.default_rng(1).normal(size=(50, 3)) * [1.0, 10.0, 0.1]
    ref = Reference().fit(X)
    ours = StandardScaler().fit(X)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-12)
    np.testing.assert_allclose(ours.var_, ref.var_)


def test_scaler_zero_variance_features_give_zeros_not_nan():
    X = np.array([[1.0, 7.0, 0.1], [3.0, 7.0, 0.1], [5.0, 7.0, 0.1]])
    Z = StandardScaler().fit_transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_array_equal(Z[:, 1:], 0.0)
    images = np.zeros((4, 3, 3), dtype=np.uint8)
    images[:, 1, 1] = [0, 10, 20, 30]
    Z = StandardScaler().fit_transform(images)
    assert Z.dtype == np.float32 and Z.shape == (4, 3, 3) and np.isfinite(Z).all()
    np.testing.assert_allclose(Z[:, 1, 1].std(), 1.0, rtol=1e-6)


def test_scaler_inverse_and_state_round_trip_through_json():
    X = np.random.default_rng(2).normal(5.0, 3.0, size=(30, 2))
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X)
    state = scaler.state_dict()
    as_json = json.loads(
        json.dumps({k: getattr(v, "tolist", lambda v=v: v)() for k, v in state.items()})
    )
    restored = StandardScaler.from_state_dict(as_json)
    np.testing.assert_allclose(restored.transform(X), scaler.transform(X))
    assert restored.n_samples_seen_ == 30


def test_scaler_options_and_dtypes():
    X = np.array([[1.0], [3.0]], dtype=np.float32)
    assert StandardScaler().fit_transform(X).dtype == np.float32
    np.testing.assert_allclose(StandardScaler(with_mean=False).fit_transform(X), X)
    np.testing.assert_allclose(StandardScaler(with_std=False).fit_transform(X), [[-1.0], [1.0]])


def test_scaler_bad_input():
    with pytest.raises(DataError, match="not fitted"):
        StandardScaler().transform(np.zeros((2, 2)))
    with pytest.raises(DataError, match="empty"):
        StandardScaler().fit(np.zeros((0, 2)))
    with pytest.raises(DataError, match="numeric"):
        StandardScaler().fit(np.array([["a"], ["b"]]))
    scaler = StandardScaler().fit(np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        scaler.transform(np.zeros((3, 3)))
    with pytest.raises(StateDictError, match="missing"):
        StandardScaler().load_state_dict({"mean": [0.0]})
