"""Matrix products: ``matmul`` with NumPy's rules (batched, 1-D promotion) and the fused
``linear`` of a layer, a_k = b_k + W_k h_{k-1} (seeds, module 4.7), for row-major batches.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import DomainError, LinAlgError, ShapeError
from chainrule.ops.elementwise import multiply, sign, where
from chainrule.ops.shape import expand_dims, getitem, reshape, swapaxes, transpose
from chainrule.tensor import Tensor


@primitive
def matmul(x, y):
    """Matrix product with NumPy's rules (``@``): batched, batch axes broadcast, 1-D promoted.

    x̄ = ḡ yᵀ
    ȳ = xᵀ ḡ
    """
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"matmul: needs at least 1-D operands, got shapes {x.shape} and {y.shape}")
    kx = x.shape[-1]
    ky = y.shape[-2] if y.ndim > 1 else y.shape[0]
    if kx != ky:
        raise ShapeError(
            f"matmul: shapes {x.shape} and {y.shape} do not fit (inner dimensions {kx} != {ky})"
        )
    return backend.xp.matmul(x, y)


def _mm(a, b):
    """a @ b, computed as an outer product when the inner dimension is 1 (batch size 1 in a
    weight gradient), which NumPy's matmul does several times slower."""
    if a.shape[-1] == 1:
        if a.ndim == 2 and b.ndim == 2:
            return outer(a, b)
        return multiply(a, b)
    return matmul(a, b)


@primitive
def outer(x, y):
    """Outer product of the flattened inputs (NumPy's ``outer``): (m,) and (n,) -> (m, n).

    x̄ = reshape(ḡ ravel(y), x.shape)
    ȳ = reshape(ravel(x) ḡ, y.shape)
    """
    # einsum's loop beats the broadcast multiply (and matmul) here by about 1.5x.
    return backend.xp.einsum("i,j->ij", x.reshape(-1), y.reshape(-1))


outer.defvjp(lambda g, out, x, y: reshape(matmul(g, reshape(y, (-1,))), x.shape),
             lambda g, out, x, y: reshape(matmul(reshape(x, (-1,)), g), y.shape),
             keep="x y")  # fmt: skip


