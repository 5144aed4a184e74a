"""The tape: graphs of any shape, deep chains, freed buffers, hooks, grad modes, anomaly
detection, the version counter, and higher-order gradients, against PyTorch where it applies.
"""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import seeds, shapes, uniform
from torch_optional import torch, torch_ref  # on Pythons without torch: stand-ins that skip

assert_close, check_against_torch = torch_ref.assert_close, torch_ref.check_against_torch


# ----------------------------------------------------------------------------- graph shapes
def test_tensor_times_itself():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


@settings(max_examples=15)
@given(shape=shapes(), seed=seeds)
def test_one_input_along_several_paths(shape, seed):
    """x reaches the output along five paths; its gradient is the sum over them."""
    x = uniform(seed, shape, 0.2, 2.0)
    check_against_torch(
        lambda t: t * t + t.exp() * t.sin() + (t / (t + 1)) - t.sqrt(),
        lambda t: t * t + t.exp() * t.sin() + (t / (t + 1)) - t.sqrt(),
        [x],
    )


@settings(max_examples=15)
@given(shape=shapes(), seed=seeds)
def test_shared_subexpressions(shape, seed):
    """A diamond: s feeds three branches that join again; s is computed once."""
    x, y = uniform(seed, shape), uniform(seed + 1, shape)

    def f(a, b, lib):
        s = a * b + lib.tanh(a)
        u = s * s
        v = lib.exp(s) * b
        w = lib.sin(s) + u
        return (u + v) * w

    check_against_torch(lambda a, b: f(a, b, cr), lambda a, b: f(a, b, torch), [x, y])


@settings(max_examples=15)
@given(seed=seeds, width=st.integers(1, 4), depth=st.integers(1, 4))
def test_skip_connections(seed, width, depth):
    """A residual stack h <- h + tanh(W_k h + b_k), plus a long skip from the input."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, width))
    ws = [rng.normal(size=(width, width)) for _ in range(depth)]
    bs = [rng.normal(size=width) for _ in range(depth)]

    def f(x, *params, lib):
        h = x
        for w, b in zip(params[:depth], params[depth:]):
            h = h + lib.tanh(h @ w + b)
        return h * x + h

    check_against_torch(lambda *a: f(*a, lib=cr), lambda *a: f(*a, lib=torch), [x, *ws, *bs])


def test_two_outputs_sharing_a_graph():
    x = np.array([0.5, -1.0, 2.0])
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    hc, ht = xc.exp(), xt.exp()
    gc_ = cr.gradients([(hc * 2).sum(), hc.sin().sum()], [xc])
    gt = torch.autograd.grad([(ht * 2).sum(), ht.sin().sum()], [xt])
    assert_close(gc_[0], gt[0])


def test_gradients_from_separate_backward_calls_accumulate():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_explicit_output_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(cr.tensor([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, -6.0])
    z = cr.tensor([1.0, 2.0], requires_grad=True)
    (z * 2).backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(z.grad.numpy(), [6.0, 8.0])


def test_leaf_gets_gradient_in_its_own_dtype():
    x = cr.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    y = x * cr.tensor([0.5, 0.25], dtype="float64")
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.25])


def test_gradient_does_not_flow_into_constants_or_detached_tensors():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    (x * c + d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 8.0])
    assert c.grad is None and d.grad is None


# ----------------------------------------------------------------------------- deep chains
def test_chain_of_100000_ops_does_not_recurse():
    """Each add is one node whose only path back is the one before it: a recursive walk
    would need 100,000 frames. (add is the cheapest op; the gradient only arrives if every
    node of the chain passed it on.)"""
    n = 100_000
    x = cr.tensor(1.0, dtype="float64", requires_grad=True)
    y = x
    for _ in range(n):
        y = y + 1.0
    assert y.item() == n + 1
    limit = sys.getrecursionlimit()
    y.backward()
    assert sys.getrecursionlimit() == limit
    assert x.grad.item() == 1.0
    del y  # and tearing the chain down does not recurse either
    gc.collect()


# ----------------------------------------------------------------------------- freeing
def test_second_backward_through_a_freed_graph_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(cr.GraphFreedError, match=r"second time.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    np.testing.assert_allclose(first, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])), rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)
    with pytest.raises(cr.GraphFreedError, match="second time"):
        loss.backward()


def _graph_holding(x: cr.Tensor) -> tuple[cr.Tensor, weakref.ref]:
    """A loss whose graph alone keeps the intermediate ``h`` alive (saved by multiply)."""
    h = x.exp()
    return (h * h).sum(), weakref.ref(h)


def test_saved_intermediates_are_freed_after_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss, h = _graph_holding(x)
    assert h() is not None
    loss.backward()
    gc.collect()
    assert h() is None


def test_retain_graph_keeps_saved_intermediates():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss, h = _graph_holding(x)
    loss.backward(retain_graph=True)
    gc.collect()
    assert h() is not None


# ----------------------------------------------------------------------------- hooks
def test_hook_on_leaf_sees_and_can_replace_the_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])


def test_hook_on_non_leaf_changes_what_flows_further_back():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.register_hook(lambda g: g * 0.5)
    (h * h).sum().backward()
    np.testing.assert_array_equal(seen[0], [4.0, 8.0])  # 2h
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])  # 2h * 0.5 * 2


def test_hook_removal():
    x = cr.tensor([1.0], requires_grad=True)
    remove = x.register_hook(lambda g: g * 100)
    remove()
    (x * 2).sum().backward()
    assert x.grad.item() == 2.0


@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "non-leaf"])
def test_hook_runs_once_on_the_total_gradient_like_torch(leaf):
    """A tensor used on two paths: its hook fires once, with the summed gradient (so a
    non-linear hook, e.g. one that squares or clips, sees what PyTorch's sees)."""
    results = []
    for lib, make in ((cr, cr.tensor), (torch, torch.tensor)):
        x = make([1.0, -2.0], requires_grad=True)
        t = x if leaf else x * 1.0
        calls = []
        t.register_hook(lambda g, calls=calls: (calls.append(1), g * g)[1])
        (t * 3 + t * t).sum().backward()
        results.append((len(calls), x.grad.numpy() if lib is cr else x.grad.detach().numpy()))
    assert results[0][0] == results[1][0] == 1
    np.testing.assert_allclose(results[0][1], results[1][1])


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(cr.ChainruleError, match="does not require grad"):
        cr.tensor([1.0]).register_hook(lambda g: g)


# ----------------------------------------------------------------------------- retain_grad
def test_retain_grad_keeps_a_non_leaf_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    k = h * 1.0
    h.retain_grad()
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])
    assert k.grad is None  # not retained
    h.grad.zero_()  # its own, writable array (the incoming one was a read-only broadcast)
    (h * 2).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [2.0, 2.0])
    x.retain_grad()  # a no-op on leaves, which always keep theirs
    assert x.grad is not None


