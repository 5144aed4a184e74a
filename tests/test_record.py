"""The node an op records: the same on the common fast path of ``Primitive.__call__`` and on
its full path (taken here under anomaly mode), and the in-place check of what it keeps."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import chainrule as cr
from chainrule._node import _Meta


def _fields(t: cr.Tensor) -> dict:
    """A node's fields, tensors by identity and arrays by value, for comparing two nodes."""
    node = t.grad_fn

    def show(v):
        if isinstance(v, cr.Tensor) or isinstance(v, cr.Node):
            return ("id", id(v))
        if isinstance(v, _Meta):
            return ("meta", v.shape, str(v.dtype), v.ndim)
        if isinstance(v, np.ndarray):
            return ("array", v.shape, v.tolist())
        if isinstance(v, tuple):
            return tuple(show(x) for x in v)
        return v

    return {
        "prim": node.prim.name,
        "args": show(node.args),
        "kwargs": node.kwargs,
        "parents": show(node.parents),
        "shapes": node.shapes,
        "versions": tuple(node.versions),
        "out": show(node.out),
        "saves": node.saves,
        "out_version": None if node.out_version is None else "counter",
        "hooks": node.hooks,
        "retained": node.retained,
    }


x = cr.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
y = cr.tensor(np.arange(2.0, 8.0).reshape(2, 3), requires_grad=True)
c = cr.tensor(np.full((2, 3), 0.5))  # needs no gradient
w = cr.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
b = cr.tensor(np.array([0.5, -0.5]), requires_grad=True)
m = cr.tensor(np.array([[True, False, True], [False, True, False]]))
CALLS = {
    "add (keeps nothing), two tensors": (cr.add, (x, y), {}),
    "multiply (keeps x y), two tensors": (cr.multiply, (x, y), {}),
    "multiply, a constant tensor first": (cr.multiply, (c, y), {}),
    "multiply, a number second": (cr.multiply, (x, 2.0), {}),
    "multiply, a number first": (cr.multiply, (3.0, y), {}),
    "exp (keeps out), one tensor": (cr.exp, (x,), {}),
    "log (keeps x), one tensor": (cr.log, (x,), {}),
    "reshape (keeps x.shape), tensor and shape": (cr.reshape, (x, (3, 2)), {}),
    "sum, axis by keyword": (cr.sum, (x,), {"axis": 1}),
    "clip, three arguments": (cr.clip, (x, 2.0, 5.0), {}),
    "where, three tensors": (cr.where, (m, x, y), {}),
    "matmul (keeps both inputs)": (cr.matmul, (x, w), {}),
    "concatenate, a list": (cr.concatenate, ([x, y],), {"axis": 0}),
    "linear, a tensor by keyword": (cr.nn.functional.linear, (x, w.T), {"bias": b}),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_fast_and_full_paths_record_the_same_node(name):
    fn, args, kwargs = CALLS[name]
    fast = fn(*args, **kwargs)
    with cr.detect_anomaly():  # anomaly mode takes Primitive.__call__'s full path
        full = fn(*args, **kwargs)
    assert fast.grad_fn is not None and full.grad_fn is not None
    assert _fields(fast) == _fields(full)
    np.testing.assert_array_equal(fast.numpy(), full.numpy())


X, Y, W, C = ("id", id(x)), ("id", id(y)), ("id", id(w)), ("id", id(c))
META = ("meta", (2, 3), "float64", 2)
EXPECTED = {  # what each node keeps: (args, parents, shapes, versions, saves, keeps out)
    "add (keeps nothing), two tensors": ((None, None), (X, Y), ((2, 3),) * 2, (), False, False),
    "multiply (keeps x y), two tensors": ((X, Y), (X, Y), ((2, 3),) * 2, (0, 0), True, False),
    "multiply, a constant tensor first": ((C, Y), (None, Y), ((2, 3),) * 2, (0, 0), True, False),
    "multiply, a number second": ((X, 2.0), (X, None), ((2, 3), None), (0,), True, False),
    "multiply, a number first": ((3.0, Y), (None, Y), (None, (2, 3)), (0,), True, False),
    "exp (keeps out), one tensor": ((None,), (X,), ((2, 3),), (), True, True),
    "log (keeps x), one tensor": ((X,), (X,), ((2, 3),), (0,), True, False),
    "reshape (keeps x.shape), tensor and shape": (
        (META, (3, 2)), (X, None), ((2, 3), None), (), False, False
    ),
    "clip, three arguments": ((X, 2.0, 5.0), (X, None, None), ((2, 3), None, None), (0,), True,
                              False),
    "matmul (keeps both inputs)": ((X, W), (X, W), ((2, 3), (3, 2)), (0, 0), True, False),
}  # fmt: skip


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_node_keeps_what_its_op_declared(name):
    fn, args, kwargs = CALLS[name]
    f = _fields(fn(*args, **kwargs))
    got = (f["args"], f["parents"], f["shapes"], f["versions"], f["saves"], f["out"] is not None)
    assert got == EXPECTED[name]
    assert (f["out_version"] is not None) == EXPECTED[name][5]
    assert f["hooks"] is None and f["retained"] is None


PRIMITIVE_CALLS = [  # the node gets tensors given by keyword as __call__ has bound them
    n for n, (f, _, kw) in CALLS.items() if isinstance(f, cr.Primitive) and not kw
]


@pytest.mark.parametrize("name", PRIMITIVE_CALLS)
def test_node_constructor_builds_what_the_op_recorded(name):
    prim, args, kwargs = CALLS[name]
    t = prim(*args, **kwargs)
    fields = _fields(t)
    t._node = cr.Node(prim, args, kwargs, t)
    assert isinstance(t.grad_fn, cr.Node)
    assert _fields(t) == fields


def test_unrecorded_calls_make_leaves_that_do_not_require_grad():
    for t in (cr.add(c, c), cr.exp(c), cr.clip(c, 0.0, 1.0), cr.sum(c, axis=0)):
        assert t.grad_fn is None and not t.requires_grad and t.grad is None
    with cr.no_grad():
        assert cr.multiply(x, y).grad_fn is None


@pytest.mark.parametrize(
    "op",
    [
        lambda a, w: a * w,  # two tensors, both kept
        lambda a, w: cr.log(a) * w,  # one tensor kept (log keeps x), then two
        lambda a, w: cr.clip(a, 0.0, 10.0) * w + cr.where(a > 0, a, w),  # three arguments
    ],
)
def test_saved_inputs_at_a_later_version_are_checked_against_that_version(op):
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    with cr.no_grad():
        a.mul_(1.0)  # version 1 before the op saves it
    loss = op(a, w).sum()
    loss.backward(retain_graph=True)  # saved at version 1, still at 1: fine
    with cr.no_grad():
        a.mul_(1.0)
    with pytest.raises(cr.InplaceError, match=r"version 2, saved at version 1"):
        loss.backward()


def test_an_input_kept_alone_without_the_output_is_still_checked():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = cr.log(a).sum()  # log keeps x and not its output
    assert not cr.log.keeps_out and cr.log.keeps(0) == "data"
    with cr.no_grad():
        a.add_(1.0)
    with pytest.raises(cr.InplaceError, match=r"log.*version 1, saved at version 0"):
        loss.backward()


def test_complex_results_and_numpy_shape_errors_on_the_fast_path():
    z = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.DTypeError, match="complex"):
        cr.multiply(z, np.array([1 + 2j, 1.0]))
    with pytest.raises(cr.ShapeError, match=r"add: cannot apply to shapes \(2, 3\) and \(2,\)"):
        cr.add(x, z)


