"""Convolution layers with PyTorch's names, arguments, defaults, initialisation, weight
layouts and state_dict keys: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``.

A convolution is the seeds' a = b + W h applied at every position with the same W: each output
map is the correlation of the input maps with one kernel.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.nn import _spatial as S
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor

_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _nd = 2
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        output_padding: Any = 0,
    ) -> None:
        super().__init__()
        name, nd = type(self).__name__, self._nd
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: groups={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        if padding_mode not in _MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_MODES}, got {padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = S.ntuple(name, kernel_size, nd, "kernel_size")
        self.stride = S.ntuple(name, stride, nd, "stride")
        self.dilation = S.ntuple(name, dilation, nd, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self._transposed:
                raise ValueError(f"{name}: padding {padding!r} is not supported here")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided convolutions"
                )
            self.padding: Any = padding
        else:
            self.padding = S.ntuple(name, padding, nd, "padding", minimum=0)
        self.output_padding = S.ntuple(name, output_padding, nd, "output_padding", minimum=0)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only 'zeros' padding_mode is supported")
        if self._transposed:
            shape = (self.in_channels, self.out_channels // groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // groups, *self.kernel_size)
        dtype = backend.get_default_dtype()
        self.weight = Parameter(backend.xp.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(backend.xp.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias as PyTorch does: U(±1/sqrt(fan_in)) for both, fan_in the
        weight's second axis times the kernel's size."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        name, nd = repr(self), self._nd
        S.check_input(name, input, nd, self.in_channels)
        if self._transposed:
            return S.transposed_convolution(
                name, input, self.weight, self.bias, self.stride, self.padding,
                self.output_padding, self.groups, self.dilation, nd,
            )  # fmt: skip
        if self.padding_mode != "zeros":
            pads = S._conv_padding(name, self.padding, nd, self.kernel_size, self.dilation,
                                   self.stride)  # fmt: skip
            x, unbatched = S.check_input(name, input, nd, self.in_channels)
            flat = [p for pair in reversed(pads) for p in pair]
            x = S.pad(x, flat, mode=self.padding_mode)
            y = S.convolution(name, x, self.weight, self.bias, self.stride, 0, self.dilation,
                              self.groups, nd)  # fmt: skip
            return y[0] if unbatched else y
        return S.convolution(name, input, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, self.groups, nd)  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += (
                f", padding={self.padding!r}"
                if isinstance(self.padding, str)
                else f", padding={self.padding}"
            )
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """PyTorch's constructor of Conv1d and Conv2d (their arguments in its order)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros") -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode)  # fmt: skip


class _ConvTranspose(_ConvNd):
    """PyTorch's constructor of ConvTranspose1d and ConvTranspose2d (output_padding before
    groups, dilation after bias, as PyTorch orders them)."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros") -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding)  # fmt: skip


class Conv1d(_Conv):
    """1-D convolution over input (N, in_channels, L) -> (N, out_channels, L_out); weight
    (out_channels, in_channels / groups, kernel_size), bias (out_channels,). ``padding``: an
    int, a tuple, 'same' or 'valid'; ``padding_mode``: zeros, reflect, replicate, circular.
    Raises ``ValueError`` for groups that do not divide the channels or a stride below 1, and
    :class:`~chainrule.errors.ShapeError` naming the layer for input of the wrong shape.
    """

    _nd = 1


class Conv2d(_Conv):
    """2-D convolution over input (N, in_channels, H, W) -> (N, out_channels, H_out, W_out);
    weight (out_channels, in_channels / groups, kH, kW), bias (out_channels,), initialised as
    PyTorch's. Raises ``ValueError`` for groups that do not divide the channels or a stride
    below 1, and :class:`~chainrule.errors.ShapeError` naming the layer, the expected
    (N, C, H, W) and the shape it got, for input of the wrong rank or channel count or smaller
    than the kernel.

    >>> import chainrule as cr
    >>> conv = cr.nn.Conv2d(1, 8, 3, padding=1)
    >>> conv.weight.shape, conv(cr.randn(2, 1, 28, 28)).shape
    ((8, 1, 3, 3), (2, 8, 28, 28))
    """

    _nd = 2


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution (the adjoint of Conv1d, "deconvolution"): input
    (N, in_channels, L) -> (N, out_channels, (L - 1) stride - 2 padding + dilation
    (kernel_size - 1) + output_padding + 1); weight (in_channels, out_channels / groups, K)."""

    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution (the adjoint of Conv2d): input (N, in_channels, H, W) ->
    (N, out_channels, H_out, W_out) with PyTorch's sizes; weight (in_channels,
    out_channels / groups, kH, kW).

    >>> import chainrule as cr
    >>> cr.nn.ConvTranspose2d(4, 2, 2, stride=2)(cr.randn(1, 4, 7, 7)).shape
    (1, 2, 14, 14)
    """

    _nd = 2
