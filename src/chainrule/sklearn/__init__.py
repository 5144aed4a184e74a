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

from chainrule.sklearn.classifier import MLPClassifier
from chainrule.sklearn.regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
