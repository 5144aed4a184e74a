"""The loop open for extension: train_step/test_step overrides, and learning-rate schedules
stepped by the LRScheduler callback (per epoch, per batch, on a monitored value; in
checkpoints; before the other callbacks)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import blobs, mlp, same_weights

import chainrule as cr
from chainrule import nn
from chainrule.optim import lr_scheduler
from chainrule.train import Callback, LRScheduler, ModelCheckpoint, Trainer
from chainrule.train.checkpoint import save_checkpoint
from torch_optional import torch  # on Pythons without torch: a stand-in that skips


class L1Trainer(Trainer):
    """The docstring's example: an L1 penalty added in an overridden step."""

    def __init__(self, *args, strength=1e-2, **kw):
        super().__init__(*args, **kw)
        self.strength, self.steps = strength, []

    def train_step(self, batch):
        x, y = batch
        out = self.model(x)
        penalty = sum(p.abs().sum() for p in self.model.parameters())
        loss = self.loss_fn(out, y) + self.strength * penalty
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer_step()
        self.update_metrics(out, y)
        logs = {"loss": loss.item(), "l1": penalty.item()}
        self.steps.append((len(y), logs))
        return logs


def _l1_norm(model) -> float:
    return sum(float(np.abs(p.numpy()).sum()) for p in model.parameters())


def test_an_overridden_train_step_is_what_fit_runs_and_its_logs_are_averaged():
    X, y = blobs(n=40)  # batches of 16, 16, 8: the mean must weight them by their size
    plain = Trainer(mlp(), nn.CrossEntropyLoss(), None, progress=False)
    plain.optimizer = cr.optim.SGD(plain.model.parameters(), lr=0.1)
    plain.fit((X, y), epochs=3, batch_size=16)
    model = mlp()
    t = L1Trainer(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1),
                  metrics=["accuracy"], progress=False, strength=0.05)  # fmt: skip
    h = t.fit((X, y), epochs=3, batch_size=16)
    assert _l1_norm(t.model) < 0.9 * _l1_norm(plain.model)  # the penalty shrank the weights
    last = t.steps[-3:]
    assert [n for n, _ in last] == [16, 16, 8]
    for name in ("loss", "l1"):
        want = sum(n * logs[name] for n, logs in last) / 40
        assert h[name][-1] == pytest.approx(want, rel=1e-12)
    assert 0 < h["accuracy"][-1] <= 1  # update_metrics reached the metric


def test_train_step_logs_reach_on_batch_end_and_a_non_finite_override_stops():
    seen = []

    class Record(Callback):
        def on_batch_end(self, trainer, batch, logs):
            seen.append((trainer.epoch + 1, batch, dict(logs)))

    class Constant(Trainer):
        def train_step(self, batch):
            return {"loss": float(self.batch_index), "extra": 1.0}

    X, y = blobs(n=32)
    model = mlp()
    t = Constant(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1),
                 callbacks=[Record()], progress=False)  # fmt: skip
    h = t.fit((X, y), epochs=2, batch_size=16)
    assert seen == [
        (1, 0, {"loss": 0.0, "extra": 1.0}),
        (1, 1, {"loss": 1.0, "extra": 1.0}),
        (2, 0, {"loss": 0.0, "extra": 1.0}),
        (2, 1, {"loss": 1.0, "extra": 1.0}),
    ]
    assert h["loss"] == [0.5, 0.5] and h["extra"] == [1.0, 1.0]

    class Diverging(Trainer):
        def train_step(self, batch):
            return {"loss": float("nan")}

    bad = Diverging(model, nn.CrossEntropyLoss(), t.optimizer, progress=False)
    with pytest.raises(cr.errors.NonFiniteError, match="at epoch 1, batch 0"):
        bad.fit((X, y), epochs=1, batch_size=16)


def test_an_overridden_test_step_serves_evaluate_and_validation():
    class Scaled(Trainer):
        def test_step(self, batch):
            x, y = batch
            out = self.model(x)
            self.update_metrics(out, y)
            return {"loss": 2.0 * self.loss_fn(out, y).item(), "one": 1.0}

    train, val = blobs(n=48), blobs(n=30, seed=1)
    model = mlp()
    t = Scaled(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1),
               metrics=["accuracy"], progress=False)  # fmt: skip
    h = t.fit(train, val, epochs=2, batch_size=16)
    assert h["val_one"] == [1.0, 1.0] and "one" not in h
    plain = Trainer(t.model, nn.CrossEntropyLoss(), t.optimizer, metrics=["accuracy"],
                    progress=False).evaluate(val)  # fmt: skip
    got = t.evaluate(val, batch_size=7)
    assert got["loss"] == pytest.approx(2 * plain["loss"], rel=1e-6)
    assert got["one"] == 1.0 and got["accuracy"] == plain["accuracy"]


# ---------------------------------------------------------------------------------- schedules
def _fit_lrs(sched_for, *, callback=False, epochs=4, val=True, **cb):
    model = mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    sched = sched_for(opt)
    kw = {"callbacks": [LRScheduler(sched, **cb)]} if callback else {"scheduler": sched}
    t = Trainer(model, nn.CrossEntropyLoss(), opt, progress=False, **kw)
    h = t.fit(blobs(), blobs(seed=2) if val else None, epochs=epochs, batch_size=16)
    return h["lr"], t


