"""Decompositions: ``cholesky``, ``eigh``, ``eigvalsh``, ``svd``, ``svdvals``, ``qr``. Each
computes its factors in one primitive whose output packs them along the last axis; the
public function unpacks it with differentiable slicing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import DomainError, LinAlgError
from chainrule.ops._special import scipy_attr
from chainrule.ops.elementwise import where
from chainrule.ops.linalg._common import (
    EighResult,
    QRResult,
    SVDResult,
    _lapack,
    _matrix,
    _mT,
    _pack,
    _square,
    _t,
    _unpack,
)
from chainrule.ops.linalg.solves import _solve_triangular, inv
from chainrule.ops.shape import expand_dims, getitem
from chainrule.tensor import Tensor


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
    if not is_grad_enabled():  # no graph of the backward wanted: BLAS's triangular products
        fast = _cholesky_grad_blas(g.data, out.data)
        if fast is not None:
            return Tensor._make(fast)
    n = out.shape[-1]
    phi = backend.xp.tri(n, n, dtype=out.dtype) - 0.5 * backend.xp.eye(n, dtype=out.dtype)
    p = (_mT(out) @ g) * Tensor._make(phi)
    li = inv(out)
    s = _mT(li) @ p @ li
    return (s + _mT(s)) * 0.5


def _cholesky_grad_blas(g: Any, low: Any) -> Any:
    """The rule above on one 2-D host matrix with triangular products and solves (SciPy's
    BLAS ``trmm``/``trsm``: L⁻¹ is never formed), or None where SciPy or they do not apply."""
    if type(low) is not np.ndarray or low.ndim != 2 or low.dtype.kind != "f" or low.size == 0:
        return None
    get_blas_funcs = scipy_attr("linalg", "get_blas_funcs")
    if get_blas_funcs is None:
        return None
    # BLAS reads column-major arrays: a row-major L is a column-major U = Lᵀ (no copy), so
    # everything below is the transpose of the rule, Sᵀ = U⁻¹ Φ(Lᵀ ḡ)ᵀ U⁻ᵀ, and S + Sᵀ is
    # the same either way.
    u, gt = low.T, np.asarray(g).T
    trmm, trsm = get_blas_funcs(("trmm", "trsm"), (u, gt))
    pt = trmm(1.0, u, gt, side=1, trans_a=1)  # (Lᵀ ḡ)ᵀ = ḡᵀ L
    n = low.shape[0]
    pt *= (np.tri(n, n, dtype=pt.dtype) - 0.5 * np.eye(n, dtype=pt.dtype)).T  # Φ, transposed
    pt = trsm(1.0, u, pt, overwrite_b=1)  # U⁻¹ Φᵀ
    st = trsm(1.0, u, pt, side=1, trans_a=1, overwrite_b=1)  # U⁻¹ Φᵀ U⁻ᵀ
    out = st + st.T
    out *= 0.5
    return out


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
