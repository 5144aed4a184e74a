"""The fused self-attention of ``chainrule.ops.attention``: values, gradients and Hessian-vector
products against the same computation written with PyTorch's ops (float64), central finite
differences, masks with −∞ entries, and a gradient arriving at the log-sum-exp columns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops.attention import self_attention
from torch_ref import assert_close, check_against_torch, hvp


def _torch_self_attention(heads, mask=None, scale=None):
    def run(qkv):
        n, length, three = qkv.shape
        e = three // 3
        d = e // heads
        q, k, v = (qkv[..., i * e : (i + 1) * e].reshape(n, length, heads, d).transpose(1, 2)
                   for i in range(3))  # fmt: skip
        s = q @ k.transpose(-1, -2) * (1 / math.sqrt(d) if scale is None else scale)
        if mask is not None:
            s = s + torch.tensor(mask)
        out = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(n, length, e)
        return torch.cat([out, torch.logsumexp(s, -1).transpose(1, 2)], -1)

    return run


def _mask(kind, rng, n, heads, length):
    if kind is None:
        return None
    if kind == "float":
        return rng.normal(size=(length, length))
    if kind == "causal":
        return np.where(np.tril(np.ones((length, length), bool)), 0.0, -np.inf)
    shut = rng.random((n, heads, length, length)) > 0.6  # per head, −∞ where shut
    shut[..., 0] = False  # every query keeps a key
    return np.where(shut, -np.inf, 0.0)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 2), length=st.integers(1, 4), heads=st.sampled_from([1, 2]),
       d=st.integers(1, 3), mask=st.sampled_from([None, "float", "causal", "heads"]),
       scale=st.sampled_from([None, 0.7]), seed=st.integers(0, 50))  # fmt: skip
def test_self_attention_matches_torch(n, length, heads, d, mask, scale, seed):
    rng = np.random.default_rng(seed)
    m = _mask(mask, rng, n, heads, length)
    x = rng.normal(size=(n, length, 3 * heads * d))
    check_against_torch(lambda a: self_attention(a, heads, mask=m, scale=scale),
                        _torch_self_attention(heads, m, scale), [x], rtol=1e-7)  # fmt: skip


@pytest.mark.parametrize("mask", [None, "causal"])
def test_self_attention_passes_finite_differences(mask):
    rng = np.random.default_rng(1)
    m = _mask(mask, rng, 2, 2, 3)
    x = cr.tensor(rng.normal(size=(2, 3, 12)))
    assert cr.gradcheck(lambda a: self_attention(a, 2, mask=m), [x])


def test_self_attention_second_derivatives_match_torch():
    x = np.random.default_rng(2).normal(size=(2, 3, 12))
    (g_c, h_c), (g_t, h_t) = (hvp(lambda a: self_attention(a, 2), cr, [x]),
                              hvp(_torch_self_attention(2), torch, [x]))  # fmt: skip
    for a, b in zip(g_c + h_c, g_t + h_t):
        assert_close(a, b, rtol=1e-7)


def test_only_the_heads_columns_reach_back_like_the_composed_attention():
    """The usual case (what MultiheadAttention does): only the joined heads are used, so the
    log-sum-exp columns get no gradient; the fused rule equals differentiating the composition."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 12))
    w = rng.normal(size=(2, 4, 4))
    xc = cr.tensor(x, requires_grad=True)
    (self_attention(xc, 2)[..., :4] * cr.tensor(w)).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    (_torch_self_attention(2)(xt)[..., :4] * torch.tensor(w)).sum().backward()
    assert_close(xc.grad, xt.grad, rtol=1e-10)
