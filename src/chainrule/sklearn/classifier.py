"""scikit-learn's ``MLPClassifier`` on chainrule."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from chainrule.sklearn.base import _BaseMLP, _has_stochastic_solver


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, scikit-learn's ``MLPClassifier`` on chainrule.

    Hidden layers ``Linear`` + ``activation``; a softmax output for several classes, one
    logistic unit for two classes, one logistic unit per label for a multi-label indicator
    matrix ``y`` (n_samples, n_labels). Trained on the (sample-weighted) log-loss with an L2
    penalty ``alpha``.

    Parameters are scikit-learn's, same names, meanings and defaults:
    ``hidden_layer_sizes`` (tuple of ints, the i-th the units of hidden layer i),
    ``activation`` ('identity', 'logistic', 'tanh', 'relu', or another name of
    :mod:`chainrule.nn.activations`), ``solver`` ('lbfgs', 'sgd',
    'adam'), ``alpha`` (L2 strength), ``batch_size`` ('auto' = min(200, n_samples)),
    ``learning_rate`` ('constant', 'invscaling', 'adaptive'; sgd only),
    ``learning_rate_init``, ``power_t``, ``max_iter`` (epochs, or L-BFGS iterations),
    ``shuffle``, ``random_state``, ``tol``, ``verbose`` (see the module docstring),
    ``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
    ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``, ``n_iter_no_change``,
    ``max_fun`` (lbfgs function evaluations); and chainrule's ``compile``: ``False`` trains
    each mini-batch eagerly instead of replaying it with :func:`chainrule.compile` (the
    default; ``get_params`` shows ``compile`` only when it is set).

    Fitted attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_`` (when X has
    string column names), ``module_`` (the :class:`chainrule.nn.Sequential` network, logits
    out), ``coefs_`` / ``intercepts_`` (scikit-learn's orientation, views of ``module_``'s
    weights), ``loss_``, ``loss_curve_``, ``best_loss_``, ``validation_scores_``,
    ``best_validation_score_``, ``n_iter_``, ``t_`` (samples seen), ``n_layers_``,
    ``n_outputs_``, ``out_activation_``.

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.predict_proba(X[:1]).shape, clf.out_activation_, bool(clf.score(X, y) > 0.95)
    ((1, 3), 'softmax', True)
    """

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for ``X`` (n_samples, n_features): (n_samples,), or for multi-label
        targets an indicator matrix (n_samples, n_labels). Raises ``NotFittedError`` before
        ``fit``, ``ValueError`` for data with the wrong number of features or NaN."""
        return self._predict_array(self._validate_predict_input(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """The output layer's pre-activations (logits) for ``X`` (n_samples, n_features):
        (n_samples,) for two classes (positive favours ``classes_[1]``), (n_samples,
        n_classes) or (n_samples, n_labels) otherwise; ``predict`` picks the largest (or,
        per output unit, the positive ones). Raises as :meth:`predict`."""
        a = self._logits(self._validate_predict_input(X)).data
        return a.ravel() if self.n_outputs_ == 1 else a

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of each class in ``classes_`` order, (n_samples, n_classes); for
        multi-label targets the probability of each label, (n_samples, n_labels). Raises as
        :meth:`predict`."""
        p = self._forward(self._validate_predict_input(X))
        if self.n_outputs_ == 1:
            p = p.ravel()
            return np.stack([1 - p, p], axis=1)
        return p

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, (n_samples, n_classes). Raises as :meth:`predict`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @available_if(_has_stochastic_solver)
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One epoch over ``X``, ``y`` (continuing from the current weights and optimiser
        state); returns ``self``.

        ``classes`` (every label that will ever be seen) is required on the first call and
        optional later. Only for ``solver='sgd'`` or ``'adam'`` (the attribute does not exist
        for lbfgs). Raises ``ValueError`` without ``classes`` on the first call, for classes
        that differ from the first call's, labels outside them, and with
        ``early_stopping=True``.
        """
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                f"was: {self.classes_!r}"
            )
        return self._fit(X, y, sample_weight, incremental=True)

    def _output_unit(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[Any, np.ndarray, np.ndarray]:
        X, y = self._check_X_y(X, y, reset)
        check_classification_targets(y)
        if reset and not incremental:  # a fit from scratch: the labels define the classes
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:  # warm start, or partial_fit (whose first call set the classes)
            seen = unique_labels(y)
            if self.warm_start and not incremental:
                if set(seen) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {seen}"
                    )
            elif len(np.setdiff1d(seen, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {seen}."
                )
        Y = self._label_binarizer.transform(y).astype(X.dtype)
        return X, Y, np.asarray(y)

    def _predict_array(self, X: Any) -> np.ndarray:
        p = self._forward(X)
        if self.n_outputs_ == 1:
            p = p.ravel()
        return self._label_binarizer.inverse_transform(p)

    def _score_arrays(self, X: Any, y: np.ndarray, sample_weight: Any) -> float:
        return float(accuracy_score(y, self._predict_array(X), sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