def test_the_scheduler_argument_is_an_lr_scheduler_callback():
    def step(opt):
        return lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    by_arg, t = _fit_lrs(step)
    by_callback, _ = _fit_lrs(step, callback=True)
    assert by_arg == by_callback == [0.1, 0.1, 0.05, 0.05]
    assert [type(cb) for cb in t.callbacks] == [LRScheduler]


def test_lr_scheduler_per_batch_and_on_a_monitored_value():
    def linear(opt):  # 6 batches per epoch: per batch, 1/4 of the way after each
        return lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=24)

    lrs, _ = _fit_lrs(linear, callback=True, interval="batch")
    assert lrs == pytest.approx([0.075, 0.05, 0.025, 0.0])

    def plateau(opt):
        return lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)

    # "max" on the training loss: after the first epoch a falling loss never improves, so
    # the rate halves at the end of each later epoch (each epoch logs the rate it trained at)
    lrs, _ = _fit_lrs(plateau, callback=True, monitor="loss")
    assert lrs == [0.1, 0.1, 0.05, 0.025]
    with pytest.raises(KeyError, match="cannot monitor 'val_accuracy'"):
        _fit_lrs(plateau, callback=True, monitor="val_accuracy")
    with pytest.raises(ValueError, match="interval must be 'epoch' or 'batch'"):
        LRScheduler(None, interval="step")


def _warmup_cosine(lib, opt, T_max=5):
    s = lib.optim.lr_scheduler
    warm = s.LinearLR(opt, start_factor=0.1, total_iters=3)
    return s.SequentialLR(opt, [warm, s.CosineAnnealingLR(opt, T_max, 0.001)], milestones=[3])


def _torch_rates(steps: int, every: int, T_max: int) -> list[float]:
    """PyTorch's rate after each ``every`` steps of the same schedule."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched, rates = _warmup_cosine(torch, opt, T_max), []
    for i in range(steps):
        if i % every == 0:
            rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_warm_up_then_cosine_needs_no_change_to_the_trainer():
    """PyTorch's SequentialLR (a LinearLR warm-up, then CosineAnnealingLR) given to the
    trainer as any other schedule: each epoch logs PyTorch's rate, stepped per epoch or (the
    warm-up counted in batches) per batch."""
    per_epoch, _ = _fit_lrs(lambda opt: _warmup_cosine(cr, opt), epochs=8)
    assert per_epoch == pytest.approx(_torch_rates(8, 1, 5), rel=1e-12, abs=0)
    assert per_epoch[:4] == pytest.approx([0.01, 0.04, 0.07, 0.1])  # the warm-up, then 0.1
    # 6 batches an epoch, each followed by a step: an epoch logs the rate after its last one
    per_batch, _ = _fit_lrs(lambda opt: _warmup_cosine(cr, opt, 20), epochs=4, interval="batch",
                            callback=True)  # fmt: skip
    assert per_batch == pytest.approx(_torch_rates(25, 6, 20)[1:], rel=1e-12, abs=0)


class StopAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _run(folder, extra=()):
    model = mlp(seed=0)
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 3, 5], gamma=0.5)
    # listed after the checkpoint callback: it still steps first, so checkpoints hold its state
    callbacks = [ModelCheckpoint(folder), LRScheduler(sched), *extra]
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=callbacks, progress=False)


def test_a_user_lr_scheduler_steps_before_checkpoints_and_resumes(tmp_path):
    train, val = blobs(n=64), blobs(n=30, seed=1)
    ref = _run(tmp_path / "ref")
    ref_h = ref.fit(train, val, epochs=6, batch_size=16)
    assert [type(cb).__name__ for cb in ref.callbacks] == ["LRScheduler", "ModelCheckpoint"]
    first = _run(tmp_path / "run", [StopAt(2)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(train, val, epochs=6, batch_size=16)
    resumed = _run(tmp_path / "run")
    h = resumed.fit(train, val, epochs=6, batch_size=16, resume=tmp_path / "run")
    assert h["lr"] == ref_h["lr"] == [0.1, 0.1, 0.05, 0.025, 0.025, 0.0125]
    assert same_weights(resumed.model, ref.model)


def test_a_checkpoint_with_the_schedule_in_its_meta_still_resumes(tmp_path):
    """Checkpoints written before LRScheduler kept the scheduler's state in meta["scheduler"]."""
    train = blobs(n=64)

    def make():
        model = mlp(seed=0)
        opt = cr.optim.SGD(model.parameters(), lr=0.1)
        sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=False)

    ref = make()
    ref.fit(train, epochs=4, batch_size=16)
    old = make()
    old.fit(train, epochs=2, batch_size=16)
    arrays, meta = old.state_dict()
    meta["scheduler"] = meta["callbacks"][0]["state"]["scheduler"]  # the former layout
    meta["callbacks"] = []
    save_checkpoint(tmp_path, "last", arrays, meta)
    resumed = make()
    h = resumed.fit(train, epochs=4, batch_size=16, resume=tmp_path / "last.json")
    assert h["lr"] == [0.1, 0.05, 0.025, 0.0125]
    assert same_weights(resumed.model, ref.model)
