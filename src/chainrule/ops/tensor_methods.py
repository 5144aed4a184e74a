"""Floor 2: Tensor's named methods: reductions (``.sum()``, ``.max()``), element-wise
functions, shape and indexing (``.reshape()``, ``.gather()``), sorting.

Each forwards to the op of the same idea in :mod:`chainrule.ops`, under NumPy's name and
parameters where ndarray has the method (``axis=``, ``keepdims=``) and PyTorch's elsewhere
(``dim=``, ``keepdim=`` accepted as synonyms). Copied onto :class:`~chainrule.tensor.Tensor`
once, by :func:`~chainrule.tensor.register_methods`, when the ops load; the operators are in
:mod:`chainrule.ops.tensor_operators`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.errors import ShapeError
from chainrule.ops import activation, elementwise, indexing, products, special
from chainrule.ops import shape as shape_ops
from chainrule.ops import sort as sort_ops
from chainrule.ops.activation import log_softmax, softmax
from chainrule.ops.elementwise import clip, round
from chainrule.ops.indexing import nonzero, scatter, take, take_along_axis
from chainrule.ops.linalg import matmul
from chainrule.ops.products import dot
from chainrule.ops.reduction import (
    all,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    pick_axis,
    prod,
    std,
    sum,
    var,
)
from chainrule.ops.scan import cumprod, cumsum
from chainrule.ops.shape import (
    broadcast_to,
    expand_dims,
    flatten,
    flip,
    repeat,
    reshape,
    roll,
    rot90,
    squeeze,
    tile,
    transpose,
)
from chainrule.ops.sort import argpartition, argsort, partition, sort, unique
from chainrule.tensor import Tensor, register_methods


@register_methods
class _Methods:
    def dot(self, other):
        return dot(self, other)

    def matmul(self, other):
        return matmul(self, other)

    # Reductions take NumPy's axis=/keepdims= and PyTorch's dim=/keepdim= (synonyms).
    def sum(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("sum", axis, keepdims, kw)
        return sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("mean", axis, keepdims, kw)
        return mean(self, axis, keepdims)

    def var(self, axis=None, ddof=0, keepdims=False, **kw):
        return var(self, axis=axis, ddof=ddof, keepdims=keepdims, **kw)

    def std(self, axis=None, ddof=0, keepdims=False, **kw):
        return std(self, axis=axis, ddof=ddof, keepdims=keepdims, **kw)

    def max(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("max", axis, keepdims, kw)
        return max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("min", axis, keepdims, kw)
        return min(self, axis, keepdims)

    def prod(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("prod", axis, keepdims, kw)
        return prod(self, axis, keepdims)

    def argmax(self, axis=None, keepdims=False, **kw):
        return argmax(self, axis=axis, keepdims=keepdims, **kw)

    def argmin(self, axis=None, keepdims=False, **kw):
        return argmin(self, axis=axis, keepdims=keepdims, **kw)

    def logsumexp(self, axis=None, keepdims=False, **kw):
        if kw:
            axis, keepdims = _axis_kw("logsumexp", axis, keepdims, kw)
        return logsumexp(self, axis, keepdims)

    def all(self, axis=None, keepdims=False, **kw):
        return all(self, axis=axis, keepdims=keepdims, **kw)

    def any(self, axis=None, keepdims=False, **kw):
        return any(self, axis=axis, keepdims=keepdims, **kw)

    def cumsum(self, axis=None, **kw):
        if kw:
            axis, _ = _axis_kw("cumsum", axis, False, kw)
        return cumsum(self, axis)

    def cumprod(self, axis=None, **kw):
        if kw:
            axis, _ = _axis_kw("cumprod", axis, False, kw)
        return cumprod(self, axis)

    def softmax(self, axis=-1):
        return softmax(self, axis=axis)

    def log_softmax(self, axis=-1):
        return log_softmax(self, axis=axis)

    # Element-wise methods under NumPy's names where ndarray has them (round, clip) and
    # PyTorch's elsewhere (x.tan(), x.log1p(), x.floor(), ...): see ``_ELEMENTWISE_METHODS``.
    def round(self, decimals=0):
        """Rounded to ``decimals`` places, halves to even (zero gradient)."""
        return round(self, decimals)

    def __round__(self, ndigits=None):
        """``round(t)`` / ``round(t, n)``: a tensor, as PyTorch's (zero gradient)."""
        return round(self, 0 if ndigits is None else ndigits)

    def clamp(self, min=None, max=None):
        """PyTorch's name for :meth:`clip` (``min``/``max`` for ``a_min``/``a_max``)."""
        return clip(self, min, max)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """All elements as 1-D (NumPy's ``flatten()``; its ``order="C"`` is accepted), or
        axes ``start_dim`` to ``end_dim`` merged as PyTorch's ``flatten(1)``."""
        if start_dim == "C":
            start_dim = 0
        return flatten(self, start_dim, end_dim)

    def transpose(self, *axes):
        """Axes permuted as NumPy's ``transpose`` (reversed when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes or None)

    def squeeze(self, axis=None, *, dim=None):
        """Size-1 axes removed: all, or ``axis`` (which must have size 1, as NumPy's);
        PyTorch's ``dim=`` leaves axes whose size is not 1 alone, as PyTorch does."""
        if dim is not None:
            dims = (dim,) if isinstance(dim, int) else tuple(dim)
            axis = tuple(d for d in dims if self.shape[d] == 1)
            if not axis:
                return self
        return squeeze(self, axis)

    # ------------------------------------------------------------------ shape and indexing
    # NumPy's methods follow NumPy (``repeat``, ``nonzero``, ``sort`` returns the values);
    # PyTorch's (``view``, ``permute``, ``gather``, ``topk``, ...) follow PyTorch.

    def view(self, *shape):
        """PyTorch's ``view``: :meth:`reshape` (a view when the layout allows, else a copy)."""
        return self.reshape(*shape)

    def permute(self, *dims):
        """PyTorch's ``permute``: the axes in the order ``dims`` (see :meth:`transpose`)."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return transpose(self, tuple(dims))

    def unsqueeze(self, dim):
        """PyTorch's ``unsqueeze``: a size-1 axis inserted at ``dim``."""
        return expand_dims(self, dim)

    def expand(self, *sizes):
        """PyTorch's ``expand``: broadcast to ``sizes``, where ``-1`` keeps an axis's size
        (new axes go in front)."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand: {len(sizes)} sizes given for a tensor of shape {self.shape}")
        shape = tuple(
            self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes)
        )
        return broadcast_to(self, shape)

    def flip(self, axis=None, *, dims=None):
        """Reversed along ``axis`` (NumPy) or ``dims`` (PyTorch); all axes when neither."""
        return flip(self, dims if dims is not None else axis)

    def rot90(self, k=1, axes=(0, 1), *, dims=None):
        return rot90(self, k, dims if dims is not None else axes)

    def roll(self, shift, axis=None, *, dims=None):
        return roll(self, shift, dims if dims is not None else axis)

    def repeat(self, repeats, axis=None, *, dim=None):
        """NumPy's ``repeat`` (each element ``repeats`` times); PyTorch's ``repeat`` is
        :meth:`tile`."""
        return repeat(self, repeats, _dim(axis, dim))

    def tile(self, *reps):
        if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
            reps = tuple(reps[0])
        return tile(self, reps)

    def take(self, indices, axis=None, *, dim=None):
        return take(self, indices, _dim(axis, dim))

    def take_along_axis(self, indices, axis=None, *, dim=None):
        return take_along_axis(self, indices, _dim(axis, dim))

    take_along_dim = take_along_axis

    def scatter(self, dim, index, src=None, *, value=None):
        return scatter(self, dim, index, src, value=value)

    def sort(self, axis=-1, *, dim=None, descending=False):
        """The values sorted along ``axis`` (out of place, unlike NumPy's ``ndarray.sort``)."""
        return sort(self, _dim(axis, dim), descending=descending)

    def argsort(self, axis=-1, *, dim=None, descending=False):
        return argsort(self, _dim(axis, dim), descending=descending)

    def partition(self, kth, axis=-1, *, dim=None):
        """The partitioned values (out of place, unlike NumPy's ``ndarray.partition``)."""
        return partition(self, kth, _dim(axis, dim))

    def argpartition(self, kth, axis=-1, *, dim=None):
        return argpartition(self, kth, _dim(axis, dim))

    def unique(
        self, return_index=False, return_inverse=False, return_counts=False, axis=None, *, dim=None
    ):
        return unique(self, return_index, return_inverse, return_counts, _dim(axis, dim))

    def nonzero(self):
        """NumPy's ``nonzero``: one index tensor per axis (PyTorch's form is :meth:`argwhere`)."""
        return nonzero(self)


# Tensor.name(...) -> cr.name(self, ...), with the op's own parameters.
_SAME_NAME = (
    "trace", "diagonal", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu",
    "clip", "swapaxes", "expand_dims", "broadcast_to", "ravel", "moveaxis", "fliplr", "flipud",
    "gather", "scatter_add", "index_add", "masked_fill", "topk", "searchsorted", "argwhere",
)  # fmt: skip
# Tensor.name() -> cr.name(self): PyTorch's method name -> chainrule's op.
_ELEMENTWISE_METHODS = {
    "tan": "tan", "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "sinh": "sinh", "cosh": "cosh",
    "arcsinh": "arcsinh", "arccosh": "arccosh", "arctanh": "arctanh", "asinh": "arcsinh",
    "acosh": "arccosh", "atanh": "arctanh", "log1p": "log1p", "expm1": "expm1",
    "log2": "log2", "log10": "log10", "exp2": "exp2", "square": "square",
    "reciprocal": "reciprocal", "sinc": "sinc", "deg2rad": "deg2rad", "rad2deg": "rad2deg",
    "sign": "sign", "floor": "floor", "ceil": "ceil", "trunc": "trunc", "fix": "trunc",
    "rint": "rint", "erf": "erf", "erfc": "erfc", "erfinv": "erfinv", "lgamma": "gammaln",
    "digamma": "digamma", "nan_to_num": "nan_to_num", "bitwise_not": "bitwise_not",
    "isinf": "isinf", "isnan": "isnan", "isfinite": "isfinite",
    "silu": "silu", "mish": "mish", "selu": "selu", "celu": "celu", "hardtanh": "hardtanh",
    "relu6": "relu6", "hardsigmoid": "hardsigmoid", "hardswish": "hardswish",
    "softsign": "softsign", "logsigmoid": "logsigmoid", "softmin": "softmin",
    "gelu": "gelu", "elu": "elu", "softplus": "softplus", "leaky_relu": "leaky_relu",
}  # fmt: skip
_BINARY_METHODS = {
    "arctan2": "arctan2", "atan2": "arctan2", "hypot": "hypot", "fmod": "fmod",
    "remainder": "remainder", "floor_divide": "floor_divide", "fmax": "fmax", "fmin": "fmin",
    "copysign": "copysign", "logaddexp": "logaddexp", "logaddexp2": "logaddexp2",
    "xlogy": "xlogy", "heaviside": "heaviside", "maximum": "maximum", "minimum": "minimum",
    "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
}  # fmt: skip


def _method(op_name: str, method_name: str) -> Callable:
    op = next(getattr(m, op_name) for m in _OP_MODULES if hasattr(m, op_name))

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return op(self, *args, **kwargs)

    method.__name__ = method_name
    method.__qualname__ = f"Tensor.{method_name}"
    method.__module__ = Tensor.__module__
    method.__doc__ = f"``cr.{op_name}(self, ...)``."
    return method


_OP_MODULES = (elementwise, special, activation, shape_ops, indexing, products, sort_ops)
for _name, _op in (dict.fromkeys(_SAME_NAME) | _ELEMENTWISE_METHODS | _BINARY_METHODS).items():
    if _name not in vars(_Methods):  # methods written out above take precedence
        setattr(Tensor, _name, _method(_op or _name, _name))
Tensor.movedim = Tensor.moveaxis  # PyTorch's name


def _dim(axis: Any, dim: Any) -> Any:
    """A method's ``axis`` or, when given, PyTorch's ``dim`` for it."""
    return axis if dim is None else dim


def _axis_kw(name: str, axis: Any, keepdims: Any, kw: dict) -> tuple[Any, bool]:
    """``(axis, keepdims)`` from a method given PyTorch's ``dim=`` / ``keepdim=``; NumPy's
    ``out=None`` and ``dtype=None`` are accepted too (what ``numpy.sum(t)`` would pass)."""
    extra = set(kw) - {"dim", "keepdim", "out", "dtype"}
    if extra:
        raise TypeError(f"Tensor.{name}() got unexpected keyword arguments {sorted(extra)}")
    if kw.get("out") is not None:
        raise TypeError(
            f"Tensor.{name}(out=...): chainrule ops return a new tensor and write into none; "
            "use the result instead"
        )
    if kw.get("dtype") is not None:
        raise TypeError(
            f"Tensor.{name}(dtype={kw['dtype']!r}): cast first, t.astype(dtype).{name}(...)"
        )
    return pick_axis(name, axis, kw.get("dim"), keepdims, kw.get("keepdim"))
