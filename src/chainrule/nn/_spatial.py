"""The functional forms of convolution, pooling, resampling, padding and the per-channel
normalisations, with PyTorch's names and arguments; re-exported by
:mod:`chainrule.nn.functional`. Each checks its input before any work and raises one
:class:`~chainrule.errors.ShapeError` (or ``ValueError`` for a bad setting) naming the
function or layer, the shape it expected, e.g. (N, 3, H, W), and the one it got.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.compile import replayable
from chainrule.errors import ShapeError
from chainrule.ops import conv as C
from chainrule.ops import pooling as P
from chainrule.ops import resample as R
from chainrule.ops.normalization import standardize
from chainrule.ops.reduction import mean
from chainrule.ops.shape import expand_dims, reshape, squeeze
from chainrule.ops.shape import pad as _pad_op
from chainrule.tensor import Tensor

_LETTERS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}  # fmt: skip


# ---------------------------------------------------------------------------- arguments
def ntuple(name: str, value: Any, nd: int, what: str, minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``nd`` ints) as an ``nd``-tuple, each >= minimum."""
    t = (int(value),) * nd if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)
    if len(t) != nd:
        raise ValueError(f"{name}: {what} must be an int or {nd} ints, got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{name}: {what} must be at least {minimum}, got {value!r}")
    return t


def expected_shape(nd: int, channels: int | None = None) -> str:
    c = "C" if channels is None else str(channels)
    return f"(N, {c}, {', '.join(_LETTERS.get(nd, ('S',) * nd))})"


def check_input(name: str, x: Any, nd: int, channels: int | None = None) -> tuple[Tensor, bool]:
    """The input as a batched tensor (N, C, *S) and whether a batch axis was added (PyTorch
    also takes one unbatched example (C, *S)). Raises :class:`ShapeError` naming ``name`` for
    the wrong rank, channel count or an empty spatial axis."""
    t = x if isinstance(x, Tensor) else Tensor._make(backend.xp.asarray(x))
    shape = tuple(t.shape)
    unbatched = len(shape) == nd + 1
    if len(shape) not in (nd + 1, nd + 2):
        raise ShapeError(
            f"{name} expects input of shape {expected_shape(nd, channels)} (or one example "
            f"without N), got shape {shape}"
        )
    c = shape[0] if unbatched else shape[1]
    if channels is not None and c != channels:
        raise ShapeError(
            f"{name} expects input of shape {expected_shape(nd, channels)}, got shape {shape} "
            f"({c} channels, not {channels})"
        )
    if unbatched:
        t = expand_dims(t, 0)
    return t, unbatched


def _done(y: Tensor, unbatched: bool) -> Tensor:
    return squeeze(y, 0) if unbatched else y


def _conv_padding(name: str, padding: Any, nd: int, kernel: tuple, dilation: tuple, stride: tuple):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided convolutions"
                )
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in total)
        raise ValueError(
            f"{name}: padding must be 'same', 'valid', an int or a tuple, got {padding!r}"
        )
    p = ntuple(name, padding, nd, "padding", minimum=0)
    return tuple((v, v) for v in p)


def _check_fits(
    name: str, shape: tuple, nd: int, kernel: tuple, pads: tuple, dilation: tuple
) -> None:
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], pads))
    if any(s > n for s, n in zip(span, padded)):
        raise ShapeError(
            f"{name}: kernel size {tuple(kernel)} (spanning {span} with dilation) is larger "
            f"than the padded input {padded}; input of shape {shape}, expected "
            f"{expected_shape(nd)} with each spatial size + padding >= the kernel's span"
        )


