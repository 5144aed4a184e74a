"""The convolution's column kernels agree with PyTorch (float64, 1e-7) and finite differences
on the shapes that take them: the channels-last rows (``ops._conv_lastcols``: forward, kernel
gradient, and the stride-1 input gradient as the flipped kernel's convolution) and im2col's
columns made a chunk of examples at a time, each forced on for every drawn configuration with
one example per chunk, so that chunk edges are crossed; and the selection rules pick them
where they were measured faster.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops import _conv_lastcols, _conv_shift, _native
from chainrule.ops import conv as conv_ops
from strategies import seeds, uniform
from torch_ref import check_against_torch

F = cr.nn.functional
RTOL = 1e-7


@pytest.fixture(autouse=True)
def numpy_formulation():
    """These are the NumPy formulation's paths: the native kernels (test_conv_native.py) off."""
    with _native.disabled():
        yield


@contextlib.contextmanager
def forced(path: str):
    """Every convolution the rows can take goes through them ("rows"; the stride-1 transposed
    convolution as the flipped kernel's), or none and no shift-sum forward or gather either
    ("columns": im2col, and col2im or the scatter); one example per chunk either way."""
    saved = [(m, n, getattr(m, n)) for m, n in [
        (_conv_lastcols, "LAST_RUN"), (_conv_lastcols, "WIDE_RUN"),
        (_conv_lastcols, "CHUNK_ELEMENTS"), (conv_ops, "CHUNK_ELEMENTS"),
        (_conv_shift, "MIN_CHANNELS"), (_conv_shift, "weight_pays")]]  # fmt: skip
    _conv_lastcols.CHUNK_ELEMENTS = conv_ops.CHUNK_ELEMENTS = 1
    if path == "rows":  # the rows before the shift-sums, the gather (stride 1) included
        _conv_lastcols.LAST_RUN = _conv_lastcols.WIDE_RUN = _conv_shift.MIN_CHANNELS = 1
    else:
        _conv_lastcols.LAST_RUN = _conv_shift.MIN_CHANNELS = 10**9
    _conv_shift.weight_pays = lambda c, o, offsets=1: False
    try:
        yield
    finally:
        for m, n, v in saved:
            setattr(m, n, v)


@st.composite
def configs(draw: st.DrawFn, nd: int, transpose: bool) -> dict:
    groups = 1 if transpose else draw(st.sampled_from([1, 1, 2]))
    return dict(
        cin=groups * draw(st.integers(1, 4)),
        cout=groups * draw(st.integers(1, 4)),
        groups=groups,
        kernel=tuple(draw(st.integers(1, 4)) for _ in range(nd)),
        stride=(1,) * nd if transpose else tuple(draw(st.integers(1, 3)) for _ in range(nd)),
        # the rows need no dilation along the last axis; the first axis may have it
        dilation=(*(draw(st.integers(1, 2)) for _ in range(nd - 1)), draw(st.integers(1, 2))),
        padding=tuple(draw(st.integers(0, 2)) for _ in range(nd)),
        size=tuple(draw(st.integers(1, 7)) for _ in range(nd)),
        n=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
    )


def _check(c: dict, seed: int, transpose: bool) -> None:
    nd = len(c["size"])
    wshape = (c["cin"], c["cout"]) if transpose else (c["cout"], c["cin"] // c["groups"])
    x = uniform(seed, (c["n"], c["cin"], *c["size"]))
    w = uniform(seed + 1, (*wshape, *c["kernel"]))
    b = uniform(seed + 2, (c["cout"],))
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
    if not transpose:
        kw["groups"] = c["groups"]
    name = f"conv_transpose{nd}d" if transpose else f"conv{nd}d"
    cf, tf = getattr(F, name), getattr(TF, name)
    arrays = [x, w, b] if c["bias"] else [x, w]
    check_against_torch(lambda *a: cf(*a, **kw), lambda *a: tf(*a, **kw), arrays, rtol=RTOL)


@pytest.mark.parametrize("path", ["rows", "columns"])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=seeds)
def test_column_kernels_match_torch(path, transpose, nd, data, seed):
    c = data.draw(configs(nd, transpose), label="config")
    sign = -1 if transpose else 1  # at least one output position per axis
    assume(all(m + sign * (2 * p - d * (k - 1)) >= 1 for m, p, d, k in
               zip(c["size"], c["padding"], c["dilation"], c["kernel"])))  # fmt: skip
    with forced(path):
        _check(c, seed, transpose)


