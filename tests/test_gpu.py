"""Ops, layers and a training run on every available device, against the CPU in float64.

The ``device`` parameter is ``cpu`` and ``cuda``; on a machine where no GPU answers (CuPy
missing, no driver, no device) the ``cuda`` cases are skipped with the reason CuPy gave. The
CPU suite carries the rest (tests/ops, tests/nn, ...); tests/test_device.py covers the device
bookkeeping with a stand-in for CuPy.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest

import chainrule as cr
import fake_cupy
from chainrule import backend
from chainrule.ops import _native


@pytest.fixture(params=["cpu", "stand-in", "cuda"])
def device(request, monkeypatch):
    """``cpu``; ``stand-in``: the CuPy stand-in of tests/fake_cupy.py (device bookkeeping on
    the CPU: it refuses host arrays in device calls); ``cuda``: a real GPU, or a skip."""
    if request.param == "stand-in":
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=1))
        for name, value in (("_cupy_module", None), ("_cupy_error", None), ("_gpu_count", 0)):
            monkeypatch.setattr(backend, name, value)
    elif request.param == "cuda":
        try:
            backend.cupy()
        except cr.DeviceError as exc:
            pytest.skip(f"no GPU: {exc}")
    yield "cpu" if request.param == "cpu" else "cuda"
    cr.set_backend("numpy")


_RNG = np.random.default_rng(0)
_A = _RNG.uniform(0.5, 2.0, (3, 4))
_B = _RNG.normal(size=(3, 4))
_M = _RNG.normal(size=(4, 2))
_T = np.array([0, 3, 1])

# name -> (function of the tensors, the inputs); every input gets a gradient
OPS = {
    "add": (lambda a, b: a + b, (_A, _B)),
    "multiply": (lambda a, b: a * b, (_A, _B[:1])),
    "divide": (lambda a, b: a / b, (_B, _A)),
    "power": (lambda a, b: a**b, (_A, _B)),
    "exp_log_sqrt": (lambda a: cr.exp(a) + cr.log(a) + cr.sqrt(a), (_A,)),
    "tanh_sigmoid_relu": (lambda a: cr.tanh(a) * cr.sigmoid(a) + cr.relu(a), (_B,)),
    "gelu_elu_softplus": (lambda a: cr.gelu(a) + cr.elu(a) + cr.softplus(a), (_B,)),
    "maximum_where": (lambda a, b: cr.maximum(a, b) + cr.where(a > b, a, b), (_A, _B)),
    "sum_mean_var": (lambda a: a.sum(axis=0) + a.mean(axis=0) + a.var(axis=0), (_B,)),
    "max_logsumexp": (lambda a: a.max(axis=1) + a.logsumexp(axis=1), (_B,)),
    "softmax": (lambda a: cr.softmax(a, axis=-1) * cr.log_softmax(a, axis=0), (_B,)),
    "matmul": (lambda a, m: a @ m, (_B, _M)),
    "shape_ops": (lambda a: a.reshape(4, 3).T[1:, ::2].swapaxes(0, 1), (_B,)),
    "join": (lambda a, b: cr.concatenate([a, b], 1) + cr.stack([a, b]).sum(0)[0, 0], (_A, _B)),
    "getitem": (lambda a: a[[0, 2, 2], 1:], (_B,)),
    "cross_entropy": (lambda a: cr.cross_entropy(a, _labels(a), reduction="none"), (_B,)),
}  # fmt: skip


def _labels(a):
    return cr.tensor(_T, device=a.device)


def _run(fn, arrays, device):
    xs = [cr.tensor(a, dtype="float64", requires_grad=True, device=device) for a in arrays]
    out = fn(*xs)
    assert out.device == cr.device(device) or str(out.device).startswith(device)
    weights = cr.tensor(np.linspace(-1.0, 1.0, out.size).reshape(out.shape), device=device)
    (out * weights).sum().backward()
    return out.numpy(), [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("name", list(OPS))
def test_op_values_and_gradients_match_the_cpu(name, device):
    fn, arrays = OPS[name]
    ref_out, ref_grads = _run(fn, arrays, "cpu")
    out, grads = _run(fn, arrays, device)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def _model():
    cr.manual_seed(0)
    return cr.nn.Sequential(
        cr.nn.Linear(4, 16),
        cr.nn.BatchNorm1d(16),
        cr.nn.ReLU(),
        cr.nn.Dropout(0.0),
        cr.nn.Linear(16, 3),
        cr.nn.LogSoftmax(dim=-1),
    ).to("float64")


def test_layers_forward_and_backward_match_the_cpu(device):
    x = _RNG.normal(size=(8, 4))
    results = []
    for where in ("cpu", device):
        model = _model().to(where)
        out = model(cr.tensor(x, device=where))
        out.sum().backward()
        results.append(
            (out.numpy(), [p.grad.numpy() for p in model.parameters()], model[1].running_mean)
        )
    (ref, ref_grads, ref_mean), (got, grads, mean) = results
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean.numpy(), ref_mean.numpy(), rtol=1e-10)


def test_sequence_layers_forward_and_backward_match_the_cpu(device):
    """The fused recurrence and self-attention primitives on the device (seqspeed)."""
    x = _RNG.normal(size=(3, 5, 8))
    results = []
    for where in ("cpu", device):
        cr.manual_seed(0)
        lstm = cr.nn.LSTM(8, 6, num_layers=2, batch_first=True).to("float64").to(where)
        layer = cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        layer = layer.to("float64").to(where)
        out = (lstm(cr.tensor(x, device=where))[0] ** 2).sum() + (
            layer(cr.tensor(x, device=where)) ** 2
        ).sum()
        out.backward()
        params = [*lstm.parameters(), *layer.parameters()]
        results.append((out.numpy(), [p.grad.numpy() for p in params]))
    (ref, ref_grads), (got, grads) = results
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_training_with_each_optimiser_matches_the_cpu(device):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4))
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    for make in (
        lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4),
        lambda p: cr.optim.Adam(p, lr=0.01),
        lambda p: cr.optim.RMSprop(p, lr=0.01),
        lambda p: cr.optim.Adagrad(p, lr=0.1),
    ):
        finals = []
        for where in ("cpu", device):
            # the CPU as the device computes it, in the NumPy formulation (batch norm's native
            # rule sums in another order; tests/ops/test_native_pointwise.py compares the two)
            with _native.disabled() if where == "cpu" else contextlib.nullcontext():
                model = _model().to(where)
                opt = make(model.parameters())
                xb, yb = cr.tensor(x, device=where), cr.tensor(y, device=where)
                for _ in range(5):
                    opt.zero_grad()
                    loss = cr.nn.NLLLoss()(model(xb), yb)
                    loss.backward()
                    opt.step()
                finals.append([p.numpy() for p in model.parameters()])
        for a, b in zip(*finals):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_conv_layers_forward_and_backward_match_the_cpu(device):
    x = _RNG.normal(size=(2, 3, 8, 8))
    results = []
    for where in ("cpu", device):
        cr.manual_seed(0)
        model = cr.nn.Sequential(
            cr.nn.Conv2d(3, 4, 3, padding=1), cr.nn.ReLU(), cr.nn.MaxPool2d(2),
            cr.nn.BatchNorm2d(4), cr.nn.AvgPool2d(2), cr.nn.Flatten(), cr.nn.Linear(16, 3),
        ).to("float64").to(where)  # fmt: skip
        out = model(cr.tensor(x, device=where))
        (out * out).sum().backward()
        results.append((out.numpy(), [p.grad.numpy() for p in model.parameters()]))
    (ref, ref_grads), (got, grads) = results
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
