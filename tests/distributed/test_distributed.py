"""cr.distributed in one process (no MPI): the sampler's shards, buckets, and that every
piece is the identity with one rank. tests/distributed/test_mpi.py runs them on several."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import DataLoader, TensorDataset
from chainrule.distributed import comm, parallel

d = cr.distributed


def test_one_process_is_rank_0_of_1_without_mpi():
    assert (d.rank(), d.size(), d.is_distributed(), d.is_rank_zero()) == (0, 1, False, True)
    assert d.allgather_json({"a": 1}) == [{"a": 1}]
    a = np.arange(3.0)
    d.allreduce_([a])
    d.broadcast_([a])
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0])
    d.barrier()


def test_launched_by_mpi_without_mpi4py_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(comm, "_checked", False)
    monkeypatch.setattr(comm, "_comm", None)
    for call in (d.rank, d.size):  # every time, not only the first
        with pytest.raises(cr.errors.DistributedError, match=r"pip install 'chainrule\[mpi\]'"):
            call()


@pytest.mark.parametrize(
    ("n", "size", "drop_last"), [(10, 3, False), (10, 3, True), (2, 4, False), (12, 4, False)]
)
def test_shards_are_disjoint_equal_and_cover_one_global_shuffle(n, size, drop_last):
    samplers = [d.DistributedSampler(n, size, r, seed=5, drop_last=drop_last) for r in range(size)]
    shards = [s.order(2) for s in samplers]
    assert len({len(s) for s in shards}) == 1 and all(len(s) == len(samplers[0]) for s in shards)
    perm = np.random.default_rng([5, 2]).permutation(n)
    every = np.stack(shards, axis=1).reshape(-1)  # position k of the global order, rank k % size
    if drop_last:
        np.testing.assert_array_equal(every, perm[: len(every)])
        assert len(set(every.tolist())) == len(every)
    else:
        np.testing.assert_array_equal(every, np.resize(perm, len(every)))
        assert set(every.tolist()) == set(range(n))
    assert shards[0].dtype == np.int64
    samplers[0].set_epoch(2)
    assert list(samplers[0]) == shards[0].tolist()


def test_the_sampler_refuses_a_rank_outside_the_job_and_empty_data():
    with pytest.raises(cr.errors.DataError, match=r"rank 4 is outside \[0, 4\)"):
        d.DistributedSampler(10, num_replicas=4, rank=4)
    with pytest.raises(cr.errors.DataError, match="empty"):
        d.DistributedSampler(0, num_replicas=2, rank=0)


def test_a_loader_draws_its_batches_from_a_sampler():
    X = np.arange(20.0).reshape(10, 2)
    ds = TensorDataset(X, np.arange(10))
    sampler = d.DistributedSampler(ds, num_replicas=2, rank=1, seed=0)
    loader = DataLoader(ds, batch_size=2, sampler=sampler)
    assert len(loader) == 3
    got = np.concatenate([y.numpy() for _, y in loader])
    np.testing.assert_array_equal(got, sampler.order(0))
    got1 = np.concatenate([y.numpy() for _, y in loader])  # the next epoch: another order
    np.testing.assert_array_equal(got1, sampler.order(1))

    class Reversed:  # PyTorch's sampler protocol: set_epoch, __iter__, __len__
        def set_epoch(self, epoch):
            self.epoch = epoch

        def __iter__(self):
            return iter(range(9, -1, -1))

        def __len__(self):
            return 10

    ys = [y.tolist() for _, y in DataLoader(ds, batch_size=4, sampler=Reversed())]
    assert ys == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    with pytest.raises(cr.errors.DataError, match="either shuffle=True or a sampler"):
        DataLoader(ds, batch_size=2, shuffle=True, sampler=sampler)


def test_buckets_keep_order_and_size():
    arrays = [np.zeros(n, dtype=np.float32) for n in (10, 300_000, 10, 10, 600_000)]
    buckets = parallel._buckets(arrays, bucket_mb=1.2)  # 1.2 MiB ~ 314,572 float32
    assert [[a.size for a in b] for b in buckets] == [[10, 300_000, 10, 10], [600_000]]


def test_with_one_process_the_wrappers_change_nothing():
    cr.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(8, 3))
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])

    def train(wrap):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)).to("float64")
        opt = cr.optim.Adam(model.parameters(), lr=0.1)
        if wrap:
            d.SyncBatchNorm.convert_sync_batchnorm(model)
            opt = d.DistributedOptimizer(opt)
            assert d.DistributedOptimizer(opt) is opt
            d.check_consistent(model, len(X))
            d.broadcast_parameters(model)
        for _ in range(3):
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(cr.tensor(X)), cr.tensor(y)).backward()
            d.allreduce_gradients(model.parameters())
            opt.step()
        return [p.numpy() for p in model.parameters()] + [model[1].running_var.numpy()]

    for a, b in zip(train(False), train(True)):
        np.testing.assert_array_equal(a, b)


def test_metrics_expose_their_running_sums():
    from chainrule.train.metrics import Accuracy, R2Score

    m = Accuracy()
    m.update(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    assert m.sum_state() == [1.0, 2.0]
    m.load_sum_state([5.0, 8.0])
    assert (m.correct, m.total, m.compute()) == (5, 8, 0.625)
    assert isinstance(m.correct, int)
    assert R2Score().sums == ("n", "sum_abs", "sum_sq", "sum_y", "sum_y2")
