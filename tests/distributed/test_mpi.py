"""Data parallelism for real: ``mpiexec -n 2/3/4`` (the pip-installed MPICH) launched from the
tests, on one machine. Collectives, sampler, optimiser, SyncBatchNorm and fault handling
run tests/distributed/mpi_checks.py; the command line trains the same run on 1, 2 and 4
processes and compares the final weights."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli_entry import entry_point

HERE = Path(__file__).parent
CHECKS = HERE / "mpi_checks.py"


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("mpiexec is missing: pip install 'chainrule[mpi]' (the mpich wheel)")
    return found


def launch(
    n: int, command: list[str], timeout: float = 60
) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run(
        [mpiexec(), "-n", str(n), *command],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.perf_counter() - start


@pytest.mark.parametrize(
    ("check", "n"),
    [("collectives", 3), ("sampler", 3), ("optimizer", 2), ("sync_batchnorm", 3),
     ("sizes", 3), ("shapes", 2)],
)  # fmt: skip
def test_mpi_checks(check, n):
    done, _ = launch(n, [sys.executable, str(CHECKS), check])
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = re.findall(rf"ok {check} (\d+)", done.stdout)  # lines of ranks may interleave
    assert sorted(int(r) for r in ranks) == list(range(n)), done.stdout


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_failing_rank_stops_every_rank_naming_itself(how):
    done, elapsed = launch(3, [sys.executable, str(CHECKS), f"fault-{how}"])
    assert done.returncode != 0
    assert "chainrule: rank 1 of 3:" in done.stderr
    assert ("ValueError: this rank's data could not be read" if how == "raise" else
            "exited with status 3") in done.stderr  # fmt: skip
    assert elapsed < 30  # the others waited in an allreduce: they were stopped, not hung


def test_a_killed_rank_ends_the_job():
    done, elapsed = launch(3, [sys.executable, str(CHECKS), "fault-kill"])
    assert done.returncode != 0
    assert "BAD TERMINATION" in done.stdout + done.stderr  # the launcher's report (PID, host)
    assert elapsed < 30


def test_the_command_line_refuses_a_batch_that_does_not_split(tmp_path):
    done, _ = launch(4, [*entry_point(), "train", "--dataset", "moons", "--batch-size", "30",
                         "--epochs", "1", "--quiet", "--out", str(tmp_path)])  # fmt: skip
    assert done.returncode != 0
    assert "the batch size 30 does not split evenly over 4 processes" in done.stderr
    # nothing of chainrule's on stdout; the launcher's own "BAD TERMINATION" box (lines of "="
    # framing it) may be there: on a busy machine a rank still starting when the job was
    # aborted is killed, and mpiexec reports it
    assert [line for line in done.stdout.splitlines() if line.strip()[:1] not in ("", "=")] == []
    assert list(tmp_path.iterdir()) == []  # refused before a run folder was made


TRAIN = ["train", "--dataset", "moons", "--hidden", "16", "--batch-size", "32",
         "--schedule", "none", "--quiet"]  # fmt: skip


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    done = subprocess.run(
        [*entry_point(), *TRAIN, "--epochs", "3", "--out", str(out), "--name", "single"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out / "single"


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 4])
def test_training_on_n_processes_gives_the_single_process_weights(n, single_run, tmp_path):
    done, _ = launch(n, [*entry_point(), *TRAIN, "--epochs", "3", "--out", str(tmp_path),
                         "--name", "mpi"], timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder:") == 1  # rank 0 alone prints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mpi"]  # and writes one folder
    ref, got = _weights(single_run), _weights(tmp_path / "mpi")
    assert ref.keys() == got.keys()
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6)
    hist_ref = (single_run / "history.csv").read_text().splitlines()[1:]
    hist = (tmp_path / "mpi" / "history.csv").read_text().splitlines()[1:]
    for a, b in zip(hist_ref, hist):  # loss and accuracy of every epoch, over all ranks
        np.testing.assert_allclose(
            [float(v) for v in a.split(",")[1:3]], [float(v) for v in b.split(",")[1:3]],
            rtol=1e-5,
        )  # fmt: skip


@pytest.mark.slow
def test_a_run_resumed_under_mpi_continues_as_the_single_process_run(single_run, tmp_path):
    done, _ = launch(2, [*entry_point(), *TRAIN, "--epochs", "2", "--out", str(tmp_path),
                         "--name", "mpi"], timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    done, _ = launch(2, [*entry_point(), "train", "--resume", str(tmp_path / "mpi"),
                         "--epochs", "3", "--quiet"], timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ref, got = _weights(single_run), _weights(tmp_path / "mpi")
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6)
