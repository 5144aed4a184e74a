"""Fused self-attention: multi-head softmax(Q Kᵀ·s + M) V of a packed query-key-value
projection as one primitive, with a hand-written backward.

Composed of ops, one attention head-split records a dozen nodes (three slices of the packed
projection, reshapes and transposes that copy, the scores' product, the scale, the mask, the
softmax, the weighted sum, the join) and each pays Python bookkeeping and full passes over the
(N, heads, L, S) scores. Fused, the forward is two batched products and an in-place softmax on
strided views of the projection, and the backward reads the kept projection and output:

    P = softmax(Q Kᵀ s + M),  O = P V
    V̄ = Pᵀ Ō,  P̄ = Ō Vᵀ,  S̄ = P ⊙ (P̄ − rowsum(Ō ⊙ O)),  Q̄ = s S̄ K,  K̄ = s S̄ᵀ Q

(rowsum(P̄ ⊙ P) = rowsum(Ō ⊙ O), one pass over O instead of over the scores). The output keeps,
beside the joined heads, each head's log-sum-exp of its scores per query, so that the backward
rebuilds P with one product and one exp instead of keeping the (N, heads, L, S) weights.
With ``create_graph=True`` the same rule runs on tensors through chainrule's ops.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.ops.elementwise import exp
from chainrule.ops.linalg import matmul
from chainrule.ops.reduction import sum as _sum
from chainrule.ops.shape import getitem, reshape, stack, swapaxes, transpose
from chainrule.tensor import Tensor


@primitive
def self_attention(qkv, heads=1, mask=None, scale=None):
    """Multi-head scaled dot-product self-attention of a packed projection: qkv (N, L, 3E)
    holds Q, K, V side by side, each split into ``heads`` heads (default 1) of d = E / heads;
    per head P = softmax(Q Kᵀ · scale + mask) (scale 1/√d by default; ``mask`` a constant
    additive array broadcastable to (N, heads, L, L)) -> (N, L, E + heads): the heads' P V
    joined as PyTorch's MultiheadAttention joins them, then each head's log-sum-exp of its
    scaled scores per query.
    q̄kv = (scale · S̄ K, scale · S̄ᵀ Q, Pᵀ Ō) with S̄ = P ⊙ (Ō Vᵀ − rowsum(Ō ⊙ O) + l̄), per head
    """
    xp = backend.xp
    n, length, three = qkv.shape
    e = three // 3
    s = _scale(e // heads, scale)
    q, k, v = _split(qkv, heads)
    p = xp.matmul(q, xp.swapaxes(k, -1, -2))
    p *= s
    if mask is not None:
        p += mask
    top = p.max(axis=-1, keepdims=True)
    p -= top
    xp.exp(p, out=p)
    total = xp.matmul(p, xp.ones((p.shape[-1], 1), dtype=p.dtype))  # row sums: BLAS, 5x sum()
    p /= total
    out = xp.empty((n, length, e + heads), dtype=p.dtype)
    _matmul_into(xp, p, v, _heads(out[..., :e], heads))
    xp.log(total, out=total)
    total += top
    out[..., e:] = xp.swapaxes(total[..., 0], 1, 2)
    return out


def _matmul_into(xp: Any, a: Any, b: Any, dst: Any) -> None:
    """dst[...] = a @ b, written by NumPy's matmul straight into the strided view ``dst``
    (other array modules: computed, then copied in)."""
    if xp is np:
        xp.matmul(a, b, out=dst)
    else:
        dst[...] = xp.matmul(a, b)


def _scale(d: int, scale: float | None) -> float:
    return 1.0 / math.sqrt(d) if scale is None else float(scale)


def _heads(a: Any, heads: int) -> Any:
    """(N, L, E) -> the (N, heads, L, E / heads) view of its heads (of an array or a tensor)."""
    n, length, e = a.shape
    return a.reshape(n, length, heads, e // heads).transpose(0, 2, 1, 3)


def _split(qkv: Any, heads: int) -> tuple[Any, Any, Any]:
    """Q, K, V of a packed (N, L, 3E) projection, each as (N, heads, L, d) views."""
    e = qkv.shape[-1] // 3
    return tuple(_heads(qkv[..., i * e : (i + 1) * e], heads) for i in range(3))


def _self_attention_grad(g, out, qkv, heads=1, mask=None, scale=None):
    if is_grad_enabled():
        return (_grad_tensors(g, out, qkv, heads, mask, scale),)
    xp = backend.array_module(g.data)
    gd, od, x = g.data, out.data, qkv.data
    n, length, three = x.shape
    e = three // 3
    s = _scale(e // heads, scale)
    q, k, v = _split(x, heads)
    go = _heads(gd[..., :e], heads)
    # P again from the kept log-sum-exp: one product and one exp
    p = xp.matmul(q, xp.swapaxes(k, -1, -2))
    p *= s
    if mask is not None:
        p += mask
    p -= xp.swapaxes(od[..., e:], 1, 2)[..., None]
    xp.exp(p, out=p)
    grad = xp.empty((n, length, three), dtype=p.dtype)
    dq, dk, dv = _split(grad, heads)
    _matmul_into(xp, xp.swapaxes(p, -1, -2), go, dv)
    ds = xp.matmul(go, xp.swapaxes(v, -1, -2))  # P̄, then S̄ in place
    r = xp.einsum("nlhd,nlhd->nhl", *(a[..., :e].reshape(n, length, heads, -1) for a in (gd, od)))
    r = r[..., None]  # rowsum(P̄ ⊙ P) = rowsum(Ō ⊙ O), per head and query
    gl = gd[..., e:]
    if gl.any():  # a gradient at the log-sum-exp itself: its scores' gradient is P
        r -= xp.swapaxes(gl, 1, 2)[..., None]
    ds -= r
    ds *= p
    ds *= s
    _matmul_into(xp, ds, k, dq)
    _matmul_into(xp, xp.swapaxes(ds, -1, -2), q, dk)
    return (Tensor._make(grad),)


def _grad_tensors(g: Tensor, out: Tensor, qkv: Tensor, heads: int, mask: Any, scale: Any):
    """The rule as differentiable ops (a gradient of a gradient)."""
    n, length, three = qkv.shape
    e = three // 3
    s = _scale(e // heads, scale)
    q, k, v = _split(qkv, heads)  # (_split and _heads serve tensors as well as arrays)
    go = _heads(getitem(g, (..., slice(0, e))), heads)
    o = _heads(getitem(out, (..., slice(0, e))), heads)
    lse = swapaxes(getitem(out, (..., slice(e, None))), 1, 2)
    scores = matmul(q, swapaxes(k, -1, -2)) * s
    if mask is not None:
        scores = scores + mask
    p = exp(scores - reshape(lse, (*lse.shape, 1)))
    dv = matmul(swapaxes(p, -1, -2), go)
    gl = swapaxes(getitem(g, (..., slice(e, None))), 1, 2)
    r = _sum(go * o, axis=-1, keepdims=True) - reshape(gl, (*gl.shape, 1))
    ds = p * (matmul(go, swapaxes(v, -1, -2)) - r) * s
    dq, dk = matmul(ds, k), matmul(swapaxes(ds, -1, -2), q)
    joined = stack([transpose(t, (0, 2, 1, 3)) for t in (dq, dk, dv)], axis=2)
    return reshape(joined, (n, length, three))


self_attention.defvjp_all(_self_attention_grad, keep="qkv out")