def test_retained_gradient_accumulates_like_torch():
    values = []
    for lib in (cr, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        h.retain_grad()
        loss = (h * h).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        values.append(h.grad.numpy() if lib is cr else h.grad.detach().numpy())
    np.testing.assert_array_equal(values[0], values[1])


# ----------------------------------------------------------------------------- grad modes
def test_no_grad_records_nothing():
    w = cr.ones(2, requires_grad=True)
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = w * 2
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            z = w * 2
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf


def test_grad_modes_as_decorators():
    w = cr.ones(2, requires_grad=True)

    @cr.no_grad()
    def inference(t):
        return t * 2

    @cr.enable_grad()
    def training(t):
        return t * 2

    @cr.set_grad_enabled(False)
    def off(t):
        return t * 2

    assert cr.is_grad_enabled()  # making the decorator changed nothing
    assert not inference(w).requires_grad
    assert not off(w).requires_grad
    with cr.no_grad():
        assert training(w).requires_grad
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()


def test_set_grad_enabled_as_call_and_context():
    w = cr.ones(2, requires_grad=True)
    with cr.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert (w * 2).requires_grad
    cr.set_grad_enabled(False)
    try:
        assert not (w * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert (w * 2).requires_grad


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError, match="division by zero"), cr.no_grad():
        1 / 0  # noqa: B018
    assert cr.is_grad_enabled()


def test_bare_decorators_and_inference_mode_as_pytorch():
    """``@cr.no_grad`` / ``@cr.enable_grad`` without parentheses, and ``inference_mode``:
    recording off when true, the mode left as it is when false (PyTorch's semantics)."""
    w = cr.ones(2, requires_grad=True)

    @cr.no_grad
    def off(t):
        return t * 2

    @cr.inference_mode
    def infer(t):
        return t * 2

    @cr.inference_mode(False)
    def unchanged(t):
        return t * 2

    assert not off(w).requires_grad and not infer(w).requires_grad
    assert off.__name__ == "off"
    assert unchanged(w).requires_grad
    with cr.inference_mode():
        assert not cr.is_grad_enabled() and not (w * 2).requires_grad
        with cr.inference_mode(False):
            assert not cr.is_grad_enabled()
        with cr.enable_grad():
            assert (w * 2).requires_grad
    with cr.no_grad(), cr.inference_mode(False):
        assert not (w * 2).requires_grad
    assert cr.is_grad_enabled()


def test_a_decorated_function_can_call_itself():
    """Each call gets its own switch: a recursive no_grad function restores the mode."""

    @cr.no_grad()
    def depth(n):
        assert not cr.is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert cr.is_grad_enabled()


# ----------------------------------------------------------------------------- anomaly
def test_detect_anomaly_names_the_op_of_a_forward_nan():
    x = cr.tensor([1.0, -1.0], requires_grad=True)
    with np.errstate(invalid="ignore"), cr.detect_anomaly():
        with pytest.raises(cr.AnomalyError, match=r"log \(forward\) produced NaN"):
            cr.log(x)
    with np.errstate(invalid="ignore"):
        assert np.isnan(cr.log(x).numpy()[1])  # outside the block: no check


def test_detect_anomaly_names_the_op_of_a_backward_inf():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"), cr.detect_anomaly():
        y = cr.sqrt(x).sum()
        with pytest.raises(cr.AnomalyError, match=r"sqrt \(backward.*produced Inf"):
            y.backward()


def test_detect_anomaly_names_the_op_of_a_backward_nan():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"), cr.detect_anomaly():
        y = (cr.sqrt(x) * 0.0).sum()  # 0 * (1 / (2 sqrt(0))) = 0 * inf = NaN
        with pytest.raises(cr.AnomalyError, match=r"sqrt \(backward.*produced NaN"):
            y.backward()


def test_anomaly_error_is_a_floating_point_error():
    assert issubclass(cr.AnomalyError, FloatingPointError)


# ----------------------------------------------------------------------------- versions
def test_inplace_change_of_a_saved_input_raises_at_backward():
    a = cr.tensor([1.0, 2.0])
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    loss = (a * w).sum()  # multiply saves a for w's gradient
    with cr.no_grad():
        a.mul_(2)
    with pytest.raises(cr.InplaceError, match=r"multiply.*modified in place.*version 1"):
        loss.backward()


def test_setitem_on_a_saved_input_raises_at_backward():
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    loss = (w.exp() * w).sum()
    with cr.no_grad():
        w[0] = 1.0
    with pytest.raises(cr.InplaceError, match="modified in place"):
        loss.backward()


def test_inplace_change_through_a_view_or_detached_alias_raises():
    for alias in (lambda t: t[1:], lambda t: t.detach(), lambda t: t.reshape(2, 1)):
        a = cr.tensor([1.0, 2.0])
        w = cr.tensor([3.0, 4.0], requires_grad=True)
        loss = (a * w).sum()
        with cr.no_grad():
            alias(a).mul_(0.0)
        with pytest.raises(cr.InplaceError, match="modified in place"):
            loss.backward()


def test_inplace_change_of_a_saved_output_raises_at_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp's rule reads its output
    loss = y.sum()
    with cr.no_grad():
        y.add_(1.0)
    with pytest.raises(cr.InplaceError, match="output of exp"):
        loss.backward()


def test_ops_that_only_read_the_shape_do_not_raise():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = x.sum() + x.mean() + x.reshape(3, 1).sum()
    with cr.no_grad():
        x.mul_(2)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 1 / 3] * 3, rtol=1e-6)


