"""Devices: names, moves, errors. On the CPU the GPU is a stand-in (tests/fake_cupy.py) that
follows CuPy's rules (its functions refuse host arrays), so these tests drive the bookkeeping
a GPU run takes; tests/test_gpu.py repeats the numerics on a real GPU when one is present."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
import fake_cupy
from chainrule import backend


@pytest.fixture
def fake_gpu(monkeypatch):
    """CuPy replaced by the stand-in with one GPU; the NumPy backend restored afterwards."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=1))
    _forget_cupy(monkeypatch)
    yield fake_cupy
    cr.set_backend("numpy")


def _forget_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy_module", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    monkeypatch.setattr(backend, "_gpu_count", 0)


def test_device_names_parse_as_pytorch_does():
    assert cr.device("cuda:1") == cr.Device("cuda", 1)
    assert str(cr.device("cuda:1")) == "cuda:1" and str(cr.device("CPU")) == "cpu"
    assert repr(cr.device("cuda")) == "device(type='cuda')"
    assert cr.device(cr.device("cpu")) is cr.device("cpu")
    assert cr.tensor([1.0]).device == "cpu"
    for bad in ("tpu", "cuda:x", "cpu:0", 3):
        with pytest.raises(cr.DeviceError, match="use 'cpu', 'cuda' or 'cuda:N'"):
            cr.device(bad)


def test_cuda_without_cupy_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    _forget_cupy(monkeypatch)
    for attempt in (
        lambda: cr.set_backend("cupy"),
        lambda: cr.tensor([1.0]).to("cuda"),
        lambda: cr.nn.Linear(2, 2).to("cuda"),
        lambda: cr.zeros(2, device="cuda"),
    ):
        with pytest.raises(cr.DeviceError, match=r"needs CuPy.*pip install 'chainrule\[gpu\]'"):
            attempt()
    assert backend.xp is np  # a failed switch leaves NumPy in place


def test_cupy_without_a_gpu_is_refused_when_chosen_not_at_the_first_op(monkeypatch):
    class CUDARuntimeError(RuntimeError):
        pass

    error = CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(error=error))
    _forget_cupy(monkeypatch)
    with pytest.raises(cr.DeviceError) as info:
        cr.set_backend("cupy")
    message = str(info.value)
    assert "CuPy is installed but no CUDA driver or GPU answers" in message
    assert "cudaErrorNoDevice" in message and "\n" not in message
    assert backend.xp is np
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=0))
    _forget_cupy(monkeypatch)
    with pytest.raises(cr.DeviceError, match="the driver reports 0 devices"):
        cr.tensor([1.0], device="cuda")


def test_the_probe_runs_once(monkeypatch, fake_gpu):
    calls = []
    original = backend._probe_cupy
    monkeypatch.setattr(backend, "_probe_cupy", lambda: calls.append(1) or original())
    for _ in range(3):
        cr.set_backend("cupy")
    assert calls == [1]


def test_moves_between_devices_keep_values_and_gradients(fake_gpu):
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    g = x.to("cuda")
    assert g.device == cr.device("cuda:0") and isinstance(g.data, fake_gpu.ndarray)
    assert cr.get_backend() == "cupy"  # the first move to a GPU selects the GPU backend
    assert g.to("cuda") is g and g.cuda() is g
    y = (g * g).sum()
    assert y.device == "cuda:0"
    y.backward()
    assert x.grad.device == "cpu"  # the gradient came back to the leaf's device
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])
    host = g.cpu()
    assert host.device == "cpu" and type(host.data) is np.ndarray
    arr = g.numpy()  # a copy on the host
    assert type(arr) is np.ndarray
    arr[0] = 99.0
    assert g.data[0] == 1.0
    np.testing.assert_array_equal(g.to("cpu", "float64").numpy(), [1.0, -2.0, 3.0])
    assert g.to(cr.tensor([0], dtype="float64", device="cpu")).device == "cpu"


def test_new_tensors_follow_the_default_device_and_device_argument(fake_gpu):
    cr.set_backend("cupy")
    assert cr.zeros(2).device == "cuda:0" and cr.randn(2, 3).device == "cuda:0"
    cpu = cr.tensor([1.0, 2.0], device="cpu")
    assert cpu.device == "cpu" and cpu.dtype == np.float32
    assert cr.ones(2, device="cpu").device == "cpu"
    assert cr.zeros_like(cpu).device == "cpu"
    cr.set_backend("numpy")
    t = cr.tensor(np.arange(3.0), device="cuda")
    assert t.device == "cuda:0" and t.dtype == np.float64
    assert cr.tensor(t, device="cpu").device == "cpu"
    with pytest.raises(cr.DeviceError, match="no device cuda:3: this machine has 1 GPU"):
        cr.tensor([1.0], device="cuda:3")


