"""Convolution, pooling, resampling and padding (``chainrule.ops.conv`` through ``F``): values
and gradients against PyTorch in float64 over hypothesis-drawn configurations of every
argument, and central finite differences (``cr.gradcheck``) on small ones. Second derivatives
are in test_higher_order.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import seeds, uniform
from torch_ref import check_against_torch

F = cr.nn.functional
RTOL = 1e-7


@st.composite
def conv_configs(draw: st.DrawFn, nd: int) -> dict:
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    if draw(st.booleans()) and all(s == 1 for s in stride):
        padding = draw(st.sampled_from(["same", "valid"]))
    else:
        padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    size = tuple(draw(st.integers(1, 7)) for _ in range(nd))
    return dict(groups=groups, cin=cin, cout=cout, kernel=kernel, stride=stride,
                dilation=dilation, padding=padding, size=size,
                n=draw(st.integers(1, 2)), bias=draw(st.booleans()))  # fmt: skip


def _fits(c: dict) -> bool:
    pads = (0,) * len(c["size"]) if isinstance(c["padding"], str) else c["padding"]
    return all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in
               zip(c["size"], pads, c["dilation"], c["kernel"]))  # fmt: skip


@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_conv_matches_torch(nd, data, seed):
    c = data.draw(conv_configs(nd), label="config")
    assume(_fits(c))
    x = uniform(seed, (c["n"], c["cin"], *c["size"]))
    w = uniform(seed + 1, (c["cout"], c["cin"] // c["groups"], *c["kernel"]))
    b = uniform(seed + 2, (c["cout"],))
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    cf, tf = (F.conv1d, TF.conv1d) if nd == 1 else (F.conv2d, TF.conv2d)
    arrays = [x, w, b] if c["bias"] else [x, w]
    check_against_torch(lambda *a: cf(*a, **kw), lambda *a: tf(*a, **kw), arrays, rtol=RTOL)


@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_conv_transpose_matches_torch(nd, data, seed):
    c = data.draw(conv_configs(nd), label="config")
    pad = tuple(data.draw(st.integers(0, 1)) for _ in range(nd))
    opad = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(c["stride"], c["dilation"])
    )
    out = [(n - 1) * s - 2 * p + d * (k - 1) + 1 + o for n, s, p, d, k, o in
           zip(c["size"], c["stride"], pad, c["dilation"], c["kernel"], opad)]  # fmt: skip
    assume(all(o >= 1 for o in out))
    y = uniform(seed, (c["n"], c["cin"], *c["size"]))
    w = uniform(seed + 1, (c["cin"], c["cout"] // c["groups"], *c["kernel"]))
    b = uniform(seed + 2, (c["cout"],))
    kw = dict(stride=c["stride"], padding=pad, output_padding=opad, groups=c["groups"],
              dilation=c["dilation"])  # fmt: skip
    cf, tf = (
        (F.conv_transpose1d, TF.conv_transpose1d)
        if nd == 1
        else (F.conv_transpose2d, TF.conv_transpose2d)
    )
    arrays = [y, w, b] if c["bias"] else [y, w]
    check_against_torch(lambda *a: cf(*a, **kw), lambda *a: tf(*a, **kw), arrays, rtol=RTOL)


@st.composite
def pool_configs(draw: st.DrawFn, nd: int) -> dict:
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    return dict(
        kernel=kernel,
        stride=draw(st.none() | st.tuples(*[st.integers(1, 3)] * nd)),
        padding=tuple(draw(st.integers(0, k // 2)) for k in kernel),
        dilation=tuple(draw(st.integers(1, 2)) for _ in range(nd)),
        ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()),
        size=tuple(draw(st.integers(3, 7)) for _ in range(nd)),
    )


@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_max_pool_matches_torch(nd, data, seed):
    c = data.draw(pool_configs(nd), label="config")
    assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in
               zip(c["size"], c["padding"], c["dilation"], c["kernel"])))  # fmt: skip
    x = uniform(seed, (2, 3, *c["size"]))
    kw = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"],
              dilation=c["dilation"], ceil_mode=c["ceil_mode"])  # fmt: skip
    cf, tf = (F.max_pool1d, TF.max_pool1d) if nd == 1 else (F.max_pool2d, TF.max_pool2d)
    check_against_torch(lambda a: cf(a, **kw), lambda a: tf(a, **kw), [x], rtol=RTOL)
    _, idx = cf(cr.tensor(x), **kw, return_indices=True)
    _, tidx = tf(torch.tensor(x), **kw, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@pytest.mark.parametrize("nd", [1, 2])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_avg_pool_matches_torch(nd, data, seed):
    c = data.draw(pool_configs(nd), label="config")
    x = uniform(seed, (2, 3, *c["size"]))
    kw = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"],
              ceil_mode=c["ceil_mode"], count_include_pad=c["count_include_pad"])  # fmt: skip
    if nd == 2 and data.draw(st.booleans(), label="divisor_override"):
        kw["divisor_override"] = 3
    cf, tf = (F.avg_pool1d, TF.avg_pool1d) if nd == 1 else (F.avg_pool2d, TF.avg_pool2d)
    check_against_torch(lambda a: cf(a, **kw), lambda a: tf(a, **kw), [x], rtol=RTOL)


@pytest.mark.parametrize("kind", ["avg1", "avg2", "max1", "max2"])
@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=seeds)
def test_adaptive_pools_match_torch(kind, data, seed):
    nd = int(kind[-1])
    size = tuple(data.draw(st.integers(1, 9)) for _ in range(nd))
    out = tuple(data.draw(st.integers(1, 6)) for _ in range(nd))
    x = uniform(seed, (2, 2, *size))
    fn = {"avg1": "adaptive_avg_pool1d", "avg2": "adaptive_avg_pool2d",
          "max1": "adaptive_max_pool1d", "max2": "adaptive_max_pool2d"}[kind]  # fmt: skip
    o = out[0] if nd == 1 else out
    check_against_torch(lambda a: getattr(F, fn)(a, o), lambda a: getattr(TF, fn)(a, o), [x],
                        rtol=RTOL)  # fmt: skip
    if kind.startswith("max"):
        _, idx = getattr(F, fn)(cr.tensor(x), o, return_indices=True)
        _, tidx = getattr(TF, fn)(torch.tensor(x), o, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_unfold_and_fold_match_torch(data, seed):
    kernel = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    kw = dict(
        kernel_size=kernel,
        dilation=data.draw(st.integers(1, 2)),
        padding=data.draw(st.integers(0, 1)),
        stride=data.draw(st.integers(1, 2)),
    )
    size = (data.draw(st.integers(5, 7)), data.draw(st.integers(5, 7)))
    x = uniform(seed, (2, 2, *size))
    check_against_torch(lambda a: F.unfold(a, **kw), lambda a: TF.unfold(a, **kw), [x], rtol=RTOL)
    blocks = TF.unfold(torch.tensor(x), **kw).shape
    cols = uniform(seed + 1, tuple(blocks))
    check_against_torch(lambda a: F.fold(a, size, **kw), lambda a: TF.fold(a, size, **kw), [cols],
                        rtol=RTOL)  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=seeds)
def test_interpolate_matches_torch(data, seed):
    nd = data.draw(st.integers(1, 2))
    mode = data.draw(st.sampled_from(["nearest", "linear" if nd == 1 else "bilinear"]))
    size = tuple(data.draw(st.integers(1, 6)) for _ in range(nd))
    kw: dict = {"mode": mode}
    if mode != "nearest":
        kw["align_corners"] = data.draw(st.booleans())
    if data.draw(st.booleans()):
        kw["size"] = tuple(data.draw(st.integers(1, 9)) for _ in range(nd))
    else:
        kw["scale_factor"] = data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.7, 3.0]))
        assume(all(int(n * kw["scale_factor"]) >= 1 for n in size))
    x = uniform(seed, (2, 2, *size))
    check_against_torch(lambda a: F.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), [x],
                        rtol=RTOL)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_pad_matches_torch(data, seed):
    mode = data.draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    nd = data.draw(st.integers(1, 2))
    size = tuple(data.draw(st.integers(2, 5)) for _ in range(nd))
    limit = min(size) - 1 if mode == "reflect" else min(size)
    pads = tuple(data.draw(st.integers(0, limit)) for _ in range(2 * nd))
    x = uniform(seed, (2, 2, *size))
    kw = {"value": 1.5} if mode == "constant" else {}
    check_against_torch(lambda a: F.pad(a, pads, mode, **kw),
                        lambda a: TF.pad(a, pads, mode, **kw), [x], rtol=RTOL)  # fmt: skip


# ---------------------------------------------------------------------------- finite differences
GRADCHECKS = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2),
                                        groups=2), [(2, 4, 5, 6), (4, 2, 2, 3), (4,)]),
    "conv1d_same": (lambda x, w: F.conv1d(x, w, padding="same"), [(1, 2, 6), (3, 2, 4)]),
    "conv_transpose2d": (lambda y, w, b: F.conv_transpose2d(y, w, b, stride=2, padding=1,
                                                            output_padding=1),
                         [(2, 3, 3, 2), (3, 2, 3, 3), (2,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(1, 2, 5, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(1, 2, 5, 6)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 7)]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 7)]),
    "unfold": (lambda x: F.unfold(x, 2, stride=2, padding=1), [(1, 2, 4, 5)]),
    "fold": (lambda c: F.fold(c, (4, 5), 2, padding=1), [(1, 8, 30)]),
    "bilinear": (lambda x: F.interpolate(x, size=(5, 3), mode="bilinear"), [(1, 2, 3, 4)]),
    "nearest": (lambda x: F.interpolate(x, scale_factor=2), [(1, 2, 3, 2)]),
    "pad_circular": (lambda x: F.pad(x, (1, 2, 0, 1), mode="circular"), [(1, 1, 3, 3)]),
    "group_norm": (lambda x: F.group_norm(x, 2), [(2, 4, 3, 3)]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck(name):
    fn, shapes = GRADCHECKS[name]
    arrays = [uniform(17 + i, s) for i, s in enumerate(shapes)]
    assert cr.gradcheck(fn, arrays)


# ---------------------------------------------------------------------------- the adjoint pairs
@pytest.mark.parametrize(
    "forward, adjoint",
    [("unfold", "fold"), ("window_sum", "window_sum_adjoint"), ("take_flat", "put_flat")],
)
def test_adjoint_pairs(forward, adjoint):
    """<A x, y> = <x, Aᵀ y> for each linear op and the one its gradient calls."""
    from chainrule.ops import conv as C

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6))
    p = dict(kernel=(2, 3), stride=(2, 1), padding=((1, 1), (0, 0)))
    if forward == "take_flat":
        idx = rng.integers(0, x.size, size=(4, 7))
        ax = C.take_flat(cr.tensor(x), idx).numpy()
        y = rng.standard_normal(ax.shape)
        aty = C.put_flat(cr.tensor(y), idx, x.shape).numpy()
    else:
        if forward == "unfold":
            p["dilation"] = (1, 1)
        ax = getattr(C, forward)(cr.tensor(x), **p).numpy()
        y = rng.standard_normal(ax.shape)
        aty = getattr(C, adjoint)(cr.tensor(y), x.shape[2:], **p).numpy()
    np.testing.assert_allclose((ax * y).sum(), (x * aty).sum(), rtol=1e-10)