# ------------------------------------------------------------------ ops that are one function
def test_an_op_declared_as_a_backend_function_is_that_function():
    @cr.primitive(xp="hypot")
    def h(x, y):
        """√(x² + y²)."""

    h.defvjp(lambda g, out, x, y: g * x / out, lambda g, out, x, y: g * y / out)
    a, b = np.array([3.0, 5.0]), np.array([4.0, 12.0])
    assert h.name == "h" and h.__doc__ == "√(x² + y²)."
    assert list(inspect.signature(h.forward).parameters) == ["x", "y"]
    np.testing.assert_array_equal(h.forward(a, b), np.hypot(a, b))
    u = cr.tensor(a, requires_grad=True)
    v = cr.tensor(b, requires_grad=True)
    for out in (h(u, v), h(u, y=v), h(x=u, y=v)):  # by position or keyword alike
        np.testing.assert_array_equal(out.numpy(), [5.0, 13.0])
        gu, gv = cr.gradients(out.sum(), [u, v])
        np.testing.assert_allclose(gu.numpy(), a / [5.0, 13.0])
        np.testing.assert_allclose(gv.numpy(), b / [5.0, 13.0])
    with pytest.raises(AttributeError):
        cr.primitive(h.forward, xp="no_such_numpy_function")


def test_backend_function_ops_fill_in_their_defaults_and_keywords():
    a = cr.tensor([-1.0, 0.25, 2.0], dtype="float64", requires_grad=True)
    np.testing.assert_array_equal(cr.clip(a, -0.5).numpy(), [-0.5, 0.25, 2.0])
    np.testing.assert_array_equal(cr.clip(a, a_max=1.0).numpy(), [-1.0, 0.25, 1.0])
    np.testing.assert_array_equal(cr.round(a * 1.26).numpy(), np.round([-1.26, 0.315, 2.52]))
    np.testing.assert_array_equal(
        cr.round(a * 1.26, decimals=1).numpy(), np.round([-1.26, 0.315, 2.52], 1)
    )
    b = cr.tensor([1.0, 2.0, 3.0], dtype="float64")
    for extra in (lambda: cr.add(a, a, b), lambda: cr.exp(a, b)):  # never NumPy's out=
        with pytest.raises(TypeError):
            extra()
        np.testing.assert_array_equal(b.numpy(), [1.0, 2.0, 3.0])
