"""chainrule.sklearn: scikit-learn's estimator checks, parity with scikit-learn's own MLPs, and
the conventions a user relies on (pipelines, search, partial_fit, warm_start, weights).
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn import neural_network as sk
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import estimator_checks_generator
from threadpoolctl import threadpool_limits

import chainrule as cr
from chainrule.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small matrices: BLAS threads only contend with the other test worker."""
    with threadpool_limits(1):
        yield


# ---------------------------------------------------------------------------- check_estimator
# max_iter=100 as scikit-learn's own test suite sets for its MLPs (instance_generator.py).
SATURATED = (
    "L-BFGS fits the check's small multi-label set until some logits pass ±37, where the "
    "logistic unit rounds to exactly 1.0 in float64, as scikit-learn's own "
    "MLPClassifier(solver='lbfgs') does"
)
CHECKED = [
    (MLPClassifier(max_iter=100), {}),
    (MLPRegressor(max_iter=100), {}),
    (
        MLPClassifier(solver="lbfgs", max_iter=100),
        {
            "check_classifier_multioutput": SATURATED
            + " (probabilities of exactly 1.0 tie where the logits of decision_function "
            "still differ, so their ranks differ)",
        },
    ),
]
# check_array_api_input needs SCIPY_ARRAY_API=1 before SciPy is first imported, so it runs in
# a fresh interpreter (test_array_api_check below) rather than in this process.
SUBPROCESS_CHECKS = {"check_array_api_input"}


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


def _checks():
    # The expected failures get a strict xfail mark of our own, so that the same code runs
    # with scikit-learn versions whose generator has no ``xfail_strict`` (1.7, on Python 3.10).
    for est, xfail in CHECKED:
        for estimator, check in estimator_checks_generator(est):
            name = _check_name(check)
            if name in SUBPROCESS_CHECKS:
                continue
            marks = [pytest.mark.xfail(strict=True, reason=xfail[name])] if name in xfail else []
            yield pytest.param(estimator, check, marks=marks, id=f"{estimator!r}-{name}")


@pytest.mark.parametrize("estimator, check", list(_checks()))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_array_api_check():
    """The checks left out above, run with SCIPY_ARRAY_API=1 in a fresh interpreter."""
    code = (
        "from sklearn.utils.estimator_checks import estimator_checks_generator\n"
        "from chainrule.sklearn import MLPClassifier, MLPRegressor\n"
        "ran = []\n"
        "for est in (MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)):\n"
        "    for estimator, check in estimator_checks_generator(est):\n"
        "        name = getattr(check, 'func', check).__name__\n"
        f"        if name in {sorted(SUBPROCESS_CHECKS)!r}:\n"
        "            check(estimator)\n"
        "            ran.append(name)\n"
        "print(len(ran))\n"
    )
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # Every such check this scikit-learn version generates ran (none skipped); older versions
    # (1.7) do not generate it for estimators without array-API support.
    expected = sum(
        _check_name(check) in SUBPROCESS_CHECKS
        for est in (MLPClassifier(max_iter=100), MLPRegressor(max_iter=100))
        for _, check in estimator_checks_generator(est)
    )
    assert int(out.stdout.split()[-1]) == expected


# ---------------------------------------------------------------------------- parity
def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


PARITY = [
    dict(solver="sgd", momentum=0.0),
    dict(solver="sgd", nesterovs_momentum=False),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2),
    dict(solver="sgd", learning_rate="adaptive", tol=1e9, n_iter_no_change=2, max_iter=12),
    dict(solver="adam", alpha=0.1),
    dict(solver="adam", early_stopping=True, activation="tanh"),
    dict(solver="lbfgs", activation="logistic", max_iter=30),
    dict(solver="adam", batch_size=64, activation="identity", shuffle=False),
]


@pytest.mark.parametrize("params", PARITY, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_classifier_matches_sklearn(params):
    """Same hyper-parameters and seed: scikit-learn's weights to rounding error."""
    X, y = _digits()
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    params = {"hidden_layer_sizes": (20,), "max_iter": 6, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sk.MLPClassifier(**params).fit(X, y, sample_weight=sw)
        ours = MLPClassifier(**params).fit(X, y, sample_weight=sw)
    assert ours.n_iter_ == ref.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    if params["solver"] != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-10)
        assert ours.t_ == ref.t_
    else:
        assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-8)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_)
        assert ours.best_validation_score_ == ref.best_validation_score_
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-9)


