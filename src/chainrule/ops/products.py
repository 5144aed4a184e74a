"""Products and diagonals: einsum, tensordot, dot, vdot, inner, kron, cross, trace, diag,
diagonal, tril, triu (NumPy's names and conventions).

The gradient of a product with respect to one factor is the same kind of product of ḡ with
the other factors: einsum's rule is an einsum, tensordot's a tensordot, cross's a cross
product. Diagonals are read by ``diagonal`` and written back by ``diag_embed``, each the
other's gradient.
"""

from __future__ import annotations

import functools
import string
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import ShapeError
from chainrule.ops.elementwise import multiply, where
from chainrule.ops.linalg import matmul
from chainrule.ops.reduction import _axes
from chainrule.ops.shape import broadcast_to, expand_dims, reshape, transpose
from chainrule.tensor import Tensor


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---------------------------------------------------------------------------- einsum
@primitive
def einsum(subscripts, *operands, optimize=False):
    """Einstein summation (NumPy's ``einsum``): any subscripts, ``...``, repeated indices
    (traces, diagonals), implicit output.

    x̄ₖ = einsum(ḡ and the other operands → operand k's indices), broadcast over indices
    only operand k has, written back onto its diagonal where an index repeats
    """
    _parse(subscripts, tuple(np.ndim(op) for op in operands))  # checks, cached
    return backend.xp.einsum(subscripts, *operands, optimize=optimize)


def _einsum_grad(argnum, g, out, subscripts, *operands, optimize=False):
    k = argnum - 1
    ndims = tuple(op.ndim if isinstance(op, Tensor) else np.ndim(op) for op in operands)
    terms, out_term = _parse(subscripts, ndims)
    term = terms[k]
    x = operands[k]
    uniq = "".join(dict.fromkeys(term))
    others = [j for j in range(len(operands)) if j != k]
    avail = set(out_term).union(*(terms[j] for j in others))
    present = "".join(c for c in uniq if c in avail)
    spec = ",".join([out_term] + [terms[j] for j in others]) + "->" + present
    gx = einsum(spec, g, *(operands[j] for j in others), optimize=optimize)
    size = {c: x.shape[term.index(c)] for c in uniq}
    if len(present) < len(uniq):  # indices only this operand has: ḡ is constant along them
        gx = reshape(gx, tuple(size[c] if c in avail else 1 for c in uniq))
        gx = broadcast_to(gx, tuple(size[c] for c in uniq))
    if len(uniq) < len(term) and not is_grad_enabled() and backend.xp is np:
        # a repeated index, no graph of the backward wanted: zeros with gx written onto that
        # diagonal through einsum's writable diagonal view (no identity matrices, no product)
        z = np.zeros(x.shape, dtype=gx.dtype)
        np.einsum(f"{term}->{uniq}", z)[...] = gx.data
        return Tensor._make(z)
    if len(uniq) < len(term):  # a repeated index: the gradient lives on that diagonal
        free = iter(c for c in string.ascii_letters if c not in subscripts and c not in term)
        seen: set[str] = set()
        renamed, eyes, eye_terms = "", [], []
        for c in term:
            if c in seen:
                d = next(free)
                renamed += d
                eyes.append(backend.xp.eye(size[c], dtype=x.dtype))
                eye_terms.append(c + d)
            else:
                renamed += c
                seen.add(c)
        gx = einsum(",".join([uniq, *eye_terms]) + "->" + renamed, gx, *eyes)
    return gx


einsum.defvjp_argnum(_einsum_grad)


@functools.lru_cache(maxsize=256)
def _parse(subscripts: str, ndims: tuple[int, ...]) -> tuple[list[str], str]:
    """Subscripts in explicit form with every ``...`` spelled out as letters."""
    s = subscripts.replace(" ", "")
    ins, arrow, out = s.partition("->")
    terms = ins.split(",")
    if len(terms) != len(ndims):
        raise ShapeError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), {len(ndims)} given"
        )
    free = [c for c in string.ascii_letters if c not in s]
    n_ell = 0
    for t, n in zip(terms, ndims):
        if "..." in t:
            n_ell = max(n_ell, n - (len(t) - 3))
    ell = "".join(free[:n_ell])
    full = []
    for t, n in zip(terms, ndims):
        if "..." in t:
            m = n - (len(t) - 3)
            t = t.replace("...", ell[n_ell - m :] if m else "")
        if len(t) != n:
            raise ShapeError(f"einsum: subscripts {t!r} do not fit an operand with {n} dimensions")
        full.append(t)
    if arrow:
        out = out.replace("...", ell)
    else:
        letters = "".join(t for t in ins.split(",")).replace(".", "")
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return full, out