# ---------------------------------------------------------------------------- convolution
def convolution(
    name: str,
    input: Any,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    nd: int,
) -> Tensor:
    """The checks and the call shared by conv1d/conv2d and the Conv layers."""
    if weight.ndim != nd + 2:
        raise ShapeError(
            f"{name}: weight must be {nd + 2}-D (out, in/groups, kernel), got {weight.shape}"
        )
    stride = ntuple(name, stride, nd, "stride")
    dilation = ntuple(name, dilation, nd, "dilation")
    groups = int(groups)
    out_c, cg = weight.shape[:2]
    if groups < 1 or out_c % groups:
        raise ValueError(
            f"{name}: groups={groups} must be >= 1 and divide the {out_c} output channels"
        )
    x, unbatched = check_input(name, input, nd, cg * groups)
    kernel = tuple(weight.shape[2:])
    pads = _conv_padding(name, padding, nd, kernel, dilation, stride)
    _check_fits(name, tuple(x.shape), nd, kernel, pads, dilation)
    y = C.conv(x, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups)
    return _done(y, unbatched)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """1-D cross-correlation: input (N, C, L), weight (O, C/groups, K), bias (O,) ->
    (N, O, L_out). ``padding``: an int, a tuple, 'same' or 'valid'. Raises ShapeError /
    ValueError naming conv1d (see :func:`check_input`)."""
    return convolution("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """2-D cross-correlation: input (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) ->
    (N, O, H_out, W_out), PyTorch's ``F.conv2d``. Raises ShapeError / ValueError naming conv2d.

    >>> import chainrule as cr
    >>> cr.nn.functional.conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 3, 3), padding=1).shape
    (1, 2, 4, 4)
    """
    return convolution("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def transposed_convolution(
    name: str,
    input: Any,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: int,
    dilation: Any,
    nd: int,
    output_size: Any = None,
) -> Tensor:
    """The checks and the call shared by conv_transpose1d/2d and the ConvTranspose layers."""
    if weight.ndim != nd + 2:
        raise ShapeError(
            f"{name}: weight must be {nd + 2}-D (in, out/groups, kernel), got {weight.shape}"
        )
    stride = ntuple(name, stride, nd, "stride")
    dilation = ntuple(name, dilation, nd, "dilation")
    pad = ntuple(name, padding, nd, "padding", minimum=0)
    opad = ntuple(name, output_padding, nd, "output_padding", minimum=0)
    groups = int(groups)
    in_c = weight.shape[0]
    if groups < 1 or in_c % groups:
        raise ValueError(
            f"{name}: groups={groups} must be >= 1 and divide the {in_c} input channels"
        )
    if any(o >= max(s, d) for o, s, d in zip(opad, stride, dilation)):
        raise ValueError(
            f"{name}: output_padding {opad} must be smaller than stride {stride} "
            f"or dilation {dilation}"
        )
    x, unbatched = check_input(name, input, nd, in_c)
    kernel = tuple(weight.shape[2:])
    size = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + 1 + o
        for n, s, p, d, k, o in zip(x.shape[2:], stride, pad, dilation, kernel, opad)
    )
    if output_size is not None:
        want = tuple(int(v) for v in output_size)[-nd:]
        if any(
            not (s <= w < s + max(st, dl)) for s, w, st, dl in zip(size, want, stride, dilation)
        ):
            raise ValueError(f"{name}: output_size {want} is not reachable from input {x.shape}")
        size = want
    if any(s < 1 for s in size):
        raise ShapeError(f"{name}: input of shape {tuple(x.shape)} gives an empty output {size}")
    y = C.conv_transpose(x, weight, bias, stride=stride, padding=tuple((p, p) for p in pad),
                         dilation=dilation, groups=groups, size=size)  # fmt: skip
    return _done(y, unbatched)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:  # fmt: skip
    """1-D transposed convolution (the adjoint of conv1d): input (N, C_in, L), weight
    (C_in, C_out/groups, K) -> (N, C_out, (L - 1) s - 2 p + d (K - 1) + output_padding + 1)."""
    return transposed_convolution("conv_transpose1d", input, weight, bias, stride, padding,
                                  output_padding, groups, dilation, 1)  # fmt: skip


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:  # fmt: skip
    """2-D transposed convolution (the adjoint of conv2d): input (N, C_in, H, W), weight
    (C_in, C_out/groups, kH, kW) -> (N, C_out, H_out, W_out), PyTorch's sizes."""
    return transposed_convolution("conv_transpose2d", input, weight, bias, stride, padding,
                                  output_padding, groups, dilation, 2)  # fmt: skip


# ---------------------------------------------------------------------------- pooling
def _pool_args(name: str, nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any):
    kernel = ntuple(name, kernel_size, nd, "kernel_size")
    stride = (
        kernel
        if stride is None or stride == [] or stride == ()
        else ntuple(name, stride, nd, "stride")
    )
    pad = ntuple(name, padding, nd, "padding", minimum=0)
    dil = ntuple(name, dilation, nd, "dilation")
    if any(2 * p > k for p, k in zip(pad, kernel)):
        raise ValueError(f"{name}: padding {pad} must be at most half of kernel_size {kernel}")
    return kernel, stride, pad, dil


