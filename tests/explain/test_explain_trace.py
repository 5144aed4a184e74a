"""cr.explain.trace: the seeds' quantities by the engine, by the explicit formulas, by finite
differences, and against PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn
from chainrule.errors import ShapeError, TargetError, UnsupportedModelError
from chainrule.explain import derivative, trace

TOL = 1e-10
ACTS = {"logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "linear": nn.Identity}


def seeds_net(act: type[nn.Module], sizes=(4, 5, 3, 3), seed: int = 0) -> nn.Sequential:
    """The seeds' network: Linear layers with activation g between them, linear last."""
    cr.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def data(kind: str, n: int | None, d: int = 4, k: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(d,) if n is None else (n, d))
    if kind == "cross_entropy":
        y = rng.integers(k, size=None if n is None else n)
    else:
        y = rng.normal(size=(k,) if n is None else (n, k))
    return x, y


def engine_grads(model, x, y, kind, reduction="sum"):
    """The engine's parameter gradients the ordinary way: loss.backward() into .grad."""
    m = model  # built under the float64 default, so the engine runs in float64 too
    m.zero_grad()
    X = cr.tensor(np.atleast_2d(x))
    out = m(X)
    if kind == "cross_entropy":
        loss = nn.CrossEntropyLoss(reduction=reduction)(out, cr.tensor(np.atleast_1d(y)))
    else:
        loss = nn.MSELoss(reduction=reduction)(out, cr.tensor(np.atleast_2d(y)))
    loss.backward()
    return [(p.grad.numpy().copy()) for p in m.parameters()]


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("kind", ["cross_entropy", "squared_error"])
@pytest.mark.parametrize("n", [None, 5])
def test_engine_formulas_agree(act, kind, n, float64):
    model = seeds_net(ACTS[act])
    x, y = data(kind, n)
    t = trace(model, x, y, kind)
    assert t.max_disagreement <= TOL, (t.worst, t.max_disagreement)
    t.check(TOL)
    assert t.L == 3 and t.sizes == [4, 5, 3, 3]
    assert t.batched is (n is not None)
    # Every quantity is there, shaped as documented.
    rows = () if n is None else (n,)
    for lt in t.layers:
        assert lt["a"].shape == (*rows, lt.out_features)
        assert lt["h_prev"].shape == (*rows, lt.in_features)
        assert lt["grad_a"].shape == (*rows, lt.out_features)
        assert lt["grad_W"].shape == lt.weight.shape
        assert lt["grad_b"].shape == lt.bias.shape
        if lt.k < t.L:
            assert lt["h"].shape == lt["grad_h"].shape == lt["dg"].shape == lt["a"].shape
            assert lt.activation.name == act
        else:
            assert "h" not in lt and lt.activation is None
    assert t.grad_input.shape == np.shape(x)
    # ... and the parameter gradients are the engine's own, by loss.backward().
    grads = engine_grads(model, x, y, kind)
    for lt, (gw, gb) in zip(t.layers, zip(grads[::2], grads[1::2])):
        np.testing.assert_allclose(lt["grad_W"].value, gw, rtol=0, atol=TOL)
        np.testing.assert_allclose(lt["grad_b"].value, gb, rtol=0, atol=TOL)


@pytest.mark.parametrize("act", list(ACTS))
def test_seeds_equations_hold(act, float64):
    """The recorded values satisfy the seeds' equations, written out here once more."""
    model = seeds_net(ACTS[act])
    x, y = data("cross_entropy", None)
    t = trace(model, x, y)
    e_y = np.eye(3)[y]
    assert np.allclose(t.layers[-1]["grad_a"].value, -(e_y - t.y_hat.value), atol=TOL)
    assert np.isclose(float(t.loss_value.value), -np.log(t.y_hat.value[y]), atol=TOL)
    for lt in t.layers:
        W, b = lt.weight, lt.bias
        assert np.allclose(lt["a"].value, b + W @ lt["h_prev"].value, atol=TOL)
        assert np.allclose(lt["grad_W"].value, np.outer(lt["grad_a"].value, lt["h_prev"].value))
        assert np.allclose(lt["grad_b"].value, lt["grad_a"].value, atol=TOL)
        if lt.k < t.L:
            above = t.layers[lt.k]
            assert np.allclose(lt["grad_h"].value, above.weight.T @ above["grad_a"].value)
            dg = derivative(act, lt["a"].value)
            assert np.allclose(lt["grad_a"].value, lt["grad_h"].value * dg, atol=TOL)
    assert np.allclose(t.grad_input.value, t.layers[0].weight.T @ t.layers[0]["grad_a"].value)


@pytest.mark.parametrize("act", list(ACTS))
def test_finite_differences(act, float64):
    model = seeds_net(ACTS[act])
    for kind, n in (("cross_entropy", None), ("squared_error", 3)):
        x, y = data(kind, n)
        t = trace(model, x, y, kind, check="fd")
        assert t.fd_checked
        assert t.max_fd_disagreement < 1e-6, t.worst_fd
        t.check(TOL, fd_tol=1e-6)
        for lt in t.layers:
            for key in ("grad_a", "grad_W", "grad_b"):
                assert lt[key].fd is not None
        assert t.grad_input.fd is not None