# ---------------------------------------------------------------------------- tensordot
@primitive
def tensordot(a, b, axes=2):
    """Sum of products over ``axes`` of ``a`` and ``b`` (NumPy's ``tensordot``): an int n
    (a's last n with b's first n) or two lists of axes paired in order.

    ā = tensordot(ḡ, b) over b's free axes, permuted to a's order
    b̄ = tensordot(a, ḡ) over a's free axes, permuted to b's order
    """
    ca, cb = _pairs(axes, np.ndim(a), np.ndim(b))
    for i, j in zip(ca, cb):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(
                f"tensordot: axis {i} of shape {a.shape} (size {a.shape[i]}) does not fit "
                f"axis {j} of shape {b.shape} (size {b.shape[j]})"
            )
    return backend.xp.tensordot(a, b, axes=(ca, cb))


def _pairs(axes: Any, na: int, nb: int) -> tuple[list[int], list[int]]:
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > na or n > nb:
            raise ShapeError(f"tensordot: axes={n} needs at least {n} dimensions in each operand")
        return list(range(na - n, na)), list(range(n))
    xa, xb = axes
    xa = [xa] if isinstance(xa, (int, np.integer)) else list(xa)
    xb = [xb] if isinstance(xb, (int, np.integer)) else list(xb)
    if len(xa) != len(xb):
        raise ShapeError(f"tensordot: {len(xa)} axes of a paired with {len(xb)} of b ({axes})")
    ca = [_axes(int(i), na, "tensordot")[0] for i in xa]
    cb = [_axes(int(j), nb, "tensordot")[0] for j in xb]
    return ca, cb


def _tensordot_grad_a(g, out, a, b, axes=2):
    ca, cb = _pairs(axes, a.ndim, b.ndim)
    free_a = [i for i in range(a.ndim) if i not in ca]
    free_b = [j for j in range(b.ndim) if j not in cb]
    ga = tensordot(g, b, (list(range(len(free_a), g.ndim)), free_b))
    # ga's axes: a's free axes, then a's contracted axes in the order of b's sorted partners
    order = free_a + [ca[cb.index(j)] for j in sorted(cb)]
    return transpose(ga, tuple(int(p) for p in np.argsort(order)))


def _tensordot_grad_b(g, out, a, b, axes=2):
    ca, cb = _pairs(axes, a.ndim, b.ndim)
    free_a = [i for i in range(a.ndim) if i not in ca]
    free_b = [j for j in range(b.ndim) if j not in cb]
    gb = tensordot(a, g, (free_a, list(range(len(free_a)))))
    order = [cb[ca.index(i)] for i in sorted(ca)] + free_b
    return transpose(gb, tuple(int(p) for p in np.argsort(order)))


tensordot.defvjp(_tensordot_grad_a, _tensordot_grad_b, keep="a b")


# ---------------------------------------------------------------------------- dot family
def dot(a: Any, b: Any) -> Tensor:
    """NumPy's ``dot``: a product for 0-d operands, matmul up to 2-D ``b``, otherwise the sum
    over a's last axis and b's second-to-last. Raises :class:`~chainrule.errors.ShapeError`
    when those axes differ in length."""
    a, b = _t(a), _t(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if b.ndim <= 2:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-2]))


@primitive
def vdot(a, b):
    """NumPy's ``vdot`` for real tensors: the dot product of the flattened inputs (0-d).
    Raises :class:`~chainrule.errors.ShapeError` when the sizes differ.

    ā = ḡ ⊙ reshape(b, a.shape)
    b̄ = ḡ ⊙ reshape(a, b.shape)
    """
    if a.size != b.size:
        raise ShapeError(f"vdot: sizes differ ({a.shape} has {a.size}, {b.shape} has {b.size})")
    return backend.xp.asarray(backend.xp.vdot(a, b))


def _vdot_grad(g, x, other):
    """ḡ times the other factor in x's shape: one pass (ḡ is 0-d)."""
    return g * (other if other.shape == x.shape else reshape(other, x.shape))


vdot.defvjp(lambda g, out, a, b: _vdot_grad(g, a, b),
            lambda g, out, a, b: _vdot_grad(g, b, a), keep="a b")  # fmt: skip


