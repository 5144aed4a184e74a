"""The solvers of the scikit-learn estimators: mini-batch ``sgd`` and ``adam`` (with
scikit-learn's learning-rate schedules, early stopping and stopping rule) and ``lbfgs``
through SciPy, mixed into :class:`~chainrule.sklearn.base._BaseMLP`."""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from chainrule.compile import compile
from chainrule.errors import NonFiniteError
from chainrule.optim import SGD, Adam, Optimizer
from chainrule.tensor import Tensor

_log = logging.getLogger("chainrule.sklearn")


class _Solvers:
    """The fitting loops of :class:`~chainrule.sklearn.base._BaseMLP` (a mixin: the network,
    the loss and the validation live there)."""

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
        # replayed by cr.compile, unless turned off or the loss's scale changes every batch
        use = self.compile is not False and sample_weight is None
        update = compile(self._update) if use else self._update
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
                    step_loss = self._train_step(xb, t_epoch, rows, update)
                    total += step_loss * (rows.stop - rows.start)
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

    def _train_step(
        self, xb: np.ndarray, targets: dict[str, Any], rows: slice, update: Any = None
    ) -> float:
        """One mini-batch ``xb``, the ``rows`` of ``targets``: forward, fused loss, backward,
        optimiser step (by ``update``: :meth:`_update`, or it compiled); returns the batch's
        objective (loss plus the L2 term) before the step."""
        sw = targets["sw"]
        sw_sum = float(xb.shape[0]) if sw is None else float(sw[rows].sum())
        if sw_sum <= 0:
            return 0.0
        self._steps += 1
        if self.solver == "adam":
            # PyTorch's Adam adds eps to sqrt(v_t / (1 - beta_2^t)), scikit-learn's to
            # sqrt(v_t): this eps makes the two updates the same.
            eps = self.epsilon / math.sqrt(1.0 - self.beta_2**self._steps)
            self._optimizer.set_hyperparameters(eps=eps)
        if self.alpha:  # the L2 term on the weights (group 0), not the biases
            self._optimizer.set_hyperparameters(group=0, weight_decay=self.alpha / sw_sum)
            weights = [m.weight for m in self._linears()]
            penalty = 0.5 * self.alpha * _squared_norm(weights) / sw_sum
        batch = {k: None if v is None else v[rows] for k, v in targets.items() if k != "sw"}
        try:
            value = (update or self._update)(xb, batch, sw_sum)
        except NonFiniteError as exc:
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                f"large values and need to be preprocessed. ({exc})"
            ) from exc
        if self.out_activation_ == "identity":  # scikit-learn reports the mean over outputs
            value /= self.n_outputs_
        return value + penalty if self.alpha else value

    def _update(self, xb: np.ndarray, batch: dict[str, Any], sw_sum: float) -> float:
        """Forward, the loss of the batch's targets, backward and the optimiser's step;
        returns the loss before the step."""
        loss = self._loss(self.module_(Tensor._make(xb)), batch, None, sw_sum)
        self._optimizer.zero_grad()
        loss.backward()
        self._optimizer.step()
        return loss.item()

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


def _squared_norm(params: list[Tensor]) -> float:
    total = 0.0
    for p in params:
        flat = p.data.ravel()
        total += float(np.dot(flat, flat))
    return total
