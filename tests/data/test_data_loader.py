"""DataLoader: batching, dtypes, seeded shuffling, the array path, state and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    DataLoader,
    Dataset,
    TensorDataset,
    check_batch_size,
    default_collate,
    random_split,
)
from chainrule.errors import DataError, StateDictError


def _rows(n=10, d=3):
    X = np.arange(n * d, dtype=np.float64).reshape(n, d)
    y = np.arange(n, dtype=np.int32) % 3
    return X, y


def _first_column(loader):
    """Sample ids in the order the loader yielded them (X[:, 0] / 3 is the row index)."""
    return np.concatenate([(x.numpy()[:, 0] / 3).astype(int) for x, _ in loader])


class ArraysOnly(TensorDataset):
    """Refuses per-sample access: only the batched ``__getitems__`` path may be used."""

    def __init__(self, *arrays):
        super().__init__(*arrays)
        self.calls = 0

    def __getitem__(self, index):
        raise AssertionError(f"__getitem__({index!r}) called: the loader looped over samples")

    def __getitems__(self, indices):
        self.calls += 1
        return super().__getitems__(indices)


class Squares(Dataset):
    """A plain per-sample dataset (no ``__getitems__``)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(2, float(i)), i * i


# ------------------------------------------------------------------------------ batching
def test_batch_shapes_and_last_partial_batch():
    X, y = _rows(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=3)
    batches = list(loader)
    assert len(loader) == 4 == len(batches)
    assert [tuple(xb.shape) for xb, _ in batches] == [(3, 3), (3, 3), (3, 3), (1, 3)]
    assert [tuple(yb.shape) for _, yb in batches] == [(3,), (3,), (3,), (1,)]
    np.testing.assert_array_equal(np.concatenate([xb.numpy() for xb, _ in batches]), X)
    np.testing.assert_array_equal(np.concatenate([yb.numpy() for _, yb in batches]), y)


def test_drop_last_drops_the_partial_batch():
    X, y = _rows(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=3, drop_last=True)
    assert len(loader) == 3
    assert [tuple(xb.shape) for xb, _ in loader] == [(3, 3)] * 3


def test_exact_multiple_and_batch_larger_than_data():
    X, y = _rows(6)
    assert len(DataLoader(TensorDataset(X, y), batch_size=3)) == 2
    (only,) = list(DataLoader(TensorDataset(X, y), batch_size=50))
    assert only[0].shape == (6, 3)


def test_yields_tuples_of_tensors_with_default_dtypes():
    X, y = _rows(4)
    xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=4)))
    assert isinstance(xb, cr.Tensor) and isinstance(yb, cr.Tensor)
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    assert not xb.requires_grad


def test_dtype_none_keeps_feature_dtype_and_labels_become_int64():
    X, y = _rows(4)
    xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=4, dtype=None)))
    assert xb.dtype == np.float64 and yb.dtype == np.int64
    xb, _ = next(iter(DataLoader(TensorDataset(X, y), batch_size=4, dtype="float64")))
    assert xb.dtype == np.float64


def test_images_and_integer_features_become_float_and_regression_targets_float32():
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    targets = np.linspace(0, 1, 5)
    xb, tb = next(iter(DataLoader(TensorDataset(images, targets), batch_size=5)))
    assert xb.dtype == np.float32 and xb.shape == (5, 4, 4)
    np.testing.assert_array_equal(xb.numpy(), images.astype(np.float32))
    assert tb.dtype == np.float32
    ints = np.arange(10, dtype=np.int64).reshape(5, 2)
    (fb,) = next(iter(DataLoader(TensorDataset(ints), batch_size=5)))
    assert fb.dtype == np.float32


def test_batches_do_not_alias_the_dataset():
    X, y = _rows(4)
    xb, _ = next(iter(DataLoader(TensorDataset(X, y), batch_size=4, dtype=None)))
    xb.data[...] = -1
    assert X.min() >= 0


# ------------------------------------------------------------------------------ array path
def test_array_path_gathers_each_batch_with_one_call_and_never_per_sample():
    X, y = _rows(10)
    ds = ArraysOnly(X, y)
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=0)
    batches = list(loader)
    assert ds.calls == len(loader) == 3
    assert sorted(np.concatenate([b[1].numpy() for b in batches]).tolist()) == sorted(y.tolist())


