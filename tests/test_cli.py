"""The ``chainrule`` command through its real entry point, in subprocesses: train, predict,
evaluate, datasets, help, one-line errors for bad input, and runs interrupted by SIGINT or
SIGKILL that resume to the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.train.checkpoint import load_arrays
from cli_entry import entry_point

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


EXE = entry_point()
ENV = {**os.environ, "COLUMNS": "120", "PYTHONUNBUFFERED": "1"}
ENV.pop("CHAINRULE_DEBUG", None)


def cli(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """``chainrule ARGS`` in a subprocess (stdout and stderr are pipes, not terminals)."""
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=timeout, check=False)  # fmt: skip


def fails(result, message: str, status: int = 1) -> None:
    """The command failed with ``status`` and one line on stderr containing ``message``."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in lines[0], lines[0]


def _write_csv(path: Path, rows: int = 300, features: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    y = np.array(["left", "middle", "right"])[np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])]
    header = ",".join([f"f{i}" for i in range(features)] + ["side"])
    body = "\n".join(",".join([*(f"{v:.5f}" for v in x), label]) for x, label in zip(X, y))
    path.write_text(header + "\n" + body + "\n")
    return path


QUICK = ["--hidden", "8,8", "--epochs", "3", "--batch-size", "16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A run trained by the command on a small CSV: (csv, run folder, completed process)."""
    tmp = tmp_path_factory.mktemp("cli")
    data = _write_csv(tmp / "data.csv")
    result = cli("train", "--dataset", data, "--target", "side", *QUICK, "--out", tmp / "runs")
    assert result.returncode == 0, result.stderr
    line = [x for x in result.stdout.splitlines() if x.startswith("run folder: ")][-1]
    return data, Path(line.removeprefix("run folder: ")), result


# ---------------------------------------------------------------------------------- help
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["train", "predict", "evaluate", "datasets", "--version"]),
        (["train"], ["--dataset", "--target", "--hidden", "--activation", "--output", "--loss",
                     "--optimizer", "--lr", "--weight-decay", "--epochs", "--batch-size",
                     "--seed", "--early-stopping", "--resume", "--out", "--config", "examples:"]),
        (["predict"], ["RUN", "DATA", "--output", "p_<class>"]),
        (["evaluate"], ["RUN", "DATA", "--json", "accuracy"]),
        (["datasets"], ["--names", "Fashion-MNIST"]),
    ],
)  # fmt: skip
def test_help(command, expected):
    result = cli(*command, "--help")
    assert result.returncode == 0 and not result.stderr
    for word in expected:
        assert word in result.stdout, word


def test_no_command_prints_help_and_python_m_works():
    result = cli()
    assert result.returncode == 2 and "COMMAND" in result.stdout
    version = subprocess.run([sys.executable, "-m", "chainrule.cli", "--version"],
                             capture_output=True, text=True, env=ENV, check=False)  # fmt: skip
    assert version.returncode == 0 and version.stdout.startswith("chainrule ")


# ---------------------------------------------------------------------------------- train
def test_train_output_plain_one_line_per_epoch(trained):
    _, folder, result = trained
    out = result.stdout.splitlines()
    epochs = [line for line in out if line.startswith("epoch ")]
    assert [e.split("  ")[0] for e in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("val_accuracy" in e and "samples/s" in e for e in epochs)
    assert "\x1b" not in result.stdout  # not a terminal: no control codes, no live bar
    header = next(line for line in out if line.startswith("split"))
    assert header.split() == ["split", "samples", "loss", "accuracy", "time", "samples/s"]
    rows = {line.split()[0]: line.split() for line in out if line.split()[:1] in
            (["train"], ["validation"], ["test"])}  # fmt: skip
    assert set(rows) == {"train", "validation", "test"}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert rows["test"][3] == f"{metrics['test']['accuracy']:.4f}"
    assert out[-1] == f"run folder: {folder}"
    for name in ("config.json", "model.safetensors", "preprocess.json", "history.json",
                 "history.csv", "metrics.json", "curves.png", "confusion_matrix.png",
                 "checkpoints/last.json", "checkpoints/best.json"):  # fmt: skip
        assert (folder / name).is_file(), name
    assert folder.name.startswith("data-")


def test_predict_stdout_and_file(trained, tmp_path):
    data, folder, _ = trained
    result = cli("predict", folder, data)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction,p_left,p_middle,p_right"
    assert len(lines) == 301
    first = lines[1].split(",")
    assert first[0] in ("left", "middle", "right")
    assert sum(float(p) for p in first[1:]) == pytest.approx(1, abs=1e-5)
    out = tmp_path / "p.csv"
    result = cli("predict", folder, data, "--output", out)
    assert result.returncode == 0 and result.stdout == ""
    assert "wrote 300 predictions" in result.stderr
    assert out.read_text().splitlines() == lines


def test_evaluate_text_and_json(trained):
    data, folder, _ = trained
    result = cli("evaluate", folder, data)
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "loss" in result.stdout and "300" in result.stdout
    result = cli("evaluate", folder, data, "--json")
    m = json.loads(result.stdout)
    assert m["samples"] == 300 and 0 <= m["accuracy"] <= 1 and m["loss"] > 0


def test_datasets():
    result = cli("datasets")
    assert result.returncode == 0
    for name in ("digits", "iris", "wine", "breast_cancer", "diabetes", "moons", "mnist1d",
                 "fashion_mnist"):  # fmt: skip
        assert name in result.stdout
    names = cli("datasets", "--names").stdout.split()
    assert names[0] == "digits" and "fashion_mnist" in names


def test_config_file_and_flags_override(tmp_path):
    data = _write_csv(tmp_path / "d.csv", rows=120)
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'dataset = "{data}"\ntarget = "side"\nhidden = [4]\nepochs = 5\n'
                   'batch-size = 8\noptimizer = "adam"\n')  # fmt: skip
    result = cli("train", "--config", cfg, "--epochs", "2", "--out", tmp_path, "--name", "r")
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    s = config["settings"]
    assert (s["hidden"], s["epochs"], s["batch_size"], s["optimizer"]) == ([4], 2, 8, "adam")
    assert s["lr"] == 0.001  # adam's default learning rate
    fails(cli("train", "--config", cfg, "--out", tmp_path, "--name", "r"), "already exists")


