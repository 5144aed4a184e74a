"""Bad input gets a specific error whose message names the op and the values involved.

(Errors of the graph itself -- backward without a gradient, freed graphs, in-place changes,
integer tensors asked for gradients, anomalies -- are in ``test_autograd.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import shapes


def _can_broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "maximum", "power"])
@settings(max_examples=10)
@given(a=shapes(min_dims=1, max_side=4), b=shapes(min_dims=1, max_side=4))
def test_broadcast_mismatch_names_op_and_both_shapes(op, a, b):
    assume(not _can_broadcast(a, b))
    x = cr.ones(*a, requires_grad=True)
    with pytest.raises(cr.ShapeError, match=rf"^{op}: cannot apply to shapes") as info:
        getattr(cr, op)(x, cr.ones(*b))
    message = str(info.value)
    assert message.startswith(f"{op}:")
    assert str(a) in message and str(b) in message


def test_operator_broadcast_mismatch():
    with pytest.raises(cr.ShapeError, match=r"add: .*\(2, 3\) and \(4,\)"):
        cr.ones(2, 3) + cr.ones(4)
    with pytest.raises(
        ValueError, match="multiply"
    ):  # ShapeError is a ValueError for plain except clauses
        cr.ones(2, 3) * cr.ones(2)


@pytest.mark.parametrize(
    ("a", "b"),
    [((2, 3), (4, 5)), ((3,), (4,)), ((5, 2, 3), (4, 2)), ((2, 3), (2,)), ((7,), (3, 2))],
)
def test_matmul_mismatch_names_both_shapes(a, b):
    with pytest.raises(cr.ShapeError, match=r"matmul") as info:
        cr.ones(*a) @ cr.ones(*b)
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_matmul_batch_mismatch_and_scalars():
    with pytest.raises(cr.ShapeError, match=r"matmul.*\(2, 3, 4\).*\(5, 4, 6\)"):
        cr.matmul(cr.ones(2, 3, 4), cr.ones(5, 4, 6))
    with pytest.raises(cr.ShapeError, match=r"matmul: needs at least 1-D"):
        cr.matmul(cr.ones(()), cr.ones(3))


def test_linear_mismatch():
    with pytest.raises(cr.ShapeError, match=r"linear: input of shape \(4, 3\).*\(2, 5\)"):
        cr.linear(cr.ones(4, 3), cr.ones(2, 5))


def test_reshape_mismatch_names_both_shapes_and_sizes():
    with pytest.raises(cr.ShapeError, match=r"reshape: .*shape \(2, 3\) \(6 elements\).*\(4, 2\)"):
        cr.ones(2, 3).reshape(4, 2)
    with pytest.raises(cr.ShapeError, match=r"reshape"):
        cr.reshape(cr.ones(5), (2, -1))


def test_shape_errors_are_raised_before_anything_is_recorded():
    x = cr.ones(2, 3, requires_grad=True)
    with pytest.raises(cr.ShapeError, match="matmul"):
        x @ cr.ones(4, 5)
    assert x.grad is None and x.grad_fn is None


SHAPE_ERRORS = {
    "broadcast_to": (
        lambda: cr.broadcast_to(cr.ones(3), (2, 4)),
        r"broadcast_to: .*\(3,\) to \(2, 4\)",
    ),
    "squeeze": (
        lambda: cr.squeeze(cr.ones(2, 3), 0),
        r"squeeze: axis 0 of shape \(2, 3\) has size 2",
    ),
    "axis": (lambda: cr.sum(cr.ones(2, 3), axis=2), r"sum: .*\(2, 3\).*axis 2 is out of bounds"),
    "negative axis": (lambda: cr.mean(cr.ones(2), axis=-3), r"mean: .*axis -3 is out of bounds"),
    "concatenate": (
        lambda: cr.concatenate([cr.ones(2, 3), cr.ones(2, 4)]),
        r"concatenate: .*\(2, 3\).*\(2, 4\)",
    ),
    "concatenate nothing": (lambda: cr.concatenate([]), r"concatenate: need at least one"),
    "stack": (
        lambda: cr.stack([cr.ones(2), cr.ones(3)]),
        r"stack: all shapes must be equal.*\(2,\).*\(3,\)",
    ),
    "split": (lambda: cr.split(cr.ones(5), 2), r"split: .*size 5.*2 equal sections"),
    "pad": (lambda: cr.pad(cr.ones(2), (-1, 1)), r"pad: negative pad widths"),
    "mean of nothing": (lambda: cr.mean(cr.ones(0)), r"mean over no elements: shape \(0,\)"),
    "max of nothing": (lambda: cr.max(cr.ones(0, 2)), r"max of an empty tensor of shape \(0, 2\)"),
    "var ddof": (lambda: cr.var(cr.ones(1), ddof=1), r"var: 1 element"),
    "item": (lambda: cr.ones(3).item(), r"item\(\) needs a tensor with one element.*\(3,\)"),
}


@pytest.mark.parametrize("name", list(SHAPE_ERRORS))
def test_shape_errors_name_what_is_wrong(name):
    call, pattern = SHAPE_ERRORS[name]
    with pytest.raises(cr.ShapeError, match=pattern):
        call()


def test_setitem_and_inplace_shape_mismatch():
    x = cr.zeros(2, 3)
    with pytest.raises(cr.ShapeError, match=r"add_: .*shape \(2, 3\).*\(2,3\) \(2,4\)"):
        x.add_(np.ones((2, 4)))
    with pytest.raises(cr.ShapeError, match=r"copy_: .*shape \(2, 3\).*from shape \(4,\)"):
        x.copy_(np.ones(4))
    np.testing.assert_array_equal(x.numpy(), np.zeros((2, 3)))  # nothing was written


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: cr.tensor(["a", "b"]), cr.DTypeError, r"cannot make a tensor from data of dtype"),
        (lambda: cr.zeros(2, dtype="floatish"), cr.DTypeError, r"not a dtype: 'floatish'"),
        (lambda: cr.set_default_dtype("int32"), cr.DTypeError, r"must be a floating dtype"),
        (lambda: cr.zeros(-1), cr.ShapeError, r"negative dimension"),
        (lambda: cr.gelu(cr.ones(2), approximate="fast"), ValueError, r"'none' or 'tanh'"),
    ],
    ids=["strings", "dtype name", "default dtype", "negative shape", "gelu mode"],
)
def test_bad_values_and_dtypes(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"target": np.array([0, 5])}, cr.errors.TargetError, r"class index 5 is out of range"),
        ({"target": np.array([0.0, 1.0])}, cr.errors.TargetError, r"must be integers"),
        ({"target": np.array([0, 1, 2])}, cr.ShapeError, r"target shape \(3,\) does not fit"),
        ({"target": np.array([0, 1]), "weight": np.ones(4)}, cr.ShapeError, r"weight has shape"),
        ({"target": np.array([0, 1]), "reduction": "avg"}, ValueError, r"reduction must be"),
        ({"target": np.full((2, 3), 0.5)}, cr.errors.TargetError, r"sum to 1"),
        (
            {"target": np.array([-100, -100])},
            cr.errors.TargetError,
            r"reduction='mean' over no targets",
        ),
    ],
    ids=["index range", "float indices", "target shape", "weight", "reduction", "probs",
         "all ignored"],
)  # fmt: skip
def test_cross_entropy_errors(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        cr.cross_entropy(cr.ones(2, 3), **kwargs)


def test_cross_entropy_all_ignored_is_zero_for_sum_and_none():
    x = cr.ones(2, 3, requires_grad=True)
    y = np.array([-100, -100])
    assert cr.cross_entropy(x, y, reduction="sum").item() == 0.0
    np.testing.assert_array_equal(cr.cross_entropy(x, y, reduction="none").numpy(), [0.0, 0.0])


def test_every_error_is_a_chainrule_error_and_a_builtin_one():
    assert issubclass(cr.ShapeError, cr.ChainruleError) and issubclass(cr.ShapeError, ValueError)
    assert issubclass(cr.DTypeError, TypeError)
    assert issubclass(cr.BackwardError, RuntimeError)
    assert issubclass(cr.GraphFreedError, cr.BackwardError)
    assert issubclass(cr.InplaceError, RuntimeError)
    assert issubclass(cr.GradcheckError, AssertionError)
    for name in ("ShapeError", "DTypeError", "BackwardError", "GraphFreedError", "InplaceError",
                 "AnomalyError", "GradcheckError"):  # fmt: skip
        assert issubclass(getattr(cr, name), cr.ChainruleError)


@given(st.sampled_from([-3, 3]))
def test_axis_errors_for_softmax(axis):
    with pytest.raises(cr.ShapeError, match=rf"softmax: .*axis {axis} is out of bounds"):
        cr.softmax(cr.ones(2, 3), axis=axis)


def test_an_ops_own_value_error_is_not_reported_as_a_shape_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'") as info:
        cr.gelu(x, approximate="fast")
    assert not isinstance(info.value, cr.ShapeError)
