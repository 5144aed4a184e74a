"""Results: the networks reach the accuracies issue 4 (and, for the seeds' network, issue 3)
states, trained by the real ``chainrule`` command where there is one.

Slow (marked ``slow``; the README's test command runs them too). On the 2-core machine the
MLP runs take about a minute and a half together, the digits run alone about 10 s; the
convolutional runs (issue 10) take seconds on the digits and MNIST-1D, about 7 CPU-minutes
on Fashion-MNIST (the longest).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import load_dataset
from chainrule.optim import lr_scheduler
from chainrule.train import Trainer
from chainrule.train.run import build_mlp

pytestmark = pytest.mark.slow

# the commands of the README's results table
MNIST1D = (
    "--dataset mnist1d --hidden 256,256 --activation relu --dropout 0.2 --optimizer adamw "
    "--lr 0.003 --weight-decay 0.05 --epochs 60 --batch-size 64 --val-size 0"
).split()
FASHION = ("--dataset fashion_mnist --hidden 256,128 --activation relu --dropout 0.1 "
           "--optimizer adamw --lr 0.001 --weight-decay 0.05 --epochs 12 --batch-size 128 "
           "--val-size 0").split()  # fmt: skip
GRU = "--dataset mnist1d --model gru".split()
FASHION_CNN = "--dataset fashion_mnist --model cnn".split()


def _chainrule() -> list[str]:
    script = Path(sys.executable).parent / "chainrule"
    return [str(script)] if script.exists() else [str(shutil.which("chainrule"))]


def train(tmp_path: Path, *args: str, timeout: float = 600) -> tuple[dict, float]:
    """``chainrule train ARGS`` in a subprocess; returns (metrics.json, wall seconds)."""
    env = {**os.environ, "CHAINRULE_CACHE_DIR": str(tmp_path / "cache")}
    start = time.perf_counter()
    result = subprocess.run(
        [*_chainrule(), "train", *args, "--out", str(tmp_path), "--name", "run"],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    print(result.stdout)  # shown by pytest -s / on failure: the epochs and the final table
    return json.loads((tmp_path / "run" / "metrics.json").read_text()), seconds


def test_digits_with_the_default_settings(tmp_path):
    """`chainrule train` as it is: tanh MLP 64-128-64-10 on digits (measured: 98.1% test
    accuracy, about 8 s for the whole command of which 2 s training, on an idle 2-core
    machine; the time is the README's figure, not asserted: a loaded machine takes longer)."""
    metrics, _ = train(tmp_path)
    assert metrics["test"]["accuracy"] >= 0.97
    assert metrics["epochs"] == 40 and metrics["test"]["samples"] == 360


def test_mnist1d_mlp_beats_the_paper_baseline(tmp_path):
    """MNIST-1D, the package's default 4,000 / 1,000 split: an MLP reaches the 68% the
    MNIST-1D paper reports for its MLP baseline (measured: 72.9%, seeds 1 and 2 70.4% and
    72.4%; about 10 s). Like the paper's MLP it trains on all 4,000 training samples (no
    validation split); ReLU units, AdamW with decoupled weight decay 0.05 and dropout 0.2
    keep the 256-256 network from overfitting the small training set."""
    metrics, _ = train(tmp_path, *MNIST1D)
    assert metrics["train"]["samples"] == 4000 and metrics["test"]["samples"] == 1000
    assert metrics["test"]["accuracy"] >= 0.68


def test_fashion_mnist_mlp(tmp_path):
    """Fashion-MNIST, 60,000 / 10,000, from the Debian package's IDX files: a 784-256-128-10
    ReLU MLP reaches 88% (measured: 89.4% after 8 epochs, 90.2% after 15; this run of 12
    takes about 30 s)."""
    metrics, _ = train(tmp_path, *FASHION)
    assert metrics["train"]["samples"] == 60000 and metrics["test"]["samples"] == 10000
    assert metrics["test"]["accuracy"] >= 0.88


@pytest.mark.parametrize(
    "args", [MNIST1D, FASHION, GRU, FASHION_CNN], ids=["mnist1d", "fashion_mnist", "gru", "cnn"]
)
def test_the_readme_shows_these_commands(args):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "chainrule train " + " ".join(args) in readme


def test_the_seeds_network_by_per_example_sgd(tmp_path):
    """Issue 3's end-to-end test, the seeds' own algorithm (seed 004): a network with two
    tanh hidden layers, softmax output and cross-entropy l = -log f(x)_y, trained by
    stochastic gradient descent one example at a time, θ ← θ + α Δ with
    Δ = -∇l - λ∇Ω(θ), Ω = ½‖θ‖² (L2, so λ∇Ω = λθ: SGD's weight_decay), on scikit-learn's
    digits with a fixed seed.

    The inputs are standardised with one mean and one standard deviation over all pixels of
    the training split (per-pixel scaling blows up pixels that are almost always blank);
    α follows a cosine schedule from 0.05 over 10 epochs. Measured on this split: 98.3%;
    over the splits of seeds 0-3: 96.1-98.3%, mean 97.4%.
    """
    data = load_dataset("digits", seed=0)
    mean, std = data.X_train.mean(), data.X_train.std()
    X_train = ((data.X_train - mean) / std).astype(np.float32)
    X_test = ((data.X_test - mean) / std).astype(np.float32)
    cr.manual_seed(0)
    model = build_mlp(64, [256, 128], 10, "tanh")
    sgd = cr.optim.SGD(model.parameters(), lr=0.05, weight_decay=1e-4)  # no momentum
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        sgd,
        metrics=["accuracy"],
        scheduler=lr_scheduler.CosineAnnealingLR(sgd, T_max=10),
        progress=False,
    )
    history = trainer.fit((X_train, data.y_train), epochs=10, batch_size=1, seed=0)
    assert trainer.batches_per_epoch == len(X_train)  # one update per example
    result = trainer.evaluate((X_test, data.y_test))
    assert history["loss"][-1] < history["loss"][0]
    assert result["accuracy"] >= 0.97