def inner(a: Any, b: Any) -> Tensor:
    """NumPy's ``inner``: the sum over the last axes of ``a`` and ``b`` (product for 0-d).

    Raises :class:`~chainrule.errors.ShapeError` when the last axes differ in length."""
    a, b = _t(a), _t(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner: last axes differ: shapes {a.shape} and {b.shape}")
    if b.ndim == 1:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-1]))


@primitive
def kron(a, b):
    """Kronecker product (NumPy's ``kron``): blocks ``a[i, j] * b`` laid out as ``a``.

    ā = Σ over each block of ḡ's block ⊙ b   (one einsum)
    b̄ = Σ over the blocks of a ⊙ ḡ's block   (one einsum)
    """
    return backend.xp.kron(a, b)


def _kron_grad(g, a, b, of_a):
    """ḡ viewed with a's and b's axes interleaved (a₀ b₀ a₁ b₁ ...), contracted by one einsum
    with the other factor: no array of the output's size besides ḡ."""
    shape_a = a.shape if isinstance(a, Tensor) else np.shape(a)
    shape_b = b.shape if isinstance(b, Tensor) else np.shape(b)
    n = max(len(shape_a), len(shape_b))
    sa = (1,) * (n - len(shape_a)) + shape_a
    sb = (1,) * (n - len(shape_b)) + shape_b
    ia, ib = string.ascii_letters[:n], string.ascii_letters[n : 2 * n]
    g4 = reshape(g, tuple(v for p, q in zip(sa, sb) for v in (p, q)))
    spec = "".join(p + q for p, q in zip(ia, ib))
    if of_a:
        return reshape(einsum(f"{spec},{ib}->{ia}", g4, reshape(b, sb)), shape_a)
    return reshape(einsum(f"{spec},{ia}->{ib}", g4, reshape(a, sa)), shape_b)


kron.defvjp(lambda g, out, a, b: _kron_grad(g, a, b, True),
            lambda g, out, a, b: _kron_grad(g, a, b, False), keep="a b")  # fmt: skip


