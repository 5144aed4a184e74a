"""The one loss registry (chainrule.nn.losses): every record's module and engine function agree,
its NumPy form (where the seeds' formulas are written) gives the engine's loss and output
gradient, and training settings, explain and the CLI find losses through it."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.explain import trace
from chainrule.explain.notation import to_text
from chainrule.nn import losses
from chainrule.train.experiment import loss_description, make_loss
from chainrule.train.settings import LOSSES, TrainSettings

RECORDS = list(losses.LOSSES.values())
IDS = [r.name for r in RECORDS]


def _batch(record: losses.Loss, n: int = 5, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, k))
    y = rng.integers(k, size=n) if record.labels else rng.normal(size=(n, k))
    return a, y


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_module_and_function_agree(record):
    a, y = _batch(record)
    for reduction in ("mean", "sum"):
        by_module = record.module(reduction=reduction)(cr.tensor(a), cr.tensor(y)).item()
        by_function = record.engine(reduction)(cr.tensor(a), cr.tensor(y)).item()
        assert by_module == pytest.approx(by_function, rel=1e-12)
    assert losses.get(record.name) is record
    assert losses.get(record.module()) is record
    for alias in record.aliases:
        assert losses.get(alias.upper().replace("_", "-")) is record


@pytest.mark.parametrize("record", [r for r in RECORDS if r.traceable], ids=lambda r: r.name)
def test_numpy_form_matches_the_engine(record):
    a, y = _batch(record)
    x = cr.tensor(a, requires_grad=True)
    loss = record.engine("sum")(x, cr.tensor(y))
    loss.backward()
    y_hat, value, grad = record.numpy(a, y)
    assert value == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y_hat, record.output_function(cr.tensor(a)).numpy(), atol=1e-12)
    # the mean divides by the examples or by every output, as the record says
    mean = record.engine("mean")(cr.tensor(a), cr.tensor(y)).item()
    assert mean == pytest.approx(value / (a.size if record.mean_over_outputs else len(a)))
    assert losses.by_output(record.output) is record
    # the formulas are trees the views can render
    for tree in (record.formula, record.output_formula, record.gradient):
        assert to_text(tree)


def test_formulas_read_as_the_seeds_write_them():
    ce, se = losses.get("cross_entropy"), losses.get("squared_error")
    assert to_text(ce.formula) == "−log ŷ_y" and to_text(ce.gradient) == "−(e(y) − ŷ)"
    assert to_text(se.formula) == "‖y − ŷ‖^2" and to_text(se.gradient) == "−2 (y − ŷ)"
    assert to_text(ce.output_formula) == "softmax(a_L)" and to_text(se.output_formula) == "a_L"


def test_unknown_names_and_untraced_losses():
    with pytest.raises(ValueError, match="unknown loss 'hinge'; known: cross_entropy, mse"):
        losses.get("hinge")
    with pytest.raises(ValueError, match="unknown loss module"):
        losses.get(nn.BCELoss())
    with pytest.raises(ValueError, match="not written for the absolute error"):
        trace(nn.Linear(2, 1), np.ones(2), [0.0], "mae")
    with pytest.raises(ValueError, match="no traceable loss"):
        losses.by_output("sigmoid")


def test_training_settings_read_the_registry():
    assert LOSSES == {"classification": ("cross_entropy",), "regression": ("mse", "mae", "huber")}
    for record in RECORDS:
        settings = TrainSettings(loss=record.name).resolved(record.task)
        assert settings.output == record.output
        assert type(make_loss(settings)) is record.module
        assert loss_description(settings).startswith(record.title)
    ce = make_loss(TrainSettings.from_mapping({"loss": "ce"}).resolved("classification"))
    assert ce.label_smoothing == pytest.approx(0.1)  # the classification default
    assert TrainSettings.from_mapping({"loss": "squared_error"}).loss == "mse"


def test_trace_follows_the_record():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    t = trace(net, np.ones((2, 3)), np.zeros((2, 2)), nn.MSELoss())
    assert t.loss_record is losses.get("mse") and t.output == "linear"
    assert t.scale == pytest.approx(1 / 4)  # the mean over N k = 4 outputs
    assert "−2 (y − ŷ)" in t.to_text()
