"""Matrix products: ``matmul`` with NumPy's rules (batched, 1-D promotion) and the fused
``linear`` of a layer, a_k = b_k + W_k h_{k-1} (seeds, module 4.7), for row-major batches;
``outer``, ``vecdot``, ``matrix_power``, ``multi_dot`` (the cheapest order) and
``matrix_transpose``.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.errors import ShapeError
from chainrule.ops._ones_sum import ones_sum
from chainrule.ops.activation import _relu_into, _sigmoid_into, relu, sigmoid, step_mask
from chainrule.ops.elementwise import multiply, tanh
from chainrule.ops.linalg._common import (
    _matrix,
    _mT,
    _t,
)
from chainrule.ops.shape import expand_dims, getitem, reshape, swapaxes
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


_ACTIVATION_OPS = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid}
ACTIVATIONS = (None, *_ACTIVATION_OPS)
"""The activations :func:`linear` applies in place: their derivatives read only the output."""


@primitive
def linear(x, weight, bias=None, activation=None):
    """``act(x @ weight.T + bias)``: x (..., in), weight (out, in), bias (out,) -> (..., out).

    x̄ = ā weight, where ā = ḡ ⊙ act′ (act′ from out: 1, [out > 0], 1 − out², out ⊙ (1 − out))
    weight̄ = Σ_batch āᵀ x
    bias̄ = Σ_batch ā

    The seeds' a = b + W h for a batch of rows h, and with ``activation`` ("relu", "tanh" or
    "sigmoid"; None, the default, is the identity) their h = g(a) in the same node: a Linear
    layer and its activation as one primitive, whose one rule computes all three gradients
    from the raw arrays when no graph of the backward is wanted (``create_graph=False``, the
    training case) and with chainrule's differentiable ops otherwise, so higher derivatives
    still work. Raises :class:`~chainrule.errors.ShapeError` when ``x``'s last axis is not
    ``in`` and ``ValueError`` for another activation.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"linear: activation={activation!r}; expected one of {list(ACTIVATIONS)}")
    if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[-1]:
        raise ShapeError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
            f"(expected a 2-D weight and input's last dimension "
            f"{weight.shape[-1] if weight.ndim else '?'})"
        )
    return _linear_into(None, x, weight, bias, activation)


def _linear_into(out, x, weight, bias=None, activation=None):
    """``linear``'s arithmetic (unchecked), its result written into ``out`` (a new array when
    None): what ``cr.compile``'s replay calls with a buffer of its own."""
    xp = backend.xp
    out = _rows_times(xp, x, weight.T, out)
    if bias is not None:
        out += bias
    if activation == "relu":
        _relu_into(out, out)
    elif activation == "tanh":
        xp.tanh(out, out=out)
    elif activation == "sigmoid":
        _sigmoid_into(out, out)
    return out


def _rows_times(xp: Any, a: Any, b: Any, out: Any = None) -> Any:
    """a (..., k) @ b (k, m), into ``out`` when given: one 2-D BLAS product over the flattened
    rows (NumPy's stacked matmul calls BLAS once per leading index, 15-30% slower here), or a
    broadcast product when k is 1 (several times faster than BLAS then)."""
    if a.shape[-1] == 1:
        return xp.multiply(a, b[0], out=out)
    if a.ndim == 2 or (out is not None and not out.flags.c_contiguous):
        return xp.matmul(a, b, out=out)
    rows = math.prod(a.shape[:-1])
    flat = xp.matmul(a.reshape(rows, a.shape[-1]), b,
                     out=None if out is None else out.reshape(rows, b.shape[-1]))  # fmt: skip
    return flat.reshape(*a.shape[:-1], b.shape[-1]) if out is None else out


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


def _activation_grad(g, out, activation):
    """ā = ḡ ⊙ act′(a), as chainrule ops (differentiable): the activation primitive's own rule,
    which reads only the output."""
    if activation is None:
        return g
    return _ACTIVATION_OPS[activation].vjps[0](g, out, None)


def _activation_grad_array(g, out, activation):
    """ā = ḡ ⊙ act′(a) on raw arrays (a new array, or ``g`` itself for the identity)."""
    xp = backend.array_module(g)
    if activation == "relu":
        return step_mask.forward(g, out)
    if activation == "tanh":
        d = out * out
        xp.subtract(1, d, out=d)
        d *= g
        return d
    if activation == "sigmoid":
        d = 1 - out
        d *= out
        d *= g
        return d
    return g


def _wants(t) -> bool:
    """Whether a kept input needs its gradient (constants given as arrays do not)."""
    return isinstance(t, Tensor) and t._requires_grad


def _linear_vjp(g, out, x, weight, bias=None, activation=None):
    if is_grad_enabled():  # create_graph: the rules as ops, so they differentiate again
        a = _activation_grad(g, out, activation)
        gx = _mm(a, weight) if _wants(x) else None
        gw = _linear_grad_weight(a, None, x, weight) if _wants(weight) else None
        return gx, gw, a if bias is not None else None
    xd = x.data if isinstance(x, Tensor) else x
    wd = weight.data if isinstance(weight, Tensor) else weight
    outs = (None if _wants(x) else False, None if _wants(weight) else False,
            None if bias is not None else False)  # fmt: skip
    gx, gw, gb = _linear_vjp_into(outs, g.data, out.data, xd, wd, bias, activation)
    make = Tensor._make
    return (None if gx is None else make(gx), None if gw is None else make(gw),
            None if gb is None else make(gb))  # fmt: skip


def _linear_vjp_into(outs, g, out, x, weight, bias=None, activation=None):
    """The three gradients of ``linear`` on raw arrays, each written into its array in
    ``outs`` (None: a new array; False: not wanted, None returned): the training case of the
    rule, and what ``cr.compile``'s replay calls with buffers of its own."""
    bx, bw, bb = outs
    # the arrays' own namespace: rules run outside the forward's backend.host() switch
    xp = backend.array_module(g)
    a = _activation_grad_array(g, out, activation)
    gx = None if bx is False else _rows_times(xp, a, weight, bx)
    a2 = a.reshape(-1, a.shape[-1]) if a.ndim != 2 else a
    gw = gb = None
    if bw is not False:
        x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        gw = xp.dot(a2.T, x2, out=bw)
    if bb is not False:
        gb = ones_sum(xp, a2, 0, bb)  # the column sums
    return gx, gw, gb


linear.defvjp_all(_linear_vjp, keep="x weight out bias.shape")
linear.into = _linear_into  # cr.compile's replay: the forward into a buffer of its own
_linear_vjp.into = _linear_vjp_into


# ---------------------------------------------------------------------------- chains
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
