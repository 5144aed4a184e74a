"""Normalisation layers: ``LayerNorm`` (per example, over trailing axes) and ``BatchNorm1d``
(per channel, over the batch, with running statistics for evaluation)."""

from __future__ import annotations

from typing import Any

from chainrule import backend
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


class BatchNorm1d(Module):
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
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        xp = backend.xp
        dtype = backend.get_default_dtype()
        c = self.num_features
        if affine:
            self.weight = Parameter(xp.ones(c, dtype=dtype))
            if bias:
                self.bias = Parameter(xp.zeros(c, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(xp.zeros(c, dtype=dtype)))
            self.register_buffer("running_var", Tensor._make(xp.ones(c, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor._make(xp.array(0, dtype=xp.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean back to 0, running variance to 1, the batch count to 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        c = self.num_features
        if len(shape) not in (2, 3) or shape[1] != c:
            raise ShapeError(
                f"{self!r} expects input of shape (N, {c}) or (N, {c}, L), got shape {shape}"
            )
        factor: Any = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
            else:
                factor = self.momentum
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
