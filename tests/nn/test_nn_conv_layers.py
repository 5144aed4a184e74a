"""Convolution, pooling, normalisation, dropout and resampling layers against PyTorch: the same
constructor arguments give the same parameter and buffer names and shapes; weights copied
through ``load_state_dict`` give the same outputs and gradients in float64; state_dicts go
back into PyTorch; PyTorch's default initialisation; bad input raises one error naming the
layer, the expected (N, C, H, W) and the shape it got, before any work.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as tnn
from nn_parity import assert_close, compare, copy_weights, float64

import chainrule as cr
from chainrule import nn
from chainrule.errors import ShapeError

RTOL = 1e-7

LAYERS = {
    "Conv1d": ("Conv1d", (3, 4, 3), dict(stride=2, padding=1), (2, 3, 9)),
    "Conv1d_same_reflect": ("Conv1d", (2, 2, 4), dict(padding="same", padding_mode="reflect"),
                            (2, 2, 7)),
    "Conv2d": ("Conv2d", (4, 6, (3, 2)), dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1),
                                              groups=2), (2, 4, 7, 6)),
    "Conv2d_depthwise": ("Conv2d", (3, 6, 3), dict(groups=3, bias=False), (2, 3, 5, 5)),
    "Conv2d_circular": ("Conv2d", (2, 3, 3), dict(padding=1, padding_mode="circular"),
                        (1, 2, 4, 5)),
    "Conv2d_replicate": ("Conv2d", (2, 3, 3), dict(padding=(2, 1), padding_mode="replicate"),
                         (1, 2, 4, 5)),
    "Conv2d_unbatched": ("Conv2d", (2, 3, 3), dict(padding="same"), (2, 5, 5)),
    "ConvTranspose1d": ("ConvTranspose1d", (3, 2, 4), dict(stride=3, padding=1,
                                                           output_padding=2), (2, 3, 5)),
    "ConvTranspose2d": ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1,
                                                           groups=2, dilation=(1, 2)),
                        (2, 4, 4, 3)),
    "MaxPool1d": ("MaxPool1d", (3,), dict(stride=2, padding=1), (2, 3, 8)),
    "MaxPool2d": ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 8, 7)),
    "MaxPool2d_dilated": ("MaxPool2d", (2,), dict(stride=1, dilation=2), (1, 2, 6, 6)),
    "AvgPool1d": ("AvgPool1d", (3,), dict(stride=2, padding=1, count_include_pad=False),
                  (2, 3, 8)),
    "AvgPool2d": ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 8, 7)),
    "AdaptiveAvgPool1d": ("AdaptiveAvgPool1d", (3,), {}, (2, 3, 8)),
    "AdaptiveAvgPool2d": ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    "AdaptiveMaxPool2d": ("AdaptiveMaxPool2d", (3,), {}, (2, 3, 7, 5)),
    "BatchNorm2d": ("BatchNorm2d", (3,), {}, (4, 3, 5, 4)),
    "GroupNorm": ("GroupNorm", (2, 4), {}, (3, 4, 3, 3)),
    "InstanceNorm2d": ("InstanceNorm2d", (3,), dict(affine=True), (2, 3, 4, 4)),
    "InstanceNorm2d_tracked": ("InstanceNorm2d", (3,), dict(track_running_stats=True),
                               (2, 3, 4, 4)),
    "InstanceNorm1d": ("InstanceNorm1d", (3,), {}, (2, 3, 6)),
    "Upsample_nearest": ("Upsample", (), dict(scale_factor=2), (1, 2, 3, 4)),
    "Upsample_bilinear": ("Upsample", (), dict(size=(5, 7), mode="bilinear",
                                               align_corners=True), (1, 2, 3, 4)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_torch(name):
    float64()
    cls, args, kw, shape = LAYERS[name]
    torch.manual_seed(0)
    t = getattr(tnn, cls)(*args, **kw).double()
    m = getattr(nn, cls)(*args, **kw)
    t_state = t.state_dict()
    assert list(m.state_dict()) == list(t_state), "state_dict keys differ"
    for k, v in m.state_dict().items():
        assert tuple(v.shape) == tuple(t_state[k].shape), k
    copy_weights(m, t)
    x = np.random.default_rng(1).standard_normal(shape)
    compare(m, t, x, rtol=RTOL)
    if cls.startswith(("BatchNorm", "InstanceNorm")):  # the running statistics, then eval mode
        for k, v in t.state_dict().items():
            assert_close(m.state_dict()[k], v, RTOL)
        m.eval(), t.eval()
        compare(m, t, x, rtol=RTOL)
    back = getattr(tnn, cls)(*args, **kw).double()  # and the state_dict back into PyTorch
    back.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in m.state_dict().items()})
    for k, v in back.state_dict().items():
        assert_close(m.state_dict()[k], v)


@pytest.mark.parametrize("cls", ["Conv2d", "ConvTranspose2d", "Conv1d"])
def test_conv_default_init_matches_torch_bounds(cls):
    m = getattr(nn, cls)(8, 6, 3, groups=2)
    t = getattr(tnn, cls)(8, 6, 3, groups=2)
    assert m.weight.dtype == np.float32 and m.weight.shape == tuple(t.weight.shape)
    fan_in = t.weight.shape[1] * int(np.prod(t.weight.shape[2:]))
    bound = 1 / np.sqrt(fan_in)
    for p in (m.weight, m.bias):
        a = p.numpy()
        assert np.abs(a).max() <= bound + 1e-7 and np.abs(a).max() > 0.5 * bound
    assert repr(m) == repr(t)


def test_dropout2d_zeros_whole_channels_and_scales():
    cr.manual_seed(0)
    x = cr.ones(64, 8, 3, 3)
    y = nn.Dropout2d(0.25)(x).numpy()
    per_channel = y.reshape(64, 8, 9)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # each map zero or kept whole
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1 / 0.75))}
    assert 0.15 < (per_channel[..., 0] == 0).mean() < 0.35
    m = nn.Dropout1d(0.5).eval()
    assert np.array_equal(m(cr.ones(2, 3, 4)).numpy(), np.ones((2, 3, 4)))


def test_lenet_state_dict_round_trip_with_torch():
    float64()
    torch.manual_seed(0)

    def build(lib):
        return lib.Sequential(
            lib.Conv2d(1, 6, 5, padding=2), lib.BatchNorm2d(6), lib.ReLU(), lib.MaxPool2d(2),
            lib.Conv2d(6, 16, 5), lib.ReLU(), lib.AvgPool2d(2), lib.Flatten(),
            lib.Linear(16 * 5 * 5, 10),
        )  # fmt: skip

    t, m = build(tnn).double(), build(nn)
    copy_weights(m, t)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    compare(m, t, x, rtol=RTOL)


BAD_INPUT = [
    (lambda: nn.Conv2d(3, 8, 3), (2, 28, 28, 1), r"Conv2d\(3, 8.*\(N, 3, H, W\).*\(2, 28, 28, 1\)"),
    (lambda: nn.Conv2d(3, 8, 3), (28, 28), r"Conv2d\(3, 8.*\(N, 3, H, W\).*\(28, 28\)"),
    (lambda: nn.Conv2d(3, 8, 5), (1, 3, 4, 4), r"Conv2d\(3, 8.*kernel size \(5, 5\).*\(4, 4\)"),
    (lambda: nn.Conv1d(2, 4, 3), (1, 3, 10), r"Conv1d\(2, 4.*\(N, 2, L\).*\(1, 3, 10\)"),
    (lambda: nn.MaxPool2d(3), (1, 2, 2, 2), r"MaxPool2d\(kernel_size=3.*\(2, 2\)"),
    (lambda: nn.MaxPool2d(2), (4, 4), r"MaxPool2d.*\(N, C, H, W\).*\(4, 4\)"),
    (lambda: nn.BatchNorm2d(3), (2, 4, 5, 5), r"BatchNorm2d\(3.*\(N, 3, H, W\).*\(2, 4, 5, 5\)"),
    (lambda: nn.GroupNorm(2, 4), (2, 3, 5, 5), r"GroupNorm\(2, 4.*\(N, 4, \*\).*\(2, 3, 5, 5\)"),
    (lambda: nn.ConvTranspose2d(4, 2, 3), (1, 3, 5, 5), r"ConvTranspose2d.*\(N, 4, H, W\)"),
]


@pytest.mark.parametrize("make, shape, pattern", BAD_INPUT)
def test_bad_input_names_layer_expected_and_got(make, shape, pattern):
    layer = make()
    with pytest.raises(ShapeError, match=pattern):
        layer(cr.zeros(*shape))


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: nn.Conv2d(3, 8, 3, stride=0), r"Conv2d: stride must be at least 1"),
        (lambda: nn.Conv2d(3, 8, 3, groups=2), r"Conv2d: groups=2 must divide in_channels=3"),
        (lambda: nn.Conv2d(4, 6, 3, groups=4), r"groups=4 must divide .*out_channels=6"),
        (lambda: nn.Conv2d(1, 2, 3, stride=2, padding="same"), r"'same'.*strided"),
        (lambda: nn.Conv2d(1, 2, 3, padding_mode="mirror"), r"padding_mode"),
        (lambda: nn.MaxPool2d(2, padding=2), r"padding .* at most half"),
        (lambda: nn.GroupNorm(3, 4), r"num_channels=4 .* num_groups=3"),
        (lambda: nn.MaxPool2d(2, stride=0), r"stride must be at least 1"),
    ],
)
def test_bad_settings_raise_value_error_at_construction(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_functional_bad_groups_and_kernel():
    F = cr.nn.functional
    with pytest.raises(ShapeError, match=r"conv2d.*\(N, 4, H, W\).*\(1, 3, 5, 5\)"):
        F.conv2d(cr.zeros(1, 3, 5, 5), cr.zeros(2, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: stride must be at least 1"):
        F.conv2d(cr.zeros(1, 1, 5, 5), cr.zeros(2, 1, 3, 3), stride=0)
