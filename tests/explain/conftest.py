"""Fixtures for the explain tests: the ``chainrule`` command in a subprocess, and a small
trained run folder (two moons, 2 classes) with curves, confusion matrix and gradient flow."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import load_dataset
from chainrule.explain import GradientFlow
from chainrule.train import confusion_matrix, fit, plot_confusion_matrix, plot_history, predict
from chainrule.train.run import Preprocess, build_mlp, model_spec, save_run
from cli_entry import entry_point


@pytest.fixture(scope="session")
def cli():
    """``cli(*args, env=None, cwd=None)`` runs ``chainrule ARGS`` in a subprocess and returns
    the CompletedProcess (text mode)."""
    exe = entry_point()

    def run(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 120):
        full_env = {**os.environ, "COLUMNS": "140", **(env or {})}
        return subprocess.run(
            [*exe, *map(str, args)],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory) -> Path:
    """A run folder as ``chainrule train`` writes it: two moons, a 2 → 8 → 8 → 2 tanh
    network, with history, metrics, curves.png, confusion_matrix.png and
    gradient_flow.json/.png."""
    folder = tmp_path_factory.mktemp("run") / "moons-run"
    data = load_dataset("moons", seed=0)
    mean = data.X_train.mean(axis=0)
    scale = data.X_train.std(axis=0)
    pre = Preprocess(
        task="classification",
        n_features=2,
        input_shape=[2],
        n_classes=2,
        class_names=list(data.class_names),
        feature_names=list(data.feature_names),
        mean=mean.tolist(),
        scale=scale.tolist(),
    )
    X_train, X_test = pre.transform(data.X_train), pre.transform(data.X_test)
    cr.manual_seed(0)
    model = build_mlp(2, [8, 8], 2, "tanh")
    flow = GradientFlow(folder)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        cr.optim.Adam(model.parameters(), lr=0.05),
        (X_train, data.y_train),
        (X_test, data.y_test),
        epochs=6,
        batch_size=32,
        metrics=["accuracy"],
        callbacks=[flow],
        progress=False,
    )
    acc = float((predict(model, X_test).argmax(axis=1) == data.y_test).mean())
    config = {
        "model": model_spec(2, [8, 8], 2, "tanh", "softmax"),
        "dataset": "moons",
        "seed": 0,
        "epochs": 6,
        "optimizer": {"name": "adam", "lr": 0.05},
    }
    save_run(
        folder,
        config=config,
        model=model,
        preprocess=pre,
        history=history,
        metrics={"test": {"accuracy": acc}},
    )
    plot_history(history, folder / "curves.png")
    cm = confusion_matrix(data.y_test, predict(model, X_test), n_classes=2)
    plot_confusion_matrix(cm, folder / "confusion_matrix.png", pre.class_names)
    assert (folder / "gradient_flow.json").is_file()
    return folder


@pytest.fixture
def float64():
    """Run the test with float64 as the default dtype."""
    prev = cr.get_default_dtype()
    cr.set_default_dtype(np.float64)
    yield
    cr.set_default_dtype(prev)
