"""TensorBoard, CSVLogger, LambdaCallback, and the early-stopping line of fit's progress."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from helpers import blobs, mlp
from tensorboard.backend.event_processing.event_accumulator import (
    HISTOGRAMS,
    SCALARS,
    EventAccumulator,
)

import chainrule as cr
from chainrule import nn
from chainrule.train import CSVLogger, EarlyStopping, LambdaCallback, ProgressBar, TensorBoard


def _events(folder):
    ea = EventAccumulator(str(folder), size_guidance={SCALARS: 0, HISTOGRAMS: 0})
    ea.Reload()
    return ea


def _fit(callbacks, epochs=3, val=True, **kw):
    X, y = blobs(64)
    model = mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = cr.train.fit(model, nn.CrossEntropyLoss(), opt, (X, y), (X, y) if val else None,
                     epochs=epochs, batch_size=16, metrics=["accuracy"], scheduler=sched,
                     callbacks=callbacks, progress=False, **kw)  # fmt: skip
    return model, h


def test_tensorboard_scalars_and_histograms_read_back_by_tensorboard(tmp_path):
    grads = []
    last_grads = LambdaCallback(
        on_after_backward=lambda: grads.append(
            {n: p.grad.numpy().copy() for n, p in model_ref[0].named_parameters()}
        )
    )
    model_ref = [mlp()]
    X, y = blobs(64)
    model = model_ref[0]
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    tb = TensorBoard(tmp_path / "tb", update_freq="batch")
    h = cr.train.fit(model, nn.CrossEntropyLoss(), opt, (X, y), (X, y), epochs=3,
                     batch_size=16, metrics=["accuracy"], scheduler=sched, progress=False,
                     callbacks=[last_grads, tb])  # fmt: skip
    train, val = _events(tmp_path / "tb" / "train"), _events(tmp_path / "tb" / "validation")
    scalars = set(train.Tags()["scalars"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "batch_loss"} <= scalars
    assert set(val.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy"}
    loss = train.Scalars("epoch_loss")
    assert [e.step for e in loss] == [1, 2, 3]
    np.testing.assert_allclose([e.value for e in loss], h["loss"], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in val.Scalars("epoch_loss")], h["val_loss"],
                               rtol=1e-6)  # fmt: skip
    lrs = [e.value for e in train.Scalars("epoch_learning_rate")]
    np.testing.assert_allclose(lrs, [0.1, 0.05, 0.025])  # the rate each epoch trained with
    np.testing.assert_allclose(lrs, h["lr"])
    assert [e.step for e in train.Scalars("batch_loss")] == list(range(1, 13))
    # a histogram per parameter and epoch, of the weights at the epoch's end and of the
    # gradients of the epoch's last batch
    names = [n for n, _ in model.named_parameters()]
    hists = set(train.Tags()["histograms"])
    assert hists == {f"weights/{n}" for n in names} | {f"gradients/{n}" for n in names}
    w = train.Histograms("weights/0.weight")
    assert [e.step for e in w] == [1, 2, 3]
    final = model.state_dict()["0.weight"]
    hv = w[-1].histogram_value
    assert hv.num == final.size and hv.min == pytest.approx(final.min())
    assert hv.sum == pytest.approx(final.sum(), rel=1e-5, abs=1e-5)
    g = train.Histograms("gradients/4.bias")[-1].histogram_value
    last = grads[-1]["4.bias"]  # batch 4 of epoch 3
    assert g.num == last.size and g.max == pytest.approx(last.max(), rel=1e-6)


def test_tensorboard_histogram_freq_and_errors(tmp_path):
    _fit([TensorBoard(tmp_path / "tb", histogram_freq=2)], epochs=3, val=False)
    train = _events(tmp_path / "tb" / "train")
    assert [e.step for e in train.Histograms("weights/0.weight")] == [2]
    assert "batch_loss" not in train.Tags()["scalars"]
    assert not (tmp_path / "tb" / "validation").exists()
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(tmp_path, update_freq="step")


def test_csv_logger_writes_a_row_per_epoch_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    _, h = _fit([CSVLogger(path)], epochs=2)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["epoch", *h.history]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], h["loss"])
    _fit([CSVLogger(path, append=True)], epochs=1)
    rows = list(csv.reader(path.open()))
    assert [r[0] for r in rows[1:]] == ["1", "2", "1"] and rows[0][0] == "epoch"
    _fit([CSVLogger(path, separator=";")], epochs=1)
    assert path.read_text().splitlines()[0].startswith("epoch;loss;accuracy")


def test_lambda_callback_calls_with_keras_arguments():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_batch_end=lambda batch, logs: calls.append(("batch_end", batch, logs["loss"] > 0)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: calls.append(("train_end", sorted(logs))),
    )
    _fit([cb], epochs=2, val=False)
    per_epoch = [("batch_begin", b) if i % 2 == 0 else ("batch_end", b, True)
                 for b in range(4) for i in range(2)]  # fmt: skip
    keys = ["accuracy", "loss", "lr", "samples_per_s", "time"]
    assert calls == [
        ("train_begin", {}),
        ("epoch_begin", 1), *per_epoch, ("epoch_end", 1, keys),
        ("epoch_begin", 2), *per_epoch, ("epoch_end", 2, keys),
        ("train_end", keys),
    ]  # fmt: skip


def test_fit_says_when_early_stopping_fired_and_what_it_restored():
    X, y = blobs(64)
    model = mlp()
    out = io.StringIO()
    # a validation set the model cannot learn: val_loss stops improving quickly
    Xv, yv = blobs(64, seed=1)
    yv = (yv + 1) % 3
    stop = EarlyStopping(patience=2)
    h = cr.train.fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.2),
                     (X, y), (Xv, yv), epochs=30, batch_size=16, callbacks=[stop],
                     progress=ProgressBar(stream=out))  # fmt: skip
    assert h.stopped_early and stop.restored_epoch == stop.best_epoch > 0
    last = out.getvalue().strip().splitlines()[-1]
    assert last == (
        f"early stopping at epoch {stop.stopped_epoch}: val_loss did not improve for 2 epochs; "
        f"restored the weights of epoch {stop.best_epoch} "
        f"(val_loss {min(h['val_loss']):.4f})"
    )
    quiet = io.StringIO()
    cr.train.fit(mlp(), nn.CrossEntropyLoss(), cr.optim.SGD(mlp().parameters(), lr=0.2),
                 (X, y), epochs=2, batch_size=16, callbacks=[EarlyStopping("loss", patience=5)],
                 progress=ProgressBar(stream=quiet))  # fmt: skip
    assert "early stopping" not in quiet.getvalue()
