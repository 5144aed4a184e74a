"""Attention and Transformer layers against PyTorch in float64: scaled_dot_product_attention,
MultiheadAttention (masks, batch_first, kdim/vdim, returned weights), Transformer encoder and
decoder layers (norm_first, activation), weights loaded through ``load_state_dict``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_parity import float64, torch_state
from test_nn_recurrent import compare_outputs

import chainrule as cr


def _pair(ours_cls, theirs_cls, *args, **kw):
    float64()
    theirs = theirs_cls(*args, **kw).double().eval()
    ours = ours_cls(*args, **kw).eval()
    ours.load_state_dict(torch_state(theirs))
    return ours, theirs


def _inputs(rng, *shapes):
    arrays = [rng.normal(size=s) for s in shapes]
    cs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    return cs, ts


@settings(max_examples=12, deadline=None)
@given(
    lead=st.sampled_from([(), (2,), (2, 3)]),
    length=st.integers(1, 4),
    source=st.integers(1, 4),
    mask=st.sampled_from([None, "bool", "float", "causal"]),
    scale=st.sampled_from([None, 0.3]),
)
def test_scaled_dot_product_attention_matches_torch(lead, length, source, mask, scale):
    rng = np.random.default_rng(length * 7 + source)
    if mask == "causal":
        source = length
    (q, k, v), (tq, tk, tv) = _inputs(rng, (*lead, length, 3), (*lead, source, 3),
                                      (*lead, source, 2))  # fmt: skip
    kw = {"scale": scale}
    if mask == "bool":
        m = rng.random((length, source)) > 0.3
        m[:, 0] = True  # every query keeps one key
        kw["attn_mask"] = m
    elif mask == "float":
        kw["attn_mask"] = rng.normal(size=(length, source))
    elif mask == "causal":
        kw["is_causal"] = True
    t_kw = {**kw}
    if "attn_mask" in kw:
        t_kw["attn_mask"] = torch.tensor(kw["attn_mask"])
    compare_outputs(
        lambda *a: cr.nn.functional.scaled_dot_product_attention(*a, **kw),
        lambda *a: TF.scaled_dot_product_attention(*a, **t_kw),
        [q, k, v], [tq, tk, tv], tuple(zip((q, k, v), (tq, tk, tv))),
        modules=(cr.nn.Identity(), tnn.Identity()),
    )  # fmt: skip


@settings(max_examples=12, deadline=None)
@given(
    batch_first=st.booleans(),
    heads=st.sampled_from([1, 2, 4]),
    cross=st.booleans(),
    masks=st.sampled_from([None, "attn_bool", "attn_float", "padding", "both", "attn_3d"]),
    average=st.booleans(),
    bias=st.booleans(),
)
def test_multihead_attention_matches_torch(batch_first, heads, cross, masks, average, bias):
    ours, theirs = _pair(cr.nn.MultiheadAttention, tnn.MultiheadAttention, 8, heads, bias=bias,
                         batch_first=batch_first)  # fmt: skip
    rng = np.random.default_rng(heads)
    n, length, source = 2, 3, (4 if cross else 3)
    order = (lambda s, b: (b, s, 8)) if batch_first else (lambda s, b: (s, b, 8))
    shapes = [order(length, n), order(source, n), order(source, n)]
    (q, k, v), (tq, tk, tv) = _inputs(rng, *shapes)
    kw: dict = {"average_attn_weights": average}
    if masks in ("attn_bool", "both"):
        kw["attn_mask"] = rng.random((length, source)) > 0.7
        kw["attn_mask"][:, 0] = False  # every query keeps one key
    elif masks == "attn_float":
        kw["attn_mask"] = rng.normal(size=(length, source))
    elif masks == "attn_3d":
        kw["attn_mask"] = rng.normal(size=(n * heads, length, source))
    if masks in ("padding", "both"):
        pad = np.zeros((n, source), dtype=bool)
        pad[1, -1] = True
        kw["key_padding_mask"] = pad
    t_kw = {k_: (torch.tensor(v_) if isinstance(v_, np.ndarray) else v_) for k_, v_ in kw.items()}
    if not cross:
        k, v, tk, tv = q, q, tq, tq
    compare_outputs(ours, theirs, [q, k, v], [tq, tk, tv], ((q, tq),)) if not kw else \
        compare_outputs(lambda *a: ours(*a, **kw), lambda *a: theirs(*a, **t_kw),
                        [q, k, v], [tq, tk, tv], ((q, tq),), modules=(ours, theirs))  # fmt: skip


def test_multihead_attention_with_kdim_vdim_and_unbatched_input():
    ours, theirs = _pair(cr.nn.MultiheadAttention, tnn.MultiheadAttention, 6, 2, kdim=4, vdim=5)
    (q, k, v), (tq, tk, tv) = _inputs(np.random.default_rng(0), (3, 6), (2, 4), (2, 5))
    compare_outputs(ours, theirs, [q, k, v], [tq, tk, tv], ((q, tq), (k, tk), (v, tv)))


def test_need_weights_false_returns_none():
    mha = cr.nn.MultiheadAttention(4, 2)
    x = cr.randn(3, 2, 4)
    out, w = mha(x, x, x, need_weights=False)
    assert w is None and out.shape == (3, 2, 4)


@pytest.mark.parametrize("batch_first", [False, True, "unbatched"])
@pytest.mark.parametrize("masks", [None, "attn_bool", "attn_3d", "padding", "causal"])
def test_self_attention_without_weights_is_one_fused_node_equal_to_torch(batch_first, masks):
    """Self-attention (query, key and value the same tensor) with need_weights=False runs as one
    packed projection and one ``self_attention`` node; values and gradients equal PyTorch's."""
    heads, n, length = 2, 2, 4
    ours, theirs = _pair(cr.nn.MultiheadAttention, tnn.MultiheadAttention, 8, heads,
                         batch_first=batch_first is True)  # fmt: skip
    rng = np.random.default_rng(5)
    shape = {True: (n, length, 8), False: (length, n, 8), "unbatched": (length, 8)}[batch_first]
    (x,), (tx,) = _inputs(rng, shape)
    kw: dict = {"need_weights": False}
    if masks == "attn_bool":
        kw["attn_mask"] = rng.random((length, length)) > 0.6
        kw["attn_mask"][:, 0] = False
    elif masks == "attn_3d":
        kw["attn_mask"] = rng.normal(size=(n * heads, length, length))
    elif masks == "padding" and batch_first != "unbatched":
        kw["key_padding_mask"] = np.zeros((n, length), dtype=bool)
        kw["key_padding_mask"][1, -2:] = True
    elif masks == "causal":
        kw["attn_mask"] = np.triu(np.ones((length, length), dtype=bool), 1)
        kw["is_causal"] = True
    if masks == "attn_3d" and batch_first == "unbatched":
        kw["attn_mask"] = kw["attn_mask"][:heads]
    t_kw = {k_: (torch.tensor(v_) if isinstance(v_, np.ndarray) else v_) for k_, v_ in kw.items()}
    out, _ = ours(x, x, x, **kw)
    names = {node.prim.name for node in _nodes(out)}
    assert "self_attention" in names and "softmax" not in names
    compare_outputs(lambda a: ours(a, a, a, **kw)[0], lambda a: theirs(a, a, a, **t_kw)[0],
                    [x], [tx], ((x, tx),), modules=(ours, theirs))  # fmt: skip


