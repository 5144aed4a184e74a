"""Bad input ends with one line and a non-zero exit, nothing is damaged, nothing outside a run
is touched, and concurrent use of a run folder is safe (issue 14).

The command runs in-process (``chainrule.cli.main``) wherever a subprocess is not the point,
so that these tests stay fast."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule._atomic import FolderLock, atomic_write_text
from chainrule.cli import main
from chainrule.data import StandardScaler
from chainrule.errors import BackwardError, FolderLockedError, NonFiniteError
from chainrule.train.checkpoint import _record_digest, load_checkpoint
from chainrule.train.history import History
from cli_entry import entry_point

QUICK = ["--hidden", "8", "--epochs", "2", "--batch-size", "16", "--quiet"]


def _csv(path: Path, rows: int = 120, scale: float = 1.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    y = np.array(["a", "b"])[(X[:, 0] + X[:, 1] > 0).astype(int)]
    lines = ["f0,f1,f2,f3,side"]
    lines += [",".join([*(f"{v * scale:.6e}" for v in x), lab]) for x, lab in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def one_line_error(capsys, argv: list[str], message: str) -> str:
    """``chainrule ARGV`` exits 1 with exactly one stderr line containing ``message``."""
    status = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 1, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(csv, run folder) of a tiny run trained by the command, in-process."""
    tmp = tmp_path_factory.mktemp("rel")
    data = _csv(tmp / "d.csv")
    argv = ["train", "--dataset", str(data), "--target", "side", *QUICK]
    assert main([*argv, "--out", str(tmp / "runs"), "--name", "r"]) == 0
    return data, tmp / "runs" / "r"


def _copy_run(folder: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(folder, dest)
    return dest


# ---------------------------------------------------------------------------------- data
def test_standardising_huge_and_tiny_features_does_not_overflow():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 3))
    for factor in (1e300, 1e-300, 1.0):
        X = base * factor
        s = StandardScaler().fit(X)
        assert np.isfinite(s.mean_).all() and np.isfinite(s.scale_).all()
        Z = s.transform(X)
        np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-9)
    # ordinary data: exactly the textbook statistics (scaling by a power of two is exact)
    s = StandardScaler().fit(base)
    assert np.array_equal(s.mean_, base.mean(axis=0))


def test_training_on_huge_features_learns(tmp_path):
    from chainrule.train.experiment import prepare_data
    from chainrule.train.settings import TrainSettings

    data = _csv(tmp_path / "big.csv", scale=1e300)
    s = TrainSettings.from_mapping({"dataset": str(data), "target": "side", "batch_size": 16})
    prepared = prepare_data(s)
    X = prepared.X_train
    assert np.isfinite(X).all()
    np.testing.assert_allclose(X.std(axis=0), 1, rtol=1e-4)  # not all zeros, as before


@pytest.mark.parametrize("command", ["train", "predict"])
def test_a_directory_is_named_as_one(trained, tmp_path, capsys, command):
    _, run = trained
    for name in ("data.csv", "folder"):
        d = tmp_path / name
        d.mkdir()
        argv = (
            ["train", "--dataset", str(d), "--target", "side", "--out", str(tmp_path)]
            if command == "train"
            else ["predict", str(run), str(d)]
        )
        one_line_error(capsys, argv, f"{str(d)!r} is a directory, not a data file")


def test_predict_refuses_a_csv_without_a_header_row(trained, tmp_path, capsys):
    data, run = trained
    rows = [",".join(line.split(",")[:4]) for line in data.read_text().splitlines()[1:6]]
    (tmp_path / "nohead.csv").write_text("\n".join(rows) + "\n")
    one_line_error(
        capsys,
        ["predict", str(run), str(tmp_path / "nohead.csv")],
        "the first row holds numbers",
    )


def test_predict_ignores_the_target_column(trained, tmp_path, capsys):
    data, run = trained
    lines = data.read_text().splitlines()
    unseen = [lines[0], *(line.rsplit(",", 1)[0] + ",never-seen" for line in lines[1:6])]
    (tmp_path / "with_target.csv").write_text("\n".join(unseen) + "\n")
    assert main(["predict", str(run), str(tmp_path / "with_target.csv")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "prediction,p_a,p_b" and len(out) == 6
    # the same rows without the target column give the same predictions
    (tmp_path / "no_target.csv").write_text(
        "\n".join(line.rsplit(",", 1)[0] for line in unseen) + "\n"
    )
    assert main(["predict", str(run), str(tmp_path / "no_target.csv")]) == 0
    assert capsys.readouterr().out.splitlines() == out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(mean=d["mean"][:2]), "'mean' must hold n_features = 4 numbers"),
        (lambda d: d.update(scale=[1.0, 0.0, 1.0, 1.0]), "'scale' holds a value that is not"),
        (lambda d: d.update(class_names=["a"]), "'class_names' has 1 names for n_classes = 2"),
        (lambda d: d.update(n_features=3, input_shape=[3]), "'mean' must hold n_features = 3"),
        (
            lambda d: d.update(
                n_features=3,
                input_shape=[3],
                mean=None,
                scale=None,
                feature_names=["f0", "f1", "f2"],
            ),
            "the model in config.json takes 4",
        ),
    ],
)
def test_a_malformed_preprocess_json_is_named(trained, tmp_path, capsys, edit, message):
    data, run = trained
    run = _copy_run(run, tmp_path / "run")
    d = json.loads((run / "preprocess.json").read_text())
    edit(d)
    (run / "preprocess.json").write_text(json.dumps(d))
    line = one_line_error(capsys, ["predict", str(run), str(data)], message)
    assert "preprocess.json is malformed" in line


