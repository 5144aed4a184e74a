"""The fast kernels behind the convolution and pooling ops agree with PyTorch (float64) on the
shapes that take them: the stride-1 shift-sum convolution (``ops._conv_shift``: the forward,
the input's gradient as the flipped kernel's convolution or scattered, the kernel's gradient)
against torch with many channels, negative effective padding and dilation, each forced on for
every channel count; the disjoint-window max pool's reshape path, ties and NaN included.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import _conv_shift, _native
from chainrule.ops import pooling as block_pool
from strategies import seeds, uniform
from torch_ref import assert_close, check_against_torch, hvp

F = cr.nn.functional
RTOL = 1e-7


@pytest.fixture(autouse=True)
def numpy_formulation():
    """These are the NumPy formulation's paths: the native kernels (test_conv_native.py) off."""
    with _native.disabled():
        yield


@st.composite
def stride1_configs(draw: st.DrawFn, nd: int) -> dict:
    return dict(
        cin=draw(st.integers(1, 10)),
        cout=draw(st.integers(1, 9)),
        kernel=tuple(draw(st.integers(1, 4)) for _ in range(nd)),
        dilation=tuple(draw(st.integers(1, 2)) for _ in range(nd)),
        padding=tuple(draw(st.integers(0, 3)) for _ in range(nd)),
        size=tuple(draw(st.integers(1, 8)) for _ in range(nd)),
        n=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
    )


@contextlib.contextmanager
def threshold(mode: str):
    """The "shipped" settings (the drawn 1-10 channels take im2col, the shift-sums and the
    scatter), or the forward's shift-sum forced on ("gather": the transposed convolution as
    the flipped kernel's convolution) or off ("scatter") for every channel count, with the
    kernel gradient's and the scatter's products cut into blocks of 5 columns (so small
    shapes exercise the blocks; the forward's too)."""
    s = _conv_shift
    names = ("MIN_CHANNELS", "column_block", "scatter_block", "forward_block", "forward_pays",
             "weight_pays")  # fmt: skip
    saved = [getattr(s, n) for n in names]
    if mode != "shipped":
        s.MIN_CHANNELS = 1 if mode == "gather" else 10**9
        s.column_block = s.forward_block = lambda o, c, cols: 5
        s.scatter_block = lambda rows: 5
        s.forward_pays = lambda c, o, n, size: True
        s.weight_pays = lambda c, o, offsets=1: True
    try:
        yield
    finally:
        for n, v in zip(names, saved):
            setattr(s, n, v)


def _check(c: dict, seed: int, transpose: bool, mode: str) -> None:
    """chainrule's conv (or conv_transpose) on config ``c`` against torch's."""
    nd = len(c["size"])
    wshape = (c["cin"], c["cout"]) if transpose else (c["cout"], c["cin"])
    x = uniform(seed, (c["n"], c["cin"], *c["size"]))
    w = uniform(seed + 1, (*wshape, *c["kernel"]))
    b = uniform(seed + 2, (c["cout"],))
    kw = dict(padding=c["padding"], dilation=c["dilation"])
    name = f"conv_transpose{nd}d" if transpose else f"conv{nd}d"
    cf, tf = getattr(F, name), getattr(TF, name)
    arrays = [x, w, b] if c["bias"] else [x, w]
    with threshold(mode):
        check_against_torch(lambda *a: cf(*a, **kw), lambda *a: tf(*a, **kw), arrays, rtol=RTOL)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("mode", ["shipped", "gather", "scatter"])
@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=seeds)
def test_stride1_conv_matches_torch(transpose, mode, nd, data, seed):
    c = data.draw(stride1_configs(nd), label="config")
    # at least one output position per axis: n + 2p - d (k - 1), or n - 2p + d (k - 1)
    # transposed (padding past d (k - 1): the flipped kernel crops)
    sign = -1 if transpose else 1
    assume(all(n + sign * (2 * p - d * (k - 1)) >= 1 for n, p, d, k in
               zip(c["size"], c["padding"], c["dilation"], c["kernel"])))  # fmt: skip
    _check(c, seed, transpose=transpose, mode=mode)


