"""Pooling and resampling layers with PyTorch's names, arguments and defaults: ``MaxPool1d/2d``,
``AvgPool1d/2d``, ``AdaptiveAvgPool1d/2d``, ``AdaptiveMaxPool1d/2d``, ``Upsample``, and the
channel dropouts ``Dropout1d/2d``. None has parameters.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn import _spatial as S
from chainrule.nn.layers import _DropoutNd
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class _MaxPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:  # fmt: skip
        super().__init__()
        name, nd = type(self).__name__, self._nd
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        S._pool_args(name, nd, kernel_size, stride, padding, dilation)  # fail here, not later

    def forward(self, input: Tensor) -> Any:
        return S.max_pooling(
            repr(self),
            input,
            self._nd,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of (N, C, L); ``stride`` defaults to ``kernel_size``."""

    _nd = 1


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of (N, C, H, W) -> (N, C, H_out, W_out); ``stride`` defaults to
    ``kernel_size``. The gradient goes to the position that won each window. Raises
    :class:`~chainrule.errors.ShapeError` naming the layer for input that is not (N, C, H, W)
    or smaller than the window.

    >>> import chainrule as cr
    >>> cr.nn.MaxPool2d(2)(cr.randn(1, 3, 28, 28)).shape
    (1, 3, 14, 14)
    """

    _nd = 2


class _AvgPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        S._pool_args(type(self).__name__, self._nd, kernel_size, stride, padding, 1)

    def forward(self, input: Tensor) -> Tensor:
        return S.avg_pooling(repr(self), input, self._nd, self.kernel_size, self.stride,
                             self.padding, self.ceil_mode, self.count_include_pad,
                             self.divisor_override)  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over sliding windows of (N, C, L)."""

    _nd = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:  # fmt: skip
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over sliding windows of (N, C, H, W); ``count_include_pad`` counts the zero padding
    toward each window's size, ``divisor_override`` replaces that size."""

    _nd = 2


class _AdaptivePool(Module):
    _nd = 2
    _max = False

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        if self._max:
            return S.adaptive_max_pooling(repr(self), input, self._nd, self.output_size,
                                          self.return_indices)  # fmt: skip
        return S.adaptive_avg_pooling(repr(self), input, self._nd, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """Average (N, C, L) down to (N, C, output_size) with windows that tile the input."""

    _nd = 1

    def __init__(self, output_size: Any) -> None:
        super().__init__(output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average (N, C, H, W) down to (N, C, *output_size); ``AdaptiveAvgPool2d(1)`` is global
    average pooling.

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveAvgPool2d(1)(cr.randn(2, 8, 7, 7)).shape
    (2, 8, 1, 1)
    """

    _nd = 2

    def __init__(self, output_size: Any) -> None:
        super().__init__(output_size)


class AdaptiveMaxPool1d(_AdaptivePool):
    """Max over adaptive windows of (N, C, L) -> (N, C, output_size)."""

    _nd = 1
    _max = True


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max over adaptive windows of (N, C, H, W) -> (N, C, *output_size)."""

    _nd = 2
    _max = True


class Upsample(Module):
    """Resample (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``: 'nearest',
    'linear' or 'bilinear' (see :func:`chainrule.nn.functional.interpolate`)."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:  # fmt: skip
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, int) else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return S.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)  # fmt: skip

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class _ChannelDropout(_DropoutNd):
    """Dropout1d/2d: whole channels are zeroed instead of single elements."""

    _nd = 2

    def forward(self, input: Tensor) -> Tensor:
        return S.channel_dropout(repr(self), input, self.p, self.training, self._nd)


class Dropout1d(_ChannelDropout):
    """In training, zero whole channels of (N, C, L) with probability ``p`` and scale the rest
    by 1 / (1 - p); the identity in eval mode."""

    _nd = 1


class Dropout2d(_ChannelDropout):
    """In training, zero whole feature maps of (N, C, H, W) with probability ``p`` and scale
    the rest by 1 / (1 - p); the identity in eval mode."""

    _nd = 2