def test_inplace_on_a_leaf_that_requires_grad_is_refused_while_recording():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.InplaceError, match="leaf tensor that requires grad"):
        x.mul_(2)
    with pytest.raises(cr.InplaceError, match="leaf tensor that requires grad"):
        x[0] = 5.0
    with cr.no_grad():  # the optimiser's way
        x.sub_(cr.tensor([0.5, 0.5]))
    np.testing.assert_array_equal(x.numpy(), [0.5, 1.5])


def test_writing_a_value_that_requires_grad_is_refused_while_recording():
    """Writing a graph tensor into another tensor's data would silently drop its gradient."""
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    out = cr.zeros(3)
    with pytest.raises(cr.InplaceError, match=r"__setitem__: the value requires grad.*cr.where"):
        out[:2] = w * 2
    for name in ("add_", "sub_", "mul_", "div_"):
        with pytest.raises(cr.InplaceError, match=rf"{name}: the value requires grad"):
            getattr(out[:2], name)(w)
    with pytest.raises(cr.InplaceError, match=r"copy_: the value requires grad"):
        out[:2].copy_(w)
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 0.0])
    with cr.no_grad():  # as a plain copy of the values it is fine
        out[:2] = w * 2
    np.testing.assert_array_equal(out.numpy(), [2.0, 4.0, 0.0])


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "make",
    [
        lambda: cr.tensor([1, 2], requires_grad=True),
        lambda: cr.tensor([True, False], requires_grad=True),
        lambda: cr.zeros(2, dtype="int32", requires_grad=True),
        lambda: cr.arange(3, requires_grad=True),
        lambda: cr.tensor(np.array([1, 2], dtype=np.uint8)).requires_grad_(),
    ],
    ids=["int list", "bool", "zeros int32", "arange", "uint8 requires_grad_"],
)
def test_integer_and_bool_tensors_cannot_require_grad(make):
    with pytest.raises(cr.DTypeError, match=r"only floating-point tensors can require gradients"):
        make()


