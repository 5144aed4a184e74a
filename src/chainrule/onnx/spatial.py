"""The spatial layers' export: convolutions, pooling, instance and group normalisation,
``Unflatten`` and ``Upsample``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn
from chainrule.errors import ExportError
from chainrule.tensor import Tensor

# ---------------------------------------------------------------------------- spatial layers
_CONV = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
_SPATIAL = (*_CONV, *_POOL, *_ADAPTIVE, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.GroupNorm,
            nn.Unflatten, nn.Upsample)  # fmt: skip
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _ints(v: Any, nd: int) -> list[int]:
    return [int(v)] * nd if isinstance(v, (int, np.integer)) else [int(i) for i in v]


def _spatial(g: Any, m: Any, kind: type, prefix: str, where: str, x: str, value: Tensor) -> str:
    """The ONNX nodes of a convolution, pooling, normalisation or resampling layer."""
    nd = value.ndim - 2
    if kind in _CONV:
        w = g.const(prefix + "weight", m.weight.data)
        inputs = [x, w] + ([] if m.bias is None else [g.const(prefix + "bias", m.bias.data)])
        attrs: dict[str, Any] = dict(kernel_shape=list(m.kernel_size), strides=list(m.stride),
                                     dilations=list(m.dilation), group=int(m.groups))  # fmt: skip
        if kind in (nn.ConvTranspose1d, nn.ConvTranspose2d):
            p = list(m.padding)
            return g.node("ConvTranspose", inputs, where, pads=p + p,
                          output_padding=list(m.output_padding), **attrs)  # fmt: skip
        if isinstance(m.padding, str):
            total = [0] * nd if m.padding == "valid" else [
                d * (k - 1) for k, d in zip(m.kernel_size, m.dilation)]  # fmt: skip
            lo, hi = [t // 2 for t in total], [t - t // 2 for t in total]
        else:
            lo = hi = list(m.padding)
        if m.padding_mode != "zeros":
            if m.padding_mode == "circular" and g.opset < 19:
                raise ExportError(f"cannot export {where[1:]!r}: circular padding needs opset 19")
            pads = g.const(prefix + "pads", [0, 0, *lo, 0, 0, *hi], np.int64)
            inputs[0] = g.node("Pad", [x, pads], where, mode=_PAD_MODES[m.padding_mode])
            lo = hi = [0] * nd
        return g.node("Conv", inputs, where, pads=lo + hi, **attrs)
    if kind in _POOL:
        k = _ints(m.kernel_size, nd)
        st = _ints(m.stride, nd)
        p = _ints(m.padding, nd)
        attrs = dict(kernel_shape=k, strides=st, pads=p + p, ceil_mode=int(m.ceil_mode))
        if kind in (nn.MaxPool1d, nn.MaxPool2d):
            if m.return_indices:
                raise ExportError(f"cannot export {where[1:]!r}: return_indices=True")
            return g.node("MaxPool", [x], where, dilations=_ints(m.dilation, nd), **attrs)
        if getattr(m, "divisor_override", None):
            raise ExportError(f"cannot export {where[1:]!r}: divisor_override has no ONNX form")
        return g.node("AveragePool", [x], where, count_include_pad=int(m.count_include_pad),
                      **attrs)  # fmt: skip
    if kind in _ADAPTIVE:
        is_max = kind in (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
        size = _ints(m.output_size, nd) if m.output_size is not None else list(value.shape[2:])
        size = [n if s is None else s for s, n in zip(size, value.shape[2:])]
        if all(s == 1 for s in size):
            return g.node("GlobalMaxPool" if is_max else "GlobalAveragePool", [x], where)
        if any(n % s for n, s in zip(value.shape[2:], size)):
            raise ExportError(f"cannot export {where[1:]!r}: output size {size} does not tile "
                              f"the input {tuple(value.shape[2:])}")  # fmt: skip
        k = [n // s for n, s in zip(value.shape[2:], size)]
        return g.node("MaxPool" if is_max else "AveragePool", [x], where, kernel_shape=k,
                      strides=k)  # fmt: skip
    if kind in (nn.InstanceNorm1d, nn.InstanceNorm2d):
        if m.track_running_stats:
            raise ExportError(f"cannot export {where[1:]!r}: track_running_stats=True")
        c = m.num_features
        scale = m.weight.data if m.weight is not None else np.ones(c)
        bias = m.bias.data if m.bias is not None else np.zeros(c)
        return g.node("InstanceNormalization", [x, g.const(prefix + "weight", scale),
                      g.const(prefix + "bias", bias)], where, epsilon=float(m.eps))  # fmt: skip
    if kind is nn.GroupNorm:
        grouped = g.node("Reshape", [x, g.const(prefix + "groups", [0, m.num_groups, -1],
                                                np.int64)], where)  # fmt: skip
        ones = g.const(prefix + "ones", np.ones(m.num_groups))
        zeros = g.const(prefix + "zeros", np.zeros(m.num_groups))
        normed = g.node("InstanceNormalization", [grouped, ones, zeros], where,
                        epsilon=float(m.eps))  # fmt: skip
        shape = g.node("Shape", [x], where)
        y = g.node("Reshape", [normed, shape], where)
        if m.weight is not None:
            bshape = (m.num_channels, *(1,) * nd)
            y = g.node("Mul", [y, g.const(prefix + "weight", m.weight.data.reshape(bshape))], where)
            y = g.node("Add", [y, g.const(prefix + "bias", m.bias.data.reshape(bshape))], where)
        return y
    if kind is nn.Unflatten:
        d = m.dim % value.ndim
        shape = [0] * d + list(m.unflattened_size) + [0] * (value.ndim - d - 1)
        return g.node("Reshape", [x, g.const(prefix + "shape", shape, np.int64)], where)
    # Upsample: Resize to the sizes chainrule gives, the batch and channel axes kept
    out = m(value)
    lead = g.node("Slice", [g.node("Shape", [x], where), g.const(f"{where[1:]}.start", [0],
                  np.int64), g.const(f"{where[1:]}.stop", [2], np.int64)], where)  # fmt: skip
    sizes = g.node("Concat", [lead, g.const(f"{where[1:]}.sizes", list(out.shape[2:]), np.int64)],
                   where, axis=0)  # fmt: skip
    if m.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")  # fmt: skip
        if m.scale_factor is not None and not m.recompute_scale_factor:
            scales = [1.0, 1.0, *(_floats(m.scale_factor, nd))]
            return g.node("Resize", [x, "", g.const(f"{where[1:]}.scales", scales, np.float32)],
                          where, **attrs)  # fmt: skip
    else:
        if m.scale_factor is not None and not m.recompute_scale_factor and not m.align_corners:
            raise ExportError(f"cannot export {where[1:]!r}: a linear Upsample by scale_factor "
                              "without align_corners; give size")  # fmt: skip
        ctm = "align_corners" if m.align_corners else "pytorch_half_pixel"
        attrs = dict(mode="linear", coordinate_transformation_mode=ctm)
    return g.node("Resize", [x, "", "", sizes], where, **attrs)


def _floats(v: Any, nd: int) -> list[float]:
    return [float(v)] * nd if isinstance(v, (int, float)) else [float(i) for i in v]
