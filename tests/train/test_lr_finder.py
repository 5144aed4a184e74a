"""cr.train.lr_find: the learning-rate range test."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import blobs, mlp, same_weights

import chainrule as cr
from chainrule import nn


def test_sweep_restores_the_model_and_optimiser_and_suggests_a_rate(tmp_path):
    X, y = blobs(128)
    model = mlp()
    before = mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    r = cr.train.lr_find(model, nn.CrossEntropyLoss(), opt, (X, y), num_iter=120, batch_size=16)
    assert same_weights(model, before) and opt.param_groups[0]["lr"] == 0.05
    assert not opt.state or all(not s for s in opt.state.values())
    # an exponential sweep, one rate per step, from 1e-7 up
    assert r.lrs[0] == pytest.approx(1e-7) and len(r.lrs) == len(r.losses) == len(r.raw_losses)
    ratios = r.lrs[1:] / r.lrs[:-1]
    np.testing.assert_allclose(ratios, (10 / 1e-7) ** (1 / 119))
    # the suggestion lies where the loss falls, before its minimum, and training with it works
    best = int(np.argmin(r.losses))
    i = int(np.argmin(np.abs(r.lrs - r.suggestion)))
    assert i < best and r.losses[i] < r.losses[0] and r.lr_min == pytest.approx(r.lrs[best] / 10)
    opt = cr.optim.SGD(model.parameters(), lr=r.suggestion)
    h = cr.train.fit(model, nn.CrossEntropyLoss(), opt, (X, y), epochs=5, batch_size=16,
                     metrics=["accuracy"], progress=False)  # fmt: skip
    assert h["accuracy"][-1] > 0.9
    png = r.plot(tmp_path / "lr.png")
    assert png.read_bytes()[:4] == b"\x89PNG" and "suggested learning rate" in r._repr_html_()


def test_diverging_sweep_stops_early_and_bad_ranges():
    X, y = blobs(64)
    linear = nn.Linear(4, 1)
    target = X[:, :1] * 2.0
    r = cr.train.lr_find(linear, nn.MSELoss(), cr.optim.SGD(linear.parameters(), lr=0.1),
                         (X, target), end_lr=1e4, num_iter=300, batch_size=16)  # fmt: skip
    assert r.stopped and len(r.lrs) < 300 and r.losses[-1] > 4 * r.losses.min()
    model = mlp()
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        cr.train.lr_find(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters()), (X, y),
                         start_lr=1.0, end_lr=0.1)  # fmt: skip
    with pytest.raises(ValueError, match="at least 5"):
        cr.train.lr_find(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters()), (X, y),
                         num_iter=2)  # fmt: skip
