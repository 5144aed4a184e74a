"""Checks run under ``mpiexec -n N python mpi_checks.py CHECK`` by tests/distributed/test_mpi.py.

Every rank asserts; a failed assertion aborts the job naming the rank (non-zero exit), and a
passing rank prints ``ok <check> <rank>``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import chainrule as cr
from chainrule import nn

d = cr.distributed


def collectives(r: int, n: int) -> None:
    a = np.arange(4.0) * (r + 1)
    b = np.array([r, 1], dtype=np.int64)
    d.allreduce_([a, b])
    np.testing.assert_array_equal(a, np.arange(4.0) * sum(range(1, n + 1)))
    np.testing.assert_array_equal(b, [sum(range(n)), n])
    avg = np.full((2, 2), float(r), dtype=np.float32)
    d.allreduce_([avg], average=True)
    np.testing.assert_allclose(avg, np.mean(range(n)))
    c = np.full(3, float(r) + 1)
    d.broadcast_([c])
    np.testing.assert_array_equal(c, 1.0)
    assert d.allgather_json({"rank": r}) == [{"rank": k} for k in range(n)]
    assert d.allreduce_sum([1, r]).tolist() == [n, sum(range(n))]
    # the gradient of an all_reduce is the all_reduce of the gradients
    x = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = d.all_reduce(x * (r + 1))
    (y * y).sum().backward()
    total = sum(range(1, n + 1))
    np.testing.assert_allclose(x.grad.numpy(), 2 * total * n * np.array([1.0, 2.0]) * (r + 1))
    stats = d.comm_stats()
    assert stats["allreduce_calls"] >= 4 and stats["allreduce_bytes"] > 0


def sampler(r: int, n: int) -> None:
    mine = d.DistributedSampler(10, seed=3)
    shards = d.allgather_json(mine.order(1).tolist())
    assert len({len(s) for s in shards}) == 1  # equal sizes, padded
    every = np.concatenate(shards)
    expected = np.resize(np.random.default_rng([3, 1]).permutation(10), len(every))
    assert set(every.tolist()) == set(range(10))
    assert len(every) == n * ((10 + n - 1) // n)
    # the k-th local batches together are the k-th single-process batch
    b = 2
    local = d.allgather_json([mine.order(1)[k * b : (k + 1) * b].tolist() for k in range(2)])
    for k in range(2):
        got = sorted(v for shard in local for v in shard[k])
        assert got == sorted(expected[k * b * n : (k + 1) * b * n].tolist())


def _mlp(seed: int) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to("float64")


def optimizer(r: int, n: int) -> None:
    rng = np.random.default_rng(0)  # the same global data on every rank
    X = rng.normal(size=(4 * n, 4))
    y = rng.integers(0, 3, size=4 * n)
    ref = _mlp(0)
    ref_opt = cr.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    model = _mlp(0 if r == 0 else 100 + r)  # rank 0 has the reference weights; others not
    d.check_consistent(model, len(X))
    d.broadcast_parameters(model)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    opt = d.DistributedOptimizer(cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    assert type(opt).__name__ == "DistributedSGD" and isinstance(opt, cr.optim.SGD)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    ref_sched = cr.optim.lr_scheduler.StepLR(ref_opt, step_size=1, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        ref_opt.zero_grad()
        loss_fn(ref(cr.tensor(X)), cr.tensor(y)).backward()
        ref_opt.step()
        ref_sched.step()
        opt.zero_grad()
        loss_fn(model(cr.tensor(X[r::n])), cr.tensor(y[r::n])).backward()
        opt.step()
        sched.step()
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-14)


def sync_batchnorm(r: int, n: int) -> None:
    rng = np.random.default_rng(1)
    for shape, norm in (((4, 2), nn.BatchNorm1d), ((4, 3, 2), nn.BatchNorm2d)):
        X = rng.normal(size=(3 * n, *shape))
        W = rng.normal(size=(3 * n, *shape))
        _sync_batchnorm_case(r, n, X, W, norm)


def _sync_batchnorm_case(r, n, X, W, norm) -> None:
    def build():
        cr.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 2), norm(4)).to("float64")

    ref = build()
    out_ref = ref(cr.tensor(X))
    (out_ref * cr.tensor(W)).sum().backward()
    model = d.SyncBatchNorm.convert_sync_batchnorm(build())
    assert type(model[1]) is d.SyncBatchNorm
    out = model(cr.tensor(X[r::n]))
    (out * cr.tensor(W[r::n])).sum().backward()
    np.testing.assert_allclose(out.numpy(), out_ref.numpy()[r::n], rtol=1e-12, atol=1e-12)
    d.allreduce_gradients(model.parameters(), average=False)  # the sum of the ranks' losses
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(
            getattr(model[1], name).numpy(), getattr(ref[1], name).numpy(), rtol=1e-12
        )
    model.eval()
    np.testing.assert_allclose(model(cr.tensor(X)).numpy(), ref.eval()(cr.tensor(X)).numpy())


def sizes(r: int, n: int) -> None:
    try:
        d.check_consistent(_mlp(0), 100 + (r == n - 1))
    except cr.errors.DistributedError as exc:
        msg = str(exc)
        assert f"rank 0 has 100 samples, rank {n - 1} has 101" in msg, msg
        return
    raise AssertionError("different data sizes were not refused")


def shapes(r: int, n: int) -> None:
    cr.manual_seed(0)
    wide = 8 + (r == 1)
    model = nn.Sequential(nn.Linear(4, wide), nn.Tanh(), nn.Linear(wide, 3))
    try:
        d.check_consistent(model, 100)
    except cr.errors.DistributedError as exc:
        msg = str(exc)
        assert "'0.weight' is (8, 4) float32 on rank 0 but (9, 4) float32 on rank 1" in msg, msg
        return
    raise AssertionError("different models were not refused")


def fault(r: int, n: int, how: str) -> None:
    if r == 1:
        if how == "raise":
            raise ValueError("this rank's data could not be read")
        if how == "exit":
            sys.exit(3)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    d.allreduce_([np.ones(3)])  # the others wait here for rank 1, which never comes
    time.sleep(60)


if __name__ == "__main__":
    d.init()
    check = sys.argv[1]
    rank, size = d.rank(), d.size()
    if check.startswith("fault-"):
        fault(rank, size, check[len("fault-") :])
    else:
        globals()[check](rank, size)
        print(f"ok {check} {rank}", flush=True)