def test_shift_kernel_runs_in_float32_and_is_taken():
    """With 8+ channels the shift-sum kernel is used, and float32 stays float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 6, 5)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    assert _conv_shift.usable(x, 8, (1, 1), 1, (6, 5))
    assert _conv_shift.forward_pays(8, 8, 2, (6, 5)) and _conv_shift.weight_pays(8, 8)
    assert not _conv_shift.forward_pays(32, 64, 128, (14, 14))  # im2col's longer products win
    assert not _conv_shift.weight_pays(32, 64)
    assert _conv_shift.weight_pays(1, 16, 9) and not _conv_shift.weight_pays(1, 6, 25)
    assert not _conv_shift.usable(x, 4, (1, 1), 1, (6, 5))  # few output channels: im2col
    assert _conv_shift.usable(x, 4, (1, 1), 1, (6, 5), thin=True)
    assert not _conv_shift.usable(x, 8, (2, 1), 1, (3, 5))
    assert not _conv_shift.usable(x, 8, (1, 1), 2, (6, 5))
    tx = cr.tensor(x, requires_grad=True)
    tw = cr.tensor(w, requires_grad=True)
    y = F.conv2d(tx, tw, padding=1)
    y.sum().backward()
    assert y.dtype == np.float32 and tx.grad.dtype == np.float32 and tw.grad.dtype == np.float32
    ref = TF.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                    padding=1)  # fmt: skip
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=seeds)
def test_disjoint_max_pool_matches_torch_ties_included(nd, data, seed):
    """kernel = stride: the block_max path, on values with many ties (a ReLU's zeros), sizes
    that leave trailing rows out, and ceil_mode where it adds no window."""
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    size = tuple(data.draw(st.integers(k, 3 * k + 1)) for k in kernel)
    ceil = data.draw(st.booleans()) and all(n % k == 0 for n, k in zip(size, kernel))
    assert block_pool.blocks(kernel, kernel, (0,) * nd, (1,) * nd, ceil, size)
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.integers(-2, 3, (2, 3, *size)), 0).astype(np.float64)
    if data.draw(st.booleans()):
        x = x + uniform(seed, x.shape) * 1e-3  # and without ties
    cf, tf = (F.max_pool1d, TF.max_pool1d) if nd == 1 else (F.max_pool2d, TF.max_pool2d)
    calls = []
    real = block_pool.block_max

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    block_pool.block_max = spy
    try:
        check_against_torch(lambda a: cf(a, kernel, ceil_mode=ceil),
                            lambda a: tf(a, kernel, ceil_mode=ceil), [x], rtol=RTOL)  # fmt: skip
    finally:
        block_pool.block_max = real
    assert calls, "the disjoint-window path was not taken"


def test_disjoint_max_pool_nan_and_second_derivative():
    """NaN wins its window (as the general path's argmax and PyTorch's kernel), the gradient
    passes central finite differences, and the create_graph rule gives PyTorch's
    Hessian-vector product."""
    x = uniform(3, (1, 2, 4, 5))
    x[0, 1, 2, 3] = np.nan
    y = F.max_pool2d(cr.tensor(x, requires_grad=True), 2)
    ty = TF.max_pool2d(torch.tensor(x), 2)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    xt = cr.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    assert xt.grad.numpy()[0, 1, 2, 3] == 1 and xt.grad.numpy()[0, 1].sum() == 4
    z = uniform(4, (1, 2, 5, 7))
    assert cr.gradcheck(lambda a: F.max_pool2d(a, (2, 3)) ** 3, [cr.tensor(z)])
    g_cr, h_cr = hvp(lambda a: F.max_pool2d(a, 2) ** 3, cr, [z])
    g_t, h_t = hvp(lambda a: TF.max_pool2d(a, 2) ** 3, torch, [z])
    assert_close(g_cr[0], g_t[0])
    assert_close(h_cr[0], h_t[0])


def test_reused_scratch_grids_start_clean():
    """The shift kernels reuse their scratch grids: a 5x5 input with padding 1 and a 3x3 one
    with padding 2 make grids of one shape holding the input at different places; each
    convolution (forward, input and kernel gradients) still matches PyTorch."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 8, 3, 3))
    for side, pad in [(5, 1), (3, 2), (5, 1), (3, 2)]:
        x = rng.standard_normal((2, 8, side, side))
        xt, wt = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        y, ty = F.conv2d(xt, wt, padding=pad), TF.conv2d(tx, tw, padding=pad)
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        for a, b in [(y, ty), (xt.grad, tx.grad), (wt.grad, tw.grad)]:
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel", [(2, 3, 2), (1, 2, 3), (3, 1, 1)])
def test_block_max_forward_in_two_steps_matches_window_max(kernel):
    # rows first (every offset but the last axis's), then the last axis's offsets
    rng = np.random.default_rng(sum(kernel))
    x = rng.integers(-2, 3, (2, 3, 7, 8, 9)).astype(np.float32)
    x[0, 0, 0, 0, 0] = np.nan
    lsize = [m // k for m, k in zip(x.shape[2:], kernel)]
    crop = x[:, :, : lsize[0] * kernel[0], : lsize[1] * kernel[1], : lsize[2] * kernel[2]]
    win = crop.reshape(2, 3, lsize[0], kernel[0], lsize[1], kernel[1], lsize[2], kernel[2])
    want = win.max(axis=(3, 5, 7))  # NaN propagates, as np.maximum
    got = block_pool.block_max.forward(x, kernel=kernel)
    np.testing.assert_array_equal(got, want)
    assert got.flags.c_contiguous and not np.shares_memory(got, x)