def test_host_tensors_still_compute_while_the_gpu_backend_is_on(fake_gpu):
    cr.set_backend("cupy")
    a = cr.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    out = (a.exp() * 2).sum()
    assert out.device == "cpu"
    out.backward()
    assert a.grad.device == "cpu"
    np.testing.assert_allclose(a.grad.numpy(), 2 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_tensors_on_different_devices_are_refused_naming_both(fake_gpu):
    gpu = cr.tensor([1.0, 2.0]).to("cuda")
    cpu = cr.tensor([3.0, 4.0], device="cpu")
    with pytest.raises(cr.DeviceError, match=r"add: expected all tensors on one device, found"):
        gpu + cpu
    with pytest.raises(cr.DeviceError, match=r"found cpu and cuda:0"):
        cr.matmul(cpu, gpu)
    layer = cr.nn.Linear(2, 1)  # made on the default device: the GPU now
    with pytest.raises(cr.DeviceError, match="cuda:0"):
        layer(cr.tensor([[1.0, 2.0]], device="cpu"))


def test_model_to_moves_parameters_gradients_and_buffers_in_place(fake_gpu):
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.Linear(4, 2))
    params = list(model.parameters())
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    ref = model(cr.tensor(x)).numpy()
    model(cr.tensor(x)).sum().backward()
    assert model.to("cuda") is model
    assert list(model.parameters()) == params  # the same Parameter objects
    for t in [*model.parameters(), *model.buffers()]:
        assert t.device == "cuda:0"
    assert all(p.grad.device == "cuda:0" for p in params)
    out = model(cr.tensor(x).to("cuda"))
    assert out.device == "cuda:0"
    np.testing.assert_allclose(out.numpy(), model.to("cpu")(cr.tensor(x, device="cpu")).numpy())
    model.train()
    np.testing.assert_allclose(ref.shape, out.shape)
    model.to("cuda", "float64")
    assert all(p.dtype == np.float64 and p.device == "cuda:0" for p in params)
    with pytest.raises(cr.DTypeError, match="only floating dtypes"):
        model.to("int64")


def test_an_optimiser_step_and_training_run_on_the_device(fake_gpu):
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32) > 0).astype(np.int64)

    def run(device):
        cr.manual_seed(0)
        model = cr.nn.Sequential(cr.nn.Linear(3, 8), cr.nn.Tanh(), cr.nn.Linear(8, 2))
        model.to(device)
        opt = cr.optim.Adam(model.parameters(), lr=0.05)
        loss_fn = cr.nn.CrossEntropyLoss()
        for _ in range(5):
            opt.zero_grad()
            loss = loss_fn(model(cr.tensor(x).to(device)), cr.tensor(y).to(device))
            loss.backward()
            opt.step()
        assert all(p.device == device for p in model.parameters())
        return [p.numpy() for p in model.parameters()], loss.item()

    cpu_params, cpu_loss = run("cpu")
    gpu_params, gpu_loss = run("cuda:0")
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-6)
    for a, b in zip(cpu_params, gpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_to_device_gradient_matches_finite_differences(fake_gpu):
    x = cr.tensor(np.array([[0.5, -1.0], [2.0, 0.25]]), requires_grad=True)
    assert cr.gradcheck(lambda t: (t.to("cuda") * t.to("cuda")).sum(axis=0).cpu(), (x,))


def test_cr_cuda_answers_as_torch_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    _forget_cupy(monkeypatch)
    assert (cr.cuda.is_available(), cr.cuda.device_count()) == (False, 0)
    with pytest.raises(cr.DeviceError, match="needs CuPy"):
        cr.cuda.current_device()
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=2))
    _forget_cupy(monkeypatch)
    assert (cr.cuda.is_available(), cr.cuda.device_count(), cr.cuda.current_device()) == (
        True,
        2,
        0,
    )


def test_chainrule_train_device_errors_are_one_line(monkeypatch, capsys, tmp_path):
    from chainrule.cli import main

    monkeypatch.setitem(sys.modules, "cupy", None)
    _forget_cupy(monkeypatch)
    for device, expected in (
        ("cuda", "needs CuPy, which is not installed"),
        ("tpu", "unknown device 'tpu'; use 'cpu', 'cuda' or 'cuda:N'"),
    ):
        code = main(["train", "--device", device, "--epochs", "1", "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 1
        assert err.startswith("chainrule train: error: ") and expected in err
        assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # refused before a run folder was made


def test_to_takes_pytorchs_keywords():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu", non_blocking=True) is x
    y = x.to(copy=True)
    assert y is not x and y.grad_fn is not None
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    model = cr.nn.Linear(2, 1)
    assert model.to(device="cpu", dtype="float64", non_blocking=True) is model
    assert model.weight.dtype == np.float64


def test_numpy_constants_follow_the_tensors_to_the_gpu(fake_gpu):
    g = cr.tensor([1.0, 2.0, 3.0]).to("cuda")
    out = g + np.array([1.0, 1.0, 1.0], dtype=np.float32)
    assert out.device == "cuda:0"
    np.testing.assert_array_equal(out.numpy(), [2.0, 3.0, 4.0])
    picked = g[np.array([2, 0])]
    assert picked.device == "cuda:0" and picked.tolist() == [3.0, 1.0]
    assert cr.exp(cr.tensor(0.0, device="cpu")).device == "cpu"


def test_explain_traces_a_gpu_model_on_a_host_copy(fake_gpu):
    cr.manual_seed(0)
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    ref = cr.explain.trace(net, x, [1, 0])
    net.to("cuda")
    got = cr.explain.trace(net, cr.tensor(x).to("cuda"), [1, 0])
    assert all(p.device == "cuda:0" for p in net.parameters())  # the model stays where it was
    assert got.max_disagreement < 1e-12
    for a, b in zip(ref.layers, got.layers):
        np.testing.assert_allclose(b["grad_W"].value, a["grad_W"].value, rtol=1e-12)
