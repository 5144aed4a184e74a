"""scikit-learn's ``MLPRegressor`` on chainrule."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if

from chainrule.sklearn.base import _BaseMLP, _has_stochastic_solver


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, scikit-learn's ``MLPRegressor`` on chainrule.

    Hidden layers ``Linear`` + ``activation`` and a linear output layer (an exp output with
    ``loss='poisson'``), one unit per target column; trained on the (sample-weighted) half
    squared error, or half Poisson deviance, plus the L2 penalty ``alpha``.

    ``loss`` is 'squared_error' or 'poisson' (targets >= 0); the other parameters and the
    fitted attributes are those of :class:`MLPClassifier` (no ``classes_``).
    ``predict`` returns (n_samples,) for a 1-D target and (n_samples, n_outputs) otherwise.

    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 50)[:, None]
    >>> reg = MLPRegressor(hidden_layer_sizes=(20,), activation="tanh", solver="lbfgs")
    >>> reg = reg.set_params(random_state=0).fit(X, X.ravel() ** 2)
    >>> bool(reg.score(X, X.ravel() ** 2) > 0.99)
    True
    """

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        max_fun: int = 15000,
        compile: bool | None = None,
    ) -> None:
        self.loss = loss
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            compile=compile,
        )

    def predict(self, X: Any) -> np.ndarray:
        """Predictions for ``X`` (n_samples, n_features): (n_samples,) for one output,
        (n_samples, n_outputs) otherwise. Raises ``NotFittedError`` before ``fit``,
        ``ValueError`` for data with the wrong number of features or NaN."""
        return self._predict_array(self._validate_predict_input(X))

    @available_if(_has_stochastic_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``X``, ``y``, continuing from the current weights and optimiser
        state; returns ``self``. Only for ``solver='sgd'`` or ``'adam'``. Raises
        ``ValueError`` with ``early_stopping=True`` and for data that does not fit."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _check_params(self) -> list[int]:
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(
                "The 'loss' parameter of MLPRegressor must be one of ['squared_error', "
                f"'poisson']. Got {self.loss!r} instead."
            )
        return super()._check_params()

    def _output_unit(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags

    def _validate_input(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[Any, np.ndarray, np.ndarray]:
        X, y = self._check_X_y(X, y, reset, y_numeric=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets y")
        Y = np.asarray(y, dtype=X.dtype)
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        return X, Y, Y

    def _predict_array(self, X: Any) -> np.ndarray:
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def _score_arrays(self, X: Any, y: np.ndarray, sample_weight: Any) -> float:
        pred = self._predict_array(X)
        if not np.isfinite(pred).all():
            return float("nan")
        y = y.ravel() if y.shape[1] == 1 else y
        return float(r2_score(y, pred, sample_weight=sample_weight))