# ---------------------------------------------------------------------------------- sidecar
def _rewrite_sidecar(sidecar: Path, edit, *, rehash: bool) -> None:
    record = json.loads(sidecar.read_text())
    edit(record["meta"])
    if rehash:  # an edit made by someone who also recomputed the checksum
        record["record_sha256"] = _record_digest(record)
    sidecar.write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("edit", "rehash", "message"),
    [
        (lambda m: m.update(history=7), False, "was modified after it was written"),
        (lambda m: m.update(epoch=1), False, "was modified after it was written"),
        (lambda m: m.update(history=7), True, "'history' must be an object"),
        (lambda m: m.update(epoch=1), True, "its history has 2 epochs but 'epoch' is 1"),
        (lambda m: m.update(epoch="2"), True, "'epoch' must be a whole number"),
        (lambda m: m["history"]["history"]["loss"].append(1.0), True, "one value per epoch"),
    ],
)
def test_an_edited_checkpoint_sidecar_is_refused(trained, tmp_path, capsys, edit, rehash, message):
    _, run = trained
    run = _copy_run(run, tmp_path / "run")
    _rewrite_sidecar(run / "checkpoints" / "last.json", edit, rehash=rehash)
    one_line_error(capsys, ["train", "--resume", str(run), "--epochs", "3", "--quiet"], message)


def test_a_sidecar_without_its_checksum_is_refused(trained, tmp_path):
    _, run = trained
    run = _copy_run(run, tmp_path / "run")
    sidecar = run / "checkpoints" / "last.json"
    record = json.loads(sidecar.read_text())
    del record["record_sha256"]
    sidecar.write_text(json.dumps(record))
    with pytest.raises(cr.errors.CheckpointError, match="has no record_sha256"):
        load_checkpoint(sidecar)


# ---------------------------------------------------------------------------------- training
def test_a_diverging_learning_rate_is_one_line(trained, tmp_path, capsys):
    data, _ = trained
    argv = ["train", "--dataset", str(data), "--target", "side", *QUICK, "--lr", "1e30"]
    line = one_line_error(capsys, [*argv, "--out", str(tmp_path)], "SGD.step: the update of")
    assert "'0.weight'" in line and "left unchanged" in line


@pytest.mark.parametrize(
    "argv",
    [["explain", "--quiet", "--run", "{run}", "--example", "100000"],
     ["report", "{run}", "--example", "-1"]],
)  # fmt: skip
def test_an_example_out_of_range_is_refused(trained, tmp_path, capsys, argv):
    _, run = trained
    argv = [a.replace("{run}", str(run)) for a in argv]
    if argv[0] == "report":
        argv += ["--output", str(tmp_path / "r.html")]
    one_line_error(capsys, argv, "is outside the test split of d.csv: choose 0..23")
    assert not (tmp_path / "r.html").exists()


# ---------------------------------------------------------------------------------- engine
def test_a_hook_that_changes_the_shape_raises_at_once():
    def widen(g):
        return cr.ones((2, 3))

    leaf = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    leaf.register_hook(widen)
    with pytest.raises(BackwardError, match=r"hook '.*widen' returned .*\(2, 3\).*\(3,\)"):
        (leaf * 2).sum().backward()
    assert leaf.grad is None
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mid = x * 2
    mid.register_hook(widen)
    with pytest.raises(BackwardError, match=r"hook '.*widen' returned .*\(2, 3\).*\(3,\)"):
        mid.sin().sum().backward()


@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.SGD(ps, lr=1e10, momentum=0.9),
    lambda ps: cr.optim.Adam(ps, lr=1e38),
    lambda ps: cr.optim.AdamW(ps, lr=1e38, weight_decay=0.1),
])  # fmt: skip
def test_an_overflowing_update_raises_and_leaves_the_parameter(make):
    w = cr.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    b = cr.tensor([0.5, 0.5], requires_grad=True)
    opt = make([("w", w), ("b", b)])
    w.grad = cr.tensor([[1e30, -1e30], [1e30, 1e30]])
    b.grad = cr.tensor([1e-3, 1e-3])
    before = w.numpy().copy()
    with pytest.raises(NonFiniteError, match=r"update of parameter 0 'w' .*left unchanged"):
        opt.step()
    assert np.array_equal(w.numpy(), before)


