"""The fit loop: training, evaluation, prediction, schedulers, errors, and resuming an
interrupted run to exactly the weights of an uninterrupted one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import blobs, mlp, same_weights

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader, TensorDataset
from chainrule.errors import CheckpointError, DataError, NonFiniteError
from chainrule.optim import lr_scheduler
from chainrule.train import (
    Callback,
    EarlyStopping,
    HistoryLogger,
    ModelCheckpoint,
    Trainer,
    fit,
    predict,
)


def _trainer(model=None, opt="sgd", **kw) -> Trainer:
    model = model or mlp()
    optimizer = (
        cr.optim.SGD(model.parameters(), lr=0.1)
        if opt == "sgd"
        else cr.optim.Adam(model.parameters(), lr=0.01)
    )
    kw.setdefault("progress", False)
    kw.setdefault("metrics", ["accuracy"])
    return Trainer(model, nn.CrossEntropyLoss(), optimizer, **kw)


def test_fit_learns_and_logs_every_epoch():
    train, val = blobs(seed=0), blobs(seed=1)
    t = _trainer(metrics=["accuracy", "top2_accuracy"])
    h = t.fit(train, val, epochs=5, batch_size=16)
    assert h.epochs == [1, 2, 3, 4, 5] and t.epoch == 5
    for name in ("loss", "accuracy", "top2_accuracy", "val_loss", "val_accuracy", "lr", "time",
                 "samples_per_s"):  # fmt: skip
        assert len(h[name]) == 5, name
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.9
    assert all(a <= b for a, b in zip(h["accuracy"], h["top2_accuracy"]))


def test_evaluate_matches_a_manual_computation():
    X, y = blobs(n=50)
    t = _trainer()
    t.fit((X, y), epochs=2, batch_size=16)
    got = t.evaluate((X, y), batch_size=7)
    out = predict(t.model, X)
    logp = (
        out
        - np.log(np.exp(out - out.max(1, keepdims=True)).sum(1, keepdims=True))
        - out.max(1, keepdims=True)
    )
    assert got["loss"] == pytest.approx(-logp[np.arange(50), y].mean(), rel=1e-5)
    assert got["accuracy"] == pytest.approx((out.argmax(1) == y).mean())


def test_predict_eval_mode_batches_and_restores_training_mode():
    X, _ = blobs(n=70)
    model = mlp(dropout=0.5)
    model.train()
    a = predict(model, X, batch_size=8)
    b = predict(model, cr.tensor(X), batch_size=1000)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # no dropout at prediction
    assert a.shape == (70, 3) and isinstance(a, np.ndarray)
    assert model.training
    t = _trainer(model)
    np.testing.assert_allclose(t.predict(X), a, rtol=1e-5, atol=1e-6)
    assert predict(model, TensorDataset(X)).shape == (70, 3)
    with pytest.raises(DataError, match="nothing to predict"):
        predict(model, np.zeros((0, 4)))


def test_fit_function_and_dataloader_input():
    X, y = blobs()
    model = mlp()
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, generator=3)
    h = fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1), loader,
            epochs=3, metrics=["accuracy"], progress=False)  # fmt: skip
    assert len(h) == 3 and h["accuracy"][-1] > 0.8


def test_validation_smaller_than_a_batch():
    t = _trainer()
    X, y = blobs(n=5, seed=1)
    h = t.fit(blobs(), (X, y), epochs=1, batch_size=64)
    assert "val_loss" in h


def test_data_errors():
    t = _trainer()
    with pytest.raises(DataError, match="fewer than the batch size 64; use a smaller batch size"):
        t.fit(blobs(n=20), epochs=1, batch_size=64)
    with pytest.raises(DataError, match="the dataset is empty"):
        t.fit((np.zeros((0, 4), np.float32), np.zeros(0, np.int64)), epochs=1)
    with pytest.raises(DataError, match="must be a Dataset, a DataLoader or an \\(X, y\\) pair"):
        t.fit(np.zeros((4, 4)), epochs=1)
    with pytest.raises(DataError, match="the data has no targets"):
        t.fit(TensorDataset(np.zeros((8, 4), np.float32)), epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        t.fit(blobs(), epochs=0)
    with pytest.raises(ValueError, match="metric names must be distinct"):
        _trainer(metrics=["accuracy", "acc"])


def test_non_finite_loss_stops_with_advice():
    X, y = blobs()
    model = mlp()

    def diverging(out, target):  # what a loss does once the weights have blown up
        return nn.functional.cross_entropy(out, target) * float("inf")

    t = Trainer(model, diverging, cr.optim.SGD(model.parameters(), lr=0.1), progress=False)
    with pytest.raises(NonFiniteError, match="the loss became inf at epoch 1, batch 0; lower"):
        t.fit((X, y), epochs=5, batch_size=8)


def test_grad_clip_bounds_the_gradient_norm():
    X, y = blobs()
    norms = []

    class Norm(Callback):
        def on_after_backward(self, trainer):  # before clipping
            norms.append(_norm(trainer.model))

    model = mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.0)
    clipped = []
    step = opt.step

    def recording_step():
        clipped.append(_norm(model))  # after clipping, what the optimiser sees
        step()

    opt.step = recording_step
    t = Trainer(model, nn.CrossEntropyLoss(), opt, grad_clip=1e-3, progress=False,
                callbacks=[Norm()])  # fmt: skip
    t.fit((X * 10, y), epochs=1, batch_size=16)
    assert min(norms) > 1e-3
    assert max(clipped) == pytest.approx(1e-3, rel=1e-4)


def _norm(model) -> float:
    return math.sqrt(sum(float((p.grad.data**2).sum()) for p in model.parameters()))


@pytest.mark.parametrize("kind", ["step", "plateau", "onecycle"])
def test_schedulers_are_stepped(kind):
    model = mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    if kind == "step":
        sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    elif kind == "plateau":
        sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    else:
        sched = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=4 * 6)
    t = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=False)
    X, y = blobs()
    h = t.fit((X, y), blobs(seed=2), epochs=4, batch_size=16)  # 6 batches per epoch
    if kind == "step":
        assert h["lr"] == [0.1, 0.1, 0.05, 0.05]
    elif kind == "plateau":
        assert h["lr"][0] == 0.1 and len(set(h["lr"])) >= 1
    else:  # stepped per batch: the logged lr (end of epoch) changes within the run
        assert len(set(h["lr"])) == 4


# ---------------------------------------------------------------------------------- resume
class StopAt(Callback):
    """Raise KeyboardInterrupt at the end of ``epoch`` (after the checkpoint was written)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.epoch:
            raise KeyboardInterrupt


