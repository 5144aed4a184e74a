"""The native convolution kernels (``ops._native``): built wherever a C compiler is, and equal
to the NumPy formulation and to PyTorch (float64 1e-7, float32 1e-4) on hypothesis-drawn
configurations that cross their tile edges: channel counts on both sides of one and two
vectors (8 float64 lanes; float32 in 8 lanes up to 8 channels, in 16 past them), output rows
of every width the tiles split, kernel rows j past a multiple of 12, strides (the scattered
input gradient), dilation, padding, 1-D and 2-D, transposed convolutions with output padding,
and the batch split between threads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import _native
from strategies import seeds, uniform
from torch_optional import AVAILABLE as HAVE_TORCH
from torch_optional import torch

TF = torch.nn.functional

F = cr.nn.functional
TOL = {np.float64: 1e-7, np.float32: 1e-4}


def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc")


def test_built_wherever_a_c_compiler_is():
    # pip install builds it (setup.py); a lost build would silently fall back to NumPy
    if _compiler() is None:
        pytest.skip("no C compiler on this machine: the NumPy formulation runs")
    assert _native.built(), "a C compiler is here but chainrule/ops/_native/_conv*.so is not"


@pytest.fixture(autouse=True)
def _needs_build():
    if not _native.built():
        pytest.skip("the native kernels are not built (no C compiler at install)")


@st.composite
def configs(draw: st.DrawFn, nd: int, dtype: type) -> dict:
    lanes = 64 // np.dtype(dtype).itemsize
    cin = draw(st.sampled_from([1, 2, 3, 8, lanes - 1, lanes + 1, 2 * lanes + 3]))
    cout = draw(st.sampled_from([1, 5, 8, 11, lanes, lanes + 3, 2 * lanes, 2 * lanes + 5]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    size = tuple(draw(st.integers(1, 9 if nd == 2 else 30)) for _ in range(nd))
    return dict(cin=cin, cout=cout, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, size=size, n=draw(st.integers(1, 3)))  # fmt: skip


def _fits(c: dict) -> bool:
    return all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in
               zip(c["size"], c["padding"], c["dilation"], c["kernel"]))  # fmt: skip


def _grads(lib, fn, arrays, dtype, cot_seed):
    """(output, gradients of Σ cot ⊙ output) of fn on ``arrays`` in ``lib`` (cr or torch)."""
    ins = [lib.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out = fn(*ins)
    cot = uniform(cot_seed, tuple(out.shape)).astype(dtype)
    (out * lib.tensor(cot)).sum().backward()
    return [np.asarray(out.detach().numpy() if lib is torch else out.data)] + [
        np.asarray(t.grad.numpy() if lib is torch else t.grad.data) for t in ins
    ]


def _compare(cf, tf, arrays, dtype, seed):
    """Output and gradients: the native kernels' equal the NumPy formulation's (on every
    Python), and PyTorch's where torch is installed (3.11, where CI runs the whole suite; the
    Pythons without its wheel check the first comparison only)."""
    native = _grads(cr, cf, arrays, dtype, seed + 9)
    with _native.disabled():
        numpy_path = _grads(cr, cf, arrays, dtype, seed + 9)
    tol = TOL[dtype]
    for a, b in zip(native, numpy_path):
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    if not HAVE_TORCH:
        return
    for a, t in zip(native, _grads(torch, tf, arrays, dtype, seed + 9)):
        assert a.shape == t.shape
        np.testing.assert_allclose(a, t, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=seeds)
def test_conv_and_its_gradients_match_torch_and_numpy(nd, dtype, data, seed):
    c = data.draw(configs(nd, dtype), label="config")
    assume(_fits(c))
    x = uniform(seed, (c["n"], c["cin"], *c["size"]))
    w = uniform(seed + 1, (c["cout"], c["cin"], *c["kernel"]))
    b = uniform(seed + 2, (c["cout"],))
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
    cf, tf = (F.conv1d, TF.conv1d) if nd == 1 else (F.conv2d, TF.conv2d)
    _compare(lambda *a: cf(*a, **kw), lambda *a: tf(*a, **kw), [x, w, b], dtype, seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=seeds)
def test_conv_transpose_matches_torch_and_numpy(nd, dtype, data, seed):
    c = data.draw(configs(nd, dtype), label="config")
    opad = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(c["stride"], c["dilation"])
    )
    out = [(n - 1) * s - 2 * p + d * (k - 1) + 1 + o for n, s, p, d, k, o in
           zip(c["size"], c["stride"], c["padding"], c["dilation"], c["kernel"], opad)]  # fmt: skip
    assume(all(o >= 1 for o in out))
    y = uniform(seed, (c["n"], c["cin"], *c["size"]))
    w = uniform(seed + 1, (c["cin"], c["cout"], *c["kernel"]))
    kw = dict(stride=c["stride"], padding=c["padding"], output_padding=opad,
              dilation=c["dilation"])  # fmt: skip
    cf, tf = (
        (F.conv_transpose1d, TF.conv_transpose1d)
        if nd == 1
        else (F.conv_transpose2d, TF.conv_transpose2d)
    )
    _compare(lambda *a: cf(*a, **kw), lambda *a: tf(*a, **kw), [y, w], dtype, seed)


@pytest.mark.parametrize("width", range(1, 30))
def test_every_row_width_the_tiles_split(width):
    # tiles of 4-12 output pixels, the last one's extra pixels repeated and dropped; 40
    # channels: two vectors and a remainder (float32), kernel rows j = 3 * 9 = 27 (12 + 12 + 3)
    x = uniform(width, (2, 3, 5, width + 2)).astype(np.float32)
    w = uniform(width + 1, (40, 3, 3, 3)).astype(np.float32)
    _compare(lambda *a: F.conv2d(*a, padding=(1, 0)), lambda *a: TF.conv2d(*a, padding=(1, 0)),
             [x, w], np.float32, width)  # fmt: skip


@pytest.mark.parametrize(("dtype", "plane"), [(np.float32, (32, 32)), (np.float64, (16, 32))])
def test_output_planes_a_multiple_of_4_kib_apart(dtype, plane):
    # the forward gathers each row of such planes before storing it (conv_fwd's row buffer)
    x = uniform(1, (2, 5, *plane))
    w = uniform(2, (21, 5, 3, 3))
    _compare(lambda *a: F.conv2d(*a, padding=1), lambda *a: TF.conv2d(*a, padding=1),
             [x, w], dtype, 3)  # fmt: skip


@pytest.mark.parametrize("stride", [1, 2])
def test_threads_split_the_batch_and_agree(stride, monkeypatch):
    monkeypatch.setattr(_native, "THREAD_WORK", 1)  # split even these small calls
    x = uniform(0, (7, 20, 9, 9))
    w = uniform(1, (24, 20, 3, 3))

    def run():
        xt, wt = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
        y = F.conv2d(xt, wt, stride=stride, padding=1)
        (y * cr.tensor(uniform(2, y.shape))).sum().backward()
        return y.data, xt.grad.data, wt.grad.data

    one = run()
    with cr.backend.blas_threads(3):
        assert cr.backend.kernel_threads() == 3
        assert _native._batches(7, 10**6) == [(0, 3), (3, 3), (6, 1)]
        three = run()
    assert cr.backend.kernel_threads() == 1
    np.testing.assert_array_equal(three[0], one[0])  # each example on one thread, same sums
    np.testing.assert_array_equal(three[1], one[1])
    np.testing.assert_allclose(three[2], one[2], rtol=1e-12)  # partial sums added per thread


def test_small_calls_stay_on_one_thread():
    with cr.backend.blas_threads(2):
        assert _native._batches(32, _native.THREAD_WORK) == [(0, 32)]
        assert _native._batches(32, 2 * _native.THREAD_WORK) == [(0, 16), (16, 16)]


def _conv_in_a_forked_child(queue):
    x, w = cr.tensor(uniform(0, (4, 3, 8, 8))), cr.tensor(uniform(1, (5, 3, 3, 3)))
    with cr.backend.blas_threads(2):
        queue.put(F.conv2d(x, w).data)


def test_a_forked_child_gets_its_own_thread_pool(monkeypatch):
    # the parent's pool has threads; a child forked from it has none of them
    import multiprocessing

    monkeypatch.setattr(_native, "THREAD_WORK", 1)
    x, w = cr.tensor(uniform(0, (4, 3, 8, 8))), cr.tensor(uniform(1, (5, 3, 3, 3)))
    with cr.backend.blas_threads(2):
        want = F.conv2d(x, w).data
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_conv_in_a_forked_child, args=(queue,))
    child.start()
    try:
        got = queue.get(timeout=30)  # hung forever before: a pool whose threads were not there
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    np.testing.assert_array_equal(got, want)


def test_an_unusable_library_warns_and_numpy_runs(tmp_path):
    import importlib.machinery

    (tmp_path / f"_conv{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"not a library")
    with pytest.warns(UserWarning, match="cannot be used"):
        assert _native._load(tmp_path) is None


def test_environment_variable_turns_them_off():
    code = ("from chainrule.ops import _native; import numpy as np; "
            "a = np.ones((1, 1, 3, 3)); print(_native.built(), _native.usable(a, a))")  # fmt: skip
    env = {**os.environ, "CHAINRULE_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    assert out == ["True", "False"]


def test_other_dtypes_groups_and_mixed_operands_take_numpy():
    a32, a64 = np.ones((1, 2, 3, 3), np.float32), np.ones((1, 2, 3, 3))
    assert _native.usable(a32, a32) and _native.usable(a64, a64)
    assert not _native.usable(a32, a64)
    assert not _native.usable(a64.astype(np.float16), a64.astype(np.float16))
    assert not _native.usable(a64, a64, groups=2)
    assert not _native.usable(a64, a64, nd=3)
    assert not _native.usable(np.ones((0, 2, 3, 3)), a64)