# ---------------------------------------------------------------------------- convolutional
def test_digits_cnn_with_the_defaults(tmp_path):
    """`chainrule train --model cnn`: conv-BN-ReLU-pool twice (32, 64 maps) on the digits as
    8x8 images, random shifts, all of the split for training (measured: 99.2% test accuracy)."""
    metrics, _ = train(tmp_path, "--model", "cnn")
    assert metrics["test"]["samples"] == 360
    assert metrics["test"]["accuracy"] >= 0.985


def test_mnist1d_cnn_reaches_the_papers_cnn(tmp_path):
    """MNIST-1D with `--model cnn` (1-D convolutions, kernel 5, on the 40-sample signals):
    at least the 94% of the MNIST-1D paper's CNN (measured: 98.3%, 17 s on an idle machine)."""
    metrics, _ = train(tmp_path, "--dataset", "mnist1d", "--model", "cnn")
    assert metrics["test"]["samples"] == 1000
    assert metrics["test"]["accuracy"] >= 0.94


def test_fashion_mnist_cnn_with_its_defaults(tmp_path):
    """`chainrule train --dataset fashion_mnist --model cnn` as it is: on a training split
    this large the cnn trains on all 60,000 examples, 6 epochs of 128 with AdamW at 0.003 on
    a one-cycle schedule, and no shifts (``conv_data_defaults``); it reaches 92% test
    accuracy (issue 10's goal: in under 10 minutes on the 2-core machine; measured: README).
    The wall time, the CPU time and the load average are printed, not asserted: a loaded
    machine takes longer."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    metrics, seconds = train(tmp_path, *FASHION_CNN, timeout=3600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"fashion_mnist --model cnn: {metrics['test']['accuracy']:.2%} test accuracy, "
          f"{seconds / 60:.1f} min wall, {cpu_s / 60:.1f} CPU-minutes, load {load}")  # fmt: skip
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["optimizer"] == "adamw" and config["schedule"] == "onecycle"
    assert metrics["train"]["samples"] == 60000 and metrics["test"]["samples"] == 10000
    assert metrics["test"]["accuracy"] >= 0.92


# ---------------------------------------------------------------------------- sequences
def test_mnist1d_gru_reaches_the_paper_gru(tmp_path):
    """`chainrule train --dataset mnist1d --model gru` with its defaults (a bidirectional GRU
    of 16 units over the 40 values, every step's output into one linear layer; Adam 0.01 on
    a cosine schedule, 40 epochs of batches of 100; 3,600 / 400 / 1,000 split) reaches the 91%
    of the MNIST-1D paper's GRU (measured: 95.5%, 21 CPU-seconds with one BLAS thread)."""
    metrics, _ = train(tmp_path, *GRU)
    assert metrics["test"]["samples"] == 1000 and metrics["epochs"] == 40
    assert metrics["test"]["accuracy"] >= 0.91
