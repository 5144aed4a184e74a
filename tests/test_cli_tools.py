"""`chainrule train --tensorboard`, `chainrule train --find-lr` and `chainrule summary`,
through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from tensorboard.backend.event_processing.event_accumulator import (
    HISTOGRAMS,
    SCALARS,
    EventAccumulator,
)

import chainrule as cr
from cli_entry import entry_point

ENV = {**os.environ, "COLUMNS": "120"}
ENV.pop("CHAINRULE_DEBUG", None)


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*entry_point(), *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=180, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = cli("train", "--dataset", "moons", "--hidden", "8", "--epochs", "3", "--tensorboard",
                 "--out", out, "--name", "tb")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / "tb", result


@pytest.mark.slow  # trains in a subprocess
def test_train_tensorboard_writes_events_tensorboard_reads(tb_run):
    folder, _ = tb_run
    train = EventAccumulator(str(folder / "tensorboard" / "train"),
                             size_guidance={SCALARS: 0, HISTOGRAMS: 0})  # fmt: skip
    train.Reload()
    history = json.loads((folder / "history.json").read_text())["history"]
    loss = train.Scalars("epoch_loss")
    assert [e.step for e in loss] == [1, 2, 3]
    assert [e.value for e in loss] == pytest.approx(history["loss"], rel=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx(history["lr"])
    hists = set(train.Tags()["histograms"])
    assert {"weights/0.weight", "gradients/0.weight", "weights/2.bias"} <= hists
    val = EventAccumulator(str(folder / "tensorboard" / "validation"))
    val.Reload()
    assert [e.value for e in val.Scalars("epoch_accuracy")] == pytest.approx(
        history["val_accuracy"], rel=1e-6
    )


@pytest.mark.slow  # trains in a subprocess
def test_summary_of_a_run(tb_run):
    folder, _ = tb_run
    result = cli("summary", folder, "--batch-size", "64")
    assert result.returncode == 0, result.stderr
    model, _ = cr.load_model(folder)
    assert result.stdout.strip() == str(cr.nn.summary(model, (64, 2)))
    assert "Total params: 42" in result.stdout and "[64, 8]" in result.stdout  # 2-8-2: 24 + 18
    bad = cli("summary", folder.parent / "nothing")
    assert bad.returncode == 1 and "no run folder or checkpoint" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # trains in a subprocess
def test_find_lr(tmp_path):
    result = cli("train", "--dataset", "moons", "--hidden", "8", "--find-lr", "--out", tmp_path,
                 "--name", "lr")  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert f"suggested learning rate: {saved['suggestion']:.3g}" in result.stdout
    assert len(saved["lrs"]) == len(saved["losses"]) <= 200
    assert (tmp_path / "lr" / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "lr" / "model.safetensors").exists()  # nothing was trained
    bad = cli("train", "--find-lr", "--resume", tmp_path / "lr")
    assert bad.returncode == 1 and "--find-lr cannot be used with --resume" in bad.stderr


def test_non_numeric_feature_suggests_what_the_command_line_offers(tmp_path):
    data = tmp_path / "text.csv"
    data.write_text("a,b,label\n1,red,x\n2,blue,y\n" + "3,4,x\n" * 40)
    result = cli("train", "--dataset", data, "--target", "label", "--out", tmp_path)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "feature column 'b' is not numeric: line 2 holds 'red'" in result.stderr
    assert "delete the column from the file" in result.stderr and "features=" not in result.stderr
    # the Python API names its own way out
    with pytest.raises(cr.errors.DataError, match=r"leave the column out with features=\[\.\.\.\]"):
        cr.data.load_csv(data, "label")
