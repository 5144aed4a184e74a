"""matmul (1-D, 2-D, batched, broadcast batch axes) and linear, against finite differences
and PyTorch. Sizes include 1, so the outer-product shortcut of the gradients (contracted
dimension 1) is exercised as well as the general product.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import broadcast_shapes, seeds, uniform
from torch_ref import check_against_torch

sides = st.integers(1, 4)


@st.composite
def matmul_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Operand shapes for every matmul case: 1-D or matrix or batch of matrices on each side,
    with batch axes that broadcast against each other."""
    n, k, m = draw(sides), draw(sides), draw(sides)
    kind_x = draw(st.sampled_from(["vector", "matrix", "batch"]))
    kind_y = draw(st.sampled_from(["vector", "matrix", "batch"]))
    bx, by = draw(broadcast_shapes(2, min_dims=1, max_dims=2))
    x = (k,) if kind_x == "vector" else (*(bx if kind_x == "batch" else ()), n, k)
    y = (k,) if kind_y == "vector" else (*(by if kind_y == "batch" else ()), k, m)
    return x, y


@settings(max_examples=60)
@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_gradcheck_and_torch(shapes, seed):
    x, y = uniform(seed, shapes[0]), uniform(seed + 1, shapes[1])
    out = cr.matmul(cr.tensor(x), cr.tensor(y))
    assert out.shape == np.matmul(x, y).shape
    assert cr.gradcheck(cr.matmul, [x, y])
    check_against_torch(cr.matmul, torch.matmul, [x, y])
    check_against_torch(lambda a, b: a @ b, lambda a, b: a @ b, [x, y])


def test_matmul_every_case_by_name():
    """The cases the issue names, spelled out (the strategy above draws them at random)."""
    cases = {
        "1-D @ 1-D": ((3,), (3,)),
        "2-D @ 1-D": ((2, 3), (3,)),
        "1-D @ 2-D": ((3,), (3, 4)),
        "2-D @ 2-D": ((2, 3), (3, 4)),
        "batched": ((5, 2, 3), (5, 3, 4)),
        "batch @ 1-D": ((5, 2, 3), (3,)),
        "1-D @ batch": ((3,), (5, 3, 4)),
        "broadcast batch": ((2, 1, 2, 3), (5, 3, 4)),
        "outer (k = 1)": ((4, 1), (1, 3)),
        "batch of outers": ((2, 4, 1), (1, 3)),
    }
    for i, (x_shape, y_shape) in enumerate(cases.values()):
        x, y = uniform(i, x_shape), uniform(i + 100, y_shape)
        assert cr.gradcheck(cr.matmul, [x, y])
        check_against_torch(cr.matmul, torch.matmul, [x, y])


@st.composite
def linear_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, int]]:
    batch = draw(st.lists(sides, min_size=0, max_size=2))
    n_in, n_out = draw(sides), draw(sides)
    return (*batch, n_in), (n_out, n_in)


@settings(max_examples=40)
@given(shapes=linear_shapes(), seed=seeds, with_bias=st.booleans())
def test_linear_gradcheck_and_torch(shapes, seed, with_bias):
    x, w = uniform(seed, shapes[0]), uniform(seed + 1, shapes[1])
    arrays = [x, w] + ([uniform(seed + 2, shapes[1][:1])] if with_bias else [])
    assert cr.gradcheck(cr.linear, arrays)
    check_against_torch(cr.linear, F.linear, arrays)


@settings(max_examples=15)
@given(shapes=linear_shapes(), seed=seeds)
def test_linear_bias_by_keyword_gets_its_gradient(shapes, seed):
    """``linear(x, w, bias=b)`` (PyTorch's usual spelling) differentiates w.r.t. ``b`` too."""
    x, w = uniform(seed, shapes[0]), uniform(seed + 1, shapes[1])
    b = uniform(seed + 2, shapes[1][:1])
    check_against_torch(
        lambda x, w, b: cr.linear(x, w, bias=b),
        lambda x, w, b: F.linear(x, w, bias=b),
        [x, w, b],
    )


def test_linear_is_the_seeds_pre_activation():
    """a = b + W h for a batch of rows h: the same as matmul and add."""
    h = cr.randn(4, 3, dtype="float64")
    w = cr.randn(2, 3, dtype="float64")
    b = cr.randn(2, dtype="float64")
    np.testing.assert_allclose(cr.linear(h, w, b).numpy(), (h @ w.T + b).numpy(), rtol=1e-12)
