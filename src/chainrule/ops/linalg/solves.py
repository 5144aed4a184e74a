"""Inverses, solves and determinants: ``inv``, ``solve``, ``solve_triangular``, ``det``,
``slogdet``, ``pinv``, ``lstsq``. Their rules are written with these same ops (inv's with
matmul and inv), so they differentiate again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import ShapeError
from chainrule.ops._special import scipy_attr
from chainrule.ops.elementwise import where
from chainrule.ops.linalg._common import (
    LstsqResult,
    SlogdetResult,
    _lapack,
    _matrix,
    _mT,
    _square,
    _t,
)
from chainrule.ops.shape import expand_dims, getitem
from chainrule.tensor import Tensor


# ---------------------------------------------------------------------------- inverse, solve
@primitive
def inv(a):
    """Matrix inverse of the last two axes (``numpy.linalg.inv``).

    ā = −outᵀ ḡ outᵀ
    """
    _square("inv", a)
    return _lapack("inv", "singular matrix, expected an invertible one", a.shape,
                   backend.xp.linalg.inv, a)  # fmt: skip


inv.defvjp(lambda g, out, a: -(_mT(out) @ g @ _mT(out)), keep="out")


def solve(a: Any, b: Any) -> Tensor:
    """``x`` with ``a @ x = b`` (``numpy.linalg.solve``): ``a`` (..., M, M); ``b`` (M,) a
    vector when 1-D, else (..., M, K); batch axes broadcast.

    Raises :class:`~chainrule.errors.LinAlgError` for a singular ``a``,
    :class:`~chainrule.errors.ShapeError` for shapes that do not fit.
    """
    a, b = _t(a), _t(b)
    _square("solve", a)
    vector = b.ndim == 1
    if (b.shape[0] if vector else b.shape[-2] if b.ndim >= 2 else -1) != a.shape[-1]:
        raise ShapeError(
            f"solve: b of shape {b.shape} does not fit a of shape {a.shape} (expected "
            f"b (..., {a.shape[-1]}, K) or ({a.shape[-1]},))"
        )
    if vector:
        return getitem(_solve(a, expand_dims(b, -1)), (Ellipsis, 0))
    return _solve(a, b)


@primitive
def _solve(a, b):
    """``x`` with ``a @ x = b`` for b (..., M, K) (``numpy.linalg.solve``).

    b̄ = solve(aᵀ, ḡ)
    ā = −b̄ outᵀ
    """
    return _lapack("solve", "singular matrix a, expected an invertible one", a.shape,
                   backend.xp.linalg.solve, a, b)  # fmt: skip


def _solve_grad(g, out, a, b):
    gb = _solve(_mT(a), g)
    return -(gb @ _mT(out)), gb


_solve.defvjp_all(_solve_grad, keep="a out")


def solve_triangular(
    a: Any,
    b: Any,
    lower: bool = False,
    unit_diagonal: bool = False,
    trans: int | str = 0,
    *,
    upper: bool | None = None,
    unitriangular: bool | None = None,
) -> Tensor:
    """``x`` with ``T @ x = b`` (``trans=0``) or ``Tᵀ @ x = b`` (``trans=1``/``"T"``), T the
    lower (``lower=True``) or upper triangle of ``a`` (SciPy's ``solve_triangular``; the other
    triangle is not read; ``unit_diagonal`` takes the diagonal as ones). PyTorch's ``upper=``
    and ``unitriangular=`` are accepted. ``a`` (..., M, M), ``b`` (M,) or (..., M, K).

    Raises :class:`~chainrule.errors.LinAlgError` for a zero on T's diagonal.
    """
    a, b = _t(a), _t(b)
    if upper is not None:
        lower = not upper
    if unitriangular is not None:
        unit_diagonal = unitriangular
    transposed = trans in (1, "T", "C")
    _square("solve_triangular", a)
    vector = b.ndim == 1
    if (b.shape[0] if vector else b.shape[-2] if b.ndim >= 2 else -1) != a.shape[-1]:
        raise ShapeError(
            f"solve_triangular: b of shape {b.shape} does not fit a of shape {a.shape}"
        )
    bm = expand_dims(b, -1) if vector else b
    x = _solve_triangular(a, bm, lower=bool(lower), unit=bool(unit_diagonal), trans=transposed)
    return getitem(x, (Ellipsis, 0)) if vector else x


def _triangle_of(a: Any, lower: bool, unit: bool) -> Any:
    xp = backend.array_module(a)
    n = a.shape[-1]
    t = xp.tril(a) if lower else xp.triu(a)
    if unit:
        t = t.copy()
        i = xp.arange(n)
        t[..., i, i] = 1
    return t


@primitive
def _solve_triangular(a, b, *, lower=False, unit=False, trans=False):
    """``T⁻¹ b`` (or ``T⁻ᵀ b`` when ``trans``), T a triangle of ``a`` (``solve_triangular``).

    b̄ = T⁻ᵀ ḡ   (T⁻¹ ḡ when trans)
    ā = −triangle(b̄ outᵀ)   (−triangle(out b̄ᵀ) when trans; no diagonal when unit)
    """
    what = "zero on the triangle's diagonal"
    trsm = _scipy_solve_triangular(a, b)
    if trsm is not None:  # LAPACK's triangular solve: reads the triangle, no LU, no copy of it
        return _lapack("solve_triangular", what, a.shape, trsm, a, b, lower=lower,
                       unit_diagonal=unit, trans=int(trans), check_finite=False)  # fmt: skip
    t = _triangle_of(a, lower, unit)
    if trans:
        t = backend.xp.swapaxes(t, -1, -2)
    return _lapack("solve_triangular", what, a.shape, backend.xp.linalg.solve, t, b)


def _scipy_solve_triangular(a: Any, b: Any) -> Any:
    """SciPy's ``solve_triangular`` for one 2-D host system of real floats of one dtype, else
    None (batches, other devices, no SciPy: a general solve of the triangle instead)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2:
        return None
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64) or not a.size * b.size:
        return None
    return scipy_attr("linalg", "solve_triangular")


