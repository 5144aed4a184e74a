"""``cr.nn.init``: fill parameters in place with PyTorch's initialisation schemes.

Each function overwrites ``tensor.data`` (keeping its shape and dtype) with draws from
chainrule's generator (seeded by :func:`chainrule.manual_seed`), records nothing in the graph,
and returns the tensor. The gains and fans are PyTorch's, so a layer initialised here has the
same distribution as the same layer in PyTorch (not the same numbers: the generators differ).

>>> import chainrule as cr
>>> w = cr.nn.Parameter(cr.zeros(256, 128))
>>> _ = kaiming_uniform_(w, nonlinearity="relu")
>>> bound = (6 / 128) ** 0.5  # gain sqrt(2) times sqrt(3 / fan_in)
>>> bool(abs(w.numpy()).max() <= bound)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor

__all__ = [
    "calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_",
    "orthogonal_", "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]  # fmt: skip

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid", "identity")  # fmt: skip


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale of weights feeding ``nonlinearity`` (PyTorch's table):
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + a^2)) for
    leaky_relu with negative slope ``param`` (default 0.01), 3/4 for selu.

    Raises ``ValueError`` for an unknown nonlinearity or a non-numeric slope.

    >>> calculate_gain("tanh")
    1.6666666666666667
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with draws from U(a, b)."""
    return _fill(tensor, backend.rng().uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    return _fill(tensor, backend.rng().normal(mean, std, tensor.shape))


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Tensor:
    """Fill with draws from N(mean, std^2) truncated to [a, b] (redrawn until inside).

    Raises ``ValueError`` unless a < b.
    """
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    rng = backend.rng()
    out = rng.normal(mean, std, tensor.shape)
    bad = (out < a) | (out > b)
    while bad.any():  # each round redraws only the rejected entries
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill(tensor, out)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out)).

    Raises :class:`~chainrule.errors.ShapeError` for tensors with fewer than 2 dimensions.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if tensor.size == 0:
        return tensor
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out)).

    Raises :class:`~chainrule.errors.ShapeError` for tensors with fewer than 2 dimensions.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if tensor.size == 0:
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """He et al. (2015): U(-bound, bound) with bound = gain sqrt(3 / fan), where gain is
    ``calculate_gain(nonlinearity, a)`` and fan is the fan-in or fan-out (``mode``).

    ``a=sqrt(5)`` with the default leaky_relu gives bound 1/sqrt(fan_in): PyTorch's default
    for Linear weights. Raises :class:`~chainrule.errors.ShapeError` for tensors with fewer
    than 2 dimensions and ``ValueError`` for an unknown ``mode`` or nonlinearity.
    """
    if tensor.size == 0:
        _fan(tensor, mode)
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """He et al. (2015): N(0, std^2) with std = gain / sqrt(fan) (see
    :func:`kaiming_uniform_` for ``a``, ``mode``, ``nonlinearity`` and errors)."""
    if tensor.size == 0:
        _fan(tensor, mode)
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix times ``gain``, from the QR
    decomposition of a Gaussian matrix (with the signs fixed so that it is uniformly
    distributed). Dimensions after the first are flattened: rows = shape[0].

    Raises :class:`~chainrule.errors.ShapeError` for tensors with fewer than 2 dimensions.
    """
    if tensor.ndim < 2:
        raise ShapeError(f"orthogonal_: needs at least 2 dimensions, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = tensor.size // rows if rows else 0
    if tensor.size == 0:
        return tensor
    flat = backend.rng().normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # sign fix: makes the distribution uniform (Haar)
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """(fan_in, fan_out) as PyTorch computes them: for a weight (out, in, *kernel), fan_in =
    in * prod(kernel) and fan_out = out * prod(kernel).

    Raises :class:`~chainrule.errors.ShapeError` for fewer than 2 dimensions.
    """
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ShapeError(
            f"fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}"
        )
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Any, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values: Any) -> Tensor:
    """Overwrite ``tensor``'s data in place (outside the graph) and return it."""
    data = tensor.data
    data[...] = backend.xp.asarray(values, dtype=data.dtype)
    tensor._bump()
    return tensor
