"""Callbacks: early stopping, checkpoints, history logs and the progress output."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from helpers import blobs, mlp

import chainrule as cr
from chainrule import nn
from chainrule.train import (
    Callback,
    EarlyStopping,
    HistoryLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
    format_epoch,
)
from chainrule.train.checkpoint import load_checkpoint


class Scripted(Callback):
    """Overwrites the epoch's logs with scripted values of ``name``."""

    def __init__(self, name: str, values: list[float]) -> None:
        self.name, self.values = name, values

    def on_epoch_end(self, trainer, epoch, logs):
        logs[self.name] = self.values[epoch - 1]


def _trainer(callbacks, **kw) -> Trainer:
    model = mlp()
    return Trainer(
        model,
        nn.CrossEntropyLoss(),
        cr.optim.SGD(model.parameters(), lr=0.1),
        metrics=["accuracy"],
        callbacks=callbacks,
        progress=False,
        **kw,
    )


def test_early_stopping_stops_after_patience_and_restores_best():
    snapshots = {}

    class Snap(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots[epoch] = {k: v.copy() for k, v in trainer.model.state_dict().items()}

    values = [1.0, 0.5, 0.6, 0.7, 0.4, 0.8, 0.9, 1.0, 1.1]
    es = EarlyStopping(monitor="score", patience=3)
    t = _trainer([Scripted("score", values), Snap(), es])
    h = t.fit(blobs(), epochs=9, batch_size=16)
    # best 0.4 at epoch 5, then 3 epochs without improvement: stop after epoch 8
    assert len(h) == 8 and es.stopped_epoch == 8 and es.best_epoch == 5
    assert h.stopped_early
    for k, v in t.model.state_dict().items():
        np.testing.assert_array_equal(v, snapshots[5][k])


def test_early_stopping_max_mode_min_delta_and_no_restore():
    values = [0.5, 0.6, 0.605, 0.61, 0.9]
    es = EarlyStopping(
        monitor="val_accuracy", patience=2, min_delta=0.02, restore_best_weights=False
    )
    assert es.monitor == "val_accuracy"
    t = _trainer([Scripted("val_accuracy", values), es])
    h = t.fit(blobs(), epochs=5, batch_size=16)
    assert len(h) == 4 and es.best_epoch == 2  # 0.605 and 0.61 are within min_delta of 0.6


def test_early_stopping_does_not_stop_while_improving():
    es = EarlyStopping(monitor="loss", patience=1)
    t = _trainer([es])
    h = t.fit(blobs(), epochs=4, batch_size=16)
    assert len(h) == 4 and not h.stopped_early and es.stopped_epoch == 0


def test_monitor_missing_names_the_logs():
    t = _trainer([EarlyStopping(monitor="val_loss")])
    with pytest.raises(KeyError, match=r"cannot monitor 'val_loss'.*need validation data"):
        t.fit(blobs(), epochs=2, batch_size=16)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be 'min', 'max' or 'auto'"):
        EarlyStopping(mode="up")


def test_model_checkpoint_best_and_last(tmp_path):
    values = [1.0, 0.5, 0.7, 0.6]
    mc = ModelCheckpoint(tmp_path, monitor="val_loss")
    t = _trainer([Scripted("val_loss", values), mc])
    t.fit(blobs(), epochs=4, batch_size=16)
    _, last = load_checkpoint(tmp_path / "last.json")
    _, best = load_checkpoint(tmp_path / "best.json")
    assert last["epoch"] == 4 and best["epoch"] == 2 and mc.best_epoch == 2
    # the best checkpoint holds the weights of epoch 2: load them into a fresh trainer
    t2 = _trainer([ModelCheckpoint(tmp_path / "other")])
    t2.load_checkpoint(tmp_path / "best.json")
    assert t2.epoch == 2 and len(t2.history) == 2


def test_model_checkpoint_falls_back_to_training_loss(tmp_path):
    mc = ModelCheckpoint(tmp_path)  # val_loss, but no validation data
    t = _trainer([mc])
    t.fit(blobs(), epochs=3, batch_size=16)
    assert (tmp_path / "best.json").is_file() and (tmp_path / "last.json").is_file()
    assert mc.best_epoch == 3  # the training loss falls every epoch here


def test_model_checkpoint_last_only(tmp_path):
    t = _trainer([ModelCheckpoint(tmp_path, save_best=False)])
    t.fit(blobs(), epochs=2, batch_size=16)
    assert not (tmp_path / "best.json").exists() and (tmp_path / "last.json").is_file()


def test_history_logger_csv_and_json(tmp_path):
    t = _trainer([HistoryLogger(tmp_path / "h.csv"), HistoryLogger(tmp_path / "h.json")])
    t.fit(blobs(), (blobs(seed=1)), epochs=3, batch_size=16)
    lines = (tmp_path / "h.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["epoch", "loss", "accuracy"]
    assert {"val_loss", "val_accuracy", "lr", "time", "samples_per_s"} <= set(header)
    assert len(lines) == 4
    data = json.loads((tmp_path / "h.json").read_text())
    assert data["epochs"] == [1, 2, 3] and len(data["history"]["val_loss"]) == 3
    with pytest.raises(ValueError, match=r"must end in .csv or .json"):
        HistoryLogger(tmp_path / "h.txt")


def test_history_logger_writes_every_epoch(tmp_path):
    seen = []

    class Read(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(len((tmp_path / "h.csv").read_text().splitlines()) - 1)

    t = _trainer([HistoryLogger(tmp_path / "h.csv"), Read()])
    t.fit(blobs(), epochs=3, batch_size=16)
    assert seen == [1, 2, 3]


def test_progress_plain_one_line_per_epoch():
    out = io.StringIO()  # not a terminal
    model = mlp()
    t = Trainer(
        model,
        nn.CrossEntropyLoss(),
        cr.optim.SGD(model.parameters(), lr=0.1),
        metrics=["accuracy"],
        progress=ProgressBar(stream=out),
    )
    t.fit(blobs(), blobs(seed=1), epochs=3, batch_size=8)  # 12 batches per epoch
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # nothing per batch, one line per epoch
    for i, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {i}/3  loss ")
        assert "accuracy" in line and "val_loss" in line and "samples/s" in line
    assert "\x1b" not in out.getvalue()  # no terminal control codes


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rich_on_a_terminal_and_force_plain():
    out = FakeTerminal()
    model = mlp()
    t = Trainer(
        model,
        nn.CrossEntropyLoss(),
        cr.optim.SGD(model.parameters(), lr=0.1),
        progress=ProgressBar(stream=out),
    )
    t.fit(blobs(), epochs=2, batch_size=8)
    text = out.getvalue()
    assert "\x1b[" in text  # rich drew a live bar
    assert "epoch 2/2  loss" in text  # and the epoch summary lines remain
    plain = FakeTerminal()
    model = mlp()
    t = Trainer(
        model,
        nn.CrossEntropyLoss(),
        cr.optim.SGD(model.parameters(), lr=0.1),
        progress=ProgressBar(stream=plain, force_plain=True),
    )
    t.fit(blobs(), epochs=2, batch_size=8)
    assert "\x1b" not in plain.getvalue() and len(plain.getvalue().splitlines()) == 2


def test_format_epoch():
    logs = {"loss": 0.123456, "accuracy": 0.5, "lr": 0.001234567, "time": 1.25,
            "samples_per_s": 12345.6}  # fmt: skip
    assert format_epoch(3, 20, logs) == (
        "epoch 3/20  loss 0.1235  accuracy 0.5000  lr 0.001235  1.2s  12,346 samples/s"
    )
    assert format_epoch(1, 1, {"loss": math.nan}) == "epoch 1/1  loss nan"


def test_callback_hooks_called_in_order():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, trainer):
            calls.append("train_begin")

        def on_epoch_begin(self, trainer, epoch):
            calls.append(f"epoch_begin {epoch}")

        def on_after_backward(self, trainer):
            assert all(p.grad is not None for p in trainer.model.parameters())
            calls.append("after_backward")

        def on_batch_end(self, trainer, batch, logs):
            assert math.isfinite(logs["loss"])
            calls.append(f"batch_end {batch}")

        def on_epoch_end(self, trainer, epoch, logs):
            calls.append(f"epoch_end {epoch}")

        def on_train_end(self, trainer):
            calls.append("train_end")

    t = _trainer([Recorder()])
    X, y = blobs(n=32)
    t.fit((X, y), epochs=2, batch_size=16)
    assert calls == [
        "train_begin",
        "epoch_begin 1", "after_backward", "batch_end 0", "after_backward", "batch_end 1",
        "epoch_end 1",
        "epoch_begin 2", "after_backward", "batch_end 0", "after_backward", "batch_end 1",
        "epoch_end 2",
        "train_end",
    ]  # fmt: skip
