"""Runs from settings (what ``chainrule train`` does) and their use on new data (what
``predict`` and ``evaluate`` do), without a subprocess."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import same_weights

import chainrule as cr
from chainrule.errors import CheckpointError, DataError
from chainrule.train import ProgressBar, predict
from chainrule.train.experiment import fold_target_scaling, prepare_data, start_run
from chainrule.train.inference import (
    evaluate_run,
    load_data_for_run,
    predict_run,
    predictions_csv,
)
from chainrule.train.run import build_mlp, load_run
from chainrule.train.settings import (
    DEFAULT_LR,
    REGRESSION_SGD_LR,
    TrainSettings,
    load_settings_file,
)

QUICK = {"dataset": "moons", "hidden": "8,8", "epochs": 2, "batch_size": 64}


# ---------------------------------------------------------------------------------- settings
def test_defaults_are_the_seeds_network():
    s = TrainSettings()
    assert s.hidden == (128, 64) and s.activation == "tanh" and s.optimizer == "sgd"
    c = s.resolved("classification")
    assert (c.output, c.loss, c.lr, c.label_smoothing) == ("softmax", "cross_entropy", 0.1, 0.1)
    r = s.resolved("regression")
    assert (r.output, r.loss, r.label_smoothing) == ("linear", "mse", 0.0)
    assert TrainSettings(optimizer="adam").resolved("regression").lr == DEFAULT_LR["adam"]
    assert r.lr == REGRESSION_SGD_LR < DEFAULT_LR["sgd"]


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        ({"hidden": "64, 32"}, "hidden", (64, 32)),
        ({"hidden": [16]}, "hidden", (16,)),
        ({"hidden": 7}, "hidden", (7,)),
        ({"hidden": "none"}, "hidden", ()),
        ({"batch-size": "16"}, "batch_size", 16),
        ({"lr": "1e-3"}, "lr", 0.001),
        ({"loss": "Cross-Entropy"}, "loss", "cross_entropy"),
        ({"loss": "squared_error"}, "loss", "mse"),
        ({"output": "identity"}, "output", "linear"),
        ({"early_stopping": True}, "early_stopping", 10),
        ({"early-stopping": 0}, "early_stopping", None),
        ({"early-stopping": "4"}, "early_stopping", 4),
        ({"test_size": 50}, "test_size", 50),
        ({"activation": "Logistic"}, "activation", "logistic"),
    ],
)
def test_settings_parse(values, field, expected):
    assert getattr(TrainSettings.from_mapping(values), field) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hiden": "3"}, "unknown setting 'hiden' \\(did you mean 'hidden'\\?\\)"),
        ({"zzz": 1}, "unknown setting 'zzz'; known: dataset, target"),
        ({"hidden": "64,x"}, "--hidden: expected positive layer sizes"),
        ({"hidden": "0"}, "--hidden: expected positive layer sizes"),
        ({"lr": "-1"}, "--lr: expected a number > 0, got '-1'"),
        ({"lr": "fast"}, "--lr: expected a number, got 'fast'"),
        ({"epochs": 0}, "--epochs: must be at least 1, got 0"),
        ({"epochs": 2.5}, "--epochs: expected a whole number, got 2.5"),
        ({"batch_size": True}, "--batch-size: expected a whole number"),
        ({"momentum": 1.0}, "--momentum: expected a number in \\[0, 1\\)"),
        ({"dropout": -0.1}, "--dropout: expected a number in \\[0, 1\\)"),
        ({"optimizer": "adamm"}, "--optimizer: unknown value 'adamm' \\(did you mean 'adam'\\?\\)"),
        (
            {"schedule": "linear"},
            "--schedule: unknown value 'linear' .*; choose from cosine, step, onecycle, none",
        ),
        ({"test_size": 2.5}, "--test-size: a fraction in \\(0, 1\\) or a whole number"),
        ({"dataset": ""}, "--dataset: expected a non-empty text"),
    ],
)
def test_settings_errors(values, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings.from_mapping(values)


def test_resolved_rejects_output_and_loss_that_do_not_fit():
    with pytest.raises(ValueError, match="--output linear does not suit classification"):
        TrainSettings(output="linear").resolved("classification")
    with pytest.raises(ValueError, match="--loss cross_entropy does not suit regression"):
        TrainSettings(loss="cross_entropy").resolved("regression")
    with pytest.raises(ValueError, match="--label-smoothing is for classification only"):
        TrainSettings(label_smoothing=0.1).resolved("regression")


def test_settings_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('dataset = "moons"\nhidden = [8, 4]\nearly-stopping = 3\n')
    values = load_settings_file(p)
    s = TrainSettings.from_mapping(values)
    assert (s.dataset, s.hidden, s.early_stopping) == ("moons", (8, 4), 3)
    p.write_text("learning_rate = 0.1\n")
    with pytest.raises(ValueError, match=r"s.toml: unknown setting 'learning_rate'"):
        load_settings_file(p)
    p.write_text("lr = 0.1\nbatch_size = 'big'\n")
    with pytest.raises(ValueError, match=r"s.toml: batch-size: expected a whole number"):
        load_settings_file(p)
    p.write_text("lr = \n")
    with pytest.raises(DataError, match=r"s.toml: not valid TOML"):
        load_settings_file(p)
    with pytest.raises(DataError, match="no such config file"):
        load_settings_file(tmp_path / "none.toml")


# ---------------------------------------------------------------------------------- data
def _csv(path, n=60, seed=0, target="kind"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 10.0, 100.0] + [0.0, 50.0, -20.0]
    y = np.where(x[:, 0] + (x[:, 1] - 50) / 10 > 0, "big", "small")
    lines = [f"a,b,c,{target}"] + [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{k}" for r, k in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_prepare_data_standardises_on_the_training_split_only(tmp_path):
    s = TrainSettings.from_mapping({"dataset": str(_csv(tmp_path / "d.csv")), "target": "kind",
                                    "batch_size": 8})  # fmt: skip
    d = prepare_data(s)
    assert (len(d.X_train), len(d.X_val), len(d.X_test)) == (43, 5, 12)
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(d.X_train.std(axis=0), 1, atol=1e-5)
    assert abs(d.X_test.mean()) > 1e-4  # test statistics were not used
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    pre = d.preprocess
    assert pre.class_names == ["big", "small"] and pre.feature_names == ["a", "b", "c"]
    assert pre.task == "classification" and pre.n_features == 3
    no_val = prepare_data(TrainSettings.from_mapping({**s.to_dict(), "val_size": 0}))
    assert no_val.X_val is None and len(no_val.X_train) == 48


def test_prepare_data_regression_targets_are_columns_standardised():
    d = prepare_data(TrainSettings(dataset="sine", batch_size=8))
    assert d.task == "regression" and d.y_train.shape == (len(d.X_train), 1)
    np.testing.assert_allclose(d.y_train.mean(), 0, atol=1e-5)
    assert d.target_scale.shape == (1,) and d.preprocess.n_classes is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"dataset": "moonz"}, "unknown dataset 'moonz' \\(did you mean 'moons'\\?\\)"),
        ({"dataset": "missing.csv"}, "no such file: 'missing.csv'"),
        ({"dataset": "moons", "target": "y"}, "--target is for CSV and NPZ files"),
        ({"dataset": "moons", "batch_size": 5000}, "fewer than the batch size 5000; use"),
    ],
)
def test_prepare_data_errors(values, message):
    with pytest.raises(DataError, match=message):
        prepare_data(TrainSettings.from_mapping(values))


def test_csv_needs_a_target(tmp_path):
    path = _csv(tmp_path / "d.csv")
    with pytest.raises(DataError, match="say which column to predict with --target COLUMN"):
        prepare_data(TrainSettings(dataset=str(path)))
    with pytest.raises(DataError, match="no target column 'knd' \\(did you mean 'kind'\\?\\)"):
        prepare_data(TrainSettings(dataset=str(path), target="knd"))


# ---------------------------------------------------------------------------------- runs
def test_run_writes_the_folder(tmp_path):
    run = start_run(TrainSettings.from_mapping(QUICK), tmp_path)
    assert run.folder.parent == tmp_path and run.folder.name.startswith("moons-")
    # written before training, so that an interrupted run can be resumed
    assert (run.folder / "config.json").is_file() and (run.folder / "preprocess.json").is_file()
    run.fit()
    results = run.finish()
    names = {p.name for p in run.folder.iterdir()}
    assert names >= {"config.json", "model.safetensors", "preprocess.json", "history.json",
                     "history.csv", "metrics.json", "curves.png", "confusion_matrix.png",
                     "checkpoints"}  # fmt: skip
    assert {p.name for p in (run.folder / "checkpoints").iterdir() if p.suffix == ".json"} == {
        "best.json",
        "last.json",
    }
    metrics = json.loads((run.folder / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(results))
    for split in ("train", "validation", "test"):
        assert 0 <= metrics[split]["accuracy"] <= 1 and metrics[split]["samples"] > 0
        assert metrics[split]["samples_per_s"] > 0
    assert metrics["epochs"] == 2 and metrics["task"] == "classification"
    config = json.loads((run.folder / "config.json").read_text())
    assert config["model"]["hidden"] == [8, 8] and config["settings"]["epochs"] == 2
    assert config["dataset"] == "moons" and config["data"] == {"name": "moons", "options": {}}
    loaded = load_run(run.folder)
    assert same_weights(loaded.model, run.model)
    # a second run in the same second gets its own folder
    assert start_run(TrainSettings.from_mapping(QUICK), tmp_path).folder != run.folder


def test_onecycle_schedule_runs_over_every_batch(tmp_path):
    """``--schedule onecycle`` is stepped per batch over exactly epochs × batches: it ends
    near its floor (lr/25e4; one step past it after the last batch, as PyTorch's) without
    stepping beyond ``total_steps`` (which would raise)."""
    run = start_run(TrainSettings.from_mapping({**QUICK, "schedule": "onecycle"}), tmp_path)
    batches = -(-len(run.data.X_train) // 64)
    assert run.scheduler.total_steps == 2 * batches
    run.fit()
    assert run.trainer.batches_per_epoch == batches
    assert run.scheduler.last_epoch == run.scheduler.total_steps
    assert run.optimizer.param_groups[0]["lr"] < run.settings.lr / 100


def test_run_same_seed_same_weights(tmp_path):
    a = start_run(TrainSettings.from_mapping({**QUICK, "dropout": 0.2}), tmp_path / "a")
    b = start_run(TrainSettings.from_mapping({**QUICK, "dropout": 0.2}), tmp_path / "b")
    cr.manual_seed(5)
    a.fit()
    cr.manual_seed(7)  # the run seeds chainrule's generator itself
    b.fit()
    assert same_weights(a.model, b.model)


def test_progress_callback_is_used(tmp_path):
    import io

    out = io.StringIO()
    run = start_run(TrainSettings.from_mapping(QUICK), tmp_path, callbacks=[ProgressBar(out)])
    run.fit()
    assert [line.split("  ")[0] for line in out.getvalue().splitlines()] == [
        "epoch 1/2",
        "epoch 2/2",
    ]


def test_regression_run_predicts_in_target_units(tmp_path):
    s = TrainSettings.from_mapping({"dataset": "sine", "hidden": "16", "epochs": 3,
                                    "batch_size": 32, "optimizer": "adam", "lr": 0.01})  # fmt: skip
    run = start_run(s, tmp_path)
    run.fit()
    results = run.finish()
    loaded = load_run(run.folder)
    X, y, _ = load_data_for_run(loaded, "sine", need_target=True)
    m = evaluate_run(loaded, X, y)
    assert m["mse"] == pytest.approx(results["test"]["mse"], rel=1e-4)
    assert m["r2"] == pytest.approx(results["test"]["r2"], rel=1e-4)
    out = predict_run(loaded, X)
    assert out.shape == (len(X), 1)
    text = predictions_csv(loaded, out)
    assert text.splitlines()[0] == "prediction" and len(text.splitlines()) == len(X) + 1


def test_fold_target_scaling():
    model = build_mlp(2, [3], 2)
    X = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    before = predict(model, X)
    mean, scale = np.array([10.0, -1.0]), np.array([3.0, 0.5])
    fold_target_scaling(model, mean, scale)
    np.testing.assert_allclose(predict(model, X), before * scale + mean, rtol=1e-5)
    fold_target_scaling(model, None, None)  # classification: nothing to fold


def test_resume_checks(tmp_path):
    run = start_run(TrainSettings.from_mapping(QUICK), tmp_path)
    with pytest.raises(CheckpointError, match="the run stopped before its first epoch ended"):
        start_run(TrainSettings(), resume=run.folder)
    run.fit()
    with pytest.raises(CheckpointError, match=r"holds a 2-8-8-2 tanh network .*--hidden 16"):
        start_run(TrainSettings(), resume=run.folder, explicit={"hidden": "16"})
    with pytest.raises(ValueError, match=r"settings \(lr 0.1 -> 0.5\); a resumed run may only"):
        start_run(TrainSettings(), resume=run.folder, explicit={"lr": 0.5})
    with pytest.raises(CheckpointError, match="not a run folder"):
        start_run(TrainSettings(), resume=tmp_path)
    with pytest.raises(CheckpointError, match="no such run folder"):
        start_run(TrainSettings(), resume=tmp_path / "nope")
    more = start_run(TrainSettings(), resume=run.folder, explicit={"epochs": 3})
    assert more.folder == run.folder and more.settings.epochs == 3
    assert more.fit().epochs == [1, 2, 3]


def test_inference_on_csv(tmp_path):
    path = _csv(tmp_path / "train.csv")
    s = TrainSettings.from_mapping({"dataset": str(path), "target": "kind", "hidden": "8",
                                    "epochs": 3, "batch_size": 8})  # fmt: skip
    run = start_run(s, tmp_path / "runs")
    run.fit()
    run.finish()
    loaded = load_run(run.folder)
    # the same columns in another order, without the target: predict
    new = tmp_path / "new.csv"
    rows = path.read_text().splitlines()
    new.write_text("\n".join(",".join([r.split(",")[2], r.split(",")[0], r.split(",")[1]])
                             for r in rows[:6]) + "\n")  # fmt: skip
    X, y, what = load_data_for_run(loaded, str(new), need_target=False)
    assert y is None and X.shape == (5, 3) and what == "new.csv (5 rows)"
    full, _, _ = load_data_for_run(loaded, str(path), need_target=False)
    np.testing.assert_array_equal(X, full[:5])  # columns matched by name
    probs = predict_run(loaded, X)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    lines = predictions_csv(loaded, probs).splitlines()
    assert lines[0] == "prediction,p_big,p_small"
    assert lines[1].split(",")[0] in ("big", "small")
    with pytest.raises(DataError, match="no target column 'kind'"):
        load_data_for_run(loaded, str(new), need_target=True)
    Xt, yt, _ = load_data_for_run(loaded, str(path), need_target=True)
    m = evaluate_run(loaded, Xt, yt)
    assert set(m) == {"samples", "loss", "accuracy", "time_s", "samples_per_s"}
    assert m["samples"] == 60
    # other column names but the right count: taken in order
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("x,y,z\n" + "\n".join(",".join(r.split(",")[:3]) for r in rows[1:4]))
    assert load_data_for_run(loaded, str(renamed), need_target=False)[0].shape == (3, 3)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="missing feature column \\['c'\\]"):
        load_data_for_run(loaded, str(bad), need_target=False)
    with pytest.raises(DataError, match="does not fit this run's model"):
        load_data_for_run(loaded, "sine", need_target=True)


def test_inference_on_npz_and_bundled(tmp_path):
    run = start_run(TrainSettings.from_mapping(QUICK), tmp_path)
    run.fit()
    run.finish()
    loaded = load_run(run.folder)
    X, y, what = load_data_for_run(loaded, "moons", need_target=True)
    assert what == "the test split of moons (200 rows)"
    np.testing.assert_array_equal(X, run.data.split.X_test)  # split as in the run
    np.savez(tmp_path / "d.npz", X=X[:7], y=y[:7])
    _, yn, _ = load_data_for_run(loaded, str(tmp_path / "d.npz"), need_target=True)
    np.testing.assert_array_equal(yn, y[:7])
    np.savez(tmp_path / "x.npz", X=X[:7])
    assert load_data_for_run(loaded, str(tmp_path / "x.npz"), need_target=False)[1] is None
    with pytest.raises(DataError, match="no target array 'y'"):
        load_data_for_run(loaded, str(tmp_path / "x.npz"), need_target=True)
    np.savez(tmp_path / "w.npz", X=np.zeros((3, 5)))
    with pytest.raises(DataError, match="has 5 features per row; the model expects 2"):
        load_data_for_run(loaded, str(tmp_path / "w.npz"), need_target=False)


def test_early_stopping_run_reports_the_best_epoch(tmp_path):
    s = TrainSettings.from_mapping({**QUICK, "epochs": 60, "early_stopping": 1, "lr": 0.5})
    run = start_run(s, tmp_path)
    history = run.fit()
    results = run.finish()
    assert results["stopped_early"] and len(history) < 60
    assert results["best_epoch"] == history.best("val_loss")[0]
    assert results["epochs"] == len(history) == results["best_epoch"] + 1
