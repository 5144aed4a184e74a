"""Norms and the numbers of a matrix: ``vector_norm``, ``matrix_norm``, ``norm`` (NumPy's),
``cond``, ``matrix_rank``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import DomainError, ShapeError
from chainrule.ops.elementwise import sign, where
from chainrule.ops.linalg._common import (
    _matrix,
    _square,
    _t,
)
from chainrule.ops.linalg.decompositions import svdvals
from chainrule.ops.linalg.solves import inv
from chainrule.ops.shape import reshape, transpose
from chainrule.tensor import Tensor


# ---------------------------------------------------------------------------- norms
def vector_norm(
    x: Any,
    ord: float = 2,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dim: Any = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Vector p-norm over ``axis`` (``numpy.linalg.vector_norm``; every axis when None):
    ``ord`` any real p, ``inf``, ``-inf`` or 0 (the count of nonzeros, no gradient). The
    gradient at a zero vector is 0, as PyTorch's."""
    from chainrule.ops.reduction import max as _max
    from chainrule.ops.reduction import min as _min
    from chainrule.ops.reduction import pick_axis
    from chainrule.ops.reduction import sum as _sum

    x = _t(x)
    axis, keepdims = pick_axis("vector_norm", axis, dim, keepdims, keepdim)
    if isinstance(axis, list):
        axis = tuple(axis)
    if ord == np.inf:
        return _max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return _min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        nz = backend.xp.count_nonzero(x.data, axis=axis, keepdims=keepdims)
        return Tensor._make(backend.xp.asarray(nz, dtype=x.dtype))
    if ord == 1:
        return _sum(abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, str) or not np.isscalar(ord):
        raise DomainError(f"vector_norm: ord {ord!r}; expected a number, inf or -inf")
    return _pnorm(x, float(ord), axis, keepdims)


