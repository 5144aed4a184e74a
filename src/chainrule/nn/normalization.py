"""Normalisation layers: ``LayerNorm`` (per example, over trailing axes), ``BatchNorm1d`` /
``BatchNorm2d`` (per channel, over the batch, with running statistics for evaluation),
``GroupNorm`` (per example, over groups of channels) and ``InstanceNorm1d`` / ``InstanceNorm2d``
(per example and channel)."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.compile import replayable
from chainrule.errors import ShapeError
from chainrule.nn import functional as F
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor


class LayerNorm(Module):
    """Normalise each example over its trailing ``normalized_shape`` axes to mean 0 and
    variance 1, then apply a learned scale ``weight`` (ones) and shift ``bias`` (zeros),
    both shaped ``normalized_shape``. Input (..., *normalized_shape), output the same.

    Raises :class:`~chainrule.errors.ShapeError` naming the layer when the input's trailing
    shape differs.

    >>> import chainrule as cr
    >>> y = cr.nn.LayerNorm(4)(cr.randn(3, 4))
    >>> bool(abs(y.numpy().mean(axis=-1)).max() < 1e-5)
    True
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.normalized_shape = F._shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = backend.get_default_dtype()
        if elementwise_affine:
            self.weight = Parameter(backend.xp.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(backend.xp.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        shape = tuple(input.shape)
        if len(shape) < k or shape[len(shape) - k :] != self.normalized_shape:
            raise ShapeError(
                f"{self!r} expects input of shape (..., "
                f"{', '.join(map(str, self.normalized_shape))}), got shape {shape}"
            )
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ in the input shapes they take."""

    _ranks: tuple[int, ...] = ()
    _shapes = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        _init_norm(self, num_features, eps, momentum, affine, track_running_stats, bias)

    def reset_running_stats(self) -> None:
        """Running mean back to 0, running variance to 1, the batch count to 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        c = self.num_features
        if len(shape) not in self._ranks or shape[1] != c:
            raise ShapeError(
                f"{self!r} expects input of shape {self._shapes.format(c=c)}, got shape {shape}"
            )
        factor: Any = 0.0
        if self.training and self.track_running_stats:
            factor = _count_batch(self.num_batches_tracked, self.momentum)
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=use_batch,
            momentum=factor,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


@replayable  # cr.compile counts again at each replay
def _count_batch(count: Tensor, momentum: float | None) -> float:
    """Count one more batch; the running statistics' factor: ``momentum``, or with ``None``
    1 / batches (a cumulative average)."""
    count.data += 1
    return momentum if momentum is not None else 1.0 / float(count.data)


def _init_norm(
    m: Module,
    num_features: int,
    eps: float,
    momentum: float | None,
    affine: bool,
    track_running_stats: bool,
    bias: bool = True,
) -> None:
    """PyTorch's per-channel norm state: weight (ones) and bias (zeros) when ``affine``, the
    running statistics and the batch count as buffers when ``track_running_stats``."""
    m.num_features = int(num_features)
    m.eps = eps
    m.momentum = momentum
    m.affine = affine
    m.track_running_stats = track_running_stats
    xp = backend.xp
    dtype = backend.get_default_dtype()
    c = m.num_features
    if affine:
        m.weight = Parameter(xp.ones(c, dtype=dtype))
        if bias:
            m.bias = Parameter(xp.zeros(c, dtype=dtype))
        else:
            m.register_parameter("bias", None)
    else:
        m.register_parameter("weight", None)
        m.register_parameter("bias", None)
    if track_running_stats:
        m.register_buffer("running_mean", Tensor._make(xp.zeros(c, dtype=dtype)))
        m.register_buffer("running_var", Tensor._make(xp.ones(c, dtype=dtype)))
        m.register_buffer("num_batches_tracked", Tensor._make(xp.array(0, dtype=xp.int64)))
    else:
        m.register_buffer("running_mean", None)
        m.register_buffer("running_var", None)
        m.register_buffer("num_batches_tracked", None)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over input (N, C, H, W), per channel C, over the batch and every
    position (PyTorch's BatchNorm2d: same arguments, buffers and state_dict keys as
    :class:`BatchNorm1d`). Raises :class:`~chainrule.errors.ShapeError` naming the layer for
    input that is not (N, num_features, H, W).

    >>> import chainrule as cr
    >>> cr.nn.BatchNorm2d(3)(cr.randn(4, 3, 5, 5)).shape
    (4, 3, 5, 5)
    """

    _ranks = (4,)
    _shapes = "(N, {c}, H, W)"


class GroupNorm(Module):
    """Normalise input (N, C, *) over groups of C / num_groups channels (and all positions) per
    example, then a learned per-channel ``weight`` (ones) and ``bias`` (zeros) when ``affine``.
    Raises ``ValueError`` when num_groups does not divide num_channels, and
    :class:`~chainrule.errors.ShapeError` naming the layer for input without C channels.
    """

    def __init__(
        self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True
    ) -> None:
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels={num_channels} must be divisible by "
                f"num_groups={num_groups}"
            )
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = affine
        dtype = backend.get_default_dtype()
        if affine:
            self.weight = Parameter(backend.xp.ones(num_channels, dtype=dtype))
            self.bias = Parameter(backend.xp.zeros(num_channels, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ShapeError(
                f"{self!r} expects input of shape (N, {self.num_channels}, *), got shape {shape}"
            )
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(Module):
    _nd = 2

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
    ) -> None:
        super().__init__()
        _init_norm(self, num_features, eps, momentum, affine, track_running_stats)

    def forward(self, input: Tensor) -> Tensor:
        from chainrule.nn._spatial import check_input

        x, unbatched = check_input(repr(self), input, self._nd, self.num_features)
        use_stats = self.training or not self.track_running_stats
        y = F.instance_norm(
            x,
            self.running_mean if self.track_running_stats else None,
            self.running_var if self.track_running_stats else None,
            self.weight,
            self.bias,
            use_input_stats=use_stats,
            momentum=self.momentum if self.momentum is not None else 0.1,
            eps=self.eps,
        )
        return y[0] if unbatched else y

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class InstanceNorm1d(_InstanceNorm):
    """Normalise each example's channels of (N, C, L) over their positions (PyTorch's
    defaults: no affine, no running statistics)."""

    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Normalise each example's feature maps of (N, C, H, W) over their positions (PyTorch's
    defaults: no affine, no running statistics).

    >>> import chainrule as cr
    >>> y = cr.nn.InstanceNorm2d(2)(cr.randn(3, 2, 4, 4))
    >>> bool(abs(y.numpy().mean(axis=(2, 3))).max() < 1e-5)
    True
    """

    _nd = 2


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over input (N, C) or (N, C, L), per channel C.

    In training mode each channel is normalised with the batch's mean and (biased) variance,
    and the buffers ``running_mean`` / ``running_var`` move toward the batch's mean and
    *unbiased* variance by ``momentum`` (``None``: a cumulative average over
    ``num_batches_tracked`` batches). In eval mode the running statistics are used. ``affine``
    adds a learned per-channel ``weight`` (ones) and ``bias`` (zeros). With
    ``track_running_stats=False`` batch statistics are used in both modes.

    Raises :class:`~chainrule.errors.ShapeError` naming the layer for input that is not
    (N, num_features) or (N, num_features, L), and in training for one value per channel.

    >>> import chainrule as cr
    >>> bn = cr.nn.BatchNorm1d(3)
    >>> _ = bn(cr.randn(8, 3) * 2 + 5)
    >>> int(bn.num_batches_tracked.item()), bn.running_mean.shape
    (1, (3,))
    """

    _ranks = (2, 3)
    _shapes = "(N, {c}) or (N, {c}, L)"