def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Tensor:
    """Cross product of 3-vectors (NumPy's ``cross``), broadcast over the other axes.

    ``axis`` sets ``axisa``, ``axisb`` and ``axisc`` at once. Raises
    :class:`~chainrule.errors.ShapeError` when a vector axis does not have length 3.
    """
    a, b = _t(a), _t(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = _to_last(a, axisa, "a")
    b = _to_last(b, axisb, "b")
    out = _cross(a, b)
    c = _axes(axisc, out.ndim, "cross")[0]
    if c == out.ndim - 1:
        return out
    return transpose(out, (*range(c), out.ndim - 1, *range(c, out.ndim - 1)))


def _to_last(x: Tensor, axis: int, name: str) -> Tensor:
    if x.ndim == 0:
        raise ShapeError(f"cross: {name} is 0-d; expected vectors of length 3")
    ax = _axes(axis, x.ndim, "cross")[0]
    if x.shape[ax] != 3:
        raise ShapeError(
            f"cross: axis {axis} of {name} (shape {x.shape}) has length {x.shape[ax]}; "
            "expected vectors of length 3"
        )
    if ax == x.ndim - 1:
        return x
    return transpose(x, (*[i for i in range(x.ndim) if i != ax], ax))


@primitive
def _cross(a, b):
    """Cross product of 3-vectors along the last axis (NumPy's ``cross``).

    ā = b × ḡ
    b̄ = ḡ × a
    """
    return backend.xp.cross(a, b)


_cross.defvjp(lambda g, out, a, b: _cross(b, g),
              lambda g, out, a, b: _cross(g, a), keep="a b")  # fmt: skip


# ---------------------------------------------------------------------------- diagonals
@primitive
def diagonal(x, offset=0, axis1=0, axis2=1):
    """The ``offset`` diagonal over ``axis1``/``axis2`` as the last axis (NumPy's
    ``diagonal``).

    x̄ = diag_embed(ḡ)   (ḡ written onto that diagonal of zeros)
    """
    if np.ndim(x) < 2:
        raise ShapeError(f"diagonal: needs at least 2 dimensions, got shape {np.shape(x)}")
    return backend.xp.diagonal(x, offset, axis1, axis2)


def _diagonal_grad(g, out, x, offset=0, axis1=0, axis2=1):
    if is_grad_enabled():  # create_graph: as an op
        return diag_embed(g, x.shape, offset, axis1, axis2)
    return Tensor._make(_embed(g.data, x.shape, offset, axis1, axis2, g.shape[-1]))


diagonal.defvjp(_diagonal_grad, keep="x.shape")


@primitive
def diag_embed(v, shape, offset=0, axis1=0, axis2=1):
    """Zeros of ``shape`` with ``v``'s last axis written onto the ``offset`` diagonal over
    ``axis1``/``axis2`` (the adjoint of ``diagonal``).

    v̄ = diagonal(ḡ)
    """
    return _embed(v, shape, offset, axis1, axis2, v.shape[-1])


def _embed(v, shape, offset, axis1, axis2, length):
    """diag_embed on arrays: ``v`` (its last axis ``length`` long, or 1 to broadcast)."""
    xp = backend.array_module(v)
    z = xp.zeros(shape, dtype=v.dtype)
    row, col = (-offset if offset < 0 else 0), (offset if offset > 0 else 0)
    if len(shape) == 2:  # a strided slice of the flat zeros
        strides = (shape[1], 1)
        start = row * strides[axis1] + col * strides[axis2]
        step = strides[axis1] + strides[axis2]
        if length:
            z.reshape(-1)[start : start + step * (length - 1) + 1 : step] = v
        return z
    view = xp.moveaxis(z, (axis1, axis2), (-2, -1))
    i = xp.arange(length)
    view[..., i + row, i + col] = v
    return z


diag_embed.defvjp(
    lambda g, out, v, shape, offset=0, axis1=0, axis2=1: diagonal(g, offset, axis1, axis2),
    keep="",
)


@primitive
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum along the ``offset`` diagonal over ``axis1``/``axis2`` (NumPy's ``trace``).

    x̄ = diag_embed(broadcast(ḡ))   (ḡ on that diagonal, 0 elsewhere)
    """
    if np.ndim(x) < 2:
        raise ShapeError(f"trace: needs at least 2 dimensions, got shape {np.shape(x)}")
    return backend.xp.trace(x, offset, axis1, axis2)


def _trace_grad(g, out, x, offset=0, axis1=0, axis2=1):
    length = _diag_length(x.shape, offset, axis1, axis2)
    if not is_grad_enabled():  # ḡ broadcast along the diagonal as it is written
        return Tensor._make(_embed(g.data[..., None], x.shape, offset, axis1, axis2, length))
    gd = broadcast_to(expand_dims(g, -1), (*g.shape, length))
    return diag_embed(gd, x.shape, offset, axis1, axis2)


def _diag_length(shape: tuple[int, ...], offset: int, axis1: int, axis2: int) -> int:
    n1, n2 = shape[axis1], shape[axis2]
    if offset >= 0:
        return max(0, min(n1, n2 - offset))
    return max(0, min(n1 + offset, n2))


trace.defvjp(_trace_grad, keep="x.shape")


def diag(v: Any, k: int = 0) -> Tensor:
    """NumPy's ``diag``: a 1-D ``v`` placed on the ``k``-th diagonal of a square matrix, or
    the ``k``-th diagonal of a 2-D ``v``. Raises :class:`~chainrule.errors.ShapeError`
    otherwise."""
    v = _t(v)
    if v.ndim == 1:
        n = v.shape[0] + (k if k > 0 else -k)
        return diag_embed(v, (n, n), k, 0, 1)
    if v.ndim == 2:
        return diagonal(v, k, 0, 1)
    raise ShapeError(f"diag: expected a 1-D or 2-D input, got shape {v.shape}")


def tril(x: Any, k: int = 0) -> Tensor:
    """Lower triangle of the last two axes (NumPy's ``tril``), zeros above diagonal ``k``."""
    return _triangle(_t(x), k, lower=True)


def triu(x: Any, k: int = 0) -> Tensor:
    """Upper triangle of the last two axes (NumPy's ``triu``), zeros below diagonal ``k``."""
    return _triangle(_t(x), k, lower=False)


def _triangle(x: Tensor, k: int, lower: bool) -> Tensor:
    name = "tril" if lower else "triu"
    if x.ndim < 2:
        raise ShapeError(f"{name}: needs at least 2 dimensions, got shape {x.shape}")
    n, m = x.shape[-2:]
    keep = backend.xp.tri(n, m, k if lower else k - 1, dtype=bool)
    return where(keep if lower else ~keep, x, 0)