class StopMidEpoch(Callback):
    """Raise KeyboardInterrupt at batch ``batch`` of ``epoch``."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, trainer, epoch):
        self.current = epoch

    def on_batch_end(self, trainer, batch, logs):
        if self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


def _resumable(folder, extra=(), early=False):
    model = mlp(dropout=0.3, seed=0)
    opt = cr.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    callbacks = [EarlyStopping(monitor="val_loss", patience=2)] if early else []
    callbacks += [HistoryLogger(folder / "h.csv"), ModelCheckpoint(folder), *extra]
    return Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"], scheduler=sched,
                   callbacks=callbacks, progress=False)  # fmt: skip


@pytest.mark.parametrize("stop", [StopAt(3), StopMidEpoch(4, 2)], ids=["epoch-end", "mid-epoch"])
def test_resume_is_bit_for_bit_with_dropout_adam_and_a_scheduler(tmp_path, stop):
    train, val = blobs(n=100), blobs(n=30, seed=1)
    cr.manual_seed(123)  # the dropout stream continues from here in both runs
    ref = _resumable(tmp_path / "ref")
    ref_h = ref.fit(train, val, epochs=7, batch_size=16, seed=5)

    cr.manual_seed(123)
    first = _resumable(tmp_path / "run", extra=[stop])
    with pytest.raises(KeyboardInterrupt):
        first.fit(train, val, epochs=7, batch_size=16, seed=5)
    assert first.history.interrupted
    cr.manual_seed(999)  # a new process would start from another random state
    resumed = _resumable(tmp_path / "run")
    h = resumed.fit(train, val, epochs=7, batch_size=16, seed=5, resume=tmp_path / "run")
    assert same_weights(resumed.model, ref.model)
    assert h.epochs == ref_h.epochs
    for name in ("loss", "accuracy", "val_loss", "lr"):
        assert h[name] == ref_h[name], name
    sa, sb = resumed.optimizer.state_dict(), ref.optimizer.state_dict()
    assert json.dumps(sa["param_groups"], sort_keys=True) == json.dumps(
        sb["param_groups"], sort_keys=True
    )


def test_resume_with_early_stopping_restores_the_same_best_weights(tmp_path):
    train, val = blobs(n=100), blobs(n=30, seed=1)
    scores = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]

    class Val(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            logs["val_loss"] = scores[epoch - 1]

    def make(folder, extra=()):
        model = mlp(seed=0)
        opt = cr.optim.SGD(model.parameters(), lr=0.1)
        return Trainer(model, nn.CrossEntropyLoss(), opt, progress=False,
                       callbacks=[Val(), EarlyStopping(patience=3), ModelCheckpoint(folder),
                                  *extra])  # fmt: skip

    ref = make(tmp_path / "ref")
    ref.fit(train, val, epochs=8, batch_size=16)
    first = make(tmp_path / "run", [StopAt(3)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(train, val, epochs=8, batch_size=16)
    resumed = make(tmp_path / "run")
    h = resumed.fit(train, val, epochs=8, batch_size=16, resume=tmp_path / "run" / "last.json")
    assert len(h) == 5 and h.stopped_early  # stopped at epoch 5, restored epoch 2's weights
    assert same_weights(resumed.model, ref.model)


def test_resume_more_epochs_continues(tmp_path):
    train = blobs()
    t = _resumable(tmp_path)
    t.fit(train, blobs(seed=1), epochs=2, batch_size=16)
    t2 = _resumable(tmp_path)
    h = t2.fit(train, blobs(seed=1), epochs=4, batch_size=16, resume=tmp_path)
    assert h.epochs == [1, 2, 3, 4]


def test_resume_errors(tmp_path):
    t = _resumable(tmp_path)
    t.fit(blobs(), epochs=1, batch_size=16)
    other = Trainer(mlp(k=5), nn.CrossEntropyLoss(), cr.optim.SGD(mlp(k=5).parameters(), lr=0.1),
                    progress=False)  # fmt: skip
    with pytest.raises(CheckpointError, match="does not match the model"):
        other.fit(blobs(k=5), epochs=2, batch_size=16, resume=tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        _resumable(tmp_path / "x").fit(blobs(), epochs=2, batch_size=16, resume=tmp_path / "x")
    with pytest.raises(CheckpointError, match="cannot be restored"):
        # the data changed size: the saved data order no longer applies
        _resumable(tmp_path).fit(blobs(n=64), epochs=2, batch_size=16, resume=tmp_path)