@pytest.mark.parametrize(
    "module",
    [nn.LeakyReLU(0.1), nn.ELU(0.7), nn.Softplus(beta=2.0), nn.GELU(), nn.GELU("tanh")],
    ids=["leaky_relu", "elu", "softplus", "gelu", "gelu_tanh"],
)
def test_other_activations(module, float64):
    cr.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 5), module, nn.Linear(5, 3))
    x, y = data("cross_entropy", 4)
    t = trace(model, x, y, check="fd")
    assert t.max_disagreement <= TOL, t.worst
    assert t.max_fd_disagreement < 1e-6


def test_against_pytorch(float64):
    """A few traces against PyTorch's autograd with retain_grad on every a_k and h_k."""
    cases = [
        ("logistic", "cross_entropy", None, "sum"),
        ("relu", "squared_error", 4, "mean"),
        ("tanh", "cross_entropy", 6, "mean"),
    ]
    torch_act = {"logistic": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
    for act, kind, n, reduction in cases:
        model = seeds_net(ACTS[act])
        x, y = data(kind, n)
        loss = (nn.CrossEntropyLoss if kind == "cross_entropy" else nn.MSELoss)(reduction=reduction)
        t = trace(model, x, y, loss)
        lins = [m for m in model if isinstance(m, nn.Linear)]
        X = torch.tensor(np.atleast_2d(x), requires_grad=True)
        Ws = [torch.tensor(m.weight.numpy(), requires_grad=True) for m in lins]
        bs = [torch.tensor(m.bias.numpy(), requires_grad=True) for m in lins]
        h, hs, as_ = X, [], []
        for i, (W, b) in enumerate(zip(Ws, bs)):
            a = h @ W.T + b
            a.retain_grad()
            as_.append(a)
            if i < len(Ws) - 1:
                h = torch_act[act]()(a)
                h.retain_grad()
                hs.append(h)
        if kind == "cross_entropy":
            L = torch.nn.functional.cross_entropy(
                as_[-1], torch.tensor(np.atleast_1d(y)), reduction=reduction
            )
            y_hat = torch.softmax(as_[-1], dim=1)
        else:
            L = torch.nn.functional.mse_loss(
                as_[-1], torch.tensor(np.atleast_2d(y)), reduction=reduction
            )
            y_hat = as_[-1]
        L.backward()
        sq = (lambda v: v[0]) if n is None else (lambda v: v)
        assert abs(float(t.loss_value.value) - L.item()) <= TOL
        np.testing.assert_allclose(t.y_hat.value, sq(y_hat.detach().numpy()), atol=TOL, rtol=0)
        np.testing.assert_allclose(t.grad_input.value, sq(X.grad.numpy()), atol=TOL, rtol=0)
        for i, lt in enumerate(t.layers):
            np.testing.assert_allclose(lt["a"].value, sq(as_[i].detach().numpy()), atol=TOL)
            np.testing.assert_allclose(lt["grad_a"].value, sq(as_[i].grad.numpy()), atol=TOL)
            np.testing.assert_allclose(lt["grad_W"].value, Ws[i].grad.numpy(), atol=TOL)
            np.testing.assert_allclose(lt["grad_b"].value, bs[i].grad.numpy(), atol=TOL)
            if i < len(hs):
                np.testing.assert_allclose(lt["h"].value, sq(hs[i].detach().numpy()), atol=TOL)
                np.testing.assert_allclose(lt["grad_h"].value, sq(hs[i].grad.numpy()), atol=TOL)


def test_batch_gradients_add_up(float64):
    """A batch's ∇W and ∇b (sum reduction) are the sums of its examples' gradients, and the
    mean reduction scales every ∇_{a_L} by 1/N."""
    model = seeds_net(nn.Tanh)
    x, y = data("cross_entropy", 6)
    batch = trace(model, x, y, "cross_entropy")
    singles = [trace(model, x[i], y[i]) for i in range(6)]
    for k in range(3):
        gW = sum(s.layers[k]["grad_W"].value for s in singles)
        gb = sum(s.layers[k]["grad_b"].value for s in singles)
        np.testing.assert_allclose(batch.layers[k]["grad_W"].value, gW, atol=1e-12)
        np.testing.assert_allclose(batch.layers[k]["grad_b"].value, gb, atol=1e-12)
        for i in range(6):
            np.testing.assert_allclose(
                batch.layers[k]["grad_a"].value[i], singles[i].layers[k]["grad_a"].value, atol=1e-12
            )
    mean = trace(model, x, y, nn.CrossEntropyLoss())
    assert mean.reduction == "mean" and mean.scale == pytest.approx(1 / 6)
    np.testing.assert_allclose(
        mean.layers[0]["grad_W"].value, batch.layers[0]["grad_W"].value / 6, atol=1e-12
    )
    se = trace(model, x, np.zeros((6, 3)), nn.MSELoss())
    assert se.scale == pytest.approx(1 / 18)


def test_float64_copy_leaves_model_alone():
    """By default the pass runs on a float64 copy: the float32 model, its .grad, its mode
    and its forward hooks are untouched."""
    model = seeds_net(nn.ReLU)
    model.train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    seen = []
    model[0].register_forward_hook(lambda m, a, o: seen.append(o.shape))
    t = trace(model, np.ones(4), 0)
    assert t.dtype == np.float64 and t.max_disagreement <= TOL
    assert seen == [] and model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert v.dtype == np.float32 and np.array_equal(v, before[k])
    native = trace(model, np.ones(4), 0, dtype=None)
    assert native.dtype == np.float32
    assert native.max_disagreement < 1e-5  # float32 engine against float64 formulas
    assert all(p.grad is None for p in model.parameters()) and model.training


def test_dropout_nested_and_single_layer(float64):
    cr.manual_seed(0)
    inner = nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Dropout(0.5))
    model = nn.Sequential(inner, nn.Linear(6, 3))
    x, y = data("cross_entropy", 3)
    t = trace(model, x, y)
    assert t.L == 2 and t.max_disagreement <= TOL
    assert t.layers[0].module_names == ("0.0", "0.1")
    solo = trace(nn.Linear(4, 3), x, y)
    assert solo.L == 1 and solo.max_disagreement <= TOL
    # Hidden Linear layers with no activation between them: g is the identity.
    stacked = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 3))
    st = trace(stacked, x, y)
    assert st.layers[0].activation.name == "linear" and st.max_disagreement <= TOL
    # Layers without a bias: b_k = 0 and ∇_{b_k} ℒ is still recorded (by the formulas).
    nobias = nn.Sequential(nn.Linear(4, 5, bias=False), nn.ReLU(), nn.Linear(5, 3))
    nb = trace(nobias, x, y, check="fd")
    assert nb.max_disagreement <= TOL and nb.max_fd_disagreement < 1e-6
    assert np.array_equal(nb.layers[0].bias, np.zeros(5))


