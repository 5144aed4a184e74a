"""DataLoader worker processes: the batches of num_workers=0, errors naming the sample, no
process left behind."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from chainrule.data import DataLoader, Dataset, TensorDataset
from chainrule.errors import DataError


class Samples(Dataset):
    """Samples one by one (the sample path), with a NumPy transform and optional faults."""

    def __init__(self, n: int = 23, bad: int | None = None, crash: int | None = None) -> None:
        self.n, self.bad, self.crash = n, bad, crash

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if i == self.bad:
            raise ValueError(f"cannot decode image {i}")
        if i == self.crash:
            os._exit(5)
        x = np.sin(np.arange(6.0) * (i + 1))
        return x, i % 3


def _batches(loader, epochs=2):
    out = []
    for _ in range(epochs):
        out.append([tuple(t.numpy().copy() for t in batch) for batch in loader])
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        assert len(ea) == len(eb)
        for ba, bb in zip(ea, eb):
            for ta, tb in zip(ba, bb):
                assert ta.dtype == tb.dtype
                np.testing.assert_array_equal(ta, tb)


@pytest.mark.parametrize(
    ("dataset", "kwargs"),
    [
        (Samples(), {"batch_size": 4, "shuffle": True, "generator": 3}),
        (Samples(), {"batch_size": 5, "drop_last": True}),
        (TensorDataset(np.arange(60.0).reshape(20, 3), np.arange(20)),
         {"batch_size": 3, "shuffle": True, "generator": 0}),
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "workers", [{"num_workers": 2}, {"num_workers": 3, "persistent_workers": True,
                                     "prefetch_factor": 1}],
)  # fmt: skip
def test_workers_give_the_batches_of_the_main_process(dataset, kwargs, workers):
    ref = _batches(DataLoader(dataset, **kwargs))
    loader = DataLoader(dataset, **kwargs, **workers)
    _assert_same(_batches(loader), ref)
    loader.shutdown_workers()
    assert mp.active_children() == []


def test_a_custom_collate_runs_in_the_workers():
    def collate(samples):
        return np.stack([s[0] for s in samples]).sum(axis=1), os.getpid()

    loader = DataLoader(Samples(10), batch_size=4, collate_fn=collate, num_workers=2)
    got = list(loader)
    ref = list(DataLoader(Samples(10), batch_size=4, collate_fn=collate))
    for (a, pid), (b, _) in zip(got, ref):
        np.testing.assert_array_equal(a, b)
        assert pid != os.getpid()


def test_a_resumed_loader_with_workers_continues_where_it_stopped():
    kwargs = {"batch_size": 4, "shuffle": True, "generator": 7}
    ref = [y.tolist() for _, y in DataLoader(Samples(), **kwargs)]
    loader = DataLoader(Samples(), **kwargs, num_workers=2)
    it = iter(loader)
    first = [next(it)[1].tolist() for _ in range(2)]
    state = loader.state_dict()
    del it
    again = DataLoader(Samples(), **kwargs, num_workers=2)
    again.load_state_dict(state)
    assert first + [y.tolist() for _, y in again] == ref


def test_an_error_in_a_worker_is_raised_here_naming_the_sample():
    loader = DataLoader(Samples(30, bad=17), batch_size=4, num_workers=2)
    with pytest.raises(
        ValueError, match=r"DataLoader worker 0, batch 4, sample 17: cannot decode image 17"
    ) as info:
        list(loader)
    assert any("in __getitem__" in note for note in getattr(info.value, "__notes__", []))
    assert mp.active_children() == []


def test_a_worker_that_dies_is_reported_not_waited_for():
    loader = DataLoader(Samples(30, crash=9), batch_size=4, num_workers=2)
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"DataLoader worker \d \(pid \d+\) exited unexpectedly"):
        list(loader)
    assert time.perf_counter() - start < 10
    assert mp.active_children() == []


def test_leaving_a_loop_early_or_raising_in_it_stops_the_workers():
    loader = DataLoader(Samples(40), batch_size=2, num_workers=2)
    for _ in loader:
        break
    assert mp.active_children() == []
    with pytest.raises(KeyboardInterrupt):
        for _ in loader:
            raise KeyboardInterrupt
    assert mp.active_children() == []


def test_ctrl_c_leaves_no_worker_behind(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(
        textwrap.dedent("""
        import sys, time, multiprocessing as mp
        import numpy as np
        from chainrule.data import DataLoader, Dataset

        class Slow(Dataset):
            def __len__(self): return 10_000
            def __getitem__(self, i):
                time.sleep(0.01)
                return np.zeros(2), 0

        loader = DataLoader(Slow(), batch_size=4, num_workers=2)
        try:
            for k, _ in enumerate(loader):
                if k == 0:
                    print(" ".join(str(p.pid) for p in mp.active_children()), flush=True)
        except KeyboardInterrupt:
            print("interrupted", len(mp.active_children()), flush=True)
            sys.exit(130)
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in out
    deadline = time.time() + 10
    alive = pids
    while alive and time.time() < deadline:
        alive = [p for p in pids if _alive(p)]
        time.sleep(0.05)
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for init counts as gone
        return f.read().split(")")[-1].split()[0] != "Z"


def test_worker_seeds_and_init_fn_make_random_transforms_repeatable():
    class Noisy(Dataset):
        def __len__(self):
            return 12

        def __getitem__(self, i):
            return np.random.normal(size=2) + i, 0  # noqa: NPY002 - a user's transform

    def run(seed):
        loader = DataLoader(Noisy(), batch_size=3, num_workers=2, generator=seed)
        return np.concatenate([x.numpy() for x, _ in loader])

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))
    calls = mp.get_context("fork").Queue()
    list(DataLoader(Samples(6), batch_size=3, num_workers=2, worker_init_fn=calls.put))
    assert sorted(calls.get(timeout=5) for _ in range(2)) == [0, 1]


def test_worker_options_are_checked():
    with pytest.raises(DataError, match="num_workers must be an int >= 0"):
        DataLoader(Samples(), num_workers=-1)
    with pytest.raises(DataError, match="need num_workers > 0"):
        DataLoader(Samples(), prefetch_factor=2)
    with pytest.raises(DataError, match="need num_workers > 0"):
        DataLoader(Samples(), persistent_workers=True)
    with pytest.raises(DataError, match="prefetch_factor must be >= 1"):
        DataLoader(Samples(), num_workers=1, prefetch_factor=0)