def _solve_triangular_grad(g, out, a, b, *, lower=False, unit=False, trans=False):
    gb = _solve_triangular(a, g, lower=lower, unit=unit, trans=not trans)
    ga = -(out @ _mT(gb)) if trans else -(gb @ _mT(out))
    n = a.shape[-1]
    mask = backend.xp.tri(n, n, -1 if unit else 0, dtype=bool)
    return where(mask if lower else mask.T, ga, 0), gb


_solve_triangular.defvjp_all(_solve_triangular_grad, keep="a out")


# ---------------------------------------------------------------------------- determinants
@primitive
def det(a):
    """Determinant of the last two axes (``numpy.linalg.det``).

    ā = ḡ out a⁻ᵀ   (the cofactor matrix ḡ adj(a)ᵀ where a is singular)
    """
    _square("det", a)
    return backend.xp.linalg.det(a)


def _det_grad(g, out, a):
    scale = expand_dims(expand_dims(g, -1), -1)
    if (out.data == 0).any():  # singular somewhere: the cofactors, from an SVD (no inverse)
        return scale * Tensor._make(_cofactors(a.data))
    if not is_grad_enabled():
        fast = _inv_t_times(a.data, g.data * out.data)
        if fast is not None:
            return Tensor._make(fast)
    return scale * expand_dims(expand_dims(out, -1), -1) * _mT(inv(a))


def _inv_t_times(a: Any, c: Any) -> Any:
    """c a⁻ᵀ for one 2-D host matrix of float32/64 and a number c, by LAPACK's LU and
    ``getri`` (about a fifth fewer operations than NumPy's inverse, a solve against the
    identity) on aᵀ, scaled in place: one new array. None where that does not apply (batches,
    other devices, no SciPy, a singular matrix), for the general rule to take over."""
    if type(a) is not np.ndarray or a.ndim != 2 or a.dtype not in (np.float32, np.float64):
        return None
    get_lapack_funcs = scipy_attr("linalg", "get_lapack_funcs")
    if get_lapack_funcs is None:
        return None
    at = a.T  # Fortran order for LAPACK when a is C order: no copy
    getrf, getri = get_lapack_funcs(("getrf", "getri"), (at,))
    lu, piv, info = getrf(at)
    if info != 0:
        return None
    r, info = getri(lu, piv, overwrite_lu=1)
    if info != 0:
        return None
    r *= c
    return r


