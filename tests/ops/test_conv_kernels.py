"""The fast kernels behind the convolution and pooling ops agree with PyTorch (float64) on the
shapes that take them: the stride-1 shift-sum convolution (``ops._conv_shift``: the forward,
the input's gradient as a convolution with the flipped kernel, the kernel's gradient) against
torch with many channels, negative effective padding and dilation, and forced on for every
channel count; the 2x2 / stride-2 max pool's reshape path, ties included.
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
from chainrule.ops import _conv_shift
from strategies import seeds, uniform
from torch_ref import check_against_torch

F = cr.nn.functional
RTOL = 1e-7


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
def threshold(forced: bool):
    """The shipped channel threshold, or the shift kernel forced on for every channel count
    (so the small drawn shapes exercise it)."""
    saved = _conv_shift.MIN_CHANNELS
    _conv_shift.MIN_CHANNELS = 1 if forced else saved
    try:
        yield
    finally:
        _conv_shift.MIN_CHANNELS = saved


def _check(c: dict, seed: int, transpose: bool, forced: bool) -> None:
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
    with threshold(forced):
        check_against_torch(lambda *a: cf(*a, **kw), lambda *a: tf(*a, **kw), arrays, rtol=RTOL)


@pytest.mark.parametrize("forced", [False, True])
@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=seeds)
def test_stride1_conv_matches_torch(forced, nd, data, seed):
    c = data.draw(stride1_configs(nd), label="config")
    assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in
               zip(c["size"], c["padding"], c["dilation"], c["kernel"])))  # fmt: skip
    _check(c, seed, transpose=False, forced=forced)


@pytest.mark.parametrize("forced", [False, True])
@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=seeds)
def test_stride1_conv_transpose_matches_torch(forced, nd, data, seed):
    c = data.draw(stride1_configs(nd), label="config")
    out = [n - 1 - 2 * p + d * (k - 1) + 1 for n, p, d, k in
           zip(c["size"], c["padding"], c["dilation"], c["kernel"])]  # fmt: skip
    assume(all(o >= 1 for o in out))  # padding past d (k - 1): the flipped kernel crops
    _check(c, seed, transpose=True, forced=forced)


def test_shift_kernel_runs_in_float32_and_is_taken():
    """With 8+ channels the shift-sum kernel is used, and float32 stays float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    assert _conv_shift.usable(x, w.shape, (1, 1), 1, (6, 5))
    assert not _conv_shift.usable(x, w.shape, (2, 1), 1, (3, 5))
    assert not _conv_shift.usable(x, w.shape, (1, 1), 2, (6, 5))
    tx = cr.tensor(x, requires_grad=True)
    tw = cr.tensor(w, requires_grad=True)
    y = F.conv2d(tx, tw, padding=1)
    y.sum().backward()
    assert y.dtype == np.float32 and tx.grad.dtype == np.float32 and tw.grad.dtype == np.float32
    ref = TF.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                    padding=1)  # fmt: skip
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)
