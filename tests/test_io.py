"""cr.save / cr.load: weights as safetensors files, loaded without unpickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import CheckpointError


def _net(seed: int = 0) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.BatchNorm1d(6), nn.Linear(6, 3))


def test_module_round_trip(tmp_path):
    net = _net(0)
    path = cr.save(net, tmp_path / "w.safetensors")
    arrays = cr.load(path)
    assert set(arrays) == set(net.state_dict())
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(arrays[k], v)
        assert arrays[k].dtype == np.asarray(v).dtype and arrays[k].shape == np.asarray(v).shape
    other = _net(1)
    assert cr.load(path, model=other) is other
    x = cr.randn(5, 4)
    net.eval()
    other.eval()
    np.testing.assert_array_equal(net(x).numpy(), other(x).numpy())


def test_dict_of_tensors_and_arrays(tmp_path):
    d = {"a": cr.tensor([1.0, 2.0]), "b": np.arange(6, dtype=np.int64).reshape(2, 3),
         "c": np.float64(3.5)}  # fmt: skip
    back = cr.load(cr.save(d, tmp_path / "d.safetensors"))
    np.testing.assert_array_equal(back["a"], [1.0, 2.0])
    assert back["b"].dtype == np.int64 and back["b"].shape == (2, 3)
    assert back["c"].shape == () and back["c"] == 3.5


def test_float64_model(tmp_path):
    cr.set_default_dtype("float64")
    net = _net()
    back = cr.load(cr.save(net, tmp_path / "w.safetensors"))
    assert back["0.weight"].dtype == np.float64


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    path = cr.save(_net(0), tmp_path / "w.safetensors")
    import chainrule._atomic as atomic

    def die(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", die)
    with pytest.raises(KeyboardInterrupt):
        cr.save(_net(1), path)
    monkeypatch.undo()
    np.testing.assert_array_equal(cr.load(path)["0.weight"], _net(0).state_dict()["0.weight"])
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_mismatched_model(tmp_path):
    path = cr.save(_net(), tmp_path / "w.safetensors")
    wrong = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.BatchNorm1d(5), nn.Linear(5, 3))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        cr.load(path, model=wrong)
    partial = nn.Sequential(nn.Linear(4, 6))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        cr.load(path, model=partial)
    cr.load(path, model=partial, strict=False)  # extra keys allowed when not strict


@pytest.mark.parametrize("keep", [0, 4, 9, 60, -1])
def test_truncated_file(tmp_path, keep):
    path = cr.save(_net(), tmp_path / "w.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        cr.load(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no weights file at"):
        cr.load(tmp_path / "nothing.safetensors")
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"weight": np.zeros(3)}))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        cr.load(evil)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = cr.save(_net(), tmp_path / "w.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    cr.load(path, model=_net(1))


def test_torch_reads_the_file(tmp_path):
    import torch
    from safetensors.torch import load_file

    net = _net()
    tensors = load_file(str(cr.save(net, tmp_path / "w.safetensors")))
    for k, v in net.state_dict().items():
        assert torch.equal(tensors[k], torch.from_numpy(np.asarray(v)))
