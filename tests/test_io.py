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
    with pytest.raises(
        CheckpointError, match=r"is truncated: .*the file holds|truncated or corrupt\): only"
    ):
        cr.load(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no weights file at"):
        cr.load(tmp_path / "nothing.safetensors")
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"weight": np.zeros(3)}))
    with pytest.raises(CheckpointError, match="chainrule never unpickles"):
        cr.load(evil)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        cr.load(junk)


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


def test_pytorch_pickles_are_refused_with_the_way_out(tmp_path, monkeypatch):
    import torch

    for name in ("model.pt", "model.pth"):
        path = tmp_path / name
        torch.save(torch.nn.Linear(2, 3).state_dict(), path)
        for fn in ("load", "loads", "Unpickler"):
            monkeypatch.setattr(pickle, fn, lambda *a, **k: (_ for _ in ()).throw(AssertionError))
        with pytest.raises(CheckpointError) as err:
            cr.load(path)
        monkeypatch.undo()
        msg = str(err.value)
        assert "chainrule never unpickles" in msg and "safetensors.torch.save_file" in msg
        assert "\n" not in msg and name in msg


@pytest.mark.parametrize("size", [0x0180, 0x0280, 0x0380])
def test_a_safetensors_header_that_starts_like_a_pickle_still_loads(tmp_path, size):
    # A header of 0x0380 bytes is written little-endian as 80 03 ..., pickle protocol 3's
    # opening bytes: the file is still read as the safetensors file it is.
    from chainrule.train.checkpoint import load_arrays, save_arrays

    path = tmp_path / "w.safetensors"
    header = lambda pad: {"note": "x" * pad}
    save_arrays(path, {"w": np.ones(3, np.float32)}, header(0))
    pad = size - int.from_bytes(path.read_bytes()[:8], "little")  # one byte of note per byte
    save_arrays(path, {"w": np.ones(3, np.float32)}, header(pad))
    assert path.read_bytes()[:2] == bytes([0x80, size >> 8])
    arrays, _ = load_arrays(path)
    np.testing.assert_array_equal(arrays["w"], np.ones(3))


def test_nested_training_state_round_trip(tmp_path):
    import torch

    net = _net(0)
    opt = cr.optim.Adam(net.parameters(), lr=0.01, betas=(0.8, 0.95))
    net(cr.randn(8, 4)).sum().backward()
    opt.step()
    state = {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 7,
        "best": float("inf"),
        "note": "warm restart",
        "losses": [0.5, 0.25],
        "flags": {"amp": False, "ema": None},
        "torch": torch.arange(3.0),
        "tensor": cr.tensor([[1.0, 2.0]]),
    }
    path = cr.save(state, tmp_path / "state.safetensors")
    back = cr.load(path)
    assert back["epoch"] == 7 and back["best"] == float("inf") and back["note"] == "warm restart"
    assert back["losses"] == [0.5, 0.25] and back["flags"] == {"amp": False, "ema": None}
    np.testing.assert_array_equal(back["torch"], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(back["tensor"], [[1.0, 2.0]])
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(back["model"][k], v)
    # the optimiser resumes from it: the next step is the same as the original's
    other = _net(1)
    other.load_state_dict(back["model"])
    opt2 = cr.optim.Adam(other.parameters(), lr=0.5)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.01 and list(opt2.param_groups[0]["betas"]) == [0.8, 0.95]
    x = cr.randn(8, 4)
    for m, o in ((net, opt), (other, opt2)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    for (k, a), b in zip(net.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    # safetensors' own reader sees the arrays under their paths
    from safetensors.numpy import load_file

    assert "model/0.weight" in load_file(str(path))
    with pytest.raises(CheckpointError, match="nested state"):
        cr.load(path, model=_net())


def test_save_refuses_what_it_cannot_write_without_pickle(tmp_path):
    with pytest.raises(TypeError, match=r"cannot save builtin_function_or_method at 'hooks/0'"):
        cr.save({"w": np.zeros(2), "hooks": [print]}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="Module or a dict"):
        cr.save([np.zeros(2)], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def _fit_with_checkpoints(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    net = _net(0)
    cr.train.fit(net, nn.CrossEntropyLoss(), cr.optim.SGD(net.parameters(), lr=0.1), (X, y),
                 (X, y), epochs=2, batch_size=8, progress=False,
                 callbacks=[cr.train.ModelCheckpoint(tmp_path / "ckpt")])  # fmt: skip
    return net, X


def test_checkpoint_sidecar_where_a_tensor_file_is_expected(tmp_path):
    _fit_with_checkpoints(tmp_path)
    sidecar = tmp_path / "ckpt" / "best.json"
    with pytest.raises(CheckpointError, match=r"checkpoint's JSON sidecar.*cr\.load_model"):
        cr.load(sidecar, model=_net())
    with pytest.raises(CheckpointError, match=r"cr\.load_model"):
        cr.load(tmp_path / "ckpt")


def test_load_model_of_a_checkpoint_with_your_own_model(tmp_path):
    net, X = _fit_with_checkpoints(tmp_path)
    for where in ("ckpt/last.json", "ckpt/last", "ckpt"):
        model, pre = cr.load_model(tmp_path / where, model=_net(3))
        assert pre is None and not model.training
    model, _ = cr.load_model(tmp_path / "ckpt/last.json", model=_net(3))
    net.eval()
    np.testing.assert_array_equal(cr.train.predict(model, X), cr.train.predict(net, X))
    with pytest.raises(CheckpointError, match="model="):
        cr.load_model(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="does not fit the model"):
        cr.load_model(tmp_path / "ckpt", model=nn.Sequential(nn.Linear(4, 2)))
    with pytest.raises(CheckpointError, match="no run folder or checkpoint"):
        cr.load_model(tmp_path / "nowhere")


def test_a_checkpoint_tensor_file_loads_its_model_entries(tmp_path):
    net, X = _fit_with_checkpoints(tmp_path)
    tensors = next((tmp_path / "ckpt").glob("last-*.safetensors"))
    arrays = cr.load(tensors)
    assert "model/0.weight" in arrays and "0.weight" not in arrays
    other = cr.load(tensors, model=_net(5))
    net.eval()
    np.testing.assert_array_equal(cr.train.predict(other, X), cr.train.predict(net, X))
