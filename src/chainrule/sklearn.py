"""Floor 6: scikit-learn estimators, ``MLPClassifier`` and ``MLPRegressor``, on chainrule.

They take scikit-learn's own ``MLPClassifier`` / ``MLPRegressor`` hyper-parameters, names and
defaults, follow its conventions (``fit`` / ``partial_fit`` / ``predict`` / ``score``,
``get_params`` / ``set_params``, fitted attributes ending in ``_``, input validation, warnings)
and pass ``sklearn.utils.estimator_checks.check_estimator``, so one can replace the other in a
``Pipeline``, ``cross_val_score`` or ``GridSearchCV``. Underneath, the network is a
:class:`chainrule.nn.Sequential` of :class:`~chainrule.nn.Linear` layers and activation
modules (fitted attribute ``module_``), trained by chainrule's engine: one forward, one fused
loss op and one ``backward`` per mini-batch, then a :mod:`chainrule.optim` step.

The same as scikit-learn's, step for step
    With the same ``random_state`` the two take the same steps and reach the same weights to
    rounding error: Glorot-uniform initialisation drawn in scikit-learn's order, its
    mini-batches (``min(200, n_samples)``) and shuffles, its output units (softmax for several
    classes, logistic for two classes and for multi-label targets, identity for regression,
    exp for the Poisson loss), its objective (mean log-loss, half squared error or half
    Poisson deviance, weighted by ``sample_weight``, plus ``alpha / 2 * ||W||^2 /
    sum(weights)`` on the weights but not the biases), its stopping rule (``tol`` and
    ``n_iter_no_change`` on the training loss, or on the validation score with
    ``early_stopping``, the best weights restored), its ``learning_rate`` schedules for
    ``solver='sgd'``, and L-BFGS-B through SciPy for ``solver='lbfgs'``. The updates are
    :class:`chainrule.optim.Adam` and :class:`chainrule.optim.SGD` (PyTorch's formulas) set
    up to take scikit-learn's steps through their public interface: Adam's ``eps`` is
    rescaled each step (``set_hyperparameters``), SGD's momentum buffer whenever the learning
    rate changes (``set_lr(..., keep_velocity=True)``).

Where it differs
    * Dtype: the network computes in the input's floating dtype, as scikit-learn's does
      (float32 data trains a float32 network, anything else is converted to float64).
    * The logits go straight into fused, stable losses (softmax + cross-entropy, softplus
      binary cross-entropy) instead of clipped probabilities.
    * Multi-output squared error: as scikit-learn, ``loss_curve_`` reports the error
      averaged over the outputs while the gradient is that of their sum; ``solver='lbfgs'``
      minimises (and reports as ``loss_``) the sum, so that L-BFGS sees one objective.
    * ``verbose`` messages go to the ``logging`` logger ``"chainrule.sklearn"`` at INFO
      level (chainrule prints nothing itself): ``logging.basicConfig(level=logging.INFO)``
      shows them.
    * A mini-batch whose sample weights sum to zero carries no information and is skipped.
    * Additions: ``decision_function`` (the logits), ``module_`` and :meth:`to_module`.

>>> import numpy as np
>>> from chainrule.sklearn import MLPClassifier
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
>>> y = np.array([0, 1, 1, 0] * 10)
>>> clf = MLPClassifier((16,), activation="tanh", solver="lbfgs", random_state=0).fit(X, y)
>>> clf.predict([[0.0, 1.0], [1.0, 1.0]])
array([1, 0])
>>> [c.shape for c in clf.coefs_]
[(2, 16), (16, 1)]
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse
from scipy.special import xlogy
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data

from chainrule import backend
from chainrule.autograd import no_grad
from chainrule.errors import NonFiniteError
from chainrule.nn import (
    Linear,
    Module,
    Parameter,
    Sequential,
    Sigmoid,
    Softmax,
    activations,
)
from chainrule.ops.activation import sigmoid, softmax
from chainrule.ops.elementwise import exp
from chainrule.ops.loss import sigmoid_binary_cross_entropy, softmax_cross_entropy
from chainrule.ops.reduction import sum as _sum
from chainrule.optim import SGD, Adam, Optimizer
from chainrule.tensor import Tensor

__all__ = ["MLPClassifier", "MLPRegressor"]

_log = logging.getLogger("chainrule.sklearn")

_SOLVERS = ("lbfgs", "sgd", "adam")
_SCHEDULES = ("constant", "invscaling", "adaptive")


def _has_stochastic_solver(est: _BaseMLP) -> bool:
    """``partial_fit`` exists for the mini-batch solvers only, as in scikit-learn."""
    if est.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers; {est.solver!r} is not "
            "stochastic (use solver='sgd' or 'adam')"
        )
    return True


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: validation, the network, the solvers."""

    def __init__(
        self,
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
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ------------------------------------------------------------------ public API
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseMLP:
        """Train the network on ``X`` (n_samples, n_features), dense or sparse, and ``y``
        (n_samples,) or (n_samples, n_outputs); returns ``self``.

        ``sample_weight`` (n_samples,) weighs each sample's loss. Starts from new random
        weights unless ``warm_start=True`` and the estimator is already fitted.

        Raises ``ValueError`` for invalid hyper-parameters or data (NaN, wrong shapes, too
        few samples for the ``early_stopping`` validation split), and when training produced
        non-finite weights; warns ``ConvergenceWarning`` when ``max_iter`` is reached first.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, ``coefs_[i]`` of shape (units in layer i, units in layer i+1):
        scikit-learn's (in, out) orientation, as views of the transposed ``weight`` of each
        :class:`~chainrule.nn.Linear` in ``module_`` (writing into them changes the model).
        Assigning a list of arrays of the same shapes copies them into the model."""
        return [layer.weight.data.T for layer in self._linears()]

    @coefs_.setter
    def coefs_(self, values: Iterable[Any]) -> None:
        self._assign("coefs_", [layer.weight for layer in self._linears()], values, True)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, ``intercepts_[i]`` of shape (units in layer i+1,): the ``bias`` of
        each :class:`~chainrule.nn.Linear` in ``module_``. Assignment copies, as
        ``coefs_``."""
        return [layer.bias.data for layer in self._linears()]

    @intercepts_.setter
    def intercepts_(self, values: Iterable[Any]) -> None:
        self._assign("intercepts_", [layer.bias for layer in self._linears()], values, False)

    def to_module(self, output_activation: bool = True) -> Sequential:
        """A copy of the fitted network as a :class:`chainrule.nn.Sequential`, for saving
        (``cr.save``), ONNX export or loading into PyTorch.

        With ``output_activation`` the output unit is appended (``Softmax(dim=1)``,
        ``Sigmoid``, or nothing for identity), so the module maps inputs (n, n_features) to
        what ``predict_proba`` / ``predict`` compute (before thresholding or ravelling); the
        Poisson regressor's exp has no module and raises ``ValueError``. Raises
        ``NotFittedError`` before ``fit``.
        """
        check_is_fitted(self)
        layers: list[Module] = []
        for m in self.module_:
            if isinstance(m, Linear):
                layers.append(_linear(m.weight.data.copy(), m.bias.data.copy()))
            else:
                layers.append(type(m)())
        if output_activation:
            out = self.out_activation_
            if out == "softmax":
                layers.append(Softmax(dim=1))
            elif out == "logistic":
                layers.append(Sigmoid())
            elif out == "exp":
                raise ValueError("the Poisson regressor's exp output has no chainrule module")
        return Sequential(*layers)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------ fitting
    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool) -> _BaseMLP:
        hidden = self._check_params()
        first_pass = not hasattr(self, "module_") or (not self.warm_start and not incremental)
        X, Y, y_labels = self._validate_input(X, y, incremental, reset=first_pass)
        if scipy.sparse.issparse(X):
            X = X.tocsr()
        if sample_weight is not None:
            sample_weight = check_array(
                sample_weight, ensure_2d=False, dtype=X.dtype, input_name="sample_weight"
            )
            if sample_weight.shape != (X.shape[0],):
                raise ValueError(
                    f"sample_weight.shape == {sample_weight.shape}, expected {(X.shape[0],)}"
                )
            if np.any(sample_weight < 0):
                raise ValueError("Negative values in data passed to `sample_weight`")
            if not np.any(sample_weight > 0):
                raise ValueError("Sample weights must contain at least one non-zero number.")
        layer_units = [X.shape[1], *hidden, Y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, X.dtype)
        else:
            have = [self.n_features_in_, *(m.out_features for m in self._linears())]
            if have != layer_units:
                raise ValueError(
                    f"warm_start/partial_fit: the fitted network has layer sizes {have}, but "
                    f"hidden_layer_sizes and the data ask for {layer_units}; refit from scratch "
                    "(warm_start=False)"
                )
            if X.dtype != self._dtype():  # the network keeps the dtype it was built in
                X, Y = X.astype(self._dtype()), Y.astype(self._dtype())
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight)
        else:
            self._fit_stochastic(X, Y, y_labels, sample_weight, incremental)
        if not all(np.isfinite(p.data).all() for p in self.module_.parameters()):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed."
            )
        return self

    def _initialize(self, Y: np.ndarray, layer_units: list[int], dtype: np.dtype) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_unit()
        # Glorot & Bengio's uniform initialisation, scikit-learn's factor and draw order.
        factor = 2.0 if self.activation == "logistic" else 6.0
        layers: list[Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
            bound = math.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            layers.append(_linear(np.ascontiguousarray(coef.T, dtype), intercept.astype(dtype)))
            if i < len(layer_units) - 2:
                layers.append(activations.get(self.activation).module())
        self.module_ = Sequential(*layers)
        self._optimizer: Optimizer | None = None
        self._best_params: list[np.ndarray] | None = None
        if self.solver != "lbfgs":
            self._init_stochastic_state()

    def _init_stochastic_state(self) -> None:
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_: list[float] | None = []
            self.best_validation_score_: float | None = -np.inf
            self.best_loss_: float | None = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _fit_stochastic(
        self,
        X: Any,
        Y: np.ndarray,
        y_labels: np.ndarray,
        sample_weight: np.ndarray | None,
        incremental: bool,
    ) -> None:
        if self._optimizer is None or not incremental:
            self._optimizer = self._make_optimizer()
            self._steps = 0
        if not hasattr(self, "loss_curve_"):  # warm start after lbfgs
            self._init_stochastic_state()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        rs = self._random_state
        val = None
        if self.early_stopping:
            train_idx, val_idx = self._validation_split(Y, y_labels, rs)
            sw_val = None if sample_weight is None else sample_weight[val_idx]
            val = (X[val_idx], y_labels[val_idx], sw_val)
            X, Y = X[train_idx], Y[train_idx]
            sample_weight = None if sample_weight is None else sample_weight[train_idx]
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to "
                    "be clipped",
                    stacklevel=4,
                )
            batch_size = int(np.clip(self.batch_size, 1, n))
        targets = self._loss_targets(Y, sample_weight)
        sparse = scipy.sparse.issparse(X)
        order = np.arange(n)
        X_epoch, t_epoch = X, targets
        self.n_iter_ = 0
        try:
            for _ in range(self.max_iter):
                if self.shuffle:
                    # scikit-learn's draws: the previous order, shuffled again. One gather
                    # per epoch, so that each mini-batch below is a contiguous slice.
                    order = order[rs.permutation(n)]
                    X_epoch = X[order]
                    t_epoch = {k: None if v is None else v[order] for k, v in targets.items()}
                total = 0.0
                for start in range(0, n, batch_size):
                    rows = slice(start, min(start + batch_size, n))
                    xb = X_epoch[rows].toarray() if sparse else X_epoch[rows]
                    total += self._train_step(xb, t_epoch, rows) * (rows.stop - rows.start)
                self.n_iter_ += 1
                self.t_ += n
                self.loss_ = total / n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    _log.info("Iteration %d, loss = %.8f", self.n_iter_, self.loss_)
                self._update_no_improvement_count(val)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_lr(self.learning_rate_init / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    if self._stop_or_decay():
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                        "and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=4,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        if self.early_stopping and self._best_params is not None:
            for p, best in zip(self.module_.parameters(), self._best_params):
                p.data[...] = best

    def _train_step(self, xb: np.ndarray, targets: dict[str, Any], rows: slice) -> float:
        """One mini-batch ``xb``, the ``rows`` of ``targets``: forward, fused loss, backward,
        optimiser step; returns the batch's objective (loss plus the L2 term) before the
        step."""
        sw = targets["sw"]
        sw_sum = float(xb.shape[0]) if sw is None else float(sw[rows].sum())
        if sw_sum <= 0:
            return 0.0
        loss = self._loss(self.module_(Tensor._make(xb)), targets, rows, sw_sum)
        value = float(loss.data)
        if self.out_activation_ == "identity":  # scikit-learn reports the mean over outputs
            value /= self.n_outputs_
        self._steps += 1
        if self.solver == "adam":
            # PyTorch's Adam adds eps to sqrt(v_t / (1 - beta_2^t)), scikit-learn's to
            # sqrt(v_t): this eps makes the two updates the same.
            eps = self.epsilon / math.sqrt(1.0 - self.beta_2**self._steps)
            self._optimizer.set_hyperparameters(eps=eps)
        if self.alpha:  # the L2 term on the weights (group 0), not the biases
            self._optimizer.set_hyperparameters(group=0, weight_decay=self.alpha / sw_sum)
            weights = [m.weight for m in self._linears()]
            value += 0.5 * self.alpha * _squared_norm(weights) / sw_sum
        self._optimizer.zero_grad()
        loss.backward()
        try:
            self._optimizer.step()
        except NonFiniteError as exc:
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                f"large values and need to be preprocessed. ({exc})"
            ) from exc
        return value

    def _loss(self, out: Tensor, targets: dict[str, Any], idx: Any, sw_sum: float) -> Tensor:
        """The mean (weighted) loss of logits ``out`` for the rows ``idx`` of the targets."""
        kind = self.out_activation_
        q = targets["q"][idx]
        if kind == "softmax":  # q holds the one-hot targets times the sample weights
            return softmax_cross_entropy(out, q, 1.0 / sw_sum)
        w = targets["w"]
        if kind == "logistic":
            losses = sigmoid_binary_cross_entropy(out, q)
        elif kind == "exp":  # half Poisson deviance: exp(a) - y a + (y log y - y)
            losses = exp(out) - out * q + targets["c"][idx]
        else:  # half squared error
            d = out - q
            losses = d * d * 0.5
        if w is not None:
            losses = losses * w[idx]
        return _sum(losses) * (1.0 / sw_sum)

    def _loss_targets(self, Y: np.ndarray, sample_weight: np.ndarray | None) -> dict[str, Any]:
        w = None if sample_weight is None else sample_weight[:, None]
        if self.out_activation_ == "softmax" and w is not None:
            return {"q": Y * w, "w": None, "sw": sample_weight}
        targets = {"q": Y, "w": w, "sw": sample_weight}
        if self.out_activation_ == "exp":  # the deviance's terms that do not involve the model
            targets["c"] = xlogy(Y, Y) - Y
        return targets

    def _fit_lbfgs(self, X: Any, Y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        params = list(self.module_.parameters())
        weights = [layer.weight for layer in self._linears()]
        shapes = [p.data.shape for p in params]
        sizes = [p.data.size for p in params]
        dtype = params[0].data.dtype
        Xd = X.toarray() if scipy.sparse.issparse(X) else X
        targets = self._loss_targets(Y, sample_weight)
        n = Xd.shape[0]
        sw_sum = float(n if sample_weight is None else sample_weight.sum())
        rows = slice(None)
        if sw_sum <= 0:
            raise ValueError("sample_weight sums to zero: there is nothing to fit")

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            for p, chunk, shape in zip(params, np.split(theta, np.cumsum(sizes)[:-1]), shapes):
                p.data[...] = chunk.reshape(shape)
            for p in params:
                p.grad = None
            loss = self._loss(self.module_(Tensor._make(Xd)), targets, rows, sw_sum)
            loss.backward()
            value = float(loss.data)
            grads = []
            for p in params:
                g = p.grad.data.astype(np.float64)
                if self.alpha and any(p is w for w in weights):
                    g += (self.alpha / sw_sum) * p.data
                grads.append(g.ravel())
            if self.alpha:
                value += 0.5 * self.alpha * _squared_norm(weights) / sw_sum
            return value, np.concatenate(grads)

        theta0 = np.concatenate([p.data.astype(np.float64).ravel() for p in params])
        with np.errstate(over="ignore", invalid="ignore"):
            result = scipy.optimize.minimize(
                objective,
                theta0,
                method="L-BFGS-B",
                jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
            )
        for p, chunk, shape in zip(params, np.split(result.x, np.cumsum(sizes)[:-1]), shapes):
            p.data[...] = chunk.reshape(shape).astype(dtype)
            p.grad = None
        self.n_iter_ = int(result.nit)
        self.t_ += n
        self.loss_ = float(result.fun)
        if self.verbose:
            _log.info("L-BFGS-B: %s after %d iterations", result.message, self.n_iter_)
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status="
                f"{result.status}): {result.message}. Increase the number of iterations "
                "(max_iter) or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )

    # ------------------------------------------------------------------ solver helpers
    def _make_optimizer(self) -> Optimizer:
        linears = self._linears()
        groups = [
            {"params": [m.weight for m in linears], "weight_decay": 0.0},
            {"params": [m.bias for m in linears], "weight_decay": 0.0},
        ]
        if self.solver == "adam":
            return Adam(
                groups,
                lr=self.learning_rate_init,
                betas=(self.beta_1, self.beta_2),
                eps=self.epsilon,
            )
        return SGD(
            groups,
            lr=self.learning_rate_init,
            momentum=self.momentum,
            nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
        )

    def _set_lr(self, lr: float) -> None:
        """Change the learning rate. SGD's momentum buffer b (the step is lr * b) is
        rescaled by old / new lr, so the velocity -lr * b carries over unchanged, as
        scikit-learn's velocity does."""
        self._optimizer.set_lr(lr, keep_velocity=True)

    def _stop_or_decay(self) -> bool:
        """After ``n_iter_no_change`` epochs without progress: stop, or (sgd, ``adaptive``)
        divide the learning rate by 5 until it falls below 1e-6."""
        what = "Validation score" if self.early_stopping else "Training loss"
        msg = (
            f"{what} did not improve more than tol={self.tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )
        if self.solver == "sgd" and self.learning_rate == "adaptive":
            lr = self._optimizer.hyperparameter("lr")
            if lr > 1e-6:
                self._set_lr(lr / 5.0)
                if self.verbose:
                    _log.info("%s Setting learning rate to %f", msg, lr / 5.0)
                return False
            msg += " Learning rate too small."
        if self.verbose:
            _log.info("%s Stopping.", msg)
        return True

    def _update_no_improvement_count(self, val: tuple | None) -> None:
        if val is not None:
            X_val, y_val, sw_val = val
            score = self._score_arrays(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                _log.info("Validation score: %f", score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = [p.data.copy() for p in self.module_.parameters()]
        else:
            loss = self.loss_curve_[-1]
            if loss > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, loss)

    def _validation_split(
        self, Y: np.ndarray, y_labels: np.ndarray, rs: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray]:
        n = Y.shape[0]
        stratify = None
        if isinstance(self, ClassifierMixin) and Y.shape[1] == 1:
            # as scikit-learn: stratified for a single output unit (binary targets), when
            # both classes have the two samples a stratified split needs
            _, counts = np.unique(y_labels, return_counts=True)
            if counts.min() >= 2:
                stratify = y_labels
        train_idx, val_idx = train_test_split(
            np.arange(n), random_state=rs, test_size=self.validation_fraction, stratify=stratify
        )
        if len(val_idx) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size "
                "of your dataset."
            )
        return train_idx, val_idx

    # ------------------------------------------------------------------ forward
    def _logits(self, X: Any) -> Tensor:
        """The output layer's pre-activations a_L for ``X``, (n, n_outputs), no graph."""
        Xd = X.toarray() if scipy.sparse.issparse(X) else X
        with no_grad():
            return self.module_(Tensor._make(np.asarray(Xd, dtype=self._dtype())))

    def _forward(self, X: Any) -> np.ndarray:
        """The network's output units (probabilities or predictions), (n, n_outputs)."""
        out = self._logits(X)
        with no_grad():
            kind = self.out_activation_
            if kind == "softmax":
                out = softmax(out, -1)
            elif kind == "logistic":
                out = sigmoid(out)
            elif kind == "exp":
                out = exp(out)
        return out.data

    def _validate_predict_input(self, X: Any) -> Any:
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=False
        )

    # ------------------------------------------------------------------ small helpers
    def _linears(self) -> list[Linear]:
        if not hasattr(self, "module_"):
            raise AttributeError(f"this {type(self).__name__} is not fitted yet")
        return [m for m in self.module_ if isinstance(m, Linear)]

    def _dtype(self) -> np.dtype:
        return self._linears()[0].weight.data.dtype

    def _assign(
        self, name: str, params: list[Parameter], values: Iterable[Any], transpose: bool
    ) -> None:
        values = list(values)
        if len(values) != len(params):
            raise ValueError(f"{name}: expected {len(params)} arrays, got {len(values)}")
        arrays = []
        for i, (p, v) in enumerate(zip(params, values)):
            a = np.asarray(v, dtype=p.data.dtype)
            a = a.T if transpose else a
            if a.shape != p.data.shape:
                want = p.data.T.shape if transpose else p.data.shape
                raise ValueError(f"{name}[{i}]: expected shape {want}, got {np.shape(v)}")
            arrays.append(a)
        for p, a in zip(params, arrays):
            p.data[...] = a

    def _check_params(self) -> list[int]:
        """Validate the hyper-parameters (at fit time, as scikit-learn does); returns the
        hidden layer sizes as a list. Raises ``ValueError`` naming the parameter."""
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if isinstance(sizes, Iterable) else [sizes]
        if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be integers, got {self.hidden_layer_sizes}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")

        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(
                    f"The '{name}' parameter of {type(self).__name__} must be {rule}. "
                    f"Got {getattr(self, name)!r} instead."
                )

        def real(name: str, low: float, high: float = math.inf, closed: str = "left") -> None:
            v = getattr(self, name)
            ok = isinstance(v, Real) and not isinstance(v, bool) and not math.isnan(v)
            if ok:
                lo_ok = v >= low if closed in ("left", "both") else v > low
                hi_ok = v <= high if closed in ("right", "both") else v < high
                ok = lo_ok and hi_ok
            lb = "[" if closed in ("left", "both") else "("
            rb = "]" if closed in ("right", "both") else ")"
            need(ok, name, f"a float in the range {lb}{low}, {high}{rb}")

        units = activations.names()
        need(self.activation in units, "activation", f"one of {list(units)}")
        need(self.solver in _SOLVERS, "solver", f"one of {list(_SOLVERS)}")
        need(self.learning_rate in _SCHEDULES, "learning_rate", f"one of {list(_SCHEDULES)}")
        bs = self.batch_size
        need(
            bs == "auto" or (isinstance(bs, Integral) and not isinstance(bs, bool) and bs >= 1),
            "batch_size",
            "'auto' or an int >= 1",
        )
        for name in ("max_iter", "max_fun"):
            v = getattr(self, name)
            ok = isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            need(ok, name, "an int >= 1")
        nic = self.n_iter_no_change
        need(
            (isinstance(nic, Integral) and not isinstance(nic, bool) and nic >= 1) or nic == np.inf,
            "n_iter_no_change",
            "an int >= 1 or inf",
        )
        real("alpha", 0.0)
        real("learning_rate_init", 0.0, closed="neither")
        real("power_t", 0.0)
        real("tol", 0.0)
        real("momentum", 0.0, 1.0, closed="both")
        real("validation_fraction", 0.0, 1.0)
        real("beta_1", 0.0, 1.0)
        real("beta_2", 0.0, 1.0)
        real("epsilon", 0.0, closed="neither")
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            need(isinstance(getattr(self, name), (bool, np.bool_)), name, "a bool")
        return [int(s) for s in sizes]


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, scikit-learn's ``MLPClassifier`` on chainrule.

    Hidden layers ``Linear`` + ``activation``; a softmax output for several classes, one
    logistic unit for two classes, one logistic unit per label for a multi-label indicator
    matrix ``y`` (n_samples, n_labels). Trained on the (sample-weighted) log-loss with an L2
    penalty ``alpha``.

    Parameters are scikit-learn's, same names, meanings and defaults:
    ``hidden_layer_sizes`` (tuple of ints, the i-th the units of hidden layer i),
    ``activation`` ('identity', 'logistic', 'tanh', 'relu'), ``solver`` ('lbfgs', 'sgd',
    'adam'), ``alpha`` (L2 strength), ``batch_size`` ('auto' = min(200, n_samples)),
    ``learning_rate`` ('constant', 'invscaling', 'adaptive'; sgd only),
    ``learning_rate_init``, ``power_t``, ``max_iter`` (epochs, or L-BFGS iterations),
    ``shuffle``, ``random_state``, ``tol``, ``verbose`` (see the module docstring),
    ``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
    ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``, ``n_iter_no_change``,
    ``max_fun`` (lbfgs function evaluations).

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
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
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
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
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


# ---------------------------------------------------------------------------- helpers
def _linear(weight: np.ndarray, bias: np.ndarray) -> Linear:
    """A :class:`~chainrule.nn.Linear` holding ``weight`` (out, in) and ``bias`` (out,)."""
    state = backend.get_rng_state()
    try:
        layer = Linear(weight.shape[1], weight.shape[0])
    finally:
        backend.set_rng_state(state)
    layer.weight = Parameter(weight)
    layer.bias = Parameter(bias)
    return layer


def _squared_norm(params: list[Tensor]) -> float:
    total = 0.0
    for p in params:
        flat = p.data.ravel()
        total += float(np.dot(flat, flat))
    return total
