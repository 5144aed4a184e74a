"""What a node keeps for backward: declared by its rules (``defvjp(..., keep=)``), never inferred.

No PyTorch here: these tests run on every Python the project declares (3.10 to 3.13), where
a rule's bytecode differs.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr


def _kept_alive(op) -> bool:
    """Whether the graph of ``op(h)`` alone keeps the intermediate tensor ``h`` alive."""
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    h = x * 2.0 + 1.0
    ref = weakref.ref(h)
    loss = op(h)
    del h
    gc.collect()
    alive = ref() is not None
    loss.sum().backward()  # and backward still works with what was kept
    assert x.grad.shape == (2, 3)
    return alive


def test_a_rule_with_a_local_assigned_then_read_works_without_a_declaration():
    # On 3.13 the compiler fuses ``t = g * 3`` and the load of ``x`` into one instruction; the
    # old bytecode scan missed ``x`` there and the rule received None.
    @cr.primitive
    def triple(x):
        return 3 * x

    def rule(g, out, x):
        t = g * 3
        return x * 0 + t

    triple.defvjp(rule)
    assert triple.keeps(0) == "data" and triple.keeps_out  # the default keeps everything
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    triple(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_a_shape_only_declaration_lets_the_input_go():
    assert cr.ops.sum.keeps(0) == "shape" and not cr.ops.sum.keeps_out
    assert not _kept_alive(cr.sum)


def test_a_data_declaration_keeps_the_input_and_not_the_output():
    assert cr.ops.log.keeps(0) == "data" and not cr.ops.log.keeps_out
    assert cr.ops.tanh.keeps(0) is None and cr.ops.tanh.keeps_out
    assert _kept_alive(lambda h: cr.log(h))
    assert not _kept_alive(cr.tanh)  # keeps only its output


def test_declarations_are_read_by_name_in_any_order_and_with_commas():
    @cr.primitive
    def scaled_diff(x, y):
        return (x - y) * 2

    scaled_diff.defvjp(
        lambda g, out, x, y: 2 * g, lambda g, out, x, y: -2 * g, keep="out, y.shape x.shape"
    )
    assert (scaled_diff.keeps(0), scaled_diff.keeps(1), scaled_diff.keeps_out) == (
        "shape",
        "shape",
        True,
    )
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([[0.5], [1.5]], requires_grad=True)  # broadcast: summed back by the engine
    scaled_diff(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])
    np.testing.assert_array_equal(y.grad.numpy(), [[-4.0], [-4.0]])


def test_a_shape_only_input_reaches_the_rule_with_shape_ndim_dtype():
    seen = {}

    @cr.primitive
    def total(x):
        return x.sum()

    def rule(g, out, x):
        seen.update(shape=x.shape, ndim=x.ndim, dtype=x.dtype)
        return cr.broadcast_to(g, x.shape)

    total.defvjp(rule, keep="x.shape")
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    total(x).backward()
    assert seen == {"shape": (2, 3), "ndim": 2, "dtype": np.dtype("float64")}


@pytest.mark.parametrize("keep", ["z", "x.data", "g", "out.shape"])
def test_an_unknown_name_is_refused_naming_the_op(keep):
    @cr.primitive
    def ident(x):
        return x

    with pytest.raises(ValueError, match=r"ident\.defvjp: keep=.* names"):
        ident.defvjp(lambda g, out, x: g, keep=keep)


def test_nothing_kept_means_no_saved_buffers_and_a_second_backward_still_works():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.negative(x)  # keep="": nothing to free, so no retain_graph needed
    y.sum().backward()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-2.0, -2.0])