def test_backward_on_a_non_scalar_needs_a_gradient():
    y = cr.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(cr.BackwardError, match=r"shape \(2, 3\) needs a grad argument"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = cr.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(cr.ShapeError, match=r"grad has shape \(3,\).*\(2, 3\)"):
        y.backward(cr.ones(3))


def test_backward_on_a_tensor_without_graph():
    with pytest.raises(cr.BackwardError, match="does not require grad"):
        cr.ones(1).backward()
    w = cr.ones(1, requires_grad=True)
    with cr.no_grad():
        y = w * 2
    with pytest.raises(cr.BackwardError, match="does not require grad"):
        y.backward()


# ----------------------------------------------------------------------------- gradients()
def test_gradients_returns_without_touching_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0], requires_grad=True)
    h = x * 2
    (gx, gh) = cr.gradients((h * h).sum(), [x, h])
    np.testing.assert_array_equal(gx.numpy(), [8.0, 16.0])
    np.testing.assert_array_equal(gh.numpy(), [4.0, 8.0])
    assert x.grad is None
    with pytest.raises(cr.BackwardError, match=r"input 1 of gradients.*allow_unused=True"):
        cr.gradients((x * 2).sum(), [x, y])
    gx, gy = cr.gradients((x * 2).sum(), [x, y], allow_unused=True)
    assert gy is None
    with pytest.raises(cr.BackwardError, match="does not require grad"):
        cr.gradients((x * 2).sum(), [cr.ones(1)])


