"""Forward mode and the transforms (chainrule.functional): jvp, linearize, jacfwd, jacrev,
hessian, hvp, vjp on pytrees, checked against central finite differences and torch.func in
float64, on functions mixing matmul, tanh, reductions and broadcasting.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import functional
from strategies import broadcast_shapes, seeds, uniform
from torch_ref import assert_close

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _lse(t, lib):
    return lib.logsumexp(t, 1)[:, None]


# f(x, w, b) with x (n, 4), w (4, 2), b (2,): each mixes matmul, tanh, reductions, broadcasting
CASES = {
    "mlp": lambda x, w, b, lib: lib.tanh(x @ w + b),
    "reductions": lambda x, w, b, lib: (x * x).sum() * lib.exp(b) + (x @ w).mean(0),
    "broadcast": lambda x, w, b, lib: lib.sin(x.sum(0)[:, None] * w) + b * x.mean(),
    "log_softmax": lambda x, w, b, lib: x @ w + b - _lse(x @ w + b, lib),
    "scalar": lambda x, w, b, lib: (lib.tanh(x @ w) * b).sum() + (x**3).mean(),
}


def _arrays(seed: int, n: int) -> list[np.ndarray]:
    return [uniform(seed, (n, 4)), uniform(seed + 1, (4, 2)), uniform(seed + 2, (2,))]


def _torch(arrays):
    return tuple(torch.tensor(a) for a in arrays)


def _central(f, arrays, tangents, eps=1e-6):
    plus = f(*[a + eps * t for a, t in zip(arrays, tangents)])
    minus = f(*[a - eps * t for a, t in zip(arrays, tangents)])
    return (plus.numpy() - minus.numpy()) / (2 * eps)


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=6, deadline=None)
@given(seed=seeds, n=st.integers(1, 3))
def test_jvp_matches_torch_func_and_finite_differences(name, seed, n):
    def f(x, w, b):
        return CASES[name](x, w, b, cr)

    arrays = _arrays(seed, n)
    tangents = _arrays(seed + 7, n)
    out, tan = cr.jvp(f, tuple(arrays), tuple(tangents))
    out_t, tan_t = torch.func.jvp(
        lambda x, w, b: CASES[name](x, w, b, torch), _torch(arrays), _torch(tangents)
    )
    assert_close(out, out_t)
    assert_close(tan, tan_t)
    assert not out.requires_grad and not tan.requires_grad
    np.testing.assert_allclose(tan.numpy(), _central(f, arrays, tangents), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=4, deadline=None)
@given(seed=seeds, n=st.integers(1, 3))
def test_jacfwd_and_jacrev_match_torch_func(name, seed, n):
    def f(x, w, b):
        return CASES[name](x, w, b, cr)

    arrays = _arrays(seed, n)
    ta = _torch(arrays)

    def g(x, w, b):
        return CASES[name](x, w, b, torch)

    for ours, theirs in ((cr.jacfwd, torch.func.jacfwd), (cr.jacrev, torch.func.jacrev)):
        for argnums in (0, 1, (0, 1, 2)):
            jc = ours(f, argnums=argnums)(*arrays)
            jt = theirs(g, argnums=argnums)(*ta)
            if isinstance(argnums, int):
                assert_close(jc, jt)
            else:
                assert isinstance(jc, tuple) and len(jc) == 3
                for a, b in zip(jc, jt):
                    assert_close(a, b)
    # a column of the forward Jacobian is a central difference along that input element
    j = cr.jacfwd(f)(*arrays).numpy()
    e = np.zeros_like(arrays[0])
    e.flat[-1] = 1.0
    col = _central(f, arrays, [e, 0 * arrays[1], 0 * arrays[2]])
    np.testing.assert_allclose(j.reshape((*col.shape, -1))[..., -1], col, rtol=1e-6, atol=1e-7)


@settings(max_examples=12, deadline=None)
@given(shapes=broadcast_shapes(2), seed=seeds)
def test_jvp_jacfwd_jacrev_on_broadcasting_shapes(shapes, seed):
    """Operands of different ranks and size-1 axes: the engine's unbroadcasting is
    transposed too."""
    xs = [uniform(seed + i, s) for i, s in enumerate(shapes)]
    ts = [uniform(seed + 5 + i, s) for i, s in enumerate(shapes)]

    def f(x, y, lib):
        return lib.tanh(x) * y + (x * y).sum() * lib.exp(y)

    _, tan = cr.jvp(lambda x, y: f(x, y, cr), tuple(xs), tuple(ts))
    _, tan_t = torch.func.jvp(lambda x, y: f(x, y, torch), _torch(xs), _torch(ts))
    assert_close(tan, tan_t)
    for ours, theirs in ((cr.jacfwd, torch.func.jacfwd), (cr.jacrev, torch.func.jacrev)):
        jc = ours(lambda x, y: f(x, y, cr), argnums=(0, 1))(*xs)
        jt = theirs(lambda x, y: f(x, y, torch), argnums=(0, 1))(*_torch(xs))
        for a, b in zip(jc, jt):
            assert_close(a, b)


@settings(max_examples=5, deadline=None)
@given(seed=seeds, n=st.integers(1, 3))
def test_hessian_matches_torch_func_and_differences_of_the_gradient(seed, n):
    def f(x, w, b, lib):
        return CASES["scalar"](x, w, b, lib) + (lib.tanh(x @ w) ** 2).sum() * b.sum()

    arrays = _arrays(seed, n)
    ta = _torch(arrays)
    hc = cr.hessian(lambda x, w, b: f(x, w, b, cr))(*arrays)
    ht = torch.func.hessian(lambda x, w, b: f(x, w, b, torch))(*ta)
    assert hc.shape == (n, 4, n, 4)
    assert_close(hc, ht)
    blocks = cr.hessian(lambda x, w, b: f(x, w, b, cr), argnums=(1, 2))(*arrays)
    blocks_t = torch.func.hessian(lambda x, w, b: f(x, w, b, torch), argnums=(1, 2))(*ta)
    for row, row_t in zip(blocks, blocks_t):
        for a, b in zip(row, row_t):
            assert_close(a, b)
    # the Hessian's columns are central differences of cr.grad
    grad = cr.grad(lambda x: f(x, *[cr.tensor(a) for a in arrays[1:]], cr))
    e = np.zeros_like(arrays[0])
    e.flat[0] = 1.0
    eps = 1e-6
    col = (grad(arrays[0] + eps * e).numpy() - grad(arrays[0] - eps * e).numpy()) / (2 * eps)
    np.testing.assert_allclose(hc.numpy().reshape(n * 4, n * 4)[:, 0], col.ravel(), rtol=1e-5)


@settings(max_examples=6, deadline=None)
@given(seed=seeds, n=st.integers(1, 3))
def test_hvp_matches_torch(seed, n):
    def f(x, w, b, lib):
        return (lib.tanh(x @ w + b) ** 2).sum() + (x * x * x).sum() * (w * w).sum()

    arrays, vs = _arrays(seed, n), _arrays(seed + 3, n)
    hv = cr.hvp(lambda x, w, b: f(x, w, b, cr), tuple(arrays), tuple(vs))
    _, hv_t = torch.autograd.functional.hvp(
        lambda x, w, b: f(x, w, b, torch), _torch(arrays), _torch(vs)
    )
    assert isinstance(hv, tuple) and len(hv) == 3
    for a, b in zip(hv, hv_t):
        assert_close(a, b)
    # and equals the forward-over-reverse definition
    fwd = cr.jvp(cr.grad(lambda x, w, b: f(x, w, b, cr), (0, 1, 2)), tuple(arrays), tuple(vs))[1]
    for a, b in zip(hv, fwd):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_linearize_evaluates_f_once_and_matches_jvp():
    calls = []

    def f(x, w, b):
        calls.append(1)
        return CASES["mlp"](x, w, b, cr)

    arrays = _arrays(3, 2)
    out, f_jvp = cr.linearize(f, *arrays)
    assert len(calls) == 1
    for seed in (10, 20, 30):
        tangents = _arrays(seed, 2)
        _, expected = torch.func.jvp(
            lambda x, w, b: CASES["mlp"](x, w, b, torch), _torch(arrays), _torch(tangents)
        )
        assert_close(f_jvp(*tangents), expected)
    assert len(calls) == 1
    assert_close(out, CASES["mlp"](*_torch(arrays), torch))
    with pytest.raises(cr.ShapeError, match="f_jvp takes 3 tangents, got 1"):
        f_jvp(arrays[0])


def test_pytrees_of_tuples_lists_and_dicts():
    x, w, b = _arrays(5, 3)
    tx, tw, tb = _arrays(9, 3)

    def f(x, params):
        h = cr.tanh(x @ params["w"] + params["b"])
        return {"h": h, "both": [h.sum(), (x * x).mean()]}

    def g(x, params):
        h = torch.tanh(x @ params["w"] + params["b"])
        return {"h": h, "both": [h.sum(), (x * x).mean()]}

    params = {"w": w, "b": b}
    out, tan = cr.jvp(f, (x, params), (tx, {"w": tw, "b": tb}))
    out_t, tan_t = torch.func.jvp(
        g, (torch.tensor(x), {k: torch.tensor(v) for k, v in params.items()}),
        (torch.tensor(tx), {"w": torch.tensor(tw), "b": torch.tensor(tb)}),
    )  # fmt: skip
    assert set(tan) == {"h", "both"} and isinstance(tan["both"], list)
    assert_close(tan["h"], tan_t["h"])
    assert_close(tan["both"][0], tan_t["both"][0])
    assert_close(tan["both"][1], tan_t["both"][1])
    assert_close(out["both"][1], out_t["both"][1])

    # vjp on tuples / lists of tensors, and a list output
    def f2(x, wb):
        return [cr.tanh(x @ wb[0]) * wb[1], (x * x).sum()]

    def g2(x, wb):
        return [torch.tanh(x @ wb[0]) * wb[1], (x * x).sum()]

    out, vjp_fn = cr.vjp(f2, x, [w, b])
    out_t, vjp_t = torch.func.vjp(g2, torch.tensor(x), [torch.tensor(w), torch.tensor(b)])
    v = [uniform(1, (3, 2)), np.float64(0.7)]
    gx, (gw, gb) = vjp_fn(v)
    gx_t, (gw_t, gb_t) = vjp_t([torch.tensor(v[0]), torch.tensor(v[1])])
    for a, e in ((gx, gx_t), (gw, gw_t), (gb, gb_t)):
        assert_close(a, e)

    # Jacobians of a tuple argument keep its structure; gradients of a pytree argument too
    jac = cr.jacfwd(lambda wb: cr.tanh(cr.tensor(x) @ wb[0] + wb[1]))((w, b))
    jac_t = torch.func.jacfwd(lambda wb: torch.tanh(torch.tensor(x) @ wb[0] + wb[1]))(
        (torch.tensor(w), torch.tensor(b))
    )
    assert isinstance(jac, tuple) and jac[0].shape == (3, 2, 4, 2)
    assert_close(jac[0], jac_t[0])
    assert_close(jac[1], jac_t[1])
    gp = cr.grad(lambda p: (cr.tanh(cr.tensor(x) @ p["w"]) * p["b"]).sum())(params)
    gp_t = torch.func.grad(lambda p: (torch.tanh(torch.tensor(x) @ p["w"]) * p["b"]).sum())(
        {k: torch.tensor(v) for k, v in params.items()}
    )
    assert_close(gp["w"], gp_t["w"])
    assert_close(gp["b"], gp_t["b"])


def test_jacfwd_costs_one_pass_per_input_element_and_jacrev_one_per_output(monkeypatch):
    """R^n -> R^m: jacfwd makes n passes (+ the one that records the backward), jacrev m."""
    calls = []
    real = functional.gradients

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(functional, "gradients", counting)
    a = uniform(0, (40, 3))

    def f(x):
        return cr.tanh(cr.tensor(a) @ x)  # n = 3 inputs, m = 40 outputs

    x = uniform(1, (3,))
    jf = cr.jacfwd(f)(x)
    assert len(calls) == 3 + 1
    calls.clear()
    jr = cr.jacrev(f)(x)
    assert len(calls) == 40
    np.testing.assert_allclose(jf.numpy(), jr.numpy(), rtol=1e-12, atol=1e-14)


def test_a_pass_skips_the_rules_of_inputs_that_lead_nowhere():
    """gradients() w.r.t. x does not run the rule for y (PyTorch prunes the same way); the
    hooks of a tensor on the way still fire."""
    calls = {"x": 0, "y": 0}

    @cr.primitive
    def mul(x, y):
        return x * y

    def rule_x(g, out, x, y):
        calls["x"] += 1
        return g * y

    def rule_y(g, out, x, y):
        calls["y"] += 1
        return g * x

    mul.defvjp(rule_x, rule_y)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, 4.0], requires_grad=True)
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    (gx,) = cr.gradients(mul(x, y).sum(), [x])
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    assert calls == {"x": 1, "y": 1} and len(seen) == 1  # y has a hook: its rule runs
    z = cr.tensor([3.0, 4.0], requires_grad=True)
    (gx,) = cr.gradients(mul(x, z).sum(), [x])
    assert calls == {"x": 2, "y": 1}
    mul(x, z).sum().backward()  # plain backward fills every leaf
    assert calls == {"x": 3, "y": 2}
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 2.0])


def test_transforms_nest_and_close_over_parameters():
    w = cr.tensor([0.5, -2.0], dtype="float64", requires_grad=True)
    x = np.array([1.0, 0.3])
    _, t = cr.jvp(lambda x: cr.tanh(x * w), (x,), (np.array([1.0, 2.0]),))
    t.sum().backward()
    wt = torch.tensor([0.5, -2.0], dtype=torch.float64, requires_grad=True)
    _, tt = torch.func.jvp(
        lambda x: torch.tanh(x * wt), (torch.tensor(x),), (torch.tensor([1.0, 2.0]).double(),)
    )
    tt.sum().backward()
    assert_close(t, tt)
    assert_close(w.grad, wt.grad)
    # jacfwd of jacfwd: the third derivative of sum(x^4) is 24 x on the diagonal
    d3 = cr.jacfwd(cr.jacfwd(cr.grad(lambda x: (x**4).sum())))(np.array([1.0, 2.0]))
    assert d3.shape == (2, 2, 2)
    assert d3.numpy()[1, 1, 1] == 48.0 and d3.numpy()[0, 1, 1] == 0.0
    # grad of a jvp: d/dx [d/de sin(x + e)] = -sin(x)
    g = cr.grad(lambda x: cr.jvp(cr.sin, (x,), (np.float64(1.0),))[1])(np.float64(0.5))
    np.testing.assert_allclose(g.item(), -np.sin(0.5), rtol=1e-12)


def test_outputs_that_do_not_depend_on_the_inputs_give_zeros():
    _out, t = cr.jvp(lambda x: cr.ones(3) * 2, (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(t.numpy(), np.zeros(3))
    j = cr.jacfwd(lambda x, y: x * 2, argnums=1)(cr.ones(2, dtype="float64"), np.ones(3))
    assert j.shape == (2, 3) and not j.numpy().any()
    assert cr.jacfwd(lambda x: x * 2)(np.ones((0, 2))).shape == (0, 2, 0, 2)


def test_bad_input_is_one_clear_error():
    with pytest.raises(TypeError, match=r"jvp: primals must be a tuple or list .* jvp\(f, \(x,\)"):
        cr.jvp(cr.sin, np.ones(2), (np.ones(2),))
    with pytest.raises(cr.ShapeError, match=r"jvp: tangent has shape \(3,\), primal has \(2,\)"):
        cr.jvp(cr.sin, (np.ones(2),), (np.ones(3),))
    with pytest.raises(cr.ShapeError, match="jvp: 1 primals but 2 tangents"):
        cr.jvp(cr.sin, (np.ones(2),), (np.ones(2), np.ones(2)))
    with pytest.raises(cr.BackwardError, match=r"vjp: f returned a numpy.ndarray, not a Tensor"):
        cr.vjp(lambda x: np.ones(2), np.ones(2))
    with pytest.raises(cr.BackwardError, match=r"jacfwd: f returned a numpy.ndarray"):
        cr.jacfwd(lambda x: x.numpy())(np.ones(2))
    with pytest.raises(cr.BackwardError, match="hvp needs f to return a one-element tensor"):
        cr.hvp(lambda x: x * 2, (np.ones(2),), (np.ones(2),))
    with pytest.raises(IndexError, match="jacrev: argnums 2 is out of range for 1 arguments"):
        cr.jacrev(cr.sin, argnums=2)(np.ones(2))


def test_has_aux_and_the_old_import_path():
    def f(x):
        return (x * x).sum(), {"norm": x.sum()}

    (value, aux), g = cr.value_and_grad(f, has_aux=True)(np.array([1.0, 2.0]))
    assert value.item() == 5.0 and aux["norm"].item() == 3.0
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    h, aux = cr.hessian(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(h.numpy(), 2 * np.eye(2))
    _out, t, aux = cr.jvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),), has_aux=True)
    assert t.item() == 2.0 and aux["norm"].item() == 3.0
    from chainrule.autograd import grad, jacobian

    assert grad is cr.grad and jacobian is cr.jacrev is cr.jacobian


def test_a_rule_that_skips_work_when_its_gradient_is_zero_still_transposes():
    """Forward mode records the backward at a cotangent of ones (the map is linear, so the
    point does not matter): a rule that returns early for an all-zero ḡ keeps its terms."""

    @cr.primitive
    def double(x):
        return 2 * x

    double.defvjp(lambda g, out, x: g * 2 if g.data.any() else g * 0, keep="")
    _, t = cr.jvp(double, (np.array([1.0, 2.0]),), (np.array([3.0, -1.0]),))
    np.testing.assert_array_equal(t.numpy(), [6.0, -2.0])
    np.testing.assert_array_equal(cr.jacfwd(double)(np.ones(2)).numpy(), 2 * np.eye(2))
