"""The shape, indexing and sort ops on a GPU tensor, and in forward mode.

On the CPU, the GPU is CuPy's stand-in of tests/fake_cupy.py, whose functions refuse host
arrays, so a NumPy array leaking into device code fails here as it would on a GPU. Values and
gradients must equal the CPU's. Forward mode (cr.jvp) is checked against central differences.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
import fake_cupy
from chainrule import backend

X = np.random.default_rng(0).permutation(24).reshape(4, 6) / 7.0  # distinct values
IDX = np.array([[0, 2, 2, 1, 3, 0]])

CASES = {
    "flip": lambda x: cr.rot90(cr.flip(x, 0)),
    "roll": lambda x: cr.roll(x, (1, -2), (0, 1)),
    "repeat": lambda x: cr.repeat(x, [1, 0, 2, 1], axis=0),
    "tile": lambda x: cr.tile(x, (2, 1)),
    "stacks": lambda x: cr.hstack([x, cr.vstack([x[:2], x[2:]])]),
    "splits": lambda x: cr.array_split(x, 4, axis=1)[1],
    "meshgrid": lambda x: cr.meshgrid(x[0], x[1])[0],
    "moveaxis": lambda x: cr.moveaxis(x, 0, -1),
    "take": lambda x: cr.take(x, [3, -1, 0], axis=1),
    "take_along_axis": lambda x: cr.take_along_axis(x, IDX, 0),
    "put_along_axis": lambda x: cr.put_along_axis(x, IDX, x[:1] * 2, 0),
    "gather": lambda x: cr.gather(x, 0, IDX),
    "scatter": lambda x: cr.scatter(x, 0, IDX[:, :4], x[:1, :4] * 3),
    "scatter_add": lambda x: cr.scatter_add(x, 0, IDX, x[1:2]),
    "index_add": lambda x: cr.index_add(x, 1, [0, 0, 5], x[:, :3]),
    "masked_fill": lambda x: cr.masked_fill(x, x > 1.05, x[0, 0]),  # no value at 1.05
    "getitem_array": lambda x: x[[0, 0, 3]],
    "sort": lambda x: cr.sort(x, 0, descending=True),
    "topk": lambda x: cr.topk(x, 2).values,
    "partition": lambda x: cr.partition(x, 2),
    "unique": lambda x: cr.unique(cr.round(x * 3) / 3 + x * 0),
    "array": lambda x: cr.array([[x[0, 0], x[1, 1]], [x[2, 2], 1.0]]),
}


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.make(devices=1))
    monkeypatch.setattr(backend, "_cupy_module", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    monkeypatch.setattr(backend, "_gpu_count", 0)
    yield
    cr.set_backend("numpy")


def _run(fn, device):
    x = cr.tensor(X, requires_grad=True)
    xd = x.to(device)
    out = fn(xd)
    assert out.device.type == device and type(out.data).__module__ == type(xd.data).__module__
    w = cr.tensor(np.linspace(0.5, 1.5, out.size).reshape(out.shape)).to(device)
    (out * w).sum().backward()
    return out.cpu().numpy(), x.grad.numpy()


@pytest.mark.parametrize("name", list(CASES))
def test_on_a_gpu_tensor_as_on_the_cpu(name, fake_gpu):
    cpu_out, cpu_grad = _run(CASES[name], "cpu")
    gpu_out, gpu_grad = _run(CASES[name], "cuda")
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-12)
    np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-12)


def test_integer_results_on_a_gpu_tensor(fake_gpu):
    x = cr.tensor(X).to("cuda")
    for got, want in [
        (cr.argsort(x, 0), np.argsort(X, 0, kind="stable")),
        (cr.argpartition(x, 2), np.argpartition(X, 2)),
        (cr.argwhere(x > 1.0), np.argwhere(X > 1.0)),
        (cr.nonzero(x > 1.0)[1], np.nonzero(X > 1.0)[1]),
        (cr.searchsorted(cr.sort(x[0]), x[1]), np.searchsorted(np.sort(X[0]), X[1])),
        (cr.topk(x, 2).indices, np.argsort(-X, -1)[:, :2]),
    ]:
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), want)


@pytest.mark.parametrize("name", list(CASES))
def test_forward_mode_matches_central_differences(name):
    """cr.jvp runs the reverse rules transposed: they must be linear in ḡ."""
    fn = CASES[name]
    t = np.random.default_rng(1).normal(size=X.shape)
    _, tangent = cr.jvp(lambda x: fn(x) ** 2, (cr.tensor(X),), (cr.tensor(t),))
    eps = 1e-6
    plus = (fn(cr.tensor(X + eps * t)) ** 2).numpy()
    minus = (fn(cr.tensor(X - eps * t)) ** 2).numpy()
    np.testing.assert_allclose(tangent.numpy(), (plus - minus) / (2 * eps), atol=1e-6)
