"""Run folders: the MLP builder, preprocessing, and save_run / load_run round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import CheckpointError, DataError, ShapeError
from chainrule.train import History, predict
from chainrule.train.run import (
    Preprocess,
    build_from_spec,
    build_mlp,
    load_run,
    model_spec,
    save_run,
    save_run_settings,
)


def test_build_mlp_layers_and_errors():
    m = build_mlp(10, [8, 6], 3, "logistic", dropout=0.2)
    kinds = [type(x).__name__ for x in m]
    assert kinds == ["Linear", "Sigmoid", "Dropout", "Linear", "Sigmoid", "Dropout", "Linear"]
    assert m[0].weight.shape == (8, 10)  # (out, in): a_k = b_k + W_k h_{k-1}
    assert len(list(build_mlp(4, [], 2))) == 1
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        build_mlp(4, [3], 2, "swish")
    with pytest.raises(ValueError, match="layer sizes must be positive"):
        build_mlp(4, [0], 2)


def test_spec_round_trip():
    spec = model_spec(5, [4, 3], 2, "tanh", "softmax", 0.1)
    assert json.loads(json.dumps(spec)) == spec
    m = build_from_spec(spec)
    assert [p.shape for p in m.parameters()] == [(4, 5), (4,), (3, 4), (3,), (2, 3), (2,)]


def _pre(**kw) -> Preprocess:
    base = dict(task="classification", n_features=3, input_shape=[3], n_classes=2,
                class_names=["no", "yes"], feature_names=["a", "b", "c"],
                mean=[1.0, 2.0, 3.0], scale=[2.0, 1.0, 0.5])  # fmt: skip
    return Preprocess(**{**base, **kw})


def test_preprocess_transform():
    pre = _pre()
    out = pre.transform([[1.0, 2.0, 3.0], [3.0, 3.0, 4.0]])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0, 0], [1, 1, 2]])
    assert pre.transform([3.0, 2.0, 3.0]).shape == (1, 3)  # one row
    images = Preprocess("classification", 4, [2, 2], 2, None, [], None, None)
    assert images.transform(np.ones((5, 2, 2), dtype=np.uint8)).shape == (5, 4)
    with pytest.raises(ShapeError, match="the data has 2 features per row, the model expects 3"):
        pre.transform([[1.0, 2.0]])
    with pytest.raises(DataError, match="NaN or infinite"):
        pre.transform([[1.0, np.nan, 2.0]])
    assert Preprocess.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre


def _saved(folder, history=True):
    model = build_mlp(3, [4], 2, "tanh")
    h = History()
    h.append(1, {"loss": 1.0, "val_loss": float("nan")})
    save_run(
        folder,
        config={"model": model_spec(3, [4], 2, "tanh", "softmax"), "dataset": "x"},
        model=model,
        preprocess=_pre(),
        history=h if history else None,
        metrics={"test": {"accuracy": 0.5}},
    )
    return model


def test_save_and_load_run(tmp_path):
    model = _saved(tmp_path)
    run = load_run(tmp_path)
    X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    np.testing.assert_array_equal(predict(run.model, X), predict(model, X))
    assert run.config["dataset"] == "x" and run.config["format"] == "chainrule-run/1"
    assert run.spec["hidden"] == [4] and run.preprocess == _pre()
    assert run.metrics == {"test": {"accuracy": 0.5}}
    assert run.history.epochs == [1] and np.isnan(run.history["val_loss"][0])
    for name in ("history.csv", "history.json", "model.safetensors"):
        assert (tmp_path / name).is_file()
    _saved(tmp_path / "b", history=False)
    assert load_run(tmp_path / "b").history is None


def test_save_run_settings_only(tmp_path):
    save_run_settings(tmp_path, config={"model": model_spec(3, [4], 2, "tanh", "softmax")},
                      preprocess=_pre())  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "preprocess.json"]
    with pytest.raises(ValueError, match="config needs a 'model' entry"):
        save_run_settings(tmp_path, config={}, preprocess=_pre())


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: (d / "config.json").unlink(), "config.json is missing from run folder"),
        (lambda d: (d / "config.json").write_text("{"), "config.json is corrupt \\(not JSON\\)"),
        (lambda d: (d / "config.json").write_text("{}"), "is not a chainrule run configuration"),
        (lambda d: (d / "model.safetensors").unlink(), "no weights file"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 5), "truncated or corrupt"),
        (lambda d: (d / "preprocess.json").write_text('{"x": 1}'), "preprocess.json is malformed"),
        (lambda d: (d / "preprocess.json").unlink(), "preprocess.json is missing"),
    ],
)
def test_load_run_broken_folders(tmp_path, breakage, message):
    _saved(tmp_path)
    breakage(tmp_path)
    with pytest.raises(CheckpointError, match=message):
        load_run(tmp_path)


def test_load_run_architecture_mismatch(tmp_path):
    _saved(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["model"]["hidden"] = [5]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"does not match the architecture in config.json"):
        load_run(tmp_path)
    with pytest.raises(CheckpointError, match="no run folder at"):
        load_run(tmp_path / "missing")


def test_linear_layers_are_torch_compatible():
    m = build_mlp(3, [4], 2)
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(m[1], nn.Tanh)