# ---------------------------------------------------------------------------------- files
def test_the_report_replaces_a_planted_link_instead_of_writing_through_it(trained, tmp_path):
    from chainrule.explain.report import write_report

    _, run = trained
    run = _copy_run(run, tmp_path / "run")
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (run / "report.html").unlink(missing_ok=True)
    (run / "report.html").symlink_to(outside)
    write_report(run)
    assert outside.read_text() == "keep me"
    assert not (run / "report.html").is_symlink()
    assert "<html" in (run / "report.html").read_text()[:500].lower()


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_files_are_created_with_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_run_folder_gets_the_umask(tmp_path):
    data = _csv(tmp_path / "d.csv")
    old = os.umask(0o002)
    try:
        argv = ["train", "--dataset", str(data), "--target", "side", *QUICK]
        assert main([*argv, "--out", str(tmp_path), "--name", "r"]) == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "r").rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {0o664}, modes


def test_history_keeps_its_column_order_through_json(tmp_path):
    h = History()
    h.append(1, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "lr": 0.1, "time": 0.2})
    h.to_json(tmp_path / "h.json")  # written with sorted keys
    back = History.from_json(tmp_path / "h.json")
    assert list(back.history) == ["loss", "accuracy", "val_loss", "lr", "time"]
    assert list(History.from_dict(json.loads(json.dumps(h.to_dict(), sort_keys=True))).history) \
        == list(h.history)  # fmt: skip


# ---------------------------------------------------------------------------------- locking
def test_a_locked_run_folder_is_refused_naming_the_holder(trained, tmp_path, capsys):
    _, run = trained
    run = _copy_run(run, tmp_path / "run")
    with FolderLock(run, "run folder"):
        one_line_error(
            capsys,
            ["train", "--resume", str(run), "--epochs", "3", "--quiet"],
            f"run folder {run} is in use by process {os.getpid()}",
        )
    assert not (run / ".lock").exists()
    with pytest.raises(FolderLockedError), FolderLock(run), FolderLock(run):
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(trained, tmp_path):
    _, run = trained
    run = _copy_run(run, tmp_path / "run")
    code = (
        "import sys, time; from chainrule._atomic import FolderLock; "
        "FolderLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    with pytest.raises(FolderLockedError, match=f"in use by process {proc.pid}"):
        FolderLock(run).acquire()
    proc.kill()
    proc.wait()
    assert (run / ".lock").read_text().strip() == str(proc.pid)  # left behind
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0


def test_stray_temporary_files_are_removed_on_resume(trained, tmp_path):
    _, run = trained
    run = _copy_run(run, tmp_path / "run")
    strays = [run / ".history.csv.k1ll3d.tmp", run / "checkpoints" / ".last.json.x9.tmp"]
    for p in strays:
        p.write_text("half")
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert not any(p.exists() for p in strays)


@pytest.mark.slow  # three processes, 400 epochs: long enough that they overlap
def test_concurrent_resumes_leave_a_consistent_run(trained, tmp_path):
    """Three resumes of one run started at once: one trains, the others are refused with one
    line (without the lock all three trained over each other's files)."""
    _, run = trained
    run = _copy_run(run, tmp_path / "run")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CHAINRULE_DEBUG", None)
    cmd = [*entry_point(), "train", "--resume", str(run), "--epochs", "400", "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(3)]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert sorted(status for status, _ in results) == [0, 1, 1], results
    for status, err in results:
        if status != 0:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "is in use by process" in lines[0], err
    _, meta = load_checkpoint(run / "checkpoints" / "last.json")
    assert meta["epoch"] == 400 and meta["history"]["epochs"] == list(range(1, 401))
    assert len(list((run / "checkpoints").glob("last-*.safetensors"))) == 1
    assert not (run / ".lock").exists()


# ---------------------------------------------------------------------------------- signals
def test_sigterm_exits_143(trained, tmp_path):
    data, _ = trained
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CHAINRULE_DEBUG", None)
    proc = subprocess.Popen(
        [*entry_point(), "train", "--dataset", str(data), "--target", "side", "--hidden", "8",
         "--epochs", "100000", "--batch-size", "4", "--out", str(tmp_path), "--name", "t"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    sidecar = tmp_path / "t" / "checkpoints" / "last.json"
    deadline = time.monotonic() + 60
    while not sidecar.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted; the last checkpoint" in err.strip().splitlines()[-1]