def _nodes(t):
    seen, stack, found = set(), [t.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "next_nodes"):
            continue
        seen.add(id(node))
        found.append(node)
        stack.extend(node.next_nodes)
    return found


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder_matches_torch(norm_first, activation, batch_first):
    layer_kw = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=activation,
                    norm_first=norm_first, batch_first=batch_first)  # fmt: skip
    float64()
    theirs = tnn.TransformerEncoder(tnn.TransformerEncoderLayer(**layer_kw), 2,
                                    enable_nested_tensor=False).double().eval()  # fmt: skip
    ours = cr.nn.TransformerEncoder(cr.nn.TransformerEncoderLayer(**layer_kw), 2).eval()
    ours.load_state_dict(torch_state(theirs))
    shape = (2, 5, 8) if batch_first else (5, 2, 8)
    (x,), (tx,) = _inputs(np.random.default_rng(1), shape)
    pad = np.zeros((2, 5), dtype=bool)
    pad[0, -2:] = True
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)  # True: masked, as the padding mask
    compare_outputs(
        lambda a: ours(a, mask=causal, src_key_padding_mask=pad),
        lambda a: theirs(a, mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(pad)),
        [x], [tx], ((x, tx),), modules=(ours, theirs),
    )  # fmt: skip


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_decoder_layer_matches_torch(norm_first):
    ours, theirs = _pair(cr.nn.TransformerDecoderLayer, tnn.TransformerDecoderLayer, 8, 2,
                         dim_feedforward=16, dropout=0.0, norm_first=norm_first)  # fmt: skip
    (t, m), (tt, tm) = _inputs(np.random.default_rng(2), (4, 2, 8), (5, 2, 8))
    causal = tnn.Transformer.generate_square_subsequent_mask(4).double().numpy()
    compare_outputs(
        lambda a, b: ours(a, b, tgt_mask=causal),
        lambda a, b: theirs(a, b, tgt_mask=torch.tensor(causal)),
        [t, m], [tt, tm], ((t, tt), (m, tm)), modules=(ours, theirs),
    )  # fmt: skip