def test_gradients_are_independent_and_writable_like_torch_autograd_grad():
    """x + y hands both leaves the same (broadcast, read-only) array: each caller still gets
    its own tensor to modify in place."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, 4.0], requires_grad=True)
    gx, gy = cr.gradients((x + y).sum(), [x, y])
    assert gx is not gy
    with cr.no_grad():
        gx.mul_(10.0)
    np.testing.assert_array_equal(gx.numpy(), [10.0, 10.0])
    np.testing.assert_array_equal(gy.numpy(), [1.0, 1.0])
    g = cr.grad(lambda t: t.sum())(cr.ones(3))
    g.add_(1.0)
    np.testing.assert_array_equal(g.numpy(), [2.0, 2.0, 2.0])


def test_gradients_of_views_are_views_of_the_cotangent_and_never_of_each_other():
    """A view op's gradient is a view of ḡ, returned without a copy (as torch.autograd.grad
    does); two gradients that would share memory are not, and .grad always owns its array."""
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    v = cr.tensor(np.ones(6))
    (gx,) = cr.gradients(cr.ravel(x), [x], v)
    assert gx.shape == (2, 3) and np.shares_memory(gx.numpy(), v.numpy())
    a = cr.tensor(np.ones((2, 3)), requires_grad=True)
    b = cr.tensor(np.ones((3, 2)), requires_grad=True)
    ga, gb = cr.gradients(cr.ravel(a) + cr.ravel(b), [a, b], v)  # both reshape the same ḡ
    assert not np.shares_memory(ga.numpy(), gb.numpy())
    with cr.no_grad():
        ga.mul_(10.0)
    np.testing.assert_array_equal(gb.numpy(), np.ones((3, 2)))
    cr.ravel(x).backward(v)
    assert not np.shares_memory(x.grad.numpy(), v.numpy())


def test_gradients_with_grad_outputs_is_a_vjp():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([[0.5, -1.0], [2.0, 1.0]])
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    (gc_,) = cr.gradients(xc @ xc, [xc], cr.tensor(v))
    (gt,) = torch.autograd.grad(xt @ xt, [xt], torch.tensor(v))
    assert_close(gc_, gt)


# ----------------------------------------------------------------------------- higher order
def test_grad_of_grad_of_a_polynomial():
    x = cr.tensor(2.0, dtype="float64", requires_grad=True)
    y = x**4
    (g,) = cr.gradients(y, [x], create_graph=True)
    assert g.item() == 32.0 and g.requires_grad
    (g2,) = cr.gradients(g, [x], create_graph=True)
    assert g2.item() == 48.0
    (g3,) = cr.gradients(g2, [x])
    assert g3.item() == 48.0


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_create_graph_makes_x_grad_differentiable():
    results = []
    for lib in (cr, torch):
        x = lib.tensor(np.array([0.3, -0.7]), requires_grad=True)  # float64 in both
        y = (lib.sin(x) * x * x).sum()
        y.backward(create_graph=True)
        g = x.grad
        x.grad = None
        (g * g).sum().backward()
        results.append(x.grad)
    assert_close(results[0], results[1])


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_backward_after_create_graph_accumulates_into_separate_grads():
    """Two leaves that receive the same gradient array under create_graph get their own
    .grad (not one shared, read-only tensor), so a later backward adds into each, as in
    PyTorch."""
    results = []
    for lib in (cr, torch):
        x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = lib.tensor(np.array([3.0, 4.0]), requires_grad=True)
        (x + y).sum().backward(create_graph=True)
        (x * x).sum().backward()
        results.append([t.grad for t in (x, y)])
    assert results[0][0] is not results[0][1]
    for a, b in zip(*results):
        assert_close(a, b)


SECOND_ORDER = {
    "polynomial": lambda x, y, lib: (x**3 * y + x * y * y).sum(),
    "tanh_mlp": lambda x, y, lib: lib.tanh(lib.tanh(x @ y.T) @ y).sum(),
    "softmax_entropy": lambda x, y, lib: (
        -(lib.softmax(x * y, -1) * lib.log_softmax(x * y, -1)).sum()
    ),
    "exp_sin": lambda x, y, lib: (lib.exp(lib.sin(x) * y) / (1 + y * y)).sum(),
    "sigmoid_logsumexp": lambda x, y, lib: lib.logsumexp(lib.sigmoid(x) * y, -1).sum(),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
@settings(max_examples=10)
@given(seed=seeds)
def test_hessian_vector_products_match_torch(name, seed):
    f = SECOND_ORDER[name]
    rng = np.random.default_rng(seed)
    x, y, u, v = (rng.normal(size=(2, 3)) for _ in range(4))
    xc, yc = cr.tensor(x, requires_grad=True), cr.tensor(y, requires_grad=True)
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    gc_ = cr.gradients(f(xc, yc, cr), [xc, yc], create_graph=True)
    gt = torch.autograd.grad(f(xt, yt, torch), [xt, yt], create_graph=True)
    for a, b in zip(gc_, gt):
        assert_close(a, b)
    dot_c = (gc_[0] * cr.tensor(u)).sum() + (gc_[1] * cr.tensor(v)).sum()
    dot_t = (gt[0] * torch.tensor(u)).sum() + (gt[1] * torch.tensor(v)).sum()
    for a, b in zip(cr.gradients(dot_c, [xc, yc]), torch.autograd.grad(dot_t, [xt, yt])):
        assert_close(a, b)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_hessian_matches_torch_func_hessian(name):
    f = SECOND_ORDER[name]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    yc, yt = cr.tensor(y), torch.tensor(y)
    hc = cr.hessian(lambda a: f(a, yc, cr))(x)
    ht = torch.func.hessian(lambda a: f(a, yt, torch))(torch.tensor(x))
    assert hc.shape == (2, 3, 2, 3)
    assert_close(hc, ht)
