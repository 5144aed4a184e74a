"""``cr.linalg`` (NumPy's numpy.linalg): values equal to NumPy's, gradients to finite
differences and to PyTorch's ``torch.linalg``, second derivatives to PyTorch's, on drawn
matrix sizes (1 included) and batch shapes (empty batches included, and broadcast batch axes
for solve).

Inputs are kept where each op is smooth: well-conditioned matrices for inverses and solves,
symmetric positive-definite ones for Cholesky, symmetric ones (distinct eigenvalues) for eigh.
Functions of eigenvectors and singular vectors are compared through sign-invariant losses
(squares of their entries, products U diag(S) Vh), since each vector is defined up to sign.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import seeds, uniform
from torch_ref import assert_close, check_against_torch, hvp

L = cr.linalg
TL = torch.linalg


def _wellcond(seed, shape):
    n = max(shape[-2:])
    return uniform(seed, shape, -1, 1) + 2 * n * np.eye(*shape[-2:]) * np.where(
        uniform(seed + 9, (*shape[:-2], 1, 1)) > 0, 1, -1
    )


def _sym(t):
    return t + t.mT if isinstance(t, torch.Tensor) else t + cr.swapaxes(t, -1, -2)


def _spd(t):
    n = t.shape[-1]
    eye = np.eye(n)
    if isinstance(t, torch.Tensor):
        return t @ t.mT + torch.tensor(eye)
    return t @ cr.swapaxes(t, -1, -2) + cr.tensor(eye)


def _gauge(v):  # sign-invariant view of vectors in columns / rows
    return v * v


# name: (chainrule fn, torch fn, maker of the inputs from (seed, batch, n, m))
CASES = {
    "inv": (L.inv, TL.inv, lambda s, b, n, m: [_wellcond(s, (*b, n, n))]),
    "solve": (L.solve, TL.solve,
              lambda s, b, n, m: [_wellcond(s, (*b, n, n)), uniform(s + 1, (*b, n, m))]),
    "solve_vector": (L.solve, TL.solve,
                     lambda s, b, n, m: [_wellcond(s, (n, n)), uniform(s + 1, (n,))]),
    "det": (L.det, TL.det, lambda s, b, n, m: [uniform(s, (*b, n, n))]),
    "slogdet": (lambda a: L.slogdet(a).logabsdet, lambda a: TL.slogdet(a)[1],
                lambda s, b, n, m: [_wellcond(s, (*b, n, n))]),
    "cholesky": (lambda a: L.cholesky(_spd(a)), lambda a: TL.cholesky(_spd(a)),
                 lambda s, b, n, m: [uniform(s, (*b, n, n))]),
    "cholesky_upper": (lambda a: L.cholesky(_spd(a), upper=True),
                       lambda a: TL.cholesky(_spd(a), upper=True),
                       lambda s, b, n, m: [uniform(s, (*b, n, n))]),
    "eigh": (lambda a: [L.eigh(_sym(a)).eigenvalues, _gauge(L.eigh(_sym(a)).eigenvectors)],
             lambda a: [TL.eigh(_sym(a)).eigenvalues, _gauge(TL.eigh(_sym(a)).eigenvectors)],
             lambda s, b, n, m: [uniform(s, (*b, n, n))]),
    "eigvalsh": (lambda a: L.eigvalsh(_sym(a)), lambda a: TL.eigvalsh(_sym(a)),
                 lambda s, b, n, m: [uniform(s, (*b, n, n))]),
    "svd_reduced": (
        lambda a: [_gauge(L.svd(a, full_matrices=False).U), L.svd(a, False).S,
                   _gauge(L.svd(a, False).Vh)],
        lambda a: [_gauge(TL.svd(a, full_matrices=False).U), TL.svd(a, False).S,
                   _gauge(TL.svd(a, False).Vh)],
        lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "svd_full": (
        lambda a: [_gauge(L.svd(a).U[..., : min(a.shape[-2:])]), L.svd(a).S,
                   _gauge(L.svd(a).Vh[..., : min(a.shape[-2:]), :])],
        lambda a: [_gauge(TL.svd(a).U[..., : min(a.shape[-2:])]), TL.svd(a).S,
                   _gauge(TL.svd(a).Vh[..., : min(a.shape[-2:]), :])],
        lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "svdvals": (L.svdvals, TL.svdvals, lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "svd_compute_uv_false": (lambda a: L.svd(a, compute_uv=False), TL.svdvals,
                             lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "qr": (lambda a: list(L.qr(a)), lambda a: list(TL.qr(a)),
           lambda s, b, n, m: [_wellcond(s, (*b, n + m, n))]),
    "qr_wide": (lambda a: list(L.qr(a)), lambda a: list(TL.qr(a)),
                lambda s, b, n, m: [np.swapaxes(_wellcond(s, (*b, n + m - 1, n)), -1, -2)]),
    "qr_r": (lambda a: L.qr(a, mode="r"), lambda a: TL.qr(a)[1],
             lambda s, b, n, m: [_wellcond(s, (*b, n + 1, n))]),
    "pinv": (L.pinv, TL.pinv, lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "solve_triangular_lower": (
        lambda a, x: L.solve_triangular(a, x, lower=True),
        lambda a, x: TL.solve_triangular(a, x, upper=False),
        lambda s, b, n, m: [_wellcond(s, (*b, n, n)), uniform(s + 1, (*b, n, m))]),
    "solve_triangular_upper_unit": (
        lambda a, x: L.solve_triangular(a, x, upper=True, unit_diagonal=True),
        lambda a, x: TL.solve_triangular(a, x, upper=True, unitriangular=True),
        lambda s, b, n, m: [_wellcond(s, (*b, n, n)), uniform(s + 1, (*b, n, m))]),
    "norm_fro": (L.norm, lambda a: TL.norm(a.reshape(-1)),
                 lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "matrix_norm_nuc": (lambda a: L.matrix_norm(a, "nuc"), lambda a: TL.matrix_norm(a, "nuc"),
                        lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "matrix_norm_2": (lambda a: L.matrix_norm(a, 2, keepdims=True),
                      lambda a: TL.matrix_norm(a, 2, keepdim=True),
                      lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "matrix_norm_1": (lambda a: L.norm(a, 1, axis=(-2, -1)), lambda a: TL.matrix_norm(a, 1),
                      lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "matrix_norm_inf": (lambda a: L.matrix_norm(a, np.inf, dim=(-1, -2)),
                        lambda a: TL.matrix_norm(a, np.inf, dim=(-1, -2)),
                        lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "vector_norm_3": (lambda a: L.vector_norm(a, 3, axis=-1),
                      lambda a: TL.vector_norm(a, 3, dim=-1),
                      lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "vector_norm_0.5": (lambda a: L.vector_norm(a, 0.5, axis=(0, -1), keepdims=True),
                        lambda a: TL.vector_norm(a, 0.5, dim=(0, -1), keepdim=True),
                        lambda s, b, n, m: [uniform(s, (*b, n, m), avoid=(0.0,))]),
    "vector_norm_-inf": (lambda a: L.norm(a, -np.inf, axis=-2),
                         lambda a: TL.vector_norm(a, -np.inf, dim=-2),
                         lambda s, b, n, m: [uniform(s, (*b, n, m))]),
    "matrix_power_3": (lambda a: L.matrix_power(a, 3), lambda a: TL.matrix_power(a, 3),
                       lambda s, b, n, m: [uniform(s, (*b, n, n))]),
    "matrix_power_-2": (lambda a: L.matrix_power(a, -2), lambda a: TL.matrix_power(a, -2),
                        lambda s, b, n, m: [_wellcond(s, (*b, n, n))]),
    "multi_dot": (lambda *t: L.multi_dot(t), lambda *t: TL.multi_dot(t),
                  lambda s, b, n, m: [uniform(s, (n,)), uniform(s + 1, (n, m)),
                                      uniform(s + 2, (m, n + 1)), uniform(s + 3, (n + 1, 2))]),
    "lstsq": (lambda a, x: L.lstsq(a, x).x, lambda a, x: TL.pinv(a) @ x,
              lambda s, b, n, m: [uniform(s, (n + m, n)), uniform(s + 1, (n + m, m))]),
}  # fmt: skip

NUMPY = {
    "inv": np.linalg.inv, "solve": np.linalg.solve, "det": np.linalg.det,
    "pinv": np.linalg.pinv, "svdvals": np.linalg.svdvals,
}  # fmt: skip


def _flat(out):
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=6)
@given(
    batch=st.lists(st.integers(1, 2), max_size=2).map(tuple),
    n=st.integers(1, 3),
    m=st.integers(1, 3),
    seed=seeds,
)
def test_linalg_gradcheck_and_torch(name, batch, n, m, seed):
    fn, ref, make = CASES[name]
    arrays = make(seed, batch, n, m)
    if name in NUMPY:
        out = fn(*[cr.tensor(a) for a in arrays])
        np.testing.assert_allclose(out.numpy(), NUMPY[name](*arrays), rtol=1e-10, atol=1e-12)

    def joined(*ts):
        return cr.concatenate([cr.reshape(o, (-1,)) for o in _flat(fn(*ts))])

    assert cr.gradcheck(joined, arrays, atol=1e-5, rtol=1e-4)
    check_against_torch(fn, ref, arrays, rtol=1e-6, atol=1e-10)


SECOND = ["inv", "solve", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd_reduced",
          "svdvals", "qr", "qr_wide", "pinv", "solve_triangular_lower", "norm_fro",
          "matrix_norm_nuc", "vector_norm_3", "matrix_power_-2", "lstsq"]  # fmt: skip


@pytest.mark.parametrize("name", SECOND)
def test_linalg_second_derivatives_match_torch(name):
    fn, ref, make = CASES[name]
    arrays = make(3, (2,), 3, 2)

    def scalarise(f):
        return lambda *t: sum(((o * o).sum() for o in _flat(f(*t))), 0)

    g_cr, h_cr = hvp(scalarise(fn), cr, arrays)
    g_t, h_t = hvp(scalarise(ref), torch, arrays)
    for a, b in zip(g_cr + h_cr, g_t + h_t):
        assert_close(a, b, rtol=1e-5, atol=1e-9)


def test_solve_broadcasts_batches_and_gradients_sum_back():
    a, b = _wellcond(0, (2, 1, 3, 3)), uniform(1, (4, 3, 2))
    out = L.solve(cr.tensor(a), cr.tensor(b))
    np.testing.assert_allclose(out.numpy(), np.linalg.solve(a, b))
    check_against_torch(L.solve, TL.solve, [a, b])
    assert cr.gradcheck(L.solve, [a, b])


def test_empty_batches_and_1x1_matrices():
    for fn in (L.inv, L.det, lambda t: L.eigh(t).eigenvalues, L.svdvals, L.pinv):
        x = cr.tensor(np.zeros((0, 2, 2)), requires_grad=True)
        out = fn(x)
        out.sum().backward()
        assert x.grad.shape == (0, 2, 2)
    one = np.array([[4.0]])
    for fn, expected in [(L.inv, 0.25), (L.det, 4.0), (L.cholesky, 2.0), (L.svdvals, 4.0)]:
        assert float(np.asarray(fn(cr.tensor(one)).numpy()).reshape(-1)[0]) == expected


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]])  # rank 2, det 0
    t = cr.tensor(a, requires_grad=True)
    L.det(t).backward()  # PyTorch 2.13 returns zeros here; the derivative is the cofactors
    np.testing.assert_allclose(t.grad.numpy(), [[14, -1, -4], [-7, 0.5, 2], [0, 0, 0]], atol=1e-12)
    assert cr.gradcheck(L.det, [a])


def test_lstsq_returns_numpys_four_results():
    a, b = uniform(0, (5, 3)), uniform(1, (5,))
    x, res, rank, s = L.lstsq(cr.tensor(a), cr.tensor(b))
    nx, nres, nrank, ns = np.linalg.lstsq(a, b)
    np.testing.assert_allclose(x.numpy(), nx)
    np.testing.assert_allclose(res.numpy(), nres)
    assert rank == nrank
    np.testing.assert_allclose(s.numpy(), ns)
    assert cr.gradcheck(lambda p, q: L.lstsq(p, q).residuals, [a, b])
    wide = L.lstsq(cr.tensor(a.T), cr.tensor(uniform(2, (3,))))
    assert wide.residuals.shape == (0,) and wide.rank == 3


def test_norm_follows_numpys_axis_and_ord_rules():
    x = uniform(0, (3, 4))
    t = cr.tensor(x)
    for ord_, axis in [(None, None), ("fro", None), ("nuc", None), (1, None), (-1, None),
                       (2, None), (-2, None), (np.inf, None), (None, 0), (3, 1),
                       (0, -1), (-np.inf, 0), (None, (1, 0)), (2, (0, 1))]:  # fmt: skip
        for kd in (False, True):
            np.testing.assert_allclose(
                L.norm(t, ord_, axis, kd).numpy(),
                np.linalg.norm(x, ord_, axis, kd),
                err_msg=f"ord={ord_} axis={axis} keepdims={kd}",
            )
    np.testing.assert_allclose(L.norm(cr.tensor(x[None]), None).numpy(), np.linalg.norm(x))
    z = cr.tensor(np.zeros(3), requires_grad=True)
    L.norm(z).backward()
    np.testing.assert_array_equal(z.grad.numpy(), 0.0)  # 0 at the kink, as PyTorch


def test_eigh_and_svd_gradients_refuse_repeated_values():
    a = cr.tensor(np.diag([1.0, 1.0, 2.0]), requires_grad=True)
    L.eigh(a).eigenvalues.sum().backward()  # eigenvalues alone: fine
    np.testing.assert_allclose(a.grad.numpy(), np.eye(3), atol=1e-12)
    with pytest.raises(cr.errors.LinAlgError, match=r"eigh backward: eigenvalues repeat.*\(3, 3\)"):
        (L.eigh(a).eigenvectors ** 3).sum().backward()
    b = cr.tensor(np.eye(3)[:, :2] * 2, requires_grad=True)
    with pytest.raises(cr.errors.LinAlgError, match=r"svd backward: singular values repeat"):
        (L.svd(b, full_matrices=False).U ** 3).sum().backward()


def test_linalg_errors_name_the_op_and_shape():
    sing = cr.tensor(np.ones((2, 2)))
    cases = [
        (lambda: L.inv(sing), cr.errors.LinAlgError, r"inv: singular matrix.*\(2, 2\)"),
        (lambda: L.solve(sing, cr.ones(2)), cr.errors.LinAlgError, r"solve: singular.*\(2, 2\)"),
        (lambda: L.cholesky(cr.tensor(-np.eye(2))), cr.errors.LinAlgError,
         r"cholesky: not positive definite.*\(2, 2\)"),
        (lambda: L.inv(cr.ones(2, 3)), cr.ShapeError,
         r"inv: expected square matrices in the last two axes, got shape \(2, 3\)"),
        (lambda: L.solve(cr.eye(2), cr.ones(3)), cr.ShapeError,
         r"solve: b of shape \(3,\) does not fit a of shape \(2, 2\)"),
        (lambda: L.svd(cr.ones(3)), cr.ShapeError, r"svd: expected at least 2-D.*\(3,\)"),
        (lambda: L.qr(cr.ones(2, 2), mode="full"), cr.errors.DomainError, "qr: mode 'full'"),
        (lambda: L.norm(cr.ones(2, 2), "bad"), cr.errors.DomainError, "matrix_norm: ord 'bad'"),
        (lambda: L.norm(cr.ones(2), "fro", axis=0), cr.errors.DomainError, "norm: ord 'fro'"),
        (lambda: L.multi_dot([cr.ones(2, 3), cr.ones(2, 3)]), cr.ShapeError,
         r"multi_dot: shapes \(2, 3\) and \(2, 3\)"),
        (lambda: L.matrix_power(cr.ones(2, 3), 2), cr.ShapeError, "matrix_power: expected"),
        (lambda: L.lstsq(cr.ones(3, 2), cr.ones(2)), cr.ShapeError, r"lstsq: expected a \(M, N\)"),
    ]  # fmt: skip
    for call, kind, pattern in cases:
        with pytest.raises(kind, match=pattern):
            call()
    with pytest.raises(np.linalg.LinAlgError):  # NumPy's class catches ours too
        L.inv(sing)


def test_namespace_and_methods():
    assert cr.linalg.inv is L.inv and cr.linalg.outer is cr.outer
    for name in ("cholesky", "det", "eigh", "eigvalsh", "inv", "lstsq", "matrix_norm",
                 "matrix_power", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve",
                 "solve_triangular", "svd", "svdvals", "vector_norm"):  # fmt: skip
        assert callable(getattr(cr.linalg, name)), name
        assert getattr(cr.linalg, name).__doc__


FORWARD = ["inv", "solve", "det", "cholesky", "eigh", "eigvalsh", "svd_reduced", "svd_full",
           "qr", "qr_wide", "pinv", "solve_triangular_lower", "matrix_norm_nuc",
           "lstsq"]  # fmt: skip


@pytest.mark.parametrize("name", FORWARD)
def test_forward_mode_matches_torch_func_jvp(name):
    """cr.jvp transposes the recorded backward with a symbolic zero cotangent: every rule must
    stay linear in ḡ (no term skipped because ḡ's values happen to be zero)."""
    from torch.func import jvp

    fn, ref, make = CASES[name]
    arrays = make(4, (2,), 3, 2)
    tangents = [uniform(40 + i, a.shape) for i, a in enumerate(arrays)]
    outs = _flat(cr.jvp(lambda *t: fn(*t), tuple(map(cr.tensor, arrays)),
                        tuple(map(cr.tensor, tangents)))[1])  # fmt: skip
    expected = jvp(ref, tuple(map(torch.tensor, arrays)), tuple(map(torch.tensor, tangents)))[1]
    for a, b in zip(outs, _flat(list(expected) if isinstance(expected, tuple) else expected)):
        assert_close(a, b, rtol=1e-6, atol=1e-10)


def test_vecdot_matrix_transpose_cond_matrix_rank():
    x, y = uniform(0, (2, 3, 4)), uniform(1, (3, 4))
    np.testing.assert_allclose(L.vecdot(cr.tensor(x), cr.tensor(y)).numpy(),
                               np.linalg.vecdot(x, y))  # fmt: skip
    check_against_torch(L.vecdot, TL.vecdot, [x, y])
    assert cr.gradcheck(lambda a, b: L.vecdot(a, b, axis=-2), [x, y])
    np.testing.assert_array_equal(L.matrix_transpose(cr.tensor(x)).numpy(), np.swapaxes(x, 1, 2))
    a = _wellcond(2, (2, 3, 3))
    for p in (None, 2, -2, "fro", 1, np.inf, "nuc"):
        np.testing.assert_allclose(L.cond(cr.tensor(a), p).numpy(), np.linalg.cond(a, p))
        # torch.linalg.cond's own backward fails for these orders (an in-place inverse)
        ref = (
            (lambda t, p=p: TL.cond(t, p))
            if p in (None, 2, -2)
            else (lambda t, p=p: TL.matrix_norm(t, p) * TL.matrix_norm(TL.inv(t), p))
        )
        check_against_torch(lambda t, p=p: L.cond(t, p), ref, [a])
    assert cr.gradcheck(lambda t: L.cond(t, "fro"), [a])
    low = np.outer([1.0, 2.0, 3.0], [1.0, 0.0, 1.0])
    assert L.matrix_rank(cr.tensor(low)).item() == 1
    np.testing.assert_array_equal(L.matrix_rank(cr.tensor(a)).numpy(), [3, 3])
    with pytest.raises(cr.ShapeError, match=r"vecdot: axis -1 of shapes \(2,\) and \(3,\)"):
        L.vecdot(cr.ones(2), cr.ones(3))
