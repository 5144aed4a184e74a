"""Checkpoints: round trips, atomic writes that survive being killed midway, and clear
errors for corrupt or truncated files. Loading never unpickles."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from chainrule.errors import CheckpointError
from chainrule.train import checkpoint as ckpt
from chainrule.train.checkpoint import load_arrays, load_checkpoint, save_arrays, save_checkpoint


def _arrays(v: float) -> dict[str, np.ndarray]:
    return {
        "model/0.weight": np.full((3, 2), v, dtype=np.float32),
        "model/0.bias": np.arange(3, dtype=np.float64) + v,
        "optim/0/step": np.array(7, dtype=np.int64),
    }


def test_round_trip(tmp_path):
    meta = {
        "epoch": 3,
        "history": {"loss": [1.0, float("nan"), float("inf")]},
        "rng": {"a": 2**100},
    }
    side = save_checkpoint(tmp_path, "last", _arrays(1.5), meta)
    assert side == tmp_path / "last.json"
    arrays, back = load_checkpoint(side)
    for k, v in _arrays(1.5).items():
        np.testing.assert_array_equal(arrays[k], v)
        assert arrays[k].dtype == v.dtype and arrays[k].shape == v.shape
    back = ckpt.json_restore(back)
    assert back["epoch"] == 3 and back["rng"]["a"] == 2**100
    assert back["history"]["loss"][0] == 1.0 and np.isnan(back["history"]["loss"][1])
    assert back["history"]["loss"][2] == float("inf")
    # the folder or the name without suffix find it too
    assert load_checkpoint(tmp_path)[1]["epoch"] == 3
    assert load_checkpoint(tmp_path / "last")[1]["epoch"] == 3


def test_resave_replaces_the_tensor_file(tmp_path):
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})
    save_checkpoint(tmp_path, "last", _arrays(2.0), {"epoch": 2})
    assert len(list(tmp_path.glob("last-*.safetensors"))) == 1
    assert load_checkpoint(tmp_path / "last.json")[1]["epoch"] == 2


def test_write_killed_after_tensor_file_keeps_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # the process is stopped between the two writes

    monkeypatch.setattr(ckpt, "atomic_write_json", die)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, "last", _arrays(2.0), {"epoch": 2})
    monkeypatch.undo()
    assert len(list(tmp_path.glob("last-*.safetensors"))) == 2  # the orphan of the dead write
    arrays, meta = load_checkpoint(tmp_path / "last.json")
    assert meta["epoch"] == 1
    np.testing.assert_array_equal(arrays["model/0.weight"], _arrays(1.0)["model/0.weight"])
    # the next successful save cleans up the orphan
    save_checkpoint(tmp_path, "last", _arrays(3.0), {"epoch": 3})
    assert len(list(tmp_path.glob("last-*.safetensors"))) == 1
    assert load_checkpoint(tmp_path / "last.json")[1]["epoch"] == 3


def test_write_killed_inside_tensor_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})
    real_fsync = ckpt.atomic_write_bytes.__globals__["os"].fsync

    def half_written(fd):
        raise KeyboardInterrupt  # stopped after writing, before the rename

    monkeypatch.setattr(ckpt.atomic_write_bytes.__globals__["os"], "fsync", half_written)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, "last", _arrays(2.0), {"epoch": 2})
    monkeypatch.setattr(ckpt.atomic_write_bytes.__globals__["os"], "fsync", real_fsync)
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file is removed
    assert load_checkpoint(tmp_path / "last.json")[1]["epoch"] == 1


def test_best_and_last_are_independent(tmp_path):
    save_checkpoint(tmp_path, "best", _arrays(1.0), {"epoch": 1})
    save_checkpoint(tmp_path, "last", _arrays(2.0), {"epoch": 2})
    save_checkpoint(tmp_path, "last", _arrays(3.0), {"epoch": 3})
    assert load_checkpoint(tmp_path / "best.json")[1]["epoch"] == 1
    assert load_checkpoint(tmp_path / "last.json")[1]["epoch"] == 3


def _tensor_file(tmp_path):
    return tmp_path / json.loads((tmp_path / "last.json").read_text())["tensors"]


@pytest.mark.parametrize("keep", [0, 8, 100, -1])
def test_truncated_tensor_file_is_a_checkpoint_error(tmp_path, keep):
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})
    f = _tensor_file(tmp_path)
    data = f.read_bytes()
    f.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "last.json")


def test_corrupted_byte_is_caught_by_the_hash(tmp_path):
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})
    f = _tensor_file(tmp_path)
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the weights: still a valid safetensors file
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 does not match"):
        load_checkpoint(tmp_path / "last.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": "chainrule-checkpoint/1", "tens', "is corrupt \\(not JSON\\)"),
        ("", "is corrupt \\(not JSON\\)"),
        ('{"format": "other"}', "is not a chainrule checkpoint"),
        ("[1, 2]", "is not a chainrule checkpoint"),
        ('{"format": "chainrule-checkpoint/1", "tensors": "../../etc/passwd"}', "invalid tensor"),
    ],
)
def test_corrupt_sidecar(tmp_path, content, message):
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})
    (tmp_path / "last.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "last.json")


def test_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "last.json")
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})
    _tensor_file(tmp_path).unlink()
    with pytest.raises(CheckpointError, match="which is missing"):
        load_checkpoint(tmp_path / "last.json")


def test_save_and_load_arrays(tmp_path):
    path = save_arrays(tmp_path / "w.safetensors", _arrays(4.0), {"k": "v"})
    arrays, meta = load_arrays(path)
    assert meta == {"k": "v"}
    np.testing.assert_array_equal(arrays["model/0.bias"], _arrays(4.0)["model/0.bias"])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="is truncated: its header describes"):
        load_arrays(path)
    with pytest.raises(CheckpointError, match="no weights file"):
        load_arrays(tmp_path / "missing.safetensors")
    (tmp_path / "p.safetensors").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="chainrule never unpickles"):
        load_arrays(tmp_path / "p.safetensors")


def test_loading_never_unpickles(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, "last", _arrays(1.0), {"epoch": 1})
    save_arrays(tmp_path / "w.safetensors", _arrays(1.0))

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    load_checkpoint(tmp_path / "last.json")
    load_arrays(tmp_path / "w.safetensors")