def _cofactors(a: Any) -> Any:
    """adj(a)ᵀ = det(U) det(V) U diag(Π_{j≠i} s_j) Vᵀ, exact for singular matrices too."""
    xp = backend.array_module(a)
    u, s, vh = xp.linalg.svd(a)
    n = s.shape[-1]
    ones = xp.ones((*s.shape[:-1], 1), dtype=s.dtype)
    before = xp.cumprod(xp.concatenate([ones, s[..., : n - 1]], axis=-1), axis=-1)
    after = xp.cumprod(xp.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return sign[..., None, None] * ((u * (before * after)[..., None, :]) @ vh)


det.defvjp(_det_grad, keep="a out")


def slogdet(a: Any) -> SlogdetResult:
    """``(sign, logabsdet)`` of the determinant (``numpy.linalg.slogdet``), without overflow.

    ``sign`` carries no gradient; ``logabsdet``'s is a⁻ᵀ.
    """
    a = _t(a)
    _square("slogdet", a)
    both = _slogdet(a)  # one factorisation for both
    return SlogdetResult(getitem(both, (Ellipsis, 0)), getitem(both, (Ellipsis, 1)))


@primitive
def _slogdet(a):
    """``sign`` and log |det a| of the last two axes (``numpy.linalg.slogdet``), stacked
    along a last axis of length 2; only log |det a| is differentiable.

    ā = ḡ[..., 1] a⁻ᵀ
    """
    sign, logabsdet = backend.xp.linalg.slogdet(a)
    return backend.xp.stack([sign, logabsdet], axis=-1)


def _slogdet_grad(g, out, a):
    gl = getitem(g, (Ellipsis, 1))
    if not is_grad_enabled():
        fast = _inv_t_times(a.data, gl.data)
        if fast is not None:
            return Tensor._make(fast)
    return expand_dims(expand_dims(gl, -1), -1) * _mT(inv(a))


_slogdet.defvjp(_slogdet_grad, keep="a")


# ---------------------------------------------------------------------------- pinv, lstsq
@primitive
def pinv(a, rcond=None, hermitian=False):
    """Moore–Penrose pseudo-inverse P of the last two axes (``numpy.linalg.pinv``).

    ā = −Pᵀ ḡ Pᵀ + (I − a P) ḡᵀ P Pᵀ + Pᵀ P ḡᵀ (I − P a)   (where a's rank is locally constant)
    """
    _matrix("pinv", a)
    kwargs = {} if rcond is None else {"rcond": rcond}
    return _lapack("pinv", "no convergence", a.shape, backend.xp.linalg.pinv, a,
                   hermitian=hermitian, **kwargs)  # fmt: skip


def _pinv_adjoint(gp: Tensor, p: Tensor, a: Tensor) -> Tensor:
    pt, gt = _mT(p), _mT(gp)
    x = gt @ p @ pt
    y = pt @ p @ gt
    return -(pt @ gp @ pt) + (x - a @ (p @ x)) + (y - (y @ p) @ a)


pinv.defvjp(lambda g, out, a, rcond=None, hermitian=False: _pinv_adjoint(g, out, a), keep="a out")


def lstsq(a: Any, b: Any, rcond: float | None = None) -> LstsqResult:
    """Least-squares solution of ``a @ x = b`` (``numpy.linalg.lstsq``): a (M, N), b (M,) or
    (M, K). Returns ``(x, residuals, rank, s)``: x the minimum-norm solution (differentiable
    in a and b), residuals the squared residual norms when rank = N < M (else empty), rank an
    int, s a's singular values (no gradient). ``rcond`` defaults to eps · max(M, N).
    """
    a, b = _t(a), _t(b)
    if a.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ShapeError(
            f"lstsq: expected a (M, N) and b (M,) or (M, K), got shapes {a.shape} and {b.shape}"
        )
    m, n = a.shape
    if rcond is None:
        rcond = float(np.finfo(a.dtype if a.dtype.kind == "f" else np.float64).eps) * max(m, n)
    bm = expand_dims(b, -1) if b.ndim == 1 else b
    x = _lstsq(a, bm, rcond=float(rcond))
    s = backend.xp.linalg.svd(a.data, compute_uv=False)
    rank = int((s > rcond * (s[0] if s.size else 0)).sum())
    if rank == n and m > n:
        d = a @ x - bm
        residuals = (d * d).sum(axis=0)
    else:
        residuals = Tensor._make(backend.xp.zeros((0,), dtype=x.dtype))
    if b.ndim == 1:
        x = getitem(x, (Ellipsis, 0))
    return LstsqResult(x, residuals, rank, Tensor._make(s))


@primitive
def _lstsq(a, b, *, rcond=None):
    """Minimum-norm least-squares x = pinv(a) b for b (M, K) (``numpy.linalg.lstsq``'s x).

    b̄ = pinv(a)ᵀ ḡ
    ā = the pinv adjoint at P̄ = ḡ bᵀ
    """
    return _lapack("lstsq", "no convergence", a.shape, backend.xp.linalg.lstsq, a, b,
                   rcond=rcond)[0]  # fmt: skip


def _lstsq_grad(g, out, a, b, *, rcond=None):
    p = pinv(a, rcond)
    return _pinv_adjoint(g @ _mT(b), p, a), _mT(p) @ g


_lstsq.defvjp_all(_lstsq_grad, keep="a b")


# ---------------------------------------------------------------------------- powers
def matrix_power(a: Any, n: int) -> Tensor:
    """``a`` multiplied by itself ``n`` times (``numpy.linalg.matrix_power``): n = 0 the
    identity, n < 0 powers of the inverse; by repeated squaring. Raises
    :class:`~chainrule.errors.LinAlgError` for n < 0 and a singular ``a``."""
    a = _t(a)
    _square("matrix_power", a)
    if not isinstance(n, (int, np.integer)):
        raise TypeError(f"matrix_power: exponent must be an integer, got {n!r}")
    if n == 0:
        eye = backend.xp.eye(a.shape[-1], dtype=a.dtype)
        return Tensor._make(backend.xp.broadcast_to(eye, a.shape).copy())
    if n < 0:
        a, n = inv(a), -n
    result = None
    base = a
    while True:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if not n:
            return result
        base = base @ base