def test_regression_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = 300 + 50 * X[:, 0] - 20 * X[:, 1]
    (tmp_path / "r.csv").write_text("a,b,price\n" + "\n".join(
        f"{a:.4f},{b:.4f},{t:.3f}" for (a, b), t in zip(X, y)))  # fmt: skip
    result = cli("train", "--dataset", tmp_path / "r.csv", "--target", "price", "--hidden", "8",
                 "--epochs", "20", "--optimizer", "adam", "--lr", "0.01", "--out", tmp_path,
                 "--name", "r", "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("split"))
    assert header.split() == ["split", "samples", "mse", "mae", "r2", "time", "samples/s"]
    pred = cli("predict", tmp_path / "r", tmp_path / "r.csv").stdout.splitlines()
    assert pred[0] == "prediction"
    values = np.array([float(v) for v in pred[1:]])
    assert np.corrcoef(values, y)[0, 1] > 0.9  # in the target's units, not standardised
    assert abs(values.mean() - y.mean()) < 30


# ---------------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "ok.csv").write_text("a,b,label\n" + "\n".join(f"{i},{i % 3},{'xy'[i % 2]}"
                                                        for i in range(40)) + "\n")  # fmt: skip
    (d / "text.csv").write_text("a,b,label\n1,red,x\n2,blue,y\n3,red,x\n")
    (d / "nan.csv").write_text("a,b,label\n1,2,x\n2,NaN,y\n3,4,x\n")
    (d / "empty.csv").write_text("a,b,label\n1,2,x\n2,,y\n3,4,x\n")
    (d / "few.csv").write_text("a,b,label\n" + "\n".join(f"{i},{i},{'xy'[i % 2]}"
                                                         for i in range(12)) + "\n")  # fmt: skip
    (d / "bad.toml").write_text("dataset = 'iris'\nhiden = [3]\n")
    return d


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["train", "--dataset", "nothere.csv", "--target", "y"], "no such file: 'nothere.csv'", 1),
        (["train", "--dataset", "{bad}/ok.csv", "--target", "lable"],
         "no target column 'lable' (did you mean 'label'?)", 1),
        (["train", "--dataset", "{bad}/ok.csv"], "say which column to predict with --target", 1),
        (["train", "--dataset", "{bad}/text.csv", "--target", "label"],
         "feature column 'b' is not numeric: line 2 holds 'red'", 1),
        (["train", "--dataset", "{bad}/nan.csv", "--target", "label"],
         "line 3, column 'b' holds 'NaN', not a finite number", 1),
        (["train", "--dataset", "{bad}/empty.csv", "--target", "label"],
         "empty cell at line 3, column 'b'", 1),
        (["train", "--dataset", "{bad}/few.csv", "--target", "label"],
         "fewer than the batch size 32; use --batch-size 8 or less", 1),
        (["train", "--dataset", "digts"], "unknown dataset 'digts' (did you mean 'digits'?)", 1),
        (["train", "--hiden", "3"], "unknown option --hiden (did you mean --hidden?)", 2),
        (["train", "--epochs"], "argument --epochs: expected one argument", 2),
        (["trian"], "unknown command 'trian' (did you mean 'train'?)", 2),
        (["train", "--lr", "-1"], "--lr: expected a number > 0, got '-1'", 1),
        (["train", "--optimizer", "adamm"], "unknown value 'adamm' (did you mean 'adam'?)", 1),
        (["train", "--config", "{bad}/bad.toml"],
         "bad.toml: unknown setting 'hiden' (did you mean 'hidden'?)", 1),
        (["train", "--config", "{bad}/none.toml"], "no such config file", 1),
        (["train", "--dataset", "{bad}/ok.csv", "--target", "label", "--output", "linear",
          "--batch-size", "8"],
         "--output linear does not suit classification", 1),
        (["predict", "{bad}", "{bad}/ok.csv"], "config.json is missing from run folder", 1),
        (["predict", "{bad}/nowhere", "x.csv"], "no run folder at", 1),
        (["evaluate", "{bad}"], "the following arguments are required: DATA", 2),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line(bad, args, message, status):
    result = cli(*(a.replace("{bad}", str(bad)) for a in args), "--out", bad / "runs") \
        if args[0] == "train" else cli(*(a.replace("{bad}", str(bad)) for a in args))  # fmt: skip
    fails(result, message, status)


