"""Batch normalisation whose statistics are those of the global batch, over every rank."""

from __future__ import annotations

from typing import Any

from chainrule.autograd import no_grad
from chainrule.distributed.comm import all_reduce, allreduce_sum, size
from chainrule.errors import ShapeError
from chainrule.nn import BatchNorm1d, BatchNorm2d, Module
from chainrule.ops import reshape, sqrt
from chainrule.tensor import Tensor


class SyncBatchNorm(BatchNorm1d):
    """:class:`~chainrule.nn.BatchNorm1d` that, in training, normalises with the mean and
    variance of the batch of all ranks together (PyTorch's ``SyncBatchNorm``): two
    differentiable allreduces per forward (the sum, then the sum of squared deviations, which
    keeps the variance stable), and their two mirrors in backward. With one process, or in
    eval mode, it is exactly ``BatchNorm1d`` / ``BatchNorm2d``. Input ``(N, C, *)`` (any
    number of positions, as PyTorch's); raises :class:`~chainrule.errors.ShapeError` for
    another number of channels.
    """

    _ranks = (2, 3, 4, 5)
    _shapes = "(N, {c}, *)"

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or size() == 1:
            return super().forward(input)
        x = input
        c = self.num_features
        if x.ndim < 2 or x.shape[1] != c:
            raise ShapeError(f"{self!r} expects input of shape (N, {c}, *), got {tuple(x.shape)}")
        axes = (0, *range(2, x.ndim))
        bshape = (1, c) + (1,) * (x.ndim - 2)
        local = x.size // c
        count = float(allreduce_sum([local])[0])
        if count <= 1:
            raise ShapeError(
                f"{self!r}: expected more than 1 value per channel over all ranks when "
                f"training, got {int(count)}"
            )
        mu = all_reduce(x.sum(axis=axes, keepdims=True)) / count
        d = x - mu
        var = all_reduce((d * d).sum(axis=axes, keepdims=True)) / count
        y = d / sqrt(var + self.eps)
        if self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.data += 1
                if self.momentum is None:
                    factor = 1.0 / float(self.num_batches_tracked.data)
                else:
                    factor = self.momentum
                _blend(self.running_mean, mu.data.reshape(c), factor)
                _blend(self.running_var, var.data.reshape(c) * (count / (count - 1)), factor)
        if self.weight is not None:
            y = y * reshape(self.weight, bshape)
        if self.bias is not None:
            y = y + reshape(self.bias, bshape)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """Turn every ``BatchNorm1d`` and ``BatchNorm2d`` in ``module`` (itself included) into
        a ``SyncBatchNorm`` in place, keeping its parameters and statistics; returns
        ``module``."""
        for m in module.modules():
            if type(m) in (BatchNorm1d, BatchNorm2d):
                m.__class__ = cls
        return module


def _blend(stat: Tensor, batch: Any, momentum: float) -> None:
    stat.data *= 1.0 - momentum
    stat.data += momentum * batch.astype(stat.data.dtype, copy=False)
    stat._bump()
