"""Activation functions g(a) as modules (the seeds' hidden and output units), with PyTorch's
names and arguments (``dim`` for the softmaxes). Each applies element-wise (or along ``dim``)
and keeps the input's shape.

``inplace`` is accepted where PyTorch has it, for code that passes it; the result is always
a new tensor, with the same values and gradients.
"""

from __future__ import annotations

from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.ops import activation as _act
from chainrule.ops.activation import elu, gelu, leaky_relu, relu, sigmoid, softplus
from chainrule.ops.elementwise import tanh
from chainrule.tensor import Tensor


def _inplace(flag: bool) -> str:
    return ", inplace=True" if flag else ""


class ReLU(Module):
    """max(0, a)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """a for a > 0, ``negative_slope * a`` otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace(self.inplace)}"


class ELU(Module):
    """a for a > 0, ``alpha * (exp(a) - 1)`` otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class GELU(Module):
    """a Phi(a), Phi the standard normal CDF; ``approximate="tanh"`` uses the tanh formula.

    Raises ``ValueError`` for another ``approximate``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """The logistic function 1 / (1 + exp(-a)) (the seeds' logistic unit)."""

    def forward(self, input: Tensor) -> Tensor:
        return sigmoid(input)


class Tanh(Module):
    """The hyperbolic tangent (the seeds' tanh unit)."""

    def forward(self, input: Tensor) -> Tensor:
        return tanh(input)


class Softplus(Module):
    """log(1 + exp(beta a)) / beta, and a itself where beta a > ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """exp(a) / sum(exp(a)) along ``dim`` (the seeds' softmax output). ``dim=None`` picks
    PyTorch's legacy implicit axis with a warning; give ``dim``.

    >>> import chainrule as cr
    >>> p = cr.nn.Softmax(dim=1)(cr.randn(2, 5))
    >>> bool(abs(p.numpy().sum(axis=1) - 1).max() < 1e-6)
    True
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax(a) along ``dim``, computed stably (see :class:`Softmax` for ``dim``)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _Elementwise(Module):
    """An activation with no settings but PyTorch's ``inplace`` flag (ignored: a new tensor)."""

    _fn = staticmethod(_act.silu)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_Elementwise):
    """a σ(a), the sigmoid-weighted linear unit (swish)."""

    _fn = staticmethod(_act.silu)


class Mish(_Elementwise):
    """a tanh(softplus(a))."""

    _fn = staticmethod(_act.mish)


class SELU(_Elementwise):
    """scale (a if a > 0 else alpha (eᵃ − 1)), alpha ≈ 1.6733, scale ≈ 1.0507."""

    _fn = staticmethod(_act.selu)


class ReLU6(_Elementwise):
    """min(max(0, a), 6)."""

    _fn = staticmethod(_act.relu6)


class Hardsigmoid(_Elementwise):
    """relu6(a + 3) / 6."""

    _fn = staticmethod(_act.hardsigmoid)


class Hardswish(_Elementwise):
    """a relu6(a + 3) / 6."""

    _fn = staticmethod(_act.hardswish)


class CELU(Module):
    """a if a > 0 else alpha (e^(a/alpha) − 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return _act.celu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class Hardtanh(Module):
    """a clipped to [min_val, max_val] (gradient 0 at the bounds, as PyTorch's).

    Raises ``ValueError`` when ``min_val > max_val``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val {min_val} is above max_val {max_val}")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return _act.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace(self.inplace)}"


class Softsign(Module):
    """a / (1 + |a|)."""

    def forward(self, input: Tensor) -> Tensor:
        return _act.softsign(input)


class LogSigmoid(Module):
    """log σ(a), computed without overflow."""

    def forward(self, input: Tensor) -> Tensor:
        return _act.logsigmoid(input)


class Softmin(Module):
    """softmax(−a) along ``dim`` (see :class:`Softmax` for ``dim=None``)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GLU(Module):
    """a σ(b) for the halves a, b of the input along ``dim`` (its size must be even)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return _act.glu(input, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