def test_errors_on_a_trained_run(trained, tmp_path):
    data, folder, _ = trained
    run = tmp_path / "copy"
    shutil.copytree(folder, run)
    (tmp_path / "nolabel.csv").write_text("\n".join(
        ",".join(line.split(",")[:-1]) for line in data.read_text().splitlines()))  # fmt: skip
    fails(cli("evaluate", run, tmp_path / "nolabel.csv"), "no target column 'side'")
    fails(cli("predict", run, tmp_path / "missing.csv"), "no such file")
    fails(cli("train", "--resume", run, "--hidden", "16"),
          "its checkpoint holds a 6-8-8-3 tanh network (hidden 8,8), but --hidden 16")  # fmt: skip
    fails(cli("train", "--resume", run, "--lr", "0.5"), "a resumed run may only change")
    # a truncated checkpoint
    tensors = next((run / "checkpoints").glob("last-*.safetensors"))
    tensors.write_bytes(tensors.read_bytes()[:100])
    fails(cli("train", "--resume", run, "--epochs", "4"), "is truncated or corrupt")
    # a corrupt sidecar
    (run / "checkpoints" / "last.json").write_text('{"format": "chainrule-checkpoint/1", "ten')
    fails(cli("train", "--resume", run, "--epochs", "4"), "last.json is corrupt (not JSON)")
    # a corrupt run folder
    (run / "model.safetensors").write_bytes(b"garbage")
    fails(cli("predict", run, data), "model.safetensors is not a readable safetensors file")