@pytest.mark.parametrize("path", ["rows", "columns"])
def test_column_kernels_against_finite_differences(path):
    x, w, b = uniform(5, (3, 2, 6, 5)), uniform(6, (3, 2, 3, 2)), uniform(7, (3,))
    with forced(path):
        assert cr.gradcheck(lambda *a: F.conv2d(*a, stride=(2, 1), padding=1), [x, w, b])
        assert cr.gradcheck(lambda *a: F.conv2d(*a, padding=(2, 1), dilation=(2, 1)), [x, w, b])
        # the transposed convolution's input gradient is the convolution itself
        y, wt = uniform(8, (2, 3, 4, 5)), uniform(9, (3, 2, 3, 3))
        assert cr.gradcheck(lambda *a: F.conv_transpose2d(*a, padding=1), [y, wt])


def _spy(monkeypatch, module, name: str) -> list:
    calls: list = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(name) or real(*a, **k))
    return calls


@pytest.mark.parametrize(
    "n, c, o, side, k, stride, rows_forward, rows_weight",
    [
        (2, 6, 16, 14, 5, 1, True, True),  # LeNet-5's second layer: 30-element runs, 5x5
        (2, 8, 8, 12, 5, 1, False, False),  # 5x5 to 8 channels: the shift-sums
        (2, 1, 6, 28, 5, 1, False, False),  # its first: 5-element runs, im2col
        (2, 16, 32, 9, 3, 2, True, True),  # strided: the rows for the kernel gradient too
        (2, 32, 32, 8, 3, 1, True, False),  # wide: the rows beat the shift-sum forward
        (2, 16, 16, 8, 3, 1, False, False),  # 16 channels, stride 1: the shift-sums
    ],
)
def test_rows_taken_where_measured_faster(
    monkeypatch, n, c, o, side, k, stride, rows_forward, rows_weight
):
    forward = _spy(monkeypatch, _conv_lastcols, "conv")
    weight = _spy(monkeypatch, _conv_lastcols, "conv_weight")
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((n, c, side, side)).astype(np.float32), requires_grad=True)
    w = cr.tensor(rng.standard_normal((o, c, k, k)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, stride=stride, padding=k // 2)
    assert y.dtype == np.float32
    assert bool(forward) == rows_forward
    y.sum().backward()
    assert bool(weight) == rows_weight
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


@pytest.mark.parametrize("nd, shape", [(1, (3, 2, 7)), (2, (2, 3, 4, 5)), (2, (3, 4, 5))])
def test_global_average_pooling_is_one_mean_matching_torch(nd, shape):
    # output size 1 on every axis takes the mean over the spatial axes, not the matrices
    x = np.random.default_rng(nd + len(shape)).standard_normal(shape)
    fn = f"adaptive_avg_pool{nd}d"
    check_against_torch(lambda a: getattr(F, fn)(a, 1), lambda a: getattr(TF, fn)(a, 1), [x],
                        rtol=RTOL)  # fmt: skip
    assert cr.gradcheck(lambda a: getattr(F, fn)(a, 1), [x])
    y = getattr(F, fn)(cr.tensor(x, requires_grad=True), 1)
    assert y.shape == (*shape[:-nd], *(1,) * nd)
    node = y._node if len(shape) == nd + 2 else y._node.parents[0]  # unbatched: squeezed
    assert node.prim.name == "mean"


def test_rows_from_planes_a_multiple_of_4_kib_match_torch(monkeypatch):
    # 8 channels of 16x32 float64 planes (4 KiB apart): copied to padded planes before the
    # channels-last transposition; the forward, input and kernel gradients still PyTorch's
    shapes: list = []
    real = _conv_lastcols._take
    monkeypatch.setattr(_conv_lastcols, "_take", lambda s, *a: shapes.append(s) or real(s, *a))
    x, w, b = uniform(11, (2, 8, 16, 32)), uniform(12, (4, 8, 3, 3)), uniform(13, (4,))
    kw = dict(stride=2, padding=1)
    check_against_torch(lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw),
                        [x, w, b], rtol=RTOL)  # fmt: skip
    assert shapes.count((2, 8, 16 * 32 + 16)) == 2  # the padded planes: forward, kernel gradient


def test_small_inputs_are_padded_once_for_all_chunks(monkeypatch):
    x = np.arange(2 * 1 * 3 * 3, dtype=np.float64).reshape(2, 1, 3, 3)
    xs, pads, chunks = conv_ops._chunks(x, ((1, 1), (2, 0)), (2, 2), (4, 3))
    assert xs.shape == (2, 1, 5, 5) and pads == ((0, 0), (0, 0))
    np.testing.assert_array_equal(xs[:, :, 1:4, 2:5], x)
    assert xs.sum() == x.sum() and chunks == [(0, 2)]
    monkeypatch.setattr(conv_ops, "CHUNK_ELEMENTS", 8)  # larger than this: padded per chunk
    xs, pads, chunks = conv_ops._chunks(x, ((1, 1), (2, 0)), (2, 2), (4, 3))
    assert xs is x and pads == ((1, 1), (2, 0)) and chunks == [(0, 1), (1, 1)]
