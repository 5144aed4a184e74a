"""What :class:`~chainrule.sklearn.MLPClassifier` and :class:`~chainrule.sklearn.MLPRegressor`
share: hyper-parameters and their validation, the network (``module_``, ``coefs_``,
``intercepts_``), the loss and the forward pass; the solvers are in
:mod:`chainrule.sklearn.solvers`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse
from scipy.special import xlogy
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data

from chainrule import backend
from chainrule.autograd import no_grad
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
from chainrule.optim import Optimizer
from chainrule.sklearn.solvers import _Solvers
from chainrule.tensor import Tensor

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


class _BaseMLP(_Solvers, BaseEstimator):
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
        compile: bool | None = None,
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
        self.compile = compile

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """scikit-learn's parameters, and chainrule's ``compile`` when it is set (None, the
        default, means on: the parameters match scikit-learn's estimator's)."""
        params = super().get_params(deep)
        if params.get("compile") is None:
            params.pop("compile", None)
        return params

    def set_params(self, **params: Any) -> _BaseMLP:
        """scikit-learn's ``set_params``; also takes ``compile``."""
        if "compile" in params:
            self.compile = params.pop("compile")
        return super().set_params(**params)

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

    def _loss(self, out: Tensor, targets: dict[str, Any], idx: Any, sw_sum: float) -> Tensor:
        """The mean (weighted) loss of logits ``out`` for the rows ``idx`` of the targets."""
        kind = self.out_activation_
        q = targets["q"][idx] if idx is not None else targets["q"]  # None: the batch's already
        if kind == "softmax":  # q holds the one-hot targets times the sample weights
            return softmax_cross_entropy(out, q, 1.0 / sw_sum)
        w = targets["w"]
        if kind == "logistic":
            losses = sigmoid_binary_cross_entropy(out, q)
        elif kind == "exp":  # half Poisson deviance: exp(a) - y a + (y log y - y)
            losses = exp(out) - out * q + (targets["c"][idx] if idx is not None else targets["c"])
        else:  # half squared error
            d = out - q
            losses = d * d * 0.5
        if w is not None:
            losses = losses * (w[idx] if idx is not None else w)
        return _sum(losses) * (1.0 / sw_sum)

    def _loss_targets(self, Y: np.ndarray, sample_weight: np.ndarray | None) -> dict[str, Any]:
        w = None if sample_weight is None else sample_weight[:, None]
        if self.out_activation_ == "softmax" and w is not None:
            return {"q": Y * w, "w": None, "sw": sample_weight}
        targets = {"q": Y, "w": w, "sw": sample_weight}
        if self.out_activation_ == "exp":  # the deviance's terms that do not involve the model
            targets["c"] = xlogy(Y, Y) - Y
        return targets

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
    def _check_X_y(self, X: Any, y: Any, reset: bool, **kwargs: Any) -> tuple[Any, np.ndarray]:
        """scikit-learn's validation of a training set (sparse X allowed, float64 or float32,
        several outputs); a column vector ``y`` becomes 1-D, with scikit-learn's warning."""
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
            **kwargs,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

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