@pytest.mark.parametrize(
    "model, match",
    [
        (lambda: nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)), "Softmax"),
        (lambda: nn.Sequential(nn.ReLU(), nn.Linear(4, 3)), "start with a Linear"),
        (lambda: nn.Sequential(nn.Linear(4, 3), nn.Tanh()), "ends with an activation"),
        (
            lambda: nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.ReLU(), nn.Linear(3, 3)),
            "two activations",
        ),
        (lambda: nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 3)), "LayerNorm"),
        (lambda: nn.Sequential(nn.Linear(4, 3), nn.Linear(2, 3)), "takes 2"),
        (lambda: nn.Sequential(), "no Linear"),
        (lambda: nn.Tanh(), "Sequential"),
    ],
)
def test_unsupported_models(model, match):
    with pytest.raises(UnsupportedModelError, match=match):
        trace(model(), np.ones(4), 0)


def test_bad_inputs():
    model = seeds_net(nn.Tanh)
    with pytest.raises(ShapeError, match=r"\(4,\) or \(N, 4\)"):
        trace(model, np.ones(3), 0)
    with pytest.raises(TargetError, match=r"\[0, 3\)"):
        trace(model, np.ones(4), 3)
    with pytest.raises(ShapeError, match="2 class label"):
        trace(model, np.ones((2, 4)), [0, 1, 2])
    with pytest.raises(ShapeError, match="squared-error targets"):
        trace(model, np.ones(4), [1.0, 2.0], "squared_error")
    with pytest.raises(ValueError, match="unknown loss"):
        trace(model, np.ones(4), 0, "hinge")
    with pytest.raises(ValueError, match="check"):
        trace(model, np.ones(4), 0, check="torch")
    with pytest.raises(UnsupportedModelError, match="label smoothing"):
        trace(model, np.ones(4), 0, nn.CrossEntropyLoss(label_smoothing=0.1))
    with pytest.raises(ValueError, match="reduction"):
        trace(model, np.ones(4), 0, nn.CrossEntropyLoss(reduction="none"))
    with pytest.raises(ValueError, match="fd_max_entries"):
        trace(model, np.ones((50, 4)), np.zeros(50, dtype=int), check="fd", fd_max_entries=100)


def test_derivatives_table():
    a = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    s = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(derivative("logistic", a), s * (1 - s))
    np.testing.assert_allclose(derivative("tanh", a), 1 - np.tanh(a) ** 2)
    np.testing.assert_array_equal(derivative("relu", a), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(derivative("linear", a), np.ones(5))
    # Extreme pre-activations neither overflow nor warn.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert derivative("logistic", [-1000.0, 1000.0]).tolist() == [0.0, 0.0]


def test_quantity_repr_and_summary(float64):
    t = trace(seeds_net(nn.Sigmoid), *data("cross_entropy", None))
    assert "∇_{W_1} ℒ" in repr(t.layers[0]["grad_W"])
    s = t.summary()
    assert "4 → 5 → 3 → 3" in s and "logistic" in s and "1 example" in s
    assert repr(t).startswith("<Trace ")
