"""Fused recurrences: a whole recurrent layer's walk over time as one primitive, with a
hand-written backpropagation through time.

Composed from per-step ops, a layer of T steps records ~10 T nodes and pays Python
bookkeeping for each; fused, the forward is one loop of NumPy calls (one matrix product per
step: the gates of all units stacked) and the backward another loop in reverse. The rule
implements the seeds' sum over paths directly: at each step the state's gradient is what the
output at t sends plus what step t + 1 sends back, ∇h_t = ḡ_t + W_hhᵀ ∇a_{t+1}.

Each primitive returns one array holding, per step, what its backward needs (the gate
activations and the states), time-major: the layer slices out the states it returns. With
``create_graph=True`` (a gradient of a gradient) the same backward runs on tensors through
chainrule's ops, so higher derivatives still work. The tests check every scan against the same
recurrence composed of per-step ops (``nn.recurrent``'s path for packed batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import is_grad_enabled, primitive
from chainrule.ops import _scratch as scratch
from chainrule.ops.linalg import linear
from chainrule.ops.shape import concatenate, reshape, stack, transpose
from chainrule.tensor import Tensor


def _sig(x: Any) -> Any:
    """σ(x) = (1 + tanh(x/2)) / 2: never overflows, one call."""
    xp = backend.xp
    return xp.tanh(x * 0.5) * 0.5 + 0.5


# ---------------------------------------------------------------------------- input terms
@primitive
def input_terms(x, weight, bias=None):
    """A recurrent layer's input terms for all steps, ``linear``'s x @ weight.T + bias: x
    (T, N, in), weight (G, in), bias (G,) -> (T, N, G), the result in an array reused from one
    training step to the next once nothing holds it (``ops._scratch.recycled``): a fresh
    (T, N, G) array page-faults on every page it writes, ~2 ms of a 2-layer LSTM step's 52.
    x̄ = ḡ weight
    weight̄ = Σ_batch ḡᵀ x
    bias̄ = Σ_batch ḡ

    Arithmetic and rule are ``linear``'s own (its ``into`` and its rule).
    """
    dtype = np.result_type(x.dtype, weight.dtype)
    out = scratch.recycled((*x.shape[:-1], weight.shape[0]), dtype)
    return linear.into(out, x, weight, bias)


input_terms.defvjp_all(linear.vjp_all, keep="x weight out bias.shape")


# ---------------------------------------------------------------------------- Elman RNN
@primitive
def rnn_scan(xw, h0, w_hh, relu=False):
    """The states of h_t = act(xw_t + h_{t−1} W_hhᵀ) for t = 1..T: xw (T, N, H) (the input
    terms with both biases), h0 (N, H), w_hh (H, H) -> (T, N, H); act tanh, or relu.
    x̄w_t = ā_t, the pre-activation's gradient: ā_t = (ḡ_t + ā_{t+1} W_hh) ⊙ act′
    h̄0 = ā_1 W_hh
    w̄_hh = Σ_t ā_tᵀ h_{t−1}
    """
    xp = backend.xp
    out = xp.empty(xw.shape, dtype=xw.dtype)
    h = h0
    wt = xp.ascontiguousarray(w_hh.T)
    for t in range(xw.shape[0]):
        a = xw[t] + h @ wt
        h = xp.maximum(a, 0, out=out[t]) if relu else xp.tanh(a, out=out[t])
    return out


def _rnn_scan_grad(g, out, xw, h0, w_hh, relu=False):
    ns, (hs, gd, h0_, w) = _namespace(out, g, h0, w_hh)
    das, dh = [], 0 * h0_
    for t in range(hs.shape[0] - 1, -1, -1):
        d = gd[t] + dh
        da = d * ns.positive(hs[t]) if relu else d * (1 - hs[t] * hs[t])
        das.append(da)
        dh = da @ w
    da = ns.stack(das[::-1])
    return _wrap(da, dh, _sum_outer(da, ns.previous(hs, h0_)))


rnn_scan.defvjp_all(_rnn_scan_grad, keep="out h0 w_hh xw.shape")


# ---------------------------------------------------------------------------- LSTM
@primitive
def lstm_scan(xw, h0, c0, w_hh):
    """An LSTM layer over time (PyTorch's gate order i, f, g, o): xw (T, N, 4H) the input terms
    with both biases, h0 and c0 (N, H), w_hh (4H, H) -> (7, T, N, H): first the gate
    activations, whose four blocks hold them as a (T, N, 4H) array (i, f, g, o side by side
    per step, like xw), then c_t, tanh c_t and h_t, each a contiguous (T, N, H) block.
    x̄w_t = ā_t = (ī ⊙ i(1−i), f̄ ⊙ f(1−f), ḡ ⊙ (1−g²), ō ⊙ o(1−o)), h̄_t = ḡ_t + ā_{t+1} W_hh,
        c̄_t = h̄_t ⊙ o ⊙ (1 − tanh²c_t) + c̄_{t+1} ⊙ f_{t+1}, ī = c̄_t ⊙ g, f̄ = c̄_t ⊙ c_{t−1},
        ō = h̄_t ⊙ tanh c_t
    h̄0 = ā_1 W_hh
    c̄0 = c̄_1 ⊙ f_1
    w̄_hh = Σ_t ā_tᵀ h_{t−1}

    Each step is one matrix product, written straight into that step's (N, 4H) gates, and
    nine in-place NumPy calls: the four gates through one tanh, σ(x) = ½ tanh(x/2) + ½ (the i,
    f, o pre-activations halved by a per-column scale, exact in floating point, then scaled
    and shifted back). (The gates stored gate by gate, (4, T, N, H), cost a strided copy per
    step, ~8% slower; halving xw for all steps at once before the walk, a pass over memory,
    was slower than per step.) The states' blocks are contiguous so that h_t, the layer's
    output, is a plain (T, N, H) array, and the gradient arriving at the output (zeros but for
    that block) touches only the memory of that block.
    """
    xp = backend.xp
    steps, batch, four = xw.shape
    n = four // 4
    dtype = xp.result_type(xw, h0, c0, w_hh)
    out = scratch.recycled((7, steps, batch, n), dtype)  # no fresh pages to fault in each step
    gates, cs, tcs, hs = out[:4].reshape(steps, batch, four), out[4], out[5], out[6]
    scale, shift = _gate_affine(xp, n, dtype)
    wt = xp.ascontiguousarray(w_hh.T, dtype=dtype)
    ig = xp.empty((batch, n), dtype=dtype)
    matmul, multiply, tanh = xp.matmul, xp.multiply, xp.tanh
    i_, f_, g_, o_ = (slice(k * n, (k + 1) * n) for k in range(4))
    h, c = h0, c0
    for t in range(steps):
        a = matmul(h, wt, out=gates[t])
        a += xw[t]
        a *= scale
        tanh(a, out=a)
        a *= scale
        a += shift
        c = multiply(a[:, f_], c, out=cs[t])
        c += multiply(a[:, i_], a[:, g_], out=ig)
        tc = tanh(c, out=tcs[t])
        h = multiply(a[:, o_], tc, out=hs[t])
    return out


def _gate_affine(xp: Any, n: int, dtype: Any) -> tuple[Any, Any]:
    """Per-column scale and shift of the stacked gates i, f, g, o: ½ and ½ for the sigmoids
    (σ(x) = ½ tanh(½ x) + ½), 1 and 0 for g's tanh."""
    scale = xp.full(4 * n, 0.5, dtype=dtype)
    scale[2 * n : 3 * n] = 1
    shift = xp.full(4 * n, 0.5, dtype=dtype)
    shift[2 * n : 3 * n] = 0
    return scale, shift


def _lstm_scan_grad(g, out, xw, h0, c0, w_hh):
    if not is_grad_enabled():
        return _wrap(*_lstm_scan_grad_arrays(g.data, out.data, h0.data, c0.data, w_hh.data))
    # create_graph: the same rule as differentiable ops, on (T, N, 7H) copies of the blocks
    _, steps, batch, n = out.shape

    def flat(a: Tensor) -> Tensor:  # the gates' (T, N, 4H) beside the states' three blocks
        states = transpose(a[4:], (1, 2, 0, 3))
        return concatenate(
            [reshape(a[:4], (steps, batch, 4 * n)), reshape(states, (steps, batch, 3 * n))],
            axis=-1,
        )

    o_, gd = flat(out), flat(g)
    h0_, c0_, w = h0, c0, w_hh
    ns = _Tensors
    i, f, gg, o = (o_[..., k * n : (k + 1) * n] for k in range(4))
    cs, tc, hs = o_[..., 4 * n : 5 * n], o_[..., 5 * n : 6 * n], o_[..., 6 * n :]
    # what does not depend on the walk back, for every step at once
    slope = ns.concat([i * (1 - i), f * (1 - f), 1 - gg * gg, o * (1 - o)])  # the gates' σ′, tanh′
    via_c = o * (1 - tc * tc)  # ∂h_t/∂c_t
    c_prev = ns.previous(cs, c0_)
    direct = gd[..., : 4 * n] * slope  # gradients arriving at the activations themselves
    gc = gd[..., 4 * n : 5 * n] + gd[..., 5 * n : 6 * n] * (1 - tc * tc)  # ... at c_t, tanh c_t
    das, dh, dc = [], 0 * h0_, 0 * c0_
    for t in range(o_.shape[0] - 1, -1, -1):
        dh = gd[t, :, 6 * n :] + dh
        dc = gc[t] + dc + dh * via_c[t]
        da = ns.concat([dc * gg[t], dc * c_prev[t], dc * i[t], dh * tc[t]]) * slope[t] + direct[t]
        das.append(da)
        dc = dc * f[t]
        dh = da @ w
    da = ns.stack(das[::-1])
    return _wrap(da, dh, dc, _sum_outer(da, ns.previous(hs, h0_)))


def _lstm_scan_grad_arrays(gd: Any, out: Any, h0: Any, c0: Any, w: Any) -> tuple:
    """The rule on raw arrays (a plain ``backward()``): per step one matrix product and about
    fourteen in-place calls on small buffers that stay in cache, ā_t written straight into the
    (T, N, 4H) gradient of xw (contiguous, like the gates it is computed from); then w̄_hh as
    one product over all steps, ā reshaped (T·N, 4H) against the states. (Computing the
    step-independent factors for all steps at once first measured ~13% slower: passes over
    (T, N, 4H) arrays that do not fit in cache.)"""
    xp = backend.array_module(gd)
    _, steps, batch, n = out.shape
    dtype = xp.result_type(gd, out, w)
    da_all = (
        scratch.recycled((steps, batch, 4 * n), dtype)
        if xp is np
        else xp.empty((steps, batch, 4 * n), dtype=dtype)
    )
    if steps == 0:
        return da_all, xp.zeros_like(h0), xp.zeros_like(c0), xp.zeros_like(w)
    gates, cs, tcs, hs = out[:4].reshape(steps, batch, 4 * n), out[4], out[5], out[6]
    gc, direct = None, None
    if _nonzero(gd[:6]):  # gradients at the gates, c_t or tanh c_t themselves (rare)
        direct = gd[:4].reshape(steps, batch, 4 * n)
        gc = gd[4] + gd[5] * (1 - tcs * tcs)
    gh = gd[6]
    # the slope (m0 − a) ⊙ a + m2: a(1 − a) for the sigmoids' columns, 1 − g² for g's
    m0 = xp.ones(4 * n, dtype=dtype)
    m0[2 * n : 3 * n] = 0
    m2 = 1 - m0
    part = xp.empty((batch, 4 * n), dtype=dtype)  # ā's factors besides the slope
    i_, f_, g_, o_ = (slice(k * n, (k + 1) * n) for k in range(4))
    p_i, p_f, p_g, p_o = part[:, i_], part[:, f_], part[:, g_], part[:, o_]
    dh = xp.empty((batch, n), dtype=dtype)
    dc = xp.zeros((batch, n), dtype=dtype)
    tmp = xp.empty((batch, n), dtype=dtype)
    extra = None if direct is None else xp.empty((batch, 4 * n), dtype=dtype)
    matmul, multiply, subtract = xp.matmul, xp.multiply, xp.subtract
    for t in range(steps - 1, -1, -1):
        acts, tc, h = gates[t], tcs[t], hs[t]
        if t == steps - 1:
            xp.copyto(dh, gh[t])
        else:
            matmul(da_all[t + 1], w, out=dh)
            dh += gh[t]
        # c̄_t = c̄_{t+1} ⊙ f_{t+1} + h̄_t ⊙ (o − h ⊙ tanh c), o ⊙ (1 − tanh² c) as h = o ⊙ tanh c
        multiply(h, tc, out=tmp)
        subtract(acts[:, o_], tmp, out=tmp)
        tmp *= dh
        dc += tmp
        if gc is not None:
            dc += gc[t]
        multiply(dc, acts[:, g_], out=p_i)
        multiply(dc, cs[t - 1] if t else c0, out=p_f)
        multiply(dc, acts[:, i_], out=p_g)
        multiply(dh, tc, out=p_o)
        da = da_all[t]
        subtract(m0, acts, out=da)
        da *= acts
        da += m2
        if extra is not None:
            multiply(da, direct[t], out=extra)
        da *= part
        if extra is not None:
            da += extra
        dc *= acts[:, f_]
    dh0 = xp.matmul(da_all[0], w)
    flat = da_all.reshape(steps * batch, 4 * n)
    dw = flat[:batch].T @ h0 if h0.any() else xp.zeros(w.shape, dtype=dtype)
    if steps > 1:  # h_{t−1} for t ≥ 1: the states' block of out
        dw += flat[batch:].T @ hs[:-1].reshape((steps - 1) * batch, n)
    return da_all, dh0, dc, dw


lstm_scan.defvjp_all(_lstm_scan_grad, keep="out h0 c0 w_hh xw.shape")


# ---------------------------------------------------------------------------- GRU
@primitive
def gru_scan(xw, h0, w_hh, b_hh):
    """A GRU layer over time (PyTorch's gate order r, z, n): xw (T, N, 3H) the input terms with
    b_ih, h0 (N, H), w_hh (3H, H), b_hh (3H,) -> (T, N, 5H) holding per step r, z, n, the
    recurrent term of the candidate hn = h_{t−1} W_hnᵀ + b_hn, and h_t.
    x̄w_t = (r̄ ⊙ r(1−r), z̄ ⊙ z(1−z), n̄ ⊙ (1−n²)), h̄_t = ḡ_t + ā_{t+1} W_hh + h̄_{t+1} ⊙ z_{t+1}
    h̄0 = ā_1 W_hh + h̄_1 ⊙ z_1
    w̄_hh = Σ_t ā_tᵀ h_{t−1} with ā_t = (r̄ ⊙ r(1−r), z̄ ⊙ z(1−z), n̄ ⊙ (1−n²) ⊙ r)
    b̄_hh = Σ_t ā_t
    """
    xp = backend.xp
    steps, batch, three = xw.shape
    n = three // 3
    out = xp.empty((steps, batch, 5 * n), dtype=xw.dtype)
    h = h0
    wt = xp.ascontiguousarray(w_hh.T)
    for t in range(steps):
        hw = h @ wt + b_hh
        o = out[t]
        o[:, : 2 * n] = _sig(xw[t, :, : 2 * n] + hw[:, : 2 * n])
        r, z = o[:, :n], o[:, n : 2 * n]
        o[:, 3 * n : 4 * n] = hw[:, 2 * n :]
        xp.tanh(xw[t, :, 2 * n :] + r * hw[:, 2 * n :], out=o[:, 2 * n : 3 * n])
        cand = o[:, 2 * n : 3 * n]
        h = xp.add(cand, z * (h - cand), out=o[:, 4 * n :])
    return out


def _gru_scan_grad(g, out, xw, h0, w_hh, b_hh):
    ns, (o_, gd, h0_, w) = _namespace(out, g, h0, w_hh)
    n = w.shape[1]
    hs = o_[..., 4 * n :]
    dxs, dhws, dh = [], [], 0 * h0_
    for t in range(o_.shape[0] - 1, -1, -1):
        r, z, cand, hn = (o_[t, :, k * n : (k + 1) * n] for k in range(4))
        h_prev = hs[t - 1] if t else h0_
        ga = gd[t]
        dh = ga[:, 4 * n :] + dh
        dn = (dh * (1 - z) + ga[:, 2 * n : 3 * n]) * (1 - cand * cand)
        dr = (dn * hn + ga[:, :n]) * r * (1 - r)
        dz = (dh * (h_prev - cand) + ga[:, n : 2 * n]) * z * (1 - z)
        dhw = ns.concat([dr, dz, dn * r + ga[:, 3 * n : 4 * n]])
        dxs.append(ns.concat([dr, dz, dn]))
        dhws.append(dhw)
        dh = dh * z + dhw @ w
    dhw = ns.stack(dhws[::-1])
    db = dhw.sum(axis=(0, 1))
    return _wrap(ns.stack(dxs[::-1]), dh, _sum_outer(dhw, ns.previous(hs, h0_)), db)


gru_scan.defvjp_all(_gru_scan_grad, keep="out h0 w_hh xw.shape")


# ---------------------------------------------------------------------------- helpers
class _Arrays:
    """The backward's few namespace calls on plain arrays (the fast path)."""

    @staticmethod
    def stack(items: list) -> Any:
        return backend.xp.stack(items)

    @staticmethod
    def concat(items: list) -> Any:
        return backend.xp.concatenate(items, axis=-1)

    @staticmethod
    def positive(a: Any) -> Any:
        return (a > 0).astype(a.dtype)

    @staticmethod
    def previous(hs: Any, h0: Any) -> Any:
        """h_{t−1} for every t: h0, then the states of steps 1..T−1."""
        return backend.xp.concatenate([h0[None], hs[:-1]], axis=0)


class _Tensors:
    """The same calls as recorded chainrule ops: a differentiable backward (create_graph)."""

    @staticmethod
    def stack(items: list) -> Tensor:
        return stack(items)

    @staticmethod
    def concat(items: list) -> Tensor:
        return concatenate(items, axis=-1)

    @staticmethod
    def positive(a: Tensor) -> Tensor:  # piecewise constant: no gradient of its own
        return Tensor._make((a.data > 0).astype(a.data.dtype))

    @staticmethod
    def previous(hs: Tensor, h0: Tensor) -> Tensor:
        return concatenate([h0.reshape(1, *h0.shape), hs[:-1]], axis=0)


def _namespace(*tensors: Tensor) -> tuple[Any, list]:
    """The backward runs on arrays, or, when it is itself recorded (``create_graph``), on the
    tensors through chainrule's ops, so that it can be differentiated again."""
    if is_grad_enabled():
        return _Tensors, list(tensors)
    return _Arrays, [t.data for t in tensors]


def _nonzero(a: Any) -> bool:
    """Whether array ``a`` holds a nonzero (or −0.0): on contiguous memory the largest of its
    bytes read as unsigned 64-bit words, 2.5x faster than ``a.any()`` over floats."""
    if isinstance(a, np.ndarray) and a.flags.c_contiguous and a.nbytes % 8 == 0 and a.size:
        return bool(a.reshape(-1).view(np.uint64).max())
    return bool(a.any())


def _wrap(*grads: Any) -> tuple:
    return tuple(g if isinstance(g, Tensor) else Tensor._make(g) for g in grads)


def _sum_outer(da: Any, prev: Any) -> Any:
    """Σ_t ā_tᵀ h_{t−1} as one matrix product over all steps and examples."""
    return da.reshape(-1, da.shape[-1]).T @ prev.reshape(-1, prev.shape[-1])
