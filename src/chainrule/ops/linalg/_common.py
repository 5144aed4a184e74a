"""What the ``cr.linalg`` ops share: their result tuples, the shape checks, LAPACK's errors
turned into ours, and the packing of several outputs into one primitive's output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule import backend
from chainrule.errors import LinAlgError, ShapeError
from chainrule.ops.shape import getitem, reshape, swapaxes
from chainrule.tensor import Tensor

# ============================================================================ cr.linalg
# NumPy's ``numpy.linalg`` with gradients, batched over leading axes. Rules are written with
# these same ops (inv's with matmul and inv), so they differentiate again. Ops that return
# several arrays (eigh, svd, qr) compute them in one primitive whose output packs them along
# the last axis; the public functions unpack it with differentiable slicing.


class SlogdetResult(NamedTuple):
    """What :func:`~chainrule.linalg.slogdet` returns: ``sign`` (±1, or 0 for a singular matrix)
    and ``logabsdet`` (log |det a|), each of a's batch shape."""

    sign: Tensor
    logabsdet: Tensor


class EighResult(NamedTuple):
    """What :func:`~chainrule.linalg.eigh` returns: ``eigenvalues`` (ascending, shape
    ``(..., n)``) and ``eigenvectors`` (the columns, shape ``(..., n, n)``)."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class SVDResult(NamedTuple):
    """What :func:`~chainrule.linalg.svd` returns: ``U`` ``(..., m, k)``, ``S`` (descending,
    ``(..., k)``) and ``Vh`` ``(..., k, n)``, with a = U diag(S) Vh and k = min(m, n) (m and n
    with ``full_matrices=True``)."""

    U: Tensor
    S: Tensor
    Vh: Tensor


class QRResult(NamedTuple):
    """What :func:`~chainrule.linalg.qr` returns: ``Q`` (orthonormal columns) and ``R`` (upper
    triangular), with a = Q R."""

    Q: Tensor
    R: Tensor


class LstsqResult(NamedTuple):
    """What :func:`~chainrule.linalg.lstsq` returns, as NumPy's: the solution ``x``, the
    ``residuals`` (squared norms), the ``rank`` of a and its singular values ``s``."""

    x: Tensor
    residuals: Tensor
    rank: int
    s: Tensor


def _mT(t: Any) -> Any:
    return swapaxes(t, -1, -2)


def _square(name: str, a: Any) -> None:
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(
            f"{name}: expected square matrices in the last two axes, got shape {shape}"
        )


def _matrix(name: str, a: Any) -> None:
    if np.ndim(a) < 2:
        raise ShapeError(f"{name}: expected at least 2-D input (matrices), got shape {np.shape(a)}")


def _lapack(name: str, what: str, shape: tuple, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args)``, with NumPy's LinAlgError turned into ours naming the op and shape."""
    try:
        return fn(*args, **kwargs)
    except np.linalg.LinAlgError as exc:
        raise LinAlgError(f"{name}: {what} (input of shape {shape}): {exc}") from exc


def _pack(*arrays: Any) -> Any:
    """Arrays with the same batch axes (all but the ``ndim`` last) joined along one axis."""
    xp = backend.array_module(arrays[0])
    flat = [
        a.reshape(*a.shape[: a.ndim - n], int(np.prod(a.shape[a.ndim - n :], dtype=np.int64)))
        for a, n in arrays
    ]
    return xp.concatenate(flat, axis=-1)


def _unpack(t: Tensor, shapes: list[tuple[int, ...]]) -> list[Tensor]:
    """The pieces of a packed tensor, each reshaped to batch + its own ``shape``."""
    batch = t.shape[:-1]
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        piece = getitem(t, (Ellipsis, slice(start, start + size)))
        out.append(reshape(piece, (*batch, *shape)))
        start += size
    return out


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)