def _matmul_grad_x(g, out, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return g * y
    if y.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
        return multiply(expand_dims(g, -1), y)
    if x.ndim == 1:  # (k,) @ (..., k, m) -> (..., m); the engine sums the batch axes
        return getitem(matmul(y, expand_dims(g, -1)), (Ellipsis, 0))
    return _mm(g, swapaxes(y, -1, -2))


def _matmul_grad_y(g, out, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    if y.ndim == 1:
        return getitem(matmul(expand_dims(g, -2), x), (Ellipsis, 0, slice(None)))
    if x.ndim == 1:
        return multiply(expand_dims(x, -1), expand_dims(g, -2))
    return _mm(swapaxes(x, -1, -2), g)


matmul.defvjp(_matmul_grad_x, _matmul_grad_y, keep="x y")


@primitive
def linear(x, weight, bias=None):
    """``x @ weight.T + bias``: x (..., in), weight (out, in), bias (out,) -> (..., out).

    x̄ = ḡ weight
    weight̄ = Σ_batch ḡᵀ x
    bias̄ = Σ_batch ḡ

    The seeds' pre-activation a = b + W h for a batch of rows h. Raises
    :class:`~chainrule.errors.ShapeError` when ``x``'s last axis is not ``in``.
    """
    if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
        raise ShapeError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
            f"(expected last dimension {weight.shape[-1]})"
        )
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out


def _linear_grad_weight(g, out, x, weight, bias=None):
    # ∇W = ∇a h^T (seeds), summed over the batch: g^T x with the batch axes flattened.
    if g.ndim != 2:
        g = reshape(g, (-1, g.shape[-1]))
        x = reshape(x, (-1, x.shape[-1]))
    return matmul_tn(g, x)


@primitive
def matmul_tn(x, y):
    """``x.T @ y`` for 2-D x (n, m) and y (n, k) -> (m, k), without materialising ``x.T``.

    x̄ = y ḡᵀ
    ȳ = x ḡ

    An outer product when n is 1 (a weight gradient at batch size 1).
    """
    if x.shape[0] == 1:
        return backend.xp.einsum("ki,kj->ij", x, y)
    return x.T @ y


matmul_tn.defvjp(lambda g, out, x, y: matmul(y, swapaxes(g, 0, 1)),
                 lambda g, out, x, y: matmul(x, g), keep="x y")  # fmt: skip


linear.defvjp(
    lambda g, out, x, weight, bias=None: _mm(g, weight),  # ∇h = W^T ∇a (seeds)
    _linear_grad_weight,
    lambda g, out, x, weight, bias=None: g,  # ∇b = ∇a; the engine sums the batch axes
    keep="x weight",
)


# ============================================================================ cr.linalg
# NumPy's ``numpy.linalg`` with gradients, batched over leading axes. Rules are written with
# these same ops (inv's with matmul and inv), so they differentiate again. Ops that return
# several arrays (eigh, svd, qr) compute them in one primitive whose output packs them along
# the last axis; the public functions unpack it with differentiable slicing.


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class LstsqResult(NamedTuple):
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
    t = _triangle_of(a, lower, unit)
    if trans:
        t = backend.xp.swapaxes(t, -1, -2)
    return _lapack("solve_triangular", "zero on the triangle's diagonal", a.shape,
                   backend.xp.linalg.solve, t, b)  # fmt: skip


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
    return scale * expand_dims(expand_dims(out, -1), -1) * _mT(inv(a))


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
    sign = backend.xp.linalg.slogdet(a.data)[0]
    return SlogdetResult(Tensor._make(sign), _logabsdet(a))


@primitive
def _logabsdet(a):
    """log |det a| of the last two axes (``numpy.linalg.slogdet``'s second output).

    ā = ḡ a⁻ᵀ
    """
    return backend.xp.linalg.slogdet(a)[1]


_logabsdet.defvjp(lambda g, out, a: expand_dims(expand_dims(g, -1), -1) * _mT(inv(a)), keep="a")


# ---------------------------------------------------------------------------- Cholesky
def cholesky(a: Any, upper: bool = False) -> Tensor:
    """Cholesky factor of a symmetric positive-definite ``a`` (``numpy.linalg.cholesky``):
    lower ``L`` with ``L @ L.T = a`` (``upper=True``: ``L.T``). Reads ``a``'s lower triangle;
    its gradient is symmetric, as PyTorch's.

    Raises :class:`~chainrule.errors.LinAlgError` when ``a`` is not positive definite.
    """
    low = _cholesky(_t(a))
    return _mT(low) if upper else low


@primitive
def _cholesky(a):
    """Lower Cholesky factor L of a (``numpy.linalg.cholesky``).

    ā = ½ (S + Sᵀ),  S = L⁻ᵀ Φ(Lᵀ ḡ) L⁻¹   (Φ: lower triangle, diagonal halved)
    """
    _square("cholesky", a)
    return _lapack("cholesky", "not positive definite, expected a symmetric positive-definite "
                   "matrix", a.shape, backend.xp.linalg.cholesky, a)  # fmt: skip


def _cholesky_grad(g, out, a):
    n = out.shape[-1]
    phi = backend.xp.tri(n, n, dtype=out.dtype) - 0.5 * backend.xp.eye(n, dtype=out.dtype)
    p = (_mT(out) @ g) * Tensor._make(phi)
    li = inv(out)
    s = _mT(li) @ p @ li
    return (s + _mT(s)) * 0.5


_cholesky.defvjp(_cholesky_grad, keep="out")


# ---------------------------------------------------------------------------- eigh
def eigh(a: Any, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric ``a``
    (``numpy.linalg.eigh``; reads the ``UPLO`` triangle). The eigenvectors' gradient needs
    distinct eigenvalues: a loss that uses them where eigenvalues repeat raises
    :class:`~chainrule.errors.LinAlgError` in backward (eigenvalues alone are always fine).
    """
    a = _t(a)
    n = a.shape[-1] if a.ndim else 0
    w, v = _unpack(_eigh(a, UPLO), [(n,), (n, n)])
    return EighResult(w, v)


@primitive
def _eigh(a, UPLO="L"):
    """Eigenvalues w and eigenvectors V of a symmetric a, packed (``numpy.linalg.eigh``).

    ā = V (diag(w̄) + ½ (Vᵀ V̄ − V̄ᵀ V) / (w_j − w_i)) Vᵀ
    """
    _square("eigh", a)
    w, v = _lapack("eigh", "no convergence", a.shape, backend.xp.linalg.eigh, a, UPLO)
    return _pack((w, 1), (v, 2))


def _eigh_grad(g, out, a, UPLO="L"):
    n = a.shape[-1]
    w, v = _unpack(out, [(n,), (n, n)])
    gw, gv = _unpack(g, [(n,), (n, n)])
    m = diag_embed_last(gw)
    # Skipped only when V̄ is zero for sure (a loss of the eigenvalues alone); a symbolic ḡ (the
    # zero cotangent forward mode transposes) keeps every term, so the rule stays linear in ḡ.
    if g.requires_grad or gv.data.any():
        inner = _mT(v) @ gv
        gap = _gaps("eigh", "eigenvalues", w, "eigenvectors", a.shape)
        m = m + (inner - _mT(inner)) * 0.5 / gap
    return v @ m @ _mT(v)


_eigh.defvjp(_eigh_grad, keep="a.shape out")


def _gaps(name: str, what: str, w: Tensor, of: str, shape: tuple, squared: bool = False) -> Tensor:
    """E_ij = w_j − w_i (or w_j² − w_i²), 1 on the diagonal, differentiable in w; raises
    :class:`~chainrule.errors.LinAlgError` where two values repeat."""
    xp = backend.array_module(w.data)
    v = w * w if squared else w
    e = expand_dims(v, -2) - expand_dims(v, -1)
    n = w.shape[-1]
    off = ~xp.eye(n, dtype=bool)
    scale = float(xp.abs(v.data).max()) if v.size else 0.0
    if (xp.abs(e.data[..., off]) <= 1e-12 * (scale if scale > 0 else 1e-300)).any():
        raise LinAlgError(
            f"{name} backward: {what} repeat (input of shape {shape}), where "
            f"the {of} are not unique and their gradient does not exist; use a loss of the "
            f"{what} only, or of a subspace that does not depend on the basis"
        )
    return where(off, e, 1)


def diag_embed_last(v: Tensor) -> Tensor:
    """Square matrices with ``v``'s last axis on their diagonals (differentiable)."""
    n = v.shape[-1]
    return expand_dims(v, -1) * Tensor._make(backend.xp.eye(n, dtype=v.dtype))


@primitive
def eigvalsh(a, UPLO="L"):
    """Eigenvalues (ascending) of a symmetric a (``numpy.linalg.eigvalsh``).

    ā = V diag(ḡ) Vᵀ   (V: the eigenvectors, from eigh)
    """
    _square("eigvalsh", a)
    return _lapack("eigvalsh", "no convergence", a.shape, backend.xp.linalg.eigvalsh, a, UPLO)


def _eigvalsh_grad(g, out, a, UPLO="L"):
    v = eigh(a, UPLO).eigenvectors
    return (v * expand_dims(g, -2)) @ _mT(v)


eigvalsh.defvjp(_eigvalsh_grad, keep="a")


# ---------------------------------------------------------------------------- SVD
def svd(
    a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> SVDResult | Tensor:
    """Singular value decomposition ``a = U @ diag(S) @ Vh`` (``numpy.linalg.svd``), S
    descending; ``full_matrices=False`` gives the reduced one; ``compute_uv=False`` only S.

    Gradients through U and Vh need distinct nonzero singular values (else
    :class:`~chainrule.errors.LinAlgError` in backward); with ``full_matrices=True`` the
    columns beyond min(M, N) get none (they are any basis of a subspace), as in PyTorch.
    """
    a = _t(a)
    _matrix("svd", a)
    if not compute_uv:
        return svdvals(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    mu, nv = (m, n) if full_matrices else (k, k)
    u, s, vh = _unpack(_svd(a, bool(full_matrices)), [(m, mu), (k,), (nv, n)])
    return SVDResult(u, s, vh)


@primitive
def _svd(a, full_matrices):
    """U, S and Vh of a, packed (``numpy.linalg.svd``).

    ā = U [(skew(UᵀŪ) S + S skew(Vh V̄hᵀ)) / E + diag(S̄)] Vh + (I − UUᵀ) Ū S⁻¹ Vh + U S⁻¹ V̄h P
    (E_ij = S_j² − S_i², skew(X) = X − Xᵀ, P = I − VhᵀVh)
    """
    u, s, vh = _lapack("svd", "no convergence", a.shape, backend.xp.linalg.svd, a,
                       full_matrices=full_matrices)  # fmt: skip
    return _pack((u, 2), (s, 1), (vh, 2))


def _svd_grad(g, out, a, full_matrices):
    m, n = a.shape[-2:]
    k = min(m, n)
    mu, nv = (m, n) if full_matrices else (k, k)
    u, s, vh = _unpack(out, [(m, mu), (k,), (nv, n)])
    gu, gs, gvh = _unpack(g, [(m, mu), (k,), (nv, n)])
    if full_matrices:  # the extra columns are any basis: no gradient, as PyTorch
        u, gu = getitem(u, (Ellipsis, slice(0, k))), getitem(gu, (Ellipsis, slice(0, k)))
        vh, gvh = (
            getitem(vh, (Ellipsis, slice(0, k), slice(None))),
            getitem(gvh, (Ellipsis, slice(0, k), slice(None))),
        )
    # As in eigh: skip a term only when its ḡ part is zero for sure (not symbolic).
    has_u = g.requires_grad or bool(gu.data.any())
    has_v = g.requires_grad or bool(gvh.data.any())
    ret = diag_embed_last(gs)
    if not (has_u or has_v):
        return u @ ret @ vh
    e = _gaps("svd", "singular values", s, "singular vectors", a.shape, squared=True)
    s_row, s_col = expand_dims(s, -2), expand_dims(s, -1)
    if has_u:
        uu = _mT(u) @ gu
        ret = ret + (uu - _mT(uu)) * s_row / e
    if has_v:
        vv = vh @ _mT(gvh)
        ret = ret + s_col * (vv - _mT(vv)) / e
    ga = u @ ret @ vh
    if m > k and has_u:
        gus = gu / s_row
        ga = ga + (gus - u @ (_mT(u) @ gus)) @ vh
    if n > k and has_v:
        gvs = gvh / s_col
        ga = ga + u @ (gvs - (gvs @ _mT(vh)) @ vh)
    return ga


_svd.defvjp(_svd_grad, keep="a.shape out")


@primitive
def svdvals(a):
    """Singular values of a, descending (``numpy.linalg.svdvals``).

    ā = U diag(ḡ) Vh   (U, Vh: the reduced SVD's)
    """
    _matrix("svdvals", a)
    return _lapack("svdvals", "no convergence", a.shape, backend.xp.linalg.svd, a,
                   compute_uv=False)  # fmt: skip


def _svdvals_grad(g, out, a):
    u, _, vh = svd(a, full_matrices=False)
    return (u * expand_dims(g, -2)) @ vh


svdvals.defvjp(_svdvals_grad, keep="a")


# ---------------------------------------------------------------------------- QR
def qr(a: Any, mode: str = "reduced") -> QRResult | Tensor:
    """QR decomposition ``a = Q @ R`` (``numpy.linalg.qr``): ``mode`` "reduced" (Q (..., M,
    K), R (..., K, N), K = min(M, N)), "complete" (Q (..., M, M)) or "r" (R only).

    Gradients need R's diagonal nonzero (a of full rank); "complete" with M > N has none
    for Q (its extra columns are any basis), as in PyTorch.
    """
    a = _t(a)
    _matrix("qr", a)
    if mode not in ("reduced", "complete", "r"):
        raise DomainError(f"qr: mode {mode!r}; expected 'reduced', 'complete' or 'r'")
    m, n = a.shape[-2:]
    k = min(m, n)
    complete = mode == "complete"
    q, r = _unpack(_qr(a, complete), [(m, m if complete else k), (m if complete else k, n)])
    return r if mode == "r" else QRResult(q, r)


@primitive
def _qr(a, complete):
    """Q and R of a, packed (``numpy.linalg.qr``).

    ā = Q (R̄ + M R⁻ᵀ) + (Q̄ − Q QᵀQ̄) R⁻ᵀ,  M = tril(QᵀQ̄ − Q̄ᵀQ + R R̄ᵀ − R̄ Rᵀ, −1)
    (M ≥ N; for M < N this on a's first M columns, Q R̄ on the rest)
    """
    q, r = backend.xp.linalg.qr(a, mode="complete" if complete else "reduced")
    return _pack((q, 2), (r, 2))


def _qr_grad(g, out, a, complete):
    m, n = a.shape[-2:]
    k = min(m, n)
    kq = m if complete else k
    q, r = _unpack(out, [(m, kq), (kq, n)])
    gq, gr = _unpack(g, [(m, kq), (kq, n)])
    if complete and m > n:
        if gq.data.any():
            raise LinAlgError(
                f"qr backward: mode='complete' with M > N (input of shape {a.shape}): Q's "
                "extra columns are not unique, so Q has no gradient; use mode='reduced'"
            )
        q, gq = getitem(q, (Ellipsis, slice(0, n))), getitem(gq, (Ellipsis, slice(0, n)))
        r, gr = (
            getitem(r, (Ellipsis, slice(0, n), slice(None))),
            getitem(gr, (Ellipsis, slice(0, n), slice(None))),
        )
    if m >= n:
        return _qr_grad_tall(q, r, gq, gr)
    x_r, y_r = getitem(r, (Ellipsis, slice(0, m))), getitem(r, (Ellipsis, slice(m, None)))
    gx_r, gy_r = getitem(gr, (Ellipsis, slice(0, m))), getitem(gr, (Ellipsis, slice(m, None)))
    y = q @ y_r  # a's last N − M columns
    gx = _qr_grad_tall(q, x_r, gq + y @ _mT(gy_r), gx_r)
    return _ops_concat(gx, q @ gy_r)


def _qr_grad_tall(q: Tensor, r: Tensor, gq: Tensor, gr: Tensor) -> Tensor:
    """ā for a = QR with R square upper triangular (TensorFlow's and Seeger et al.'s form)."""
    qdq = _mT(q) @ gq
    rdr = r @ _mT(gr)
    n = r.shape[-1]
    low = Tensor._make(backend.xp.tri(n, n, -1, dtype=bool))
    m = where(low, qdq - _mT(qdq) + rdr - _mT(rdr), 0)
    ga = q @ (gr + _rsolve_t(m, r)) + _rsolve_t(gq - q @ qdq, r)
    return ga


def _rsolve_t(x: Tensor, r: Tensor) -> Tensor:
    """x R⁻ᵀ for upper-triangular R: (R⁻¹ xᵀ)ᵀ."""
    return _mT(_solve_triangular(r, _mT(x), lower=False))


def _ops_concat(a: Tensor, b: Tensor) -> Tensor:
    from chainrule.ops.shape import concatenate

    return concatenate([a, b], axis=-1)


_qr.defvjp(_qr_grad, keep="a.shape out")


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


# ---------------------------------------------------------------------------- powers, chains
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


def multi_dot(arrays: Any) -> Tensor:
    """The product of a chain of matrices in the cheapest order (``numpy.linalg.multi_dot``):
    the first may be 1-D (a row), the last 1-D (a column). Raises
    :class:`~chainrule.errors.ShapeError` for fewer than two arrays or shapes that do not
    chain."""
    ts = [_t(x) for x in arrays]
    if len(ts) < 2:
        raise ShapeError(f"multi_dot: expected at least two arrays, got {len(ts)}")
    first_vec, last_vec = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_vec:
        ts[0] = expand_dims(ts[0], 0)
    if last_vec:
        ts[-1] = expand_dims(ts[-1], -1)
    for i, t in enumerate(ts):
        if t.ndim != 2:
            raise ShapeError(f"multi_dot: array {i} has shape {t.shape}; expected 2-D")
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise ShapeError(
                f"multi_dot: shapes {ts[i].shape} and {ts[i + 1].shape} (arrays {i} and "
                f"{i + 1}) do not chain"
            )
    out = _chain(ts, _chain_order([t.shape[0] for t in ts] + [ts[-1].shape[1]]), 0, len(ts) - 1)
    if first_vec:
        out = getitem(out, 0)
    if last_vec:
        out = getitem(out, (Ellipsis, 0))
    return out


def _chain_order(dims: list[int]) -> list[list[int]]:
    """The classic matrix-chain dynamic programme: split[i][j], the best cut of i..j."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            best = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if best is None or c < best:
                    best, split[i][j] = c, k
            cost[i][j] = best
    return split


def _chain(ts: list[Tensor], split: list[list[int]], i: int, j: int) -> Tensor:
    if i == j:
        return ts[i]
    k = split[i][j]
    return matmul(_chain(ts, split, i, k), _chain(ts, split, k + 1, j))


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def vecdot(x1: Any, x2: Any, axis: int = -1) -> Tensor:
    """Dot products of vectors along ``axis``, broadcast over the rest
    (``numpy.linalg.vecdot`` for real tensors). Raises :class:`~chainrule.errors.ShapeError`
    when the vector axes differ in length."""
    from chainrule.ops.reduction import sum as _sum

    x1, x2 = _t(x1), _t(x2)
    n1 = x1.shape[axis] if x1.ndim else None
    n2 = x2.shape[axis] if x2.ndim else None
    if n1 is None or n2 is None or n1 != n2:
        raise ShapeError(
            f"vecdot: axis {axis} of shapes {x1.shape} and {x2.shape} must hold vectors of one "
            "length"
        )
    return _sum(x1 * x2, axis=axis)


def matrix_transpose(x: Any) -> Tensor:
    """The last two axes swapped (``numpy.linalg.matrix_transpose``, ``Tensor.mT``)."""
    x = _t(x)
    _matrix("matrix_transpose", x)
    return _mT(x)


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