def test_positional_encoding_is_the_papers_sinusoid():
    pe = cr.nn.PositionalEncoding(6, dropout=0.0, max_len=10)
    out = pe(cr.zeros(4, 1, 6, dtype="float64")).numpy()[:, 0]
    pos, i = 3, 1
    assert out[pos, 2 * i] == pytest.approx(np.sin(pos / 10000 ** (2 * i / 6)))
    assert out[pos, 2 * i + 1] == pytest.approx(np.cos(pos / 10000 ** (2 * i / 6)))
    assert "pe" not in pe.state_dict()
    with pytest.raises(cr.errors.ShapeError, match=r"S <= 10"):
        pe(cr.zeros(11, 1, 6))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda m: m(cr.randn(3, 2, 8), cr.randn(3, 2, 8), cr.randn(3, 2, 8)),
            r"\(E, kdim, vdim\)",
        ),
        (
            lambda m: m(
                cr.randn(3, 2, 4),
                cr.randn(3, 2, 4),
                cr.randn(3, 2, 4),
                key_padding_mask=np.zeros((2, 5), bool),
            ),
            r"key_padding_mask.*\(2, 3\).*\(2, 5\)",
        ),
        (
            lambda m: m(
                cr.randn(3, 2, 4),
                cr.randn(3, 2, 4),
                cr.randn(3, 2, 4),
                attn_mask=np.zeros((2, 3, 3)),
            ),
            r"\(N·num_heads, L, S\)",
        ),
        (lambda m: m(cr.randn(3, 4), cr.randn(3, 2, 4), cr.randn(3, 2, 4)), r"all \(L, N, E\)"),
    ],
)
def test_bad_attention_input_names_layer_and_shapes(call, match):
    with pytest.raises(cr.errors.ShapeError, match=match):
        call(cr.nn.MultiheadAttention(4, 2))


def test_a_query_with_every_key_masked_is_refused_not_nan():
    mha = cr.nn.MultiheadAttention(4, 2)
    x = cr.randn(3, 2, 4)
    mask = np.zeros((3, 3), dtype=bool)
    mask[1] = True
    with pytest.raises(ValueError, match=r"no key for a query"):
        mha(x, x, x, attn_mask=mask)
    with pytest.raises(ValueError, match=r"no key for a query"):
        y = cr.randn(2, 3, 4)
        cr.nn.functional.scaled_dot_product_attention(y, y, y, attn_mask=~mask)


def test_embed_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match=r"embed_dim \(6\) must be divisible by num_heads \(4\)"):
        cr.nn.MultiheadAttention(6, 4)
