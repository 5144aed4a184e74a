"""GradientFlow: per-layer gradient and weight norms, update ratios, dead ReLUs, warnings."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.explain import (
    ExplodingGradientWarning,
    GradientFlow,
    GradientFlowWarning,
    VanishingGradientWarning,
    gradient_norms,
    load_gradient_flow,
    plot_gradient_flow,
)
from chainrule.train import fit


def deep_mlp(act: type[nn.Module], he: bool, depth: int = 10, width: int = 32) -> nn.Sequential:
    cr.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(depth):
        lin = nn.Linear(16 if i == 0 else width, 4 if i == depth - 1 else width)
        if he:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < depth - 1:
            layers.append(act())
    return nn.Sequential(*layers)


def blobs(n: int = 256, d: int = 16, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(k, size=n)


def train(model, flow, epochs=2, lr=0.01, batch_size=64, data=None):
    X, y = data if data is not None else blobs()
    return fit(
        model,
        nn.CrossEntropyLoss(),
        cr.optim.SGD(model.parameters(), lr=lr),
        (X, y),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[flow],
        progress=False,
    )


def test_sigmoid_gradients_vanish_relu_he_do_not():
    """The classic: a 10-layer logistic network's first layer gets a gradient orders of
    magnitude below a ReLU network's with He initialisation."""
    sig, relu = GradientFlow(), GradientFlow()
    with pytest.warns(VanishingGradientWarning, match="vanishing gradients in layer"):
        train(deep_mlp(nn.Sigmoid, he=False), sig)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientFlowWarning)
        train(deep_mlp(nn.ReLU, he=True), relu)
    first_sig = sig.records[sig.layers[0]]["grad_norm"][-1]
    first_relu = relu.records[relu.layers[0]]["grad_norm"][-1]
    assert first_sig < 1e-3 * first_relu, (first_sig, first_relu)
    # Within the sigmoid network the gradient shrinks layer by layer towards the input.
    norms = [sig.records[n]["grad_norm"][-1] for n in sig.layers]
    assert norms[0] < 1e-4 * norms[-1]
    assert all(a < b for a, b in zip(norms[:-1], norms[1:]))
    # One-batch measurement without training agrees on the picture.
    X, y = blobs(64)
    g_sig = gradient_norms(deep_mlp(nn.Sigmoid, he=False), X, y, nn.CrossEntropyLoss())
    g_relu = gradient_norms(deep_mlp(nn.ReLU, he=True), X, y, nn.CrossEntropyLoss())
    assert list(g_sig) == sig.layers
    assert g_sig["0"] < 1e-3 * g_relu["0"]
    assert sig.warnings and all(w["kind"] == "vanishing" for w in sig.warnings)
    assert "0" in sig.warnings[0]["layers"]


def test_update_ratio_is_one_sgd_step():
    """With one batch per epoch and plain SGD, ΔW = −lr ∇W, so the recorded ratio is
    lr ‖∇W‖ / ‖W‖ of the weights before the step."""
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    X, y = blobs(32, 4, 3)
    w0 = {
        n: np.linalg.norm(model.get_submodule(n).weight.numpy().astype(np.float64))
        for n in ("0", "2")
    }
    flow = GradientFlow()
    train(model, flow, epochs=1, lr=0.3, batch_size=32, data=(X, y))
    for n in ("0", "2"):
        r = flow.records[n]
        assert r["update_ratio"][0] == pytest.approx(0.3 * r["grad_norm"][0] / w0[n], rel=1e-5)
        w1 = np.linalg.norm(model.get_submodule(n).weight.numpy().astype(np.float64))
        assert r["weight_norm"][0] == pytest.approx(w1, rel=1e-6)
        assert r["dead_fraction"] == [None]  # tanh layers: no ReLU to die


def test_dead_relu_fraction():
    cr.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with cr.no_grad():
        model[0].bias.data[:3] = -1e4  # three units that can never be positive
    flow = GradientFlow()
    train(model, flow, epochs=2, lr=0.01, batch_size=16, data=blobs(64, 4, 3))
    assert flow.relu_of == {"0": "1"}
    dead = flow.records["0"]["dead_fraction"]
    assert len(dead) == 2 and all(d >= 3 / 8 for d in dead)
    assert flow.records["2"]["dead_fraction"] == [None, None]


def test_exploding_warning_once_and_recorded():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    flow = GradientFlow(exploding_norm=1e-3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(model, flow, epochs=3, batch_size=16, data=blobs(64, 4, 3))
    exploding = [w for w in caught if issubclass(w.category, ExplodingGradientWarning)]
    assert len(exploding) == 1  # once per training run ...
    assert "epoch 1: exploding gradients" in str(exploding[0].message)
    # ... and every epoch it happened in is recorded
    assert [w["epoch"] for w in flow.warnings if w["kind"] == "exploding"] == [1, 2, 3]
    assert issubclass(ExplodingGradientWarning, UserWarning)


def test_save_load_plot_and_state(tmp_path):
    folder = tmp_path / "flow"
    flow = GradientFlow(folder, every=2)
    train(deep_mlp(nn.ReLU, he=True, depth=3), flow, epochs=2)
    data = load_gradient_flow(folder)
    assert data == json.loads((folder / "gradient_flow.json").read_text())
    assert data["epochs"] == [1, 2]
    assert [d["name"] for d in data["layers"]] == ["0", "2", "4"]
    assert data["layers"][0]["shape"] == [32, 16] and data["layers"][0]["relu"] == "1"
    png = (folder / "gradient_flow.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    again = plot_gradient_flow(flow, tmp_path / "again.png")
    assert again.read_bytes()[:4] == b"\x89PNG"
    restored = GradientFlow()
    restored.load_state_dict(flow.state_dict())
    assert restored.to_dict()["records"] == data["records"]
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a chainrule gradient-flow"):
        load_gradient_flow(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="nothing recorded"):
        plot_gradient_flow(GradientFlow(), tmp_path / "empty.png")
    with pytest.raises(ValueError, match="every"):
        GradientFlow(every=0)


def test_resume_keeps_records(tmp_path):
    """Records survive a checkpoint/resume through the trainer's callback state, also when
    the checkpoint callback runs before GradientFlow (as in ``chainrule train``)."""
    from chainrule.train import ModelCheckpoint, Trainer

    def trainer(flow):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
        return Trainer(
            model,
            nn.CrossEntropyLoss(),
            cr.optim.SGD(model.parameters(), lr=0.05),
            callbacks=[ModelCheckpoint(tmp_path / "ck", monitor="loss"), flow],
            progress=False,
        )

    first = GradientFlow()
    trainer(first).fit(blobs(), epochs=2, batch_size=64)
    second = GradientFlow()
    trainer(second).fit(blobs(), epochs=3, batch_size=64, resume=tmp_path / "ck")
    assert second.epochs == [1, 2, 3]
    assert second.records["0"]["grad_norm"][:2] == first.records["0"]["grad_norm"]
    assert all(math.isfinite(v) for v in second.records["0"]["update_ratio"])
