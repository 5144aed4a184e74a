"""Products and diagonals (einsum, tensordot, dot, vdot, inner, outer, kron, cross, trace,
diag, diagonal, tril, triu): values equal to NumPy's, gradients to finite differences and to
PyTorch, second derivatives to PyTorch's, on drawn sizes (1 included) and batch shapes that
broadcast.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops.products import diag_embed
from strategies import broadcast_shapes, seeds, uniform
from torch_ref import assert_close, check_against_torch, hvp

sizes = st.integers(1, 3)

# subscripts, and each operand's letters ('.' stands for the batch axes drawn for it)
EINSUM = [
    "ij,jk->ik", "ij,jk", "ii", "ii->i", "ij->", "ij->ji", "i,i->", "i,j->ij", "ij,ij->ij",
    "iij->ij", "ijk,jl->lik", "ij,k->ijk", "...j,jk->...k", "...ij,...jk->...ik", "...ii->...i",
    "bij,bjk,bkl->bil", "i,i,i->i", "ab,ba", "...,...->...",
]  # fmt: skip


@st.composite
def einsum_case(draw):
    subscripts = draw(st.sampled_from(EINSUM))
    terms = subscripts.split("->")[0].split(",")
    size = {c: draw(sizes) for c in set(subscripts) - set(".,->")}
    batches = draw(broadcast_shapes(len(terms), max_dims=2))
    shapes = []
    for t, batch in zip(terms, batches):
        letters = t.replace("...", "")
        shapes.append((*(batch if "..." in t else ()), *(size[c] for c in letters)))
    return subscripts, shapes


@settings(max_examples=25)
@given(case=einsum_case(), seed=seeds)
def test_einsum_gradcheck_and_torch(case, seed):
    subscripts, shapes = case
    arrays = [uniform(seed + i, s) for i, s in enumerate(shapes)]
    out = cr.einsum(subscripts, *[cr.tensor(a) for a in arrays])
    np.testing.assert_allclose(out.numpy(), np.einsum(subscripts, *arrays), atol=1e-12)
    assert cr.gradcheck(lambda *t: cr.einsum(subscripts, *t), arrays)
    check_against_torch(
        lambda *t: cr.einsum(subscripts, *t), lambda *t: torch.einsum(subscripts, *t), arrays
    )


@pytest.mark.parametrize("subscripts", ["ij,jk->ik", "ii", "iij->ij", "...ij,...jk->...ik"])
def test_einsum_second_derivatives_match_torch(subscripts):
    shapes = {"ij,jk->ik": [(2, 3), (3, 2)], "ii": [(3, 3)], "iij->ij": [(2, 2, 3)],
              "...ij,...jk->...ik": [(2, 1, 2, 3), (3, 3, 2)]}[subscripts]  # fmt: skip
    arrays = [uniform(i, s) for i, s in enumerate(shapes)]
    _same_hvp(lambda *t: cr.einsum(subscripts, *t) ** 2,
              lambda *t: torch.einsum(subscripts, *t) ** 2, arrays)  # fmt: skip


def test_einsum_size_0_and_errors():
    a = cr.tensor(np.zeros((2, 0)), requires_grad=True)
    b = cr.tensor(np.ones((0, 3)), requires_grad=True)
    out = cr.einsum("ij,jk->ik", a, b)
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3)))
    out.sum().backward()
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 3)
    with pytest.raises(cr.ShapeError, match=r"einsum: subscripts 'ij,jk' name 2 operand\(s\), 1"):
        cr.einsum("ij,jk", a)
    with pytest.raises(cr.ShapeError, match=r"einsum: .*\(2, 3\) and \(2, 3\)"):
        cr.einsum("ij,jk", cr.ones(2, 3), cr.ones(2, 3))


@st.composite
def tensordot_case(draw):
    n_free_a, n_free_b, n_pair = draw(sizes) - 1, draw(sizes) - 1, draw(st.integers(0, 2))
    pair = [draw(sizes) for _ in range(n_pair)]
    a_shape = [draw(sizes) for _ in range(n_free_a)] + pair
    b_shape = pair + [draw(sizes) for _ in range(n_free_b)]
    pa = draw(st.permutations(range(len(a_shape))))
    pb = draw(st.permutations(range(len(b_shape))))
    # a's axis pa[i] holds a_shape[i]; the pairs are a_shape's last n_pair, b_shape's first
    axes_a = [pa.index(i) for i in range(n_free_a, len(a_shape))]
    axes_b = [pb.index(i) for i in range(n_pair)]
    sa = tuple(a_shape[pa[i]] for i in range(len(a_shape)))
    sb = tuple(b_shape[pb[i]] for i in range(len(b_shape)))
    neg = draw(st.booleans())
    if neg:
        axes_a = [i - len(sa) for i in axes_a]
    return sa, sb, (axes_a, axes_b)


@settings(max_examples=15)
@given(case=tensordot_case(), seed=seeds)
def test_tensordot_gradcheck_and_torch(case, seed):
    sa, sb, axes = case
    a, b = uniform(seed, sa), uniform(seed + 1, sb)
    out = cr.tensordot(cr.tensor(a), cr.tensor(b), axes)
    np.testing.assert_allclose(out.numpy(), np.tensordot(a, b, axes))
    assert cr.gradcheck(lambda x, y: cr.tensordot(x, y, axes), [a, b])
    check_against_torch(lambda x, y: cr.tensordot(x, y, axes),
                        lambda x, y: torch.tensordot(x, y, dims=axes), [a, b])  # fmt: skip


def test_tensordot_int_axes_and_errors():
    a, b = uniform(0, (2, 3, 4)), uniform(1, (3, 4, 5))
    for n in (0, 1, 2):
        bb = b if n != 1 else uniform(1, (4, 5))
        check_against_torch(lambda x, y, n=n: cr.tensordot(x, y, n),
                            lambda x, y, n=n: torch.tensordot(x, y, n), [a, bb])  # fmt: skip
    _same_hvp(lambda x, y: cr.tensordot(x, y, 2) ** 2,
              lambda x, y: torch.tensordot(x, y, 2) ** 2, [a, b])  # fmt: skip
    with pytest.raises(cr.ShapeError, match=r"tensordot: axis 0 of shape \(2, 3, 4\) \(size 2\)"):
        cr.tensordot(cr.tensor(a), cr.tensor(b), ([0], [0]))
    with pytest.raises(cr.ShapeError, match="tensordot: 2 axes of a paired with 1 of b"):
        cr.tensordot(cr.tensor(a), cr.tensor(b), ([1, 2], [0]))
    with pytest.raises(cr.ShapeError, match="tensordot: axis 5 is out of range"):
        cr.tensordot(cr.tensor(a), cr.tensor(b), ([5], [0]))


def _same_hvp(fn_cr, fn_t, arrays):
    g_cr, h_cr = hvp(fn_cr, cr, arrays)
    g_t, h_t = hvp(fn_t, torch, arrays)
    for a, b in zip(g_cr + h_cr, g_t + h_t):
        if b is None:
            assert a is None or not np.any(a.numpy())
        else:
            assert_close(a, b)


def _torch_dot(a, b):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim <= 2:
        return a @ b
    return torch.tensordot(a, b, dims=([-1], [-2]))


def _torch_trace(x, offset=0, a1=0, a2=1):
    return torch.diagonal(x, offset, a1, a2).sum(-1)


@st.composite
def pair_shapes(draw, kind):
    n = draw(sizes)
    if kind == "dot":
        sa = (*draw(st.lists(sizes, max_size=2)), n)
        sb = draw(st.sampled_from([(), (n,), (n, draw(sizes)), (draw(sizes), n, draw(sizes))]))
        return (sa if sb else sa[:-1]), sb
    if kind == "inner":
        return (*draw(st.lists(sizes, max_size=2)), n), (*draw(st.lists(sizes, max_size=2)), n)
    if kind == "cross":
        ba, bb = draw(broadcast_shapes(2, max_dims=2))
        return (*ba, 3), (*bb, 3)
    return tuple(draw(st.lists(sizes, max_size=3))), tuple(draw(st.lists(sizes, max_size=3)))


BINARY = {
    "dot": (cr.dot, _torch_dot, "dot"),
    "dot_method": (lambda a, b: a.dot(b), _torch_dot, "dot"),
    "vdot": (cr.vdot, lambda a, b: torch.vdot(a.reshape(-1), b.reshape(-1)), "same"),
    "inner": (cr.inner, torch.inner, "inner"),
    "outer": (cr.outer, lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1)), "any"),
    "kron": (cr.kron, torch.kron, "any"),
    "cross": (cr.cross, lambda a, b: torch.linalg.cross(*torch.broadcast_tensors(a, b)), "cross"),
}


@pytest.mark.parametrize("name", list(BINARY))
@settings(max_examples=8)
@given(data=st.data(), seed=seeds)
def test_binary_products_gradcheck_and_torch(name, data, seed):
    fn, ref, kind = BINARY[name]
    if kind == "same":
        sa = sb = data.draw(st.lists(sizes, max_size=3).map(tuple), label="shape")
    else:
        sa, sb = data.draw(pair_shapes(kind), label="shapes")
    a, b = uniform(seed, sa), uniform(seed + 1, sb)
    np_fn = np.dot if name == "dot_method" else getattr(np, name)
    np.testing.assert_allclose(fn(cr.tensor(a), cr.tensor(b)).numpy(), np_fn(a, b), atol=1e-12)
    assert cr.gradcheck(fn, [a, b])
    check_against_torch(fn, ref, [a, b])
    _same_hvp(lambda x, y: fn(x, y) ** 2, lambda x, y: ref(x, y) ** 2, [a, b])


@st.composite
def diagonal_case(draw):
    ndim = draw(st.integers(2, 3))
    shape = tuple(draw(sizes) for _ in range(ndim))
    a1, a2 = draw(st.permutations(range(ndim)))[:2]
    if draw(st.booleans()):
        a1 -= ndim
    return shape, draw(st.integers(-2, 2)), a1, a2


@settings(max_examples=10)
@given(case=diagonal_case(), seed=seeds)
def test_diagonal_and_trace(case, seed):
    shape, offset, a1, a2 = case
    x = uniform(seed, shape)
    args = (offset, a1, a2)
    for fn, ref, np_fn in [
        (cr.diagonal, torch.diagonal, np.diagonal),
        (cr.trace, _torch_trace, np.trace),
        (lambda t, *a: t.diagonal(*a), torch.diagonal, np.diagonal),
        (lambda t, *a: t.trace(*a), _torch_trace, np.trace),
    ]:
        np.testing.assert_allclose(fn(cr.tensor(x), offset, a1, a2).numpy(),
                                   np_fn(x, offset, a1, a2))  # fmt: skip
        assert cr.gradcheck(lambda t, f=fn: f(t, *args), [x])
        check_against_torch(lambda t, f=fn: f(t, *args), lambda t, r=ref: r(t, *args), [x])
    _same_hvp(lambda t: cr.expand_dims(cr.trace(t, offset, a1, a2), -1)
              * cr.diagonal(t, offset, a1, a2),
              lambda t: _torch_trace(t, offset, a1, a2).unsqueeze(-1)
              * torch.diagonal(t, offset, a1, a2), [x])  # fmt: skip


@settings(max_examples=8)
@given(n=sizes, m=sizes, k=st.integers(-3, 3), batch=st.lists(sizes, max_size=2), seed=seeds)
def test_diag_tril_triu(n, m, k, batch, seed):
    v, x = uniform(seed, (n,)), uniform(seed + 1, (n, m))
    xb = uniform(seed + 2, (*batch, n, m))
    for fn, ref, arr in [
        (lambda t: cr.diag(t, k), lambda t: torch.diag(t, k), v),
        (lambda t: cr.diag(t, k), lambda t: torch.diag(t, k), x),
        (lambda t: cr.tril(t, k), lambda t: torch.tril(t, k), xb),
        (lambda t: cr.triu(t, k), lambda t: torch.triu(t, k), xb),
    ]:
        np_name = "diag" if arr is not xb else None
        expected = ref(torch.tensor(arr)).numpy() if np_name is None else np.diag(arr, k)
        np.testing.assert_array_equal(fn(cr.tensor(arr)).numpy(), expected)
        assert cr.gradcheck(fn, [arr])
        check_against_torch(fn, ref, [arr])
        _same_hvp(lambda t, f=fn: f(t) ** 3, lambda t, r=ref: r(t) ** 3, [arr])
    np.testing.assert_array_equal(cr.tril(cr.tensor(xb), k).numpy(), np.tril(xb, k))
    np.testing.assert_array_equal(cr.triu(cr.tensor(xb), k).numpy(), np.triu(xb, k))


def test_diag_embed_is_diagonals_adjoint():
    v = uniform(0, (2, 3))
    assert cr.gradcheck(lambda t: diag_embed(t, (2, 4, 4), 1, 2, 1), [v])
    out = diag_embed(cr.tensor(v), (2, 4, 4), 1, 2, 1)
    np.testing.assert_array_equal(np.diagonal(out.numpy(), 1, 2, 1), v)
    _same_hvp(lambda t: diag_embed(t, (2, 4, 4), 1, 2, 1) ** 2,
              lambda t: torch.diag_embed(t, 1, 2, 1) ** 2, [v])  # fmt: skip


def test_product_errors_name_the_op_and_shapes():
    cases = [
        (lambda: cr.dot(cr.ones(2, 3), cr.ones(2, 3)), r"matmul: shapes \(2, 3\) and \(2, 3\)"),
        (lambda: cr.dot(cr.ones(2, 3), cr.ones(2, 2, 3)), r"tensordot: axis 1 of shape \(2, 3\)"),
        (lambda: cr.vdot(cr.ones(2), cr.ones(3)), r"vdot: sizes differ \(\(2,\) has 2"),
        (lambda: cr.inner(cr.ones(2), cr.ones(3)), r"inner: last axes differ: shapes \(2,\)"),
        (lambda: cr.cross(cr.ones(2), cr.ones(3)), r"cross: axis -1 of a \(shape \(2,\)\) has"),
        (lambda: cr.diagonal(cr.ones(3)), r"diagonal: needs at least 2 dimensions.*\(3,\)"),
        (lambda: cr.trace(cr.ones(3)), r"trace: needs at least 2 dimensions"),
        (lambda: cr.diag(cr.ones(2, 2, 2)), r"diag: expected a 1-D or 2-D input.*\(2, 2, 2\)"),
        (lambda: cr.tril(cr.ones(3)), r"tril: needs at least 2 dimensions, got shape \(3,\)"),
    ]
    for call, pattern in cases:
        with pytest.raises(cr.ShapeError, match=pattern):
            call()


def test_products_with_constant_numpy_operands():
    """Arrays and lists among the operands are constants: only the tensors get gradients."""
    a, b = uniform(0, (2, 3)), uniform(1, (3, 4))
    check_against_torch(
        lambda t: cr.einsum("ij,jk->ik", t, b),
        lambda t: torch.einsum("ij,jk->ik", t, torch.tensor(b)),
        [a],
    )
    check_against_torch(
        lambda t: cr.tensordot(t, b, 1), lambda t: torch.tensordot(t, torch.tensor(b), 1), [a]
    )
    t = cr.tensor(a, requires_grad=True)
    cr.einsum("ij,j->i", t, [1.0, 2.0, 3.0]).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[1.0, 2.0, 3.0]] * 2)


def test_cross_with_vector_axes_elsewhere():
    a, b = uniform(0, (3, 2, 4)), uniform(1, (4, 3))
    kwargs = {"axisa": 0, "axisb": -1, "axisc": 1}
    np.testing.assert_allclose(
        cr.cross(cr.tensor(a), cr.tensor(b), **kwargs).numpy(), np.cross(a, b, **kwargs)
    )
    assert cr.gradcheck(lambda x, y: cr.cross(x, y, **kwargs), [a, b])
    c = uniform(2, (3, 4))
    np.testing.assert_allclose(
        cr.cross(cr.tensor(c), cr.tensor(c[::-1]), axis=0).numpy(), np.cross(c, c[::-1], axis=0)
    )
    check_against_torch(
        lambda x, y: cr.cross(x, y, axis=0),
        lambda x, y: torch.linalg.cross(x, y, dim=0),
        [c, c[::-1].copy()],
    )
