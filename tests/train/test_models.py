"""``chainrule train --model``: the registry of network kinds (mlp, cnn, resnet), networks
shaped from the dataset, runs that train, save and load back, ``--augment``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import CheckpointError
from chainrule.train import predict
from chainrule.train.experiment import start_run
from chainrule.train.models import (
    LARGE_TRAINING_SET,
    MODELS,
    build_cnn,
    conv_data_defaults,
    image_shape,
)
from chainrule.train.run import build_from_spec, load_run, model_spec
from chainrule.train.settings import TrainSettings

QUICK = {"dataset": "digits", "model": "cnn", "channels": "4,8", "epochs": 1, "batch_size": 64,
         "augment": False, "val_size": 0.1}  # fmt: skip


def test_image_shape_from_the_dataset():
    assert image_shape([28, 28]) == [1, 28, 28]
    assert image_shape([40]) == [1, 40]
    digits = cr.data.load_dataset("digits")
    assert image_shape(digits.input_shape, digits.feature_names) == [1, 8, 8]
    assert image_shape([3], ["a", "b", "c"]) == [1, 3]


@pytest.mark.parametrize(
    "shape, residual, kinds",
    [
        ([1, 40], False, (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)),
        ([1, 8, 8], False, (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)),
        ([1, 28, 28], True, (nn.Conv2d, nn.Residual, nn.AdaptiveAvgPool2d)),
    ],
)
def test_build_cnn_shapes(shape, residual, kinds):
    model = build_cnn(shape, [4, 8], 10, dropout=0.1, residual=residual)
    found = {type(m) for m in model.modules()}
    assert all(k in found for k in kinds)
    out = model(cr.randn(3, int(np.prod(shape))))  # flat rows in, as Preprocess makes them
    assert out.shape == (3, 10)


def test_every_kind_builds_from_its_spec():
    for kind in MODELS:
        spec = model_spec(64, [16], 10, "relu", "softmax", model=kind, input_shape=[1, 8, 8],
                          channels=list(MODELS[kind].channels or (4,)))  # fmt: skip
        assert spec["type"] == kind
        assert build_from_spec(spec)(cr.randn(2, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="unknown model type 'vgg'"):
        build_from_spec({**spec, "type": "vgg"})


def test_settings_model_channels_augment():
    s = TrainSettings.from_mapping({"model": "resnet", "augment": "yes"})
    assert s.model == "resnet" and s.augment is True and s.channels is None
    assert s.resolved("classification").channels == (16, 32, 64)
    assert TrainSettings(model="cnn").resolved("classification").augment is True
    assert TrainSettings().resolved("classification").augment is False
    assert TrainSettings.from_mapping({"model": "cnn", "channels": "8,16"}).channels == (8, 16)
    with pytest.raises(ValueError, match=r"--model: unknown value 'cnnn'.*did you mean 'cnn'"):
        TrainSettings.from_mapping({"model": "cnnn"})


def test_cnn_settings_chosen_from_the_data():
    """The convolutional kinds leave optimiser, weight decay, schedule, epochs, batch size
    and validation share to the data: a small training split keeps the general defaults but
    for the validation share (none: all of the split trains), a large one gets the large-data
    settings; whatever a run sets stays, and a rate or decay chosen for AdamW does not go to
    another optimiser."""
    s = TrainSettings.from_mapping({"model": "cnn"})
    chosen = (s.optimizer, s.weight_decay, s.schedule, s.epochs, s.batch_size, s.val_size)
    assert chosen == (None,) * 6
    general = TrainSettings(model="cnn", val_size=0.0).resolved("classification")
    for shape, n in (([1, 8, 8], 1437), ([1, 40], 3600), ([1, 8, 8], LARGE_TRAINING_SET - 1)):
        assert s.resolved("classification", shape, n) == general
    assert (general.optimizer, general.lr, general.epochs, general.batch_size) == (
        "sgd", 0.1, 40, 32)  # fmt: skip
    assert general.val_size == 0.0 and general.augment is not False  # all of it, shifted
    told = TrainSettings.from_mapping({"model": "cnn", "val_size": 0.2})
    assert told.resolved("classification", [1, 8, 8], 1437).val_size == 0.2
    large = s.resolved("classification", [1, 28, 28], 54000)
    want = conv_data_defaults([1, 28, 28], 54000)
    assert {k: getattr(large, k) for k in want} == want
    assert (large.optimizer, large.schedule, large.batch_size, large.val_size) == (
        "adamw", "onecycle", 128, 0.0)  # fmt: skip
    assert large.augment is False
    mine = TrainSettings.from_mapping(
        {"model": "resnet", "optimizer": "sgd", "epochs": 2, "augment": True}
    ).resolved("classification", [1, 28, 28], 54000)
    assert (mine.optimizer, mine.lr, mine.weight_decay, mine.epochs, mine.augment) == (
        "sgd", 0.1, 5e-4, 2, True)  # fmt: skip
    assert mine.schedule == "onecycle" and mine.channels == (16, 32, 64)
    assert TrainSettings.from_mapping(s.to_dict()) == s  # unset settings read back unset


def test_prepare_data_holds_out_what_the_kind_chooses():
    """The validation share a cnn leaves unset is chosen before the split: none of the
    digits' 1,437 training examples or of Fashion-MNIST's 60,000; one it is given is held out."""
    from chainrule.train.prepare import prepare_data

    digits = prepare_data(TrainSettings.from_mapping({"model": "cnn"}))
    assert len(digits.X_train) == 1437 and digits.X_val is None
    digits = prepare_data(TrainSettings.from_mapping({"model": "cnn", "val_size": 0.1}))
    assert (len(digits.X_train), len(digits.X_val)) == (1293, 144)
    fashion = prepare_data(TrainSettings.from_mapping({"model": "cnn", "dataset": "fashion_mnist"}))
    assert len(fashion.X_train) == 60000 and fashion.X_val is None


@pytest.mark.slow  # trains a real model end to end
def test_cnn_run_trains_saves_and_loads(tmp_path):
    run = start_run(TrainSettings.from_mapping(QUICK), tmp_path, name="cnn")
    assert isinstance(run.model[0], nn.Unflatten) and run.spec["input_shape"] == [1, 8, 8]
    history = run.fit()
    assert history["val_accuracy"][-1] > 0.5
    run.finish()
    loaded = load_run(tmp_path / "cnn")
    x = run.data.X_test[:20]
    np.testing.assert_allclose(predict(loaded.model, x), predict(run.model, x))
    with pytest.raises(CheckpointError, match="different architecture"):
        start_run(TrainSettings(), resume=tmp_path / "cnn", explicit={"model": "mlp"})


@pytest.mark.slow  # trains a real model end to end
def test_augmented_run_shifts_batches(tmp_path):
    run = start_run(TrainSettings.from_mapping({**QUICK, "augment": True}), tmp_path)
    loader = run._augmented_loader()
    xb, _ = next(iter(loader))
    assert xb.shape == (64, 64) and str(xb.dtype) == "float32"
    assert not np.allclose(xb.numpy(), run.data.X_train[loader.order(0)[:64]])
    run.fit()
    with pytest.raises(ValueError, match="--augment shifts images"):
        start_run(TrainSettings.from_mapping({"augment": True, "epochs": 1}), tmp_path).fit()
    assert start_run(
        TrainSettings.from_mapping({**QUICK, "augment": None}), tmp_path
    ).settings.augment


@pytest.mark.slow  # trains a real model end to end
def test_cli_trains_a_cnn(tmp_path):
    import subprocess

    from cli_entry import entry_point

    args = ["train", "--dataset", "digits", "--model", "cnn", "--channels", "4,8", "--epochs",
            "1", "--batch-size", "64", "--out", str(tmp_path), "--name", "c"]  # fmt: skip
    result = subprocess.run([*entry_point(), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "CNN on 1x8x8 inputs, channels 4,8, shifted at random" in result.stdout
    assert (tmp_path / "c" / "model.safetensors").is_file()


# ---------------------------------------------------------------------------- sequence kinds
class _Recorder(nn.Module):
    """An encoder that keeps what it was given and returns it, as (output, state)."""

    def forward(self, x):
        self.seen = x.numpy()
        return x, None


def test_sequence_model_reads_positions_as_steps():
    """Rows (N, C·S) unflatten to (N, C, S); step s holds the C values at position s."""
    from chainrule.train.models import SequenceModel

    rec = _Recorder()
    model = SequenceModel([2, 5], rec, 2, 3)
    x = np.arange(20.0, dtype=np.float32).reshape(2, 10)
    assert model(cr.tensor(x)).shape == (2, 3)
    np.testing.assert_array_equal(rec.seen, x.reshape(2, 2, 5).transpose(0, 2, 1))
    model = SequenceModel([1, 3, 4], rec, 4, 3)  # an image, row by row
    x = np.arange(24.0, dtype=np.float32).reshape(2, 12)
    model(cr.tensor(x))
    np.testing.assert_array_equal(rec.seen, x.reshape(2, 3, 4))


@pytest.mark.parametrize("kind, encoder", [("gru", nn.GRU), ("lstm", nn.LSTM),
                                           ("transformer", nn.Sequential)])  # fmt: skip
def test_build_sequence_models(kind, encoder):
    from chainrule.train.models import build_sequence_model

    model = build_sequence_model(kind, [1, 40], [8, 8], 10, dropout=0.1)
    assert type(model.encoder) is encoder
    if kind != "transformer":
        assert model.encoder.bidirectional and model.encoder.num_layers == 2
        assert model.encoder.dropout == 0.1
        assert model.head.in_features == 2 * 8 * 40
    else:
        assert len(model.encoder[2].layers) == 2 and model.encoder[2].layers[0].norm_first
        assert (model.steps, model.features) == (8, 5)  # patches of 5 values
        assert build_sequence_model(kind, [1, 7], [8], 2).steps == 7  # 7 is prime: one value
        assert build_sequence_model(kind, [1, 8, 8], [8], 2).steps == 8  # an image: its rows
    assert model(cr.randn(3, 40)).shape == (3, 10)
    with pytest.raises(ValueError, match=r"--model lstm: --hidden .* all equal .* got 16,8"):
        build_sequence_model("lstm", [1, 40], [16, 8], 10)
    with pytest.raises(ValueError, match="width 10 must be a multiple of the 4 heads"):
        build_sequence_model("transformer", [1, 40], [10], 10)


def test_sequence_kinds_have_their_own_defaults():
    s = TrainSettings.from_mapping({"model": "gru"})
    got = (s.optimizer, s.lr, s.weight_decay, s.epochs, s.batch_size, s.hidden)
    assert got == ("adam", 0.01, 0.0, 40, 100, (16,))
    assert s.resolved("classification").augment is False
    t = TrainSettings.from_mapping({"model": "transformer", "batch-size": 50})
    assert (t.lr, t.hidden, t.batch_size) == (0.01, (32, 32), 50)  # flags override
    assert TrainSettings.from_mapping({"model": "lstm", "lr": "0.1"}).lr == 0.1
    mlp = TrainSettings.from_mapping({})
    assert (mlp.optimizer, mlp.batch_size, mlp.hidden) == ("sgd", 32, (128, 64))
    saved = TrainSettings.from_mapping({"model": "gru", "epochs": 3}).to_dict()
    assert TrainSettings.from_mapping(saved) == TrainSettings.from_mapping(
        {"model": "gru", "epochs": 3}
    )  # a run's saved settings read back the same


@pytest.mark.slow  # trains a real model end to end
def test_gru_run_trains_saves_and_loads(tmp_path):
    settings = TrainSettings.from_mapping({"dataset": "digits", "model": "gru", "hidden": 8,
                                           "epochs": 2})  # fmt: skip
    run = start_run(settings, tmp_path, name="gru")
    assert run.spec["input_shape"] == [1, 8, 8] and run.spec["type"] == "gru"
    history = run.fit()
    assert history["val_accuracy"][-1] > 0.5
    run.finish()
    loaded = load_run(tmp_path / "gru")
    x = run.data.X_test[:20]
    np.testing.assert_allclose(predict(loaded.model, x), predict(run.model, x), rtol=1e-6)
