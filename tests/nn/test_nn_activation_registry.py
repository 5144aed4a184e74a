"""The one activation registry (chainrule.nn.activations): every registered activation builds in
the CLI's model builder, the scikit-learn estimators, explain's trace and ONNX export, and its
function, NumPy formula g and derivative g' agree with its module and the engine's gradient."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import UnsupportedModelError
from chainrule.explain import trace
from chainrule.nn import activations
from chainrule.onnx import export
from chainrule.sklearn import MLPClassifier, MLPRegressor
from chainrule.train.run import build_mlp

RECORDS = list(activations.ACTIVATIONS.values())
IDS = [r.name for r in RECORDS]


def _units(model: nn.Module) -> list[type]:
    return [type(m) for m in model if not isinstance(m, nn.Linear)]


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_function_formula_and_derivative_agree_with_the_module(record):
    a = np.linspace(-3.0, 3.0, 13).reshape(13, 1) @ np.ones((1, 2))
    x = cr.tensor(a, requires_grad=True)
    out = record.module()(x)
    out.sum().backward()
    np.testing.assert_allclose(record.function(cr.tensor(a)).numpy(), out.numpy(), atol=1e-12)
    formula = record.formula()
    np.testing.assert_allclose(formula.g(a), out.numpy(), rtol=1e-10, atol=1e-12)
    grad = x.grad.numpy() if x.grad is not None else np.ones_like(a)  # identity: x itself
    np.testing.assert_allclose(formula.dg(a), grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_every_name_builds_in_the_cli_model_builder(record):
    for name in (record.name, *record.aliases):
        model = build_mlp(4, [5, 3], 2, name)
        assert _units(model) == [record.module, record.module]


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_every_name_builds_in_the_estimators(record):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations do not converge
        for cls in (MLPClassifier, MLPRegressor):
            est = cls(hidden_layer_sizes=(4,), activation=record.name, max_iter=3, random_state=0)
            fitted = est.fit(X, y)
            assert _units(fitted.module_)[0] is record.module


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_every_activation_is_traced_by_explain(record):
    model = nn.Sequential(nn.Linear(3, 4), record.module(), nn.Linear(4, 2)).double()
    t = trace(model, np.array([0.5, -1.0, 2.0]), 1)
    assert t  # the engine and the formulas agree (trace raises otherwise)


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_activation_exports_to_onnx(record, dtype):
    model = nn.Sequential(nn.Linear(3, 4), record.module(), nn.Linear(4, 2))
    if dtype == np.float64:
        model = model.double()
    model.eval()
    x = (np.random.default_rng(1).standard_normal((5, 3)) * 2).astype(dtype)
    proto = export(model, x, None)
    if dtype == np.float64 and record.name == "gelu":
        return  # valid ONNX, but onnxruntime's CPU provider has no double Erf
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input": x})
    with cr.no_grad():
        want = model(cr.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_lookup_by_alias_module_and_errors():
    assert activations.get("sigmoid") is activations.get("logistic")
    assert activations.get("Leaky-ReLU") is activations.ACTIVATIONS["leaky_relu"]
    assert activations.of(nn.Identity()).name == "identity"
    assert activations.names(aliases=False) == tuple(activations.ACTIVATIONS)
    with pytest.raises(ValueError, match=r"unknown activation 'rellu' \(did you mean 'relu'\?\)"):
        activations.get("rellu")
    assert activations.lookup("softmax") is None
    with pytest.raises(UnsupportedModelError, match="Softmax is not a registered activation"):
        activations.of(nn.Softmax(dim=1))
    formula = activations.get("leaky_relu").formula(nn.LeakyReLU(0.2))
    np.testing.assert_allclose(formula.dg(np.array([-1.0, 1.0])), [0.2, 1.0])
    assert activations.get("gelu").formula(nn.GELU(approximate="tanh")).name == "gelu_tanh"
