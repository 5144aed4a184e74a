"""Scans (running reductions along one axis) and their gradients.

A scan's output at position j depends on the inputs at positions k ≤ j, so its gradient at
position i gathers ḡ from positions j ≥ i: a *reverse* running sum, written ``rcumsum``
below (``cumsum`` of ``g`` flipped along the axis, flipped back). With ``axis=None`` the input
is flattened first, as NumPy does.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.ops.elementwise import exp, log, where
from chainrule.ops.indexing import scatter_add
from chainrule.ops.reduction import _axes, axis_primitive
from chainrule.ops.shape import getitem, reshape
from chainrule.tensor import Tensor


class ValuesIndices(NamedTuple):
    """What :func:`cummax` / :func:`cummin` return, as PyTorch's named tuple."""

    values: Tensor
    indices: Tensor


def cummax(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> ValuesIndices:
    """Running maximum along ``axis`` and where it was reached (PyTorch's ``cummax``).

    ``indices`` (int64) is the last position k ≤ j holding the running maximum at j; the
    gradient of ``values`` at j goes to that element.
    """
    x, axis = _along(x, axis, dim, "cummax")
    values = _cummax(x, axis)
    return ValuesIndices(values, Tensor._make(_record_index(x.data, values.data, axis)))


def cummin(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> ValuesIndices:
    """Running minimum along ``axis`` and where it was reached (PyTorch's ``cummin``)."""
    x, axis = _along(x, axis, dim, "cummin")
    values = _cummin(x, axis)
    return ValuesIndices(values, Tensor._make(_record_index(x.data, values.data, axis)))


def _along(x: Any, axis: int | None, dim: int | None, name: str) -> tuple[Tensor, int]:
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}: got both axis= and dim= (synonyms); give one")
        axis = dim
    if axis is None or x.ndim == 0:
        if axis is not None:
            _axes(axis, 0)
        return reshape(x, (-1,)), 0
    return x, _axes(axis, x.ndim)[0]


def _flip(t: Tensor, axis: int) -> Tensor:
    return getitem(t, (slice(None),) * axis + (slice(None, None, -1),))


def _rcumsum(g: Tensor, axis: int) -> Tensor:
    """Σ_{j ≥ i} g_j along ``axis``."""
    return _flip(cumsum(_flip(g, axis), axis), axis)


@axis_primitive
def cumsum(x, axis=None):
    """Running sum along ``axis`` (NumPy's ``cumsum``; of the flattened input when None).

    x̄ = rcumsum(ḡ)   (Σ_{j ≥ i} ḡ_j)
    """
    return backend.xp.cumsum(x, axis=axis)


def _cumsum_grad(g, out, x, axis=None):
    if axis is None:
        return reshape(_rcumsum(g, 0), x.shape)
    return _rcumsum(g, axis % x.ndim)


cumsum.defvjp(_cumsum_grad, keep="x.shape")


def _flat(rule: Any) -> Any:
    """A scan's rule for any ``axis``, from one for a non-negative axis."""

    def flat_rule(g, out, x, axis=None):
        if axis is None:
            return reshape(rule(g, out, reshape(x, (-1,)), 0), x.shape)
        return rule(g, out, x, axis % x.ndim)

    return flat_rule


@axis_primitive
def cumprod(x, axis=None):
    """Running product along ``axis`` (NumPy's ``cumprod``), exact gradients with zeros.

    x̄ = rcumsum(ḡ ⊙ out) / x   (where x ≠ 0; at a slice's first zero, rcumsum(ḡ ⊙ out') with
    that zero replaced by 1 in out'; 0 after it)
    """
    return backend.xp.cumprod(x, axis=axis)


def _cumprod_grad(g, out, x, axis):
    zero = x.data == 0
    if not zero.any():
        return _rcumsum(g * out, axis) / x
    seen = np.cumsum(zero, axis=axis)
    before = seen == 0
    first = zero & (seen == 1)
    # Position i < first zero: out_j / x_i is the product of the others for every j (0 from
    # the zero on). At the first zero z: Σ_{j ≥ z} ḡ_j Π_{k ≤ j, k ≠ z} x_k, the running
    # product with x_z replaced by 1. After it every term holds the first zero: 0.
    head = _rcumsum(g * out, axis) / where(before, x, 1)
    at_zero = _rcumsum(g * cumprod(where(first, 1, x), axis), axis)
    return where(before, head, where(first, at_zero, 0))


cumprod.defvjp(_flat(_cumprod_grad), keep="x out")


@axis_primitive
def logcumsumexp(x, axis=None):
    """Running log(Σ exp(x)) along ``axis`` (PyTorch's ``logcumsumexp``), stable.

    x̄ = Σ_{j ≥ i} ḡ_j exp(x_i − out_j)   (in the log domain, ḡ's signs apart)
    """
    if axis is None:
        x, axis = x.reshape(-1), 0
    return backend.xp.logaddexp.accumulate(x, axis=axis)


def _logcumsumexp_grad(g, out, x, axis):
    if backend.xp.isneginf(out.data).any():  # only -inf before: every term there is 0
        out = where(backend.xp.isneginf(out.data), 0, out)
    if g.requires_grad:
        # A symbolic ḡ (forward mode transposes this rule) needs a rule linear in ḡ: shift by
        # the slice's largest out, a constant that cancels. Exact; overflows only when out
        # spans more than ~700 along the axis.
        c = Tensor._make(out.data.max(axis=axis, keepdims=True))
        return exp(x - c) * _flip(cumsum(_flip(g * exp(c - out), axis), axis), axis)
    # Σ_{j ≥ i} ḡ_j exp(x_i − out_j) = exp(x_i + log Σ_{j ≥ i} exp(log ḡ_j − out_j)) for the
    # positive part of ḡ, minus the same for its negative part: no exp of a large number.
    total = None
    for sign in (1, -1):
        part = (g.data * sign) > 0
        if not part.any():
            continue
        logg = where(part, log(where(part, g * sign, 1)), -np.inf)
        term = exp(x + _flip(logcumsumexp(_flip(logg - out, axis), axis), axis))
        total = term * sign if total is None else total + term * sign
    return g * 0 if total is None else total


logcumsumexp.defvjp(_flat(_logcumsumexp_grad), keep="x out")


@primitive
def _cummax(x, axis):
    """Running maximum along ``axis`` (values of PyTorch's ``cummax``).

    x̄ = scatter_add(0, idx, ḡ)   (Σ_{j : idx_j = i} ḡ_j; idx_j: where the maximum at j was)
    """
    return backend.xp.maximum.accumulate(x, axis=axis)


@primitive
def _cummin(x, axis):
    """Running minimum along ``axis`` (values of PyTorch's ``cummin``).

    x̄ = scatter_add(0, idx, ḡ)   (Σ_{j : idx_j = i} ḡ_j; idx_j: where the minimum at j was)
    """
    return backend.xp.minimum.accumulate(x, axis=axis)


def _record_index(x: Any, out: Any, axis: int) -> Any:
    """For each j, the last k ≤ j where ``x_k`` equals the running extremum ``out_k``."""
    xp = backend.array_module(x)
    n = x.shape[axis]
    if xp is not np:  # CuPy: a running maximum of the positions where x reaches out
        pos = xp.arange(n).reshape((-1,) + (1,) * (x.ndim - axis - 1))
        found = xp.where(x == out, pos, 0)
        return xp.maximum.accumulate(found, axis=axis, out=found).astype(np.int64, copy=False)
    starts, shape = _records(x, out, axis)
    if starts is None:
        return xp.zeros(x.shape, dtype=np.int64)
    # one run per record: its position along the axis, repeated up to the next record
    lengths = np.empty_like(starts)
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
    lengths[-1] = x.size - starts[-1]
    idx = np.repeat((starts % n).astype(np.int64, copy=False), lengths).reshape(shape)
    return idx if axis == x.ndim - 1 else xp.moveaxis(idx, -1, axis)


def _records(x: Any, out: Any, axis: int) -> tuple[Any, tuple[int, ...]]:
    """The flat positions, in ``x`` with ``axis`` moved last (C order), where ``x`` reaches
    its running extremum (every slice's first element counts as one), and that moved shape;
    ``(None, shape)`` when ``x`` is empty. Records are few on most data, so runs between them
    replace a second accumulate over the whole array."""
    xp = np
    if axis != x.ndim - 1:
        x, out = xp.moveaxis(x, axis, -1), xp.moveaxis(out, axis, -1)
    if x.size == 0:
        return None, x.shape
    hit = xp.equal(x, out, order="C")  # C order in the moved axes: one slice per row
    hit[..., 0] = True  # even a slice starting with NaN: its indices start at 0
    return xp.flatnonzero(hit), x.shape


def _running_grad(g, out, x, axis):
    if is_grad_enabled() or backend.array_module(g.data) is not np:  # as ops (create_graph)
        zeros = Tensor._make(backend.xp.zeros(x.shape, dtype=g.dtype))
        return scatter_add(zeros, axis, _record_index(x.data, out.data, axis), g)
    xp = np
    starts, shape = _records(x.data, out.data, axis)
    r = xp.zeros(shape, dtype=g.dtype)
    if starts is not None:  # each record gets ḡ summed over its run: one reduceat
        gm = g.data if axis == g.ndim - 1 else xp.moveaxis(g.data, axis, -1)
        gm = xp.ascontiguousarray(gm).reshape(-1)
        r.reshape(-1)[starts] = xp.add.reduceat(gm, starts)
    return Tensor._make(r if axis == r.ndim - 1 else xp.moveaxis(r, -1, axis))


_cummax.defvjp(_running_grad, keep="x out")
_cummin.defvjp(_running_grad, keep="x out")