def max_pooling(name: str, input: Any, nd: int, kernel_size: Any, stride: Any, padding: Any,
                dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:  # fmt: skip
    """The checks and the call shared by max_pool1d/2d and the MaxPool layers."""
    kernel, stride, pad, dil = _pool_args(name, nd, kernel_size, stride, padding, dilation)
    x, unbatched = check_input(name, input, nd)
    _check_fits(name, tuple(x.shape), nd, kernel, tuple((p, p) for p in pad), dil)
    if not return_indices and P.blocks(kernel, stride, pad, dil, ceil_mode, tuple(x.shape[2:])):
        return _done(P.block_max(x, kernel=kernel), unbatched)  # disjoint windows: no gather
    y, idx = C.max_pool(x, kernel, stride, pad, dil, ceil_mode)
    y = _done(y, unbatched)
    if return_indices:
        return y, Tensor._make(idx[0] if unbatched else idx)
    return y


def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over windows of input (N, C, L); the gradient goes to each window's winner."""
    return max_pooling("max_pool1d", input, 1, kernel_size, stride, padding, dilation,
                       ceil_mode, return_indices)  # fmt: skip


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over windows of input (N, C, H, W) -> (N, C, H_out, W_out) (and, with
    ``return_indices``, each winner's flat position in its H x W plane); ``stride`` defaults
    to ``kernel_size``. The gradient goes to each window's winner."""
    return max_pooling("max_pool2d", input, 2, kernel_size, stride, padding, dilation,
                       ceil_mode, return_indices)  # fmt: skip


def avg_pooling(
    name: str,
    input: Any,
    nd: int,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Any,
) -> Tensor:
    """The checks and the call shared by avg_pool1d/2d and the AvgPool layers."""
    kernel, stride, pad, _ = _pool_args(name, nd, kernel_size, stride, padding, 1)
    x, unbatched = check_input(name, input, nd)
    _check_fits(name, tuple(x.shape), nd, kernel, tuple((p, p) for p in pad), (1,) * nd)
    if divisor_override is not None and int(divisor_override) <= 0:
        raise ValueError(f"{name}: divisor_override must be positive, got {divisor_override}")
    y = C.avg_pool(x, kernel, stride, pad, ceil_mode, count_include_pad, divisor_override)
    return _done(y, unbatched)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # fmt: skip
    """Mean over windows of input (N, C, L) (see :func:`avg_pool2d`)."""
    return avg_pooling("avg_pool1d", input, 1, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, None)  # fmt: skip


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:  # fmt: skip
    """Mean over windows of input (N, C, H, W); with ``count_include_pad`` the zero padding
    counts toward each window's size, else only real elements do."""
    return avg_pooling("avg_pool2d", input, 2, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override)  # fmt: skip


def _output_size(name: str, output_size: Any, x: Tensor, nd: int) -> tuple[int, ...]:
    sizes = (
        (output_size,) * nd
        if isinstance(output_size, (int, np.integer)) or output_size is None
        else tuple(output_size)
    )
    if len(sizes) != nd:
        raise ValueError(f"{name}: output_size must be an int or {nd} values, got {output_size!r}")
    out = tuple(int(n) if s is None else int(s) for s, n in zip(sizes, x.shape[2:]))
    if any(s < 1 for s in out):
        raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
    return out


def adaptive_avg_pooling(name: str, input: Any, nd: int, output_size: Any) -> Tensor:
    """Adaptive average pooling to ``output_size``: windows [floor(i S / L), ceil((i+1) S / L))."""
    x, unbatched = check_input(name, input, nd)
    size = _output_size(name, output_size, x, nd)
    if all(m == 1 for m in size):  # global average pooling: one mean (measured 2.4x faster)
        return _done(mean(x, axis=tuple(range(2, 2 + nd)), keepdims=True), unbatched)
    mats = [R.adaptive_avg_matrix(n, m) for n, m in zip(x.shape[2:], size)]
    return _done(R.linear_map(x, mats), unbatched)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling of (N, C, L) to (N, C, output_size)."""
    return adaptive_avg_pooling("adaptive_avg_pool1d", input, 1, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling of (N, C, H, W) to (N, C, *output_size); ``None`` keeps an axis."""
    return adaptive_avg_pooling("adaptive_avg_pool2d", input, 2, output_size)


def adaptive_max_pooling(
    name: str, input: Any, nd: int, output_size: Any, return_indices: bool
) -> Any:
    """Adaptive max pooling to ``output_size`` (and the winners' indices)."""
    x, unbatched = check_input(name, input, nd)
    size = _output_size(name, output_size, x, nd)
    y, idx = C.adaptive_max_pool(x, size)
    y = _done(y, unbatched)
    if return_indices:
        return y, Tensor._make(idx[0] if unbatched else idx)
    return y


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Adaptive max pooling of (N, C, L) to (N, C, output_size)."""
    return adaptive_max_pooling("adaptive_max_pool1d", input, 1, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Adaptive max pooling of (N, C, H, W) to (N, C, *output_size)."""
    return adaptive_max_pooling("adaptive_max_pool2d", input, 2, output_size, return_indices)


# ---------------------------------------------------------------------------- unfold / fold
def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:  # fmt: skip
    """im2col: input (N, C, H, W) -> (N, C * kH * kW, L), one column per sliding window."""
    kernel = ntuple("unfold", kernel_size, 2, "kernel_size")
    dil = ntuple("unfold", dilation, 2, "dilation")
    pad = ntuple("unfold", padding, 2, "padding", minimum=0)
    st = ntuple("unfold", stride, 2, "stride")
    x, unbatched = check_input("unfold", input, 2)
    pads = tuple((p, p) for p in pad)
    _check_fits("unfold", tuple(x.shape), 2, kernel, pads, dil)
    y = C.unfold(x, kernel=kernel, stride=st, padding=pads, dilation=dil)
    return _done(y, unbatched)


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:  # fmt: skip
    """col2im, the adjoint of :func:`unfold`: (N, C * kH * kW, L) -> (N, C, *output_size),
    overlapping windows summed. Raises ShapeError when the sizes do not fit."""
    size = ntuple("fold", output_size, 2, "output_size")
    kernel = ntuple("fold", kernel_size, 2, "kernel_size")
    dil = ntuple("fold", dilation, 2, "dilation")
    pad = ntuple("fold", padding, 2, "padding", minimum=0)
    st = ntuple("fold", stride, 2, "stride")
    x = input if isinstance(input, Tensor) else Tensor._make(backend.xp.asarray(input))
    unbatched = x.ndim == 2
    if unbatched:
        x = expand_dims(x, 0)
    pads = tuple((p, p) for p in pad)
    k = math.prod(kernel)
    blocks = math.prod(C.conv_size(size, kernel, st, pads, dil))
    if x.ndim != 3 or x.shape[1] % k or x.shape[2] != blocks:
        raise ShapeError(
            f"fold expects input of shape (N, C * {k}, {blocks}) for output_size {size} and "
            f"kernel_size {kernel}, got shape {tuple(input.shape)}"
        )
    y = C.fold(x, size, kernel=kernel, stride=st, padding=pads, dilation=dil)
    return _done(y, unbatched)


# ---------------------------------------------------------------------------- resampling
def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:  # fmt: skip
    """Resample (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``: 'nearest',
    'linear' (1-D) or 'bilinear' (2-D) with PyTorch's source positions and ``align_corners``.
    Raises ValueError for a mode it does not know or both/neither of size and scale_factor."""
    x = input if isinstance(input, Tensor) else Tensor._make(backend.xp.asarray(input))
    nd = x.ndim - 2
    if nd not in (1, 2):
        raise ShapeError(
            f"interpolate expects input of shape (N, C, L) or (N, C, H, W), got {tuple(x.shape)}"
        )
    modes = {"nearest": None, "linear": 1, "bilinear": 2}
    if mode not in modes or modes[mode] not in (None, nd):
        raise ValueError(f"interpolate: mode {mode!r} does not fit {nd}-D spatial input; expected "
                         f"'nearest' or {'linear' if nd == 1 else 'bilinear'}")  # fmt: skip
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear modes")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = ntuple("interpolate", size, nd, "size")
        scales: tuple = (None,) * nd
    else:
        sf = (
            (float(scale_factor),) * nd
            if np.isscalar(scale_factor)
            else tuple(map(float, scale_factor))
        )
        if len(sf) != nd or any(s <= 0 for s in sf):
            raise ValueError(
                f"interpolate: scale_factor must be positive, {nd} of them, got {scale_factor!r}"
            )
        out = tuple(math.floor(n * s) for n, s in zip(x.shape[2:], sf))
        scales = (None,) * nd if recompute_scale_factor else sf
    if mode == "nearest":
        return R.nearest(x, out, scales)
    mats = [R.linear_matrix(n, m, bool(align_corners), sc)
            for n, m, sc in zip(x.shape[2:], out, scales)]  # fmt: skip
    return R.linear_map(x, mats)


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` axes, PyTorch's order (last axis first: (left, right,
    top, bottom, ...)); modes 'constant' (``value``), 'reflect', 'replicate', 'circular'.
    Raises ValueError for an odd-length ``pad``, an unknown mode or a reflection wider than
    the axis."""
    x = input if isinstance(input, Tensor) else Tensor._make(backend.xp.asarray(input))
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: needs an even number of sizes, at most 2 per axis, got {pad}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {sorted(_PAD_MODES)}, got {mode!r}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    k = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    for (lo, hi), n in zip(widths[x.ndim - k :], x.shape[x.ndim - k :]):
        limit = n - 1 if mode == "reflect" else n
        if mode != "constant" and max(lo, hi) > limit:
            raise ValueError(f"pad: {mode} padding {(lo, hi)} is too large for an axis of size {n} "
                             f"(input shape {tuple(x.shape)})")  # fmt: skip
    if mode == "constant":
        return _pad_op(x, widths, constant_values=0.0 if value is None else value)
    return _pad_op(x, widths, mode=_PAD_MODES[mode])


# ---------------------------------------------------------------------------- normalisation
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:  # fmt: skip
    """Normalise input (N, C, *) over each group of C / num_groups channels and all positions,
    then scale and shift per channel. Raises ShapeError when num_groups does not divide C."""
    x = input
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ShapeError(f"group_norm: expected input (N, C, *) with C divisible by num_groups="
                         f"{num_groups}, got shape {tuple(x.shape)}")  # fmt: skip
    g = reshape(x, (x.shape[0], num_groups, -1))
    y = reshape(standardize(g, axes=-1, eps=eps), x.shape)
    return _affine(y, weight, bias)


def instance_norm(
    input: Tensor,
    running_mean: Any = None,
    running_var: Any = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each example's channels over their positions (input (N, C, *)); with running
    statistics and ``use_input_stats=False``, those are used instead."""
    from chainrule.nn.functional import batch_norm

    x = input
    n, c = x.shape[:2]
    if not use_input_stats and running_mean is not None:
        return batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = tuple(range(2, x.ndim))
    if running_mean is not None and running_var is not None:
        from chainrule.nn.functional import _update_running

        m = max(math.prod(x.shape[2:]), 2)
        mu = x.data.mean(axis=axes)
        var = x.data.var(axis=axes)
        _update_running(running_mean, mu.reshape(n, c).mean(0), momentum)
        _update_running(running_var, (var.reshape(n, c) * (m / (m - 1))).mean(0), momentum)
    shape = (1, c, *(1,) * (x.ndim - 2))
    w = None if weight is None else reshape(weight, shape)
    b = None if bias is None else reshape(bias, shape)
    return standardize(x, w, b, axes=axes, eps=eps)


def _affine(y: Tensor, weight: Any, bias: Any) -> Tensor:
    shape = (1, y.shape[1], *(1,) * (y.ndim - 2))
    if weight is not None:
        y = y * reshape(weight, shape)
    if bias is not None:
        y = y + reshape(bias, shape)
    return y


def channel_dropout(name: str, input: Tensor, p: float, training: bool, nd: int) -> Tensor:
    """Zero whole channels of (N, C, *S) with probability ``p``, scale the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be a probability in [0, 1], got {p}")
    x, unbatched = check_input(name, input, nd)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask = _channel_mask(x.shape[:2], x.dtype, p, nd)
    return _done(x * Tensor._make(mask), unbatched)


@replayable  # cr.compile draws it again at each replay
def _channel_mask(shape: tuple[int, int], dtype: Any, p: float, nd: int) -> Any:
    """Channel dropout's mask (N, C, 1...): 0 with probability ``p``, else 1 / (1 - p)."""
    rdtype = np.float64 if dtype == np.float64 else np.float32
    keep = backend.xp.asarray(backend.rng().random(shape, dtype=rdtype)) >= p
    return (keep.astype(dtype) * (1.0 / (1.0 - p))).reshape(*shape, *(1,) * nd)


def dropout1d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Channel dropout for (N, C, L): each channel zeroed whole with probability p."""
    return channel_dropout("dropout1d", input, p, training, 1)


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Channel dropout for (N, C, H, W): each feature map zeroed whole with probability p."""
    return channel_dropout("dropout2d", input, p, training, 2)
