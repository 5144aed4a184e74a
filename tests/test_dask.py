"""Distributed hyper-parameter search: chainrule's scikit-learn estimators in GridSearchCV under
``joblib.parallel_backend("dask")`` on a dask.distributed cluster (a LocalCluster of worker
processes), giving the search of the default backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster
from joblib import parallel_backend
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from chainrule.sklearn import MLPClassifier, MLPRegressor

# each worker process imports chainrule and scikit-learn before its first fit: seconds
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with Client(cluster) as c:
            yield c
        cluster.close()


def _search(estimator, grid, X, y, n_jobs=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few epochs, on purpose
        return GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs).fit(X, y)


def test_grid_search_on_a_dask_cluster_finds_what_the_default_backend_finds(client):
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, random_state=0)
    grid = {"learning_rate_init": [0.003, 0.03], "alpha": [1e-4, 1e-1]}
    local = _search(est, grid, X, y)
    with parallel_backend("dask"):
        remote = _search(est, grid, X, y, n_jobs=-1)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))
    # the fits ran in the cluster's worker processes, not here
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_regressor_searches_on_the_cluster_too(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=90)
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=15, random_state=0)
    grid = {"learning_rate_init": [0.001, 0.01]}
    local = _search(est, grid, X, y)
    with parallel_backend("dask"):
        remote = _search(est, grid, X, y, n_jobs=-1)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