def test_subset_of_an_array_dataset_stays_on_the_array_path():
    X, y = _rows(10)
    ds = ArraysOnly(X, y)
    train, _ = random_split(ds, [7, 3], seed=1)
    got = np.concatenate([xb.numpy() for xb, _ in DataLoader(train, batch_size=3)])
    np.testing.assert_array_equal(got, X[train.indices].astype(np.float32))
    assert ds.calls == 3


def test_getitems_returning_a_list_of_samples_is_collated():
    class TorchStyle(Squares):
        def __getitems__(self, indices):
            return [self[int(i)] for i in indices]

    x, y = next(iter(DataLoader(TorchStyle(5), batch_size=3)))
    assert x.shape == (3, 2) and x.dtype == np.float32 and y.tolist() == [0, 1, 4]


def test_per_sample_dataset_uses_default_collate():
    loader = DataLoader(Squares(5), batch_size=2)
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(2, 2), (2, 2), (1, 2)]
    assert np.concatenate([y.numpy() for _, y in batches]).tolist() == [0, 1, 4, 9, 16]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64


def test_custom_collate_fn_receives_the_samples():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return [s[1] for s in samples]

    assert list(DataLoader(Squares(5), batch_size=2, collate_fn=collate)) == [[0, 1], [4, 9], [16]]
    assert seen == [2, 2, 1]


def test_default_collate_structures():
    x, y = default_collate([(np.ones(3), 1), (np.zeros(3), 0)])
    assert x.shape == (2, 3) and y.tolist() == [1, 0]
    d = default_collate([{"a": 1.0, "b": np.ones(2)}, {"a": 2.0, "b": np.zeros(2)}])
    assert set(d) == {"a", "b"} and d["b"].shape == (2, 2) and d["a"].dtype == np.float32
    single = default_collate([cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])])
    assert isinstance(single, cr.Tensor) and single.shape == (2, 2)


def test_default_collate_bad_input():
    with pytest.raises(DataError, match="no samples"):
        default_collate([])
    with pytest.raises(DataError, match="different shapes"):
        default_collate([np.ones(2), np.ones(3)])
    with pytest.raises(DataError, match="numbers of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(DataError, match="dtype <U"):
        default_collate([("cat", 1), ("dog", 0)])


# ------------------------------------------------------------------------------ shuffling
def test_shuffle_is_reproducible_by_seed_and_differs_between_epochs():
    X, y = _rows(50)
    a = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, generator=7)
    b = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, generator=7)
    a0, a1 = _first_column(a), _first_column(a)
    b0, b1 = _first_column(b), _first_column(b)
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a0, a1)
    assert sorted(a0.tolist()) == sorted(a1.tolist()) == list(range(50))
    c = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, generator=8)
    assert not np.array_equal(_first_column(c), a0)


def test_epoch_order_follows_the_documented_formula():
    X, y = _rows(20)
    loader = DataLoader(TensorDataset(X, y), batch_size=6, shuffle=True, generator=3)
    for epoch in range(3):
        expected = np.random.default_rng([3, epoch]).permutation(20)
        np.testing.assert_array_equal(loader.order(epoch), expected)
        np.testing.assert_array_equal(_first_column(loader), expected)


def test_shuffle_does_not_depend_on_global_state():
    X, y = _rows(30)
    np.random.seed(1)  # noqa: NPY002 - global state on purpose
    cr.manual_seed(1)
    first = _first_column(DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, generator=5))
    np.random.seed(2)  # noqa: NPY002 - global state on purpose
    cr.manual_seed(2)
    np.random.standard_normal(10)  # noqa: NPY002 - global state on purpose
    again = _first_column(DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, generator=5))
    np.testing.assert_array_equal(first, again)


def test_seed_drawn_from_chainrule_generator_when_none():
    X, y = _rows(30)
    cr.manual_seed(11)
    first = _first_column(DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True))
    cr.manual_seed(11)
    np.random.seed(99)  # NumPy's global state plays no part  # noqa: NPY002 - global state on purpose
    second = _first_column(DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True))
    np.testing.assert_array_equal(first, second)
    gen = DataLoader(TensorDataset(X, y), shuffle=True, generator=np.random.default_rng(0))
    assert gen.seed == int(np.random.default_rng(0).integers(2**63 - 1))


