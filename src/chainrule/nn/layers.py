"""Layers with PyTorch's names, arguments, parameter names and default initialisation:
``Linear``, ``Identity``, ``Flatten``, ``Unflatten``, ``Dropout``, ``Embedding``, and
``Residual`` (an arrow that skips a block: x + block(x)).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.errors import ShapeError
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.linalg import linear
from chainrule.ops.shape import reshape
from chainrule.tensor import Tensor


class Identity(Module):
    """Returns its input unchanged (the seeds' linear output activation; a placeholder).

    Accepts and ignores any constructor arguments, as PyTorch's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """Affine map a = b + W h (the seeds' pre-activation) on the last axis:
    input (..., in_features) -> output (..., out_features).

    ``weight`` is stored (out_features, in_features) and ``bias`` (out_features,), both
    initialised as PyTorch's: U(-1/sqrt(in_features), 1/sqrt(in_features)).
    Raises :class:`~chainrule.errors.ShapeError` naming the layer when the input's last
    dimension is not ``in_features``.

    >>> import chainrule as cr
    >>> layer = cr.nn.Linear(3, 2)
    >>> layer.weight.shape, layer(cr.randn(4, 3)).shape
    ((2, 3), (4, 2))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dtype = backend.get_default_dtype()
        xp = backend.xp
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(xp.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weights and bias with PyTorch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(±1/sqrt(fan_in))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            raise ShapeError(
                f"{self!r} expects input of shape (..., {self.in_features}), "
                f"got shape {tuple(shape)}"
            )
        return linear(input, self.weight, self.bias)  # one node, one rule for all three

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Flatten(Module):
    """Merge axes ``start_dim`` .. ``end_dim`` (inclusive) into one: (N, C, L) -> (N, C*L) by
    default. Raises :class:`~chainrule.errors.ShapeError` for axes outside the input."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        n = max(len(shape), 1)
        s, e = self.start_dim, self.end_dim
        if not (-n <= s < n and -n <= e < n):
            raise ShapeError(f"{self!r}: dimensions out of range for an input of shape {shape}")
        s, e = s % n, e % n
        if s > e:
            raise ShapeError(f"{self!r}: start_dim comes after end_dim for shape {shape}")
        if not shape:
            return reshape(input, (1,))
        return reshape(input, (*shape[:s], -1, *shape[e + 1 :]))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size``: (N, C*H*W) -> (N, C, H, W) for
    ``Unflatten(1, (C, H, W))`` (PyTorch's). Raises :class:`~chainrule.errors.ShapeError`
    naming the layer when the axis does not have that many elements."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        n = max(len(shape), 1)
        if not -n <= self.dim < n:
            raise ShapeError(f"{self!r}: dimension out of range for an input of shape {shape}")
        d = self.dim % n
        want = 1
        for s in self.unflattened_size:
            want *= s
        if shape[d] != want and -1 not in self.unflattened_size:
            raise ShapeError(
                f"{self!r} expects axis {self.dim} of size {want}, got input of shape {shape}"
            )
        return reshape(input, (*shape[:d], *self.unflattened_size, *shape[d + 1 :]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class _DropoutNd(Module):
    """What the dropouts share (PyTorch's ``_DropoutNd``): ``p`` and ``inplace``, checked, and
    their repr. Raises ``ValueError`` unless 0 <= p <= 1."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout: in training mode each element is zeroed with probability ``p`` and
    the others are scaled by 1 / (1 - p); in eval mode the identity. Any shape.

    ``inplace`` is accepted for PyTorch compatibility; the result is always a new tensor
    (same values and gradients). Raises ``ValueError`` unless 0 <= p <= 1.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by integer
    index: input of any shape -> output ``input.shape + (embedding_dim,)``.

    ``weight`` (num_embeddings, embedding_dim) starts as N(0, 1) draws, as PyTorch's; the row
    at ``padding_idx`` (negative counts from the end) starts at zero and gets no gradient.
    Raises :class:`~chainrule.errors.DTypeError` for non-integer input and
    :class:`~chainrule.errors.IndexRangeError` for indices outside the table.

    >>> import chainrule as cr
    >>> emb = cr.nn.Embedding(10, 3, padding_idx=0)
    >>> emb(cr.tensor([[0, 4], [9, 0]])).shape
    (2, 2, 3)
    """

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None
    ) -> None:
        super().__init__()
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} must be within the table of "
                    f"{self.num_embeddings} rows"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(
            backend.xp.empty(
                (self.num_embeddings, self.embedding_dim), dtype=backend.get_default_dtype()
            )
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the table from N(0, 1), with the padding row zeroed."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None
    ) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (2-D); frozen (no gradient) unless
        ``freeze=False``. Raises :class:`~chainrule.errors.ShapeError` unless 2-D."""
        arr = embeddings.data if isinstance(embeddings, Tensor) else backend.xp.asarray(embeddings)
        if arr.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: expected a 2-D table, got {arr.shape}")
        emb = cls(arr.shape[0], arr.shape[1], padding_idx=padding_idx)
        emb.weight = Parameter(arr.copy(), requires_grad=not freeze)
        return emb

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class Residual(Module):
    """A skip connection around ``module``: x + module(x), so an arrow skips the block and
    the gradient reaches earlier layers undiminished.

    Raises :class:`~chainrule.errors.ShapeError` when ``module`` changes the shape.

    >>> import chainrule as cr
    >>> block = cr.nn.Residual(cr.nn.Sequential(cr.nn.Linear(4, 4), cr.nn.ReLU()))
    >>> block(cr.randn(2, 4)).shape
    (2, 4)
    """

    def __init__(self, module: Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, input: Tensor) -> Tensor:
        out = self.module(input)
        if tuple(out.shape) != tuple(input.shape):
            raise ShapeError(
                f"Residual: the wrapped {self.module._get_name()} maps shape "
                f"{tuple(input.shape)} to {tuple(out.shape)}; a residual connection needs "
                "the output shape to equal the input shape"
            )
        return input + out