@pytest.mark.parametrize(
    "target, params",
    [
        ("binary", dict(solver="adam")),
        ("multilabel", dict(solver="sgd", momentum=0.7)),
    ],
)
def test_logistic_outputs_match_sklearn(target, params):
    if target == "binary":
        X, y = _digits()
        y = (y % 2 == 0).astype(int)
    else:
        X, y = make_multilabel_classification(n_samples=150, n_classes=4, random_state=0)
    kw = {"hidden_layer_sizes": (15,), "max_iter": 5, "random_state": 1, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sk.MLPClassifier(**kw).fit(X, y)
        ours = MLPClassifier(**kw).fit(X, y)
    assert ours.out_activation_ == ref.out_activation_ == "logistic"
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


@pytest.mark.parametrize(
    "loss, params",
    [
        ("squared_error", dict(solver="adam")),
        ("squared_error", dict(solver="sgd", learning_rate_init=0.01)),
        ("poisson", dict(solver="adam", learning_rate_init=0.01)),
    ],
)
def test_regressor_matches_sklearn(loss, params):
    X, y = make_regression(n_samples=300, n_features=6, n_targets=2, random_state=0)
    y = y / 100
    if loss == "poisson":
        y = np.exp(np.clip(y, -2, 2))
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    kw = {"loss": loss, "hidden_layer_sizes": (12,), "max_iter": 5, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sk.MLPRegressor(**kw).fit(X, y, sample_weight=sw)
        ours = MLPRegressor(**kw).fit(X, y, sample_weight=sw)
    assert ours.out_activation_ == ref.out_activation_
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------- ecosystem
@pytest.mark.slow  # trains a real model end to end
def test_pipeline_cross_val_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier((16,), learning_rate_init=0.01, max_iter=300, random_state=0),
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(
        pipe,
        {"mlpclassifier__alpha": [1e-4, 1e-1], "mlpclassifier__activation": ["relu", "tanh"]},
        cv=3,
    ).fit(X, y)
    assert grid.best_score_ > 0.85
    assert set(grid.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__activation"}
    assert isinstance(grid.best_estimator_[-1], MLPClassifier)


def test_same_defaults_as_sklearn():
    for ours, ref in ((MLPClassifier(), sk.MLPClassifier()), (MLPRegressor(), sk.MLPRegressor())):
        assert ours.get_params() == ref.get_params()


# ---------------------------------------------------------------------------- behaviour
def test_fitted_attributes_and_shapes():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((8, 5), max_iter=50, random_state=0)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert not hasattr(clf, "coefs_")
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf.fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 8), (8, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (5,), (3,)]
    assert clf.n_features_in_ == 4 and clf.n_layers_ == 4 and clf.n_outputs_ == 3
    assert clf.out_activation_ == "softmax" and list(clf.classes_) == [0, 1, 2]
    assert clf.n_iter_ == 50 == len(clf.loss_curve_) and clf.t_ == 50 * len(X)
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None
    assert isinstance(clf.module_, cr.nn.Sequential)
    # coefs_ are views of the network's weights, in scikit-learn's orientation
    assert np.shares_memory(clf.coefs_[0], clf.module_[0].weight.data)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X))
    np.testing.assert_array_equal(clf.classes_[clf.decision_function(X).argmax(1)], clf.predict(X))
    # to_module: a copy ending in the softmax, giving predict_proba
    net = clf.to_module()
    assert isinstance(net[-1], cr.nn.Softmax)
    np.testing.assert_allclose(net(cr.tensor(X)).numpy(), proba, atol=1e-12)


def test_coefs_assignment_and_errors():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((5,), solver="lbfgs", max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    clf.coefs_ = [np.zeros((4, 5)), np.ones((5, 3))]
    clf.intercepts_ = [np.zeros(5), np.array([0.0, 1.0, 0.0])]
    assert (clf.predict(X) == 1).all()
    with pytest.raises(ValueError, match=r"coefs_\[1\]: expected shape \(5, 3\)"):
        clf.coefs_ = [np.zeros((4, 5)), np.ones((3, 5))]
    with pytest.raises(ValueError, match="expected 2 arrays"):
        clf.intercepts_ = [np.zeros(5)]


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes must be > 0"),
        (dict(activation="softmax"), "'activation' parameter"),
        (dict(solver="newton"), "'solver' parameter"),
        (dict(alpha=-1.0), "'alpha' parameter"),
        (dict(batch_size=0), "'batch_size' parameter"),
        (dict(learning_rate="cosine"), "'learning_rate' parameter"),
        (dict(momentum=1.5), "'momentum' parameter"),
        (dict(max_iter=0), "'max_iter' parameter"),
        (dict(n_iter_no_change=0), "'n_iter_no_change' parameter"),
        (dict(beta_2=1.0), "'beta_2' parameter"),
        (dict(epsilon=0.0), "'epsilon' parameter"),
        (dict(validation_fraction=1.0), "'validation_fraction' parameter"),
    ],
)
def test_invalid_hyper_parameters(params, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="'loss' parameter"):
        MLPRegressor(loss="absolute_error").fit(X, y)