def test_no_shuffle_keeps_order():
    X, y = _rows(9)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    np.testing.assert_array_equal(_first_column(loader), np.arange(9))
    np.testing.assert_array_equal(_first_column(loader), np.arange(9))


# ------------------------------------------------------------------------------ state
def _all_ids(loader, epochs):
    return [_first_column(loader) for _ in range(epochs)]


def test_state_dict_resume_mid_epoch_matches_uninterrupted_run():
    X, y = _rows(23)

    def make():
        return DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, generator=42)

    reference = np.concatenate(_all_ids(make(), 3))
    first = make()
    _first_column(first)  # epoch 0
    it = iter(first)
    seen = [next(it) for _ in range(2)]  # two batches of epoch 1
    state = json.loads(json.dumps(first.state_dict()))
    assert state["epoch"] == 1 and state["batches_done"] == 2 and state["seed"] == 42
    resumed = make()
    resumed.load_state_dict(state)
    rest = np.concatenate([_first_column(resumed), _first_column(resumed)])
    done = np.concatenate([(x.numpy()[:, 0] / 3).astype(int) for x, _ in seen])
    head = reference[: 23 + len(done)]
    np.testing.assert_array_equal(head[23:], done)
    np.testing.assert_array_equal(np.concatenate([head, rest]), reference)


def test_state_dict_between_epochs_and_at_the_last_batch():
    X, y = _rows(8)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, generator=1)
    assert loader.state_dict()["epoch"] == 0 and loader.state_dict()["batches_done"] == 0
    it = iter(loader)
    next(it)
    next(it)  # the last batch of epoch 0, iterator not exhausted yet
    assert (loader.state_dict()["epoch"], loader.state_dict()["batches_done"]) == (1, 0)
    list(it)
    assert (loader.state_dict()["epoch"], loader.state_dict()["batches_done"]) == (1, 0)
    assert loader.epoch == 1


def test_seed_is_restored_from_the_state():
    X, y = _rows(12)
    a = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True, generator=9)
    b = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True)  # another seed
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(_first_column(a), _first_column(b))


def test_set_epoch():
    X, y = _rows(12)
    loader = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True, generator=9)
    loader.set_epoch(4)
    np.testing.assert_array_equal(_first_column(loader), loader.order(4))
    assert loader.epoch == 5
    with pytest.raises(DataError):
        loader.set_epoch(-1)


def test_load_state_dict_rejects_bad_states():
    X, y = _rows(12)
    loader = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True, generator=9)
    state = loader.state_dict()
    with pytest.raises(StateDictError, match="missing keys"):
        loader.load_state_dict({k: v for k, v in state.items() if k != "seed"})
    with pytest.raises(StateDictError, match="unexpected keys"):
        loader.load_state_dict({**state, "extra": 1})
    with pytest.raises(StateDictError, match="batch_size=4"):
        loader.load_state_dict({**state, "batch_size": 4})
    with pytest.raises(StateDictError, match="n_samples"):
        loader.load_state_dict({**state, "n_samples": 13})
    with pytest.raises(StateDictError, match="bad position"):
        loader.load_state_dict({**state, "batches_done": 99})


# ------------------------------------------------------------------------------ bad input
def test_bad_batch_sizes_and_empty_datasets():
    X, y = _rows(10)
    ds = TensorDataset(X, y)
    with pytest.raises(DataError, match=r"batch_size=32 is larger than the dataset \(10"):
        DataLoader(ds, batch_size=32, drop_last=True)
    for bad in (0, -2, 2.5, True, "8"):
        with pytest.raises(DataError, match="positive int"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(DataError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 3)), np.zeros(0)), batch_size=2)
    with pytest.raises(DataError, match="seed"):
        DataLoader(ds, shuffle=True, generator=-1)


def test_check_batch_size_helper():
    check_batch_size(10, 10, drop_last=True)
    check_batch_size(10, 11)
    with pytest.raises(DataError, match="drop_last=True would drop every batch"):
        check_batch_size(10, 11, drop_last=True)
    with pytest.raises(DataError, match="empty"):
        check_batch_size(0, 1)


def test_repr_and_len():
    X, y = _rows(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=3, generator=2)
    assert "10 samples" in repr(loader) and "seed=2" in repr(loader)