@primitive
def _pnorm(x, p, axis, keepdims):
    """(Σ |x|ᵖ)^(1/p) over ``axis`` (``numpy.linalg.vector_norm``; p = 2 the Euclidean norm).

    x̄ = broadcast(ḡ) ⊙ sign(x) |x|ᵖ⁻¹ / outᵖ⁻¹   (0 where out = 0)
    """
    xp = backend.xp
    if p == 2:
        if axis is None and not keepdims:
            flat = x.reshape(-1)
            return xp.sqrt(xp.dot(flat, flat))
        return xp.sqrt((x * x).sum(axis=axis, keepdims=keepdims))
    return (xp.abs(x) ** p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


def _pnorm_grad(g, out, x, p, axis, keepdims):
    from chainrule.ops.reduction import _keep

    safe = where(out.data == 0, 1, out)
    if p == 2:  # x ḡ / out: the small factor first, then one pass over x
        return x * _keep(g / safe, x.shape, axis, keepdims)
    scale = _keep(g / safe ** (p - 1), x.shape, axis, keepdims)
    return where(x.data == 0, 0, sign(x) * abs(x) ** (p - 1)) * scale


_pnorm.defvjp(_pnorm_grad, keep="x out")


def matrix_norm(
    x: Any,
    ord: Any = "fro",
    axis: tuple[int, int] | None = None,
    keepdims: bool = False,
    *,
    dim: tuple[int, int] | None = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Matrix norm over the two axes ``axis`` (the last two by default;
    ``numpy.linalg.matrix_norm``): ``ord``
    "fro", "nuc", 1, -1, 2, -2, inf or -inf. Raises
    :class:`~chainrule.errors.DomainError` for another ``ord``."""
    from chainrule.ops.reduction import _axes, pick_axis
    from chainrule.ops.reduction import max as _max
    from chainrule.ops.reduction import min as _min
    from chainrule.ops.reduction import sum as _sum

    x = _t(x)
    axis, keepdims = pick_axis("matrix_norm", axis, dim, keepdims, keepdim)
    axis = (-2, -1) if axis is None else axis
    _matrix("matrix_norm", x)
    r, c = _axes(tuple(axis), x.ndim, "matrix_norm")
    if r == c:
        raise ShapeError(f"matrix_norm: the two axes {axis} are the same axis")
    if ord == "fro":
        return _pnorm(x, 2.0, (r, c), keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        inner_axis, outer_axis = (r, c) if ord in (1, -1) else (c, r)
        sums = _sum(abs(x), axis=inner_axis, keepdims=True)
        pick = _max if ord in (1, np.inf) else _min
        out = pick(sums, axis=outer_axis, keepdims=True)
    elif ord in ("nuc", 2, -2):
        rest = [i for i in range(x.ndim) if i not in (r, c)]
        s = svdvals(transpose(x, (*rest, r, c)))
        if ord == "nuc":
            out = _sum(s, axis=-1)
        else:
            out = (_max if ord == 2 else _min)(s, axis=-1)
        out = reshape(out, tuple(1 if i in (r, c) else n for i, n in enumerate(x.shape)))
    else:
        raise DomainError(
            f"matrix_norm: ord {ord!r}; expected 'fro', 'nuc', 1, -1, 2, -2, inf or -inf"
        )
    if keepdims:
        return out
    return reshape(out, tuple(n for i, n in enumerate(x.shape) if i not in (r, c)))


def norm(
    x: Any,
    ord: Any = None,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dim: Any = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Vector or matrix norm (``numpy.linalg.norm``): with ``axis`` None, the 2-norm of the
    flattened ``x`` when ``ord`` is None, else the vector (1-D) or matrix (2-D) norm of
    order ``ord``; an int ``axis`` gives vector norms, a pair of axes matrix norms."""
    from chainrule.ops.reduction import pick_axis

    x = _t(x)
    axis, keepdims = pick_axis("norm", axis, dim, keepdims, keepdim)
    if axis is None:
        if ord is None:
            return _pnorm(x, 2.0, None, keepdims)
        if x.ndim == 1:
            return vector_norm(x, ord, None, keepdims)
        if x.ndim == 2:
            return matrix_norm(x, ord, (0, 1), keepdims)
        raise ShapeError(f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D x, got {x.shape}")
    if isinstance(axis, (int, np.integer)) or len(axis) == 1:
        if isinstance(ord, str):
            raise DomainError(f"norm: ord {ord!r} is a matrix norm; vector norms take numbers")
        return vector_norm(x, 2 if ord is None else ord, axis, keepdims)
    if len(axis) == 2:
        return matrix_norm(x, "fro" if ord is None else ord, tuple(axis), keepdims)
    raise ShapeError(f"norm: axis {axis}: expected one axis (vector) or two (matrix)")


def cond(x: Any, p: Any = None) -> Tensor:
    """Condition number (``numpy.linalg.cond``): σ_max / σ_min for ``p`` None, 2 or -2 (its
    inverse), otherwise ``norm(x, p) * norm(inv(x), p)`` for square ``x``."""
    x = _t(x)
    _matrix("cond", x)
    if p is None or p in (2, -2):
        from chainrule.ops.reduction import max as _max
        from chainrule.ops.reduction import min as _min

        s = svdvals(x)
        ratio = _max(s, axis=-1) / _min(s, axis=-1)
        return 1 / ratio if p == -2 else ratio
    _square("cond", x)
    return matrix_norm(x, p) * matrix_norm(inv(x), p)


def matrix_rank(a: Any, tol: float | None = None, hermitian: bool = False) -> Tensor:
    """Number of singular values above ``tol`` (default σ_max · max(M, N) · eps), as
    ``numpy.linalg.matrix_rank``: an int64 tensor, no gradient."""
    data = a.data if isinstance(a, Tensor) else backend.xp.asarray(a)
    rank = backend.xp.linalg.matrix_rank(data, tol=tol, hermitian=hermitian)
    return Tensor._make(backend.xp.asarray(rank, dtype=np.int64))