def test_dtype_follows_input_and_rng_untouched():
    X, y = load_iris(return_X_y=True)
    cr.manual_seed(3)
    expected = cr.rand(3).numpy()
    cr.manual_seed(3)
    clf32 = MLPClassifier((6,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf32.fit(X.astype(np.float32), y)
        clf64 = MLPClassifier((6,), max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cr.rand(3).numpy(), expected)  # fitting drew nothing
    assert clf32.coefs_[0].dtype == np.float32 and clf32.predict_proba(X).dtype == np.float32
    assert clf64.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(clf32.predict_proba(X), clf64.predict_proba(X), atol=1e-4)


def test_partial_fit_and_warm_start():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((10,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1, 2] and clf.n_iter_ == 1 and clf.t_ == 100
    for _ in range(40):
        clf.partial_fit(X, y)
    assert clf.t_ == 100 + 40 * 150 and len(clf.loss_curve_) == 41
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, y + 5)
    # partial_fit continues after a pickle round trip, optimiser state included
    again = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    again.partial_fit(X, y)
    np.testing.assert_array_equal(again.coefs_[0], clf.coefs_[0])

    warm = MLPClassifier((10,), max_iter=3, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X, y)
        first = warm.coefs_[0].copy()
        warm.fit(X, y)
    assert len(warm.loss_curve_) == 6 and not np.array_equal(first, warm.coefs_[0])
    with pytest.raises(ValueError, match="warm_start can only be used"):
        warm.fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="layer sizes"):
        warm.set_params(hidden_layer_sizes=(4,)).fit(X, y)


def test_partial_fit_needs_a_stochastic_solver():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y)


def test_early_stopping_restores_the_best_weights():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(
        (20,), early_stopping=True, learning_rate_init=0.05, n_iter_no_change=5, random_state=0
    ).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.n_iter_ < 200  # stopped by the rule, not by max_iter
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPClassifier(early_stopping=True).fit(X[:8], y[:8])


def test_multilabel_and_multioutput():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=3, random_state=0)
    clf = MLPClassifier((30,), learning_rate_init=0.01, max_iter=200, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.predict(X).shape == (200, 3)
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 3) and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.6  # subset accuracy

    X, Y = make_regression(n_samples=200, n_features=5, n_targets=3, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(30,), solver="lbfgs", max_iter=500, random_state=0).fit(
        X, Y / 100
    )
    assert reg.predict(X).shape == (200, 3) and reg.score(X, Y / 100) > 0.95
    one = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert one.fit(X, Y[:, 0]).predict(X).shape == (200,)


def test_sample_weight_is_repetition_for_full_batch_lbfgs():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    w = np.random.default_rng(0).integers(0, 3, len(y))
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(**params).fit(X, y, sample_weight=w)
        repeated = MLPClassifier(**params).fit(np.repeat(X, w, 0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-7)
    with pytest.raises(ValueError, match="Negative"):
        MLPClassifier().fit(X, y, sample_weight=-np.ones(len(y)))


def test_sparse_input_equals_dense():
    X, y = load_iris(return_X_y=True)
    Xs = scipy.sparse.csc_matrix(X)
    params = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**params).fit(X, y)
        sparse = MLPClassifier(**params).fit(Xs, y)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X), atol=1e-12)


def test_string_labels_and_feature_names():
    import pandas as pd

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    clf = MLPClassifier((10,), solver="lbfgs", max_iter=300, random_state=0).fit(frame, names)
    assert list(clf.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    assert set(clf.predict(frame)) <= set(names) and clf.score(frame, names) > 0.9
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


def test_verbose_logs_instead_of_printing(caplog, capsys):
    X, y = load_iris(return_X_y=True)
    with caplog.at_level(logging.INFO, logger="chainrule.sklearn"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier((4,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    assert "Iteration 2, loss = " in caplog.text
    assert capsys.readouterr().out == ""


def test_poisson_regression_learns_a_rate():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 2))
    y = rng.poisson(np.exp(1 + X[:, 0] - X[:, 1]))
    reg = MLPRegressor(
        "poisson", hidden_layer_sizes=(10,), solver="lbfgs", max_iter=1000, random_state=0
    )
    reg.fit(X, y)
    assert reg.out_activation_ == "exp" and (reg.predict(X) > 0).all()
    assert reg.score(X, y) > 0.6
    with pytest.raises(ValueError, match="non-negative"):
        reg.fit(X, y - 10.0)