# ---------------------------------------------------------------------------------- interrupts
LONG = ["--hidden", "32,32", "--dropout", "0.2", "--epochs", "25", "--batch-size", "8",
        "--optimizer", "adam", "--schedule", "step"]  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """The uninterrupted run the interrupted ones must end up equal to: (csv, run folder)."""
    tmp = tmp_path_factory.mktemp("ref")
    data = _write_csv(tmp / "long.csv", rows=400, features=8, seed=3)
    result = cli("train", "--dataset", data, "--target", "side", *LONG, "--out", tmp,
                 "--name", "ref", "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return data, tmp / "ref"


def _epoch_of(sidecar: Path) -> int:
    try:
        return int(json.loads(sidecar.read_text())["meta"]["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL, signal.SIGTERM],
                         ids=["SIGINT", "SIGKILL", "SIGTERM"])  # fmt: skip
def test_interrupted_run_resumes_to_the_same_weights(reference, tmp_path, sig):
    data, ref = reference
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [*EXE, "train", "--dataset", str(data), "--target", "side", *LONG, "--out",
         str(tmp_path), "--name", "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    sidecar = run / "checkpoints" / "last.json"
    deadline = time.monotonic() + 60
    while _epoch_of(sidecar) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.01 * (sig % 5))  # land somewhere inside a later epoch
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    stopped_at = _epoch_of(sidecar)
    assert 2 <= stopped_at < 25, "the run was not stopped in the middle"
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + sig, err  # 130 for SIGINT, 143 for SIGTERM
        assert err.strip().splitlines()[-1].startswith("chainrule train: interrupted; the last "
                                                       "checkpoint (epoch ")  # fmt: skip
        assert f"chainrule train --resume {run}" in err and "Traceback" not in err
    assert not (run / "model.safetensors").exists()  # the run did not finish
    result = cli("train", "--resume", run, "--quiet")
    assert result.returncode == 0, result.stderr
    ours, _ = load_arrays(run / "model.safetensors")
    theirs, _ = load_arrays(ref / "model.safetensors")
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert np.array_equal(ours[k], theirs[k]), k  # bit for bit
    h_ours = json.loads((run / "history.json").read_text())["history"]
    h_ref = json.loads((ref / "history.json").read_text())["history"]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert h_ours[name] == h_ref[name], name
    # a resumed run keeps a fresh run's column order
    header = (run / "history.csv").read_text().splitlines()[0]
    assert header == (ref / "history.csv").read_text().splitlines()[0]


# ---------------------------------------------------------------------------------- README
README = (ROOT / "README.md").read_text()


def _readme_commands(section: str) -> list[str]:
    """The lines of the first ```bash block of README section ``section``."""
    body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = body.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**ENV, "PATH": f"{Path(EXE[0]).parent}{os.pathsep}{ENV.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300, check=False)  # fmt: skip


def test_readme_csv_section_commands_run_as_written(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    commands = _readme_commands("Your own data (CSV)")
    assert [c.split()[:2] for c in commands] == [["chainrule", "train"],
                                                 ["chainrule", "evaluate"],
                                                 ["chainrule", "predict"]]  # fmt: skip
    for command in commands:
        result = _run_shell(command, tmp_path)
        assert result.returncode == 0, (command, result.stderr)
    predictions = (tmp_path / "fruit_predictions.csv").read_text().splitlines()
    assert predictions[0] == "prediction,p_apple,p_lemon,p_orange,p_pear"
    assert len(predictions) == 1 + len((EXAMPLES / "fruit_new.csv").read_text().splitlines()) - 1
    # the output shown in the README is what the command writes
    shown = README.split("prediction,p_apple,p_lemon,p_orange,p_pear\n", 1)[1].splitlines()[:2]
    # (labels exactly; probabilities to the README's 6 digits: the last one follows the BLAS kernel)
    for got, want in zip(predictions[1:3], shown, strict=True):
        got_label, *got_p = got.split(",")
        want_label, *want_p = want.split(",")
        assert got_label == want_label
        np.testing.assert_allclose(np.float64(got_p), np.float64(want_p), rtol=1e-5, atol=1e-6)
    metrics = json.loads((tmp_path / "runs" / "fruit" / "metrics.json").read_text())
    assert f"test accuracy {100 * metrics['test']['accuracy']:.1f}%" in README


def test_example_csv_is_what_the_script_writes(tmp_path):
    shutil.copy(EXAMPLES / "make_fruit_csv.py", tmp_path)
    subprocess.run([sys.executable, tmp_path / "make_fruit_csv.py"], check=True)  # fmt: skip
    assert (tmp_path / "fruit.csv").read_text() == (EXAMPLES / "fruit.csv").read_text()
    assert (tmp_path / "fruit_new.csv").read_text() == (EXAMPLES / "fruit_new.csv").read_text()


@pytest.mark.slow
def test_readme_command_line_section_runs_as_written(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    commands = _readme_commands("Command line")
    assert commands[0].startswith("chainrule train --name digits")
    for command in commands:
        result = _run_shell(command, tmp_path)
        assert result.returncode == 0, (command, result.stderr)
    lines = (tmp_path / "predictions.csv").read_text().splitlines()
    assert lines[0].startswith("prediction,p_0,p_1") and len(lines) == 361
    table = README.split("digits: results after 40 epochs\n", 1)[1].split("```", 1)[0]
    metrics = json.loads((tmp_path / "runs" / "digits" / "metrics.json").read_text())
    test_row = next(line for line in table.splitlines() if line.startswith("test"))
    assert test_row.split()[2:4] == [f"{metrics['test']['loss']:.4f}",
                                     f"{metrics['test']['accuracy']:.4f}"]  # fmt: skip
    wine = json.loads((tmp_path / "runs").joinpath(
        next(p.name for p in (tmp_path / "runs").iterdir() if p.name.startswith("wine")),
        "config.json").read_text())  # fmt: skip
    assert wine["settings"]["epochs"] == 30 and wine["settings"]["optimizer"] == "adam"


def test_options_are_taken_only_in_full():
    # Prefixes of real options are not shorthands: a typo must not pick an option silently.
    for args, prefix in [
        (["export", "RUN", "out.onnx", "--no-pre"], "--no-pre"),
        (["explain", "--mark", "x.md"], "--mark"),
        (["report", "RUN", "--exam", "1"], "--exam"),
        (["train", "--hid", "8"], "--hid"),
    ]:
        out = cli(*args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert prefix in out.stderr and "Traceback" not in out.stderr


def test_regression_trains_with_the_default_settings(tmp_path):
    # SGD's default rate for classes (0.1) made the squared error overflow in epoch 1 here.
    out = cli("train", "--dataset", "sine", "--epochs", "10", "--out", str(tmp_path), "--name", "s")
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert metrics["test"]["r2"] > 0.9, metrics["test"]
