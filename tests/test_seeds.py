"""The worked examples of the lecture-note seeds, each checked against its hand derivation.

1. f(x) = sqrt(x^2 + exp(x^2)) + cos(x^2 + exp(x^2)) (seed 000) and its derivative.
2. The single ReLU neuron max(0, w.x + b) (seed 002) w.r.t. w and b, on both sides of the kink.
3. The feed-forward network of seed 003 (two hidden layers, softmax output, cross-entropy) with
   the backpropagation formulas of its modules 4.5-4.9 and of seed 004, for logistic and tanh
   hidden units; and seed 000's K-layer network with the squared loss, against PyTorch.
4. Batches: the gradient of a sum of per-example losses is the sum of their gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from strategies import seeds
from torch_ref import check_against_torch


# ----------------------------------------------------------------------------- 1. f(x)
def f(x: cr.Tensor) -> cr.Tensor:
    """Seed 000's f, with u = x^2 + exp(x^2) computed once and used on two paths."""
    s = x * x
    u = s + cr.exp(s)
    return cr.sqrt(u) + cr.cos(u)


def df_by_hand(x: np.ndarray) -> np.ndarray:
    """The derivative derived by hand. With u = x^2 + e^{x^2}, u' = 2x + 2x e^{x^2} and

        f'(x) = u' / (2 sqrt(u)) - sin(u) u'.

    The seed prints sqrt(x + exp(x^2)) in the first denominator: the x should be x^2.
    """
    u = x**2 + np.exp(x**2)
    du = 2 * x + 2 * x * np.exp(x**2)
    return du / (2 * np.sqrt(u)) - np.sin(u) * du


def df_as_printed(x: np.ndarray) -> np.ndarray:
    """The seed's formula verbatim, typo included (kept to show the test can tell)."""
    return (2 * x + 2 * x * np.exp(x**2)) / (2 * np.sqrt(x + np.exp(x**2))) - np.sin(
        x**2 + np.exp(x**2)
    ) * (2 * x + np.exp(x**2) * 2 * x)


@settings(max_examples=50)
@given(x=st.floats(-2.0, 2.0, allow_nan=False))
def test_seed_function_derivative(x):
    g = cr.grad(f)(np.float64(x))
    np.testing.assert_allclose(g.numpy(), df_by_hand(np.float64(x)), rtol=1e-10, atol=1e-12)


def test_seed_function_on_a_vector_and_against_the_printed_typo():
    x = np.linspace(-1.5, 1.5, 13)
    xt = cr.tensor(x, requires_grad=True)
    f(xt).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), df_by_hand(x), rtol=1e-10, atol=1e-12)
    # The printed formula differs wherever x != x^2, e.g. at x = 0.5 (and is NaN for
    # x < 0 with x + exp(x^2) < 0, never the case here): the test would catch the typo.
    assert abs(df_as_printed(np.array(0.5)) - df_by_hand(np.array(0.5))) > 1e-3


# ----------------------------------------------------------------------------- 2. neuron
@settings(max_examples=40)
@given(seed=seeds, n=st.integers(1, 5), side=st.sampled_from([-1.0, 1.0]))
def test_relu_neuron_on_both_sides_of_the_kink(seed, n, side):
    """activation = max(0, w.x + b): d/dw = x and d/db = 1 where z > 0, both 0 where z < 0."""
    rng = np.random.default_rng(seed)
    w, x = rng.normal(size=n), rng.normal(size=n)
    b = -w @ x + side * rng.uniform(0.1, 2.0)  # puts z = w.x + b on the chosen side
    wt = cr.tensor(w, requires_grad=True)
    bt = cr.tensor(b, requires_grad=True)
    z = wt @ cr.tensor(x) + bt
    assert np.sign(z.item()) == side
    for act in (cr.relu(z), cr.maximum(0.0, z)):
        wt.grad = bt.grad = None
        act.backward(retain_graph=True)
        active = 1.0 if side > 0 else 0.0
        np.testing.assert_allclose(wt.grad.numpy(), active * x, rtol=1e-12)
        assert bt.grad.item() == active


def test_relu_neuron_at_the_kink():
    """The seed: 'when z <= 0, the derivative is 0' -- relu agrees at z = 0 exactly."""
    w = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    b = cr.tensor(-5.0, dtype="float64", requires_grad=True)
    cr.relu(w @ cr.tensor([1.0, 2.0], dtype="float64") + b).backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    assert b.grad.item() == 0.0


@settings(max_examples=25)
@given(seed=seeds, n=st.integers(1, 4), m=st.integers(1, 6))
def test_relu_neuron_squared_loss_gradient(seed, n, m):
    """C(w, b) = 1/N sum_i (max(0, w.x_i + b) - y_i)^2 over the rows of X: the seed's
    gradient 2/N sum_{i: z_i > 0} e_i x_i (and e_i for b), zero when the error is zero."""
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(m, n)), rng.normal(size=n), np.float64(rng.normal())
    y = rng.normal(size=m)
    z = x @ w + b
    assume(np.all(np.abs(z) > 0.05))  # off the kink, where finite steps would straddle it
    wt, bt = cr.tensor(w, requires_grad=True), cr.tensor(b, requires_grad=True)
    act = cr.relu(cr.tensor(x) @ wt + bt)
    loss = ((act - cr.tensor(y)) ** 2).mean()
    loss.backward(retain_graph=True)
    e = np.maximum(z, 0) - y
    on = z > 0
    np.testing.assert_allclose(wt.grad.numpy(), 2 / m * (e * on) @ x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bt.grad.item(), 2 / m * (e * on).sum(), rtol=1e-10, atol=1e-12)
    # zero error: zero gradient
    wt.grad = None
    ((act - act.detach()) ** 2).mean().backward()
    np.testing.assert_array_equal(wt.grad.numpy(), np.zeros(n))


# ----------------------------------------------------------------------------- 3. network
ACTIVATIONS = {
    # g, and g' written from g's output as in the seeds' module 4.9
    "logistic": (cr.sigmoid, lambda h: h * (1 - h)),
    "tanh": (cr.tanh, lambda h: 1 - h * h),
}


def _network(rng: np.random.Generator, n_in: int, n: int, k: int) -> list[np.ndarray]:
    shapes = [(n, n_in), (n,), (n, n), (n,), (k, n), (k,)]  # W_1, b_1, W_2, b_2, W_3, b_3
    return [rng.normal(size=s) for s in shapes]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(max_examples=20)
@given(seed=seeds, n_in=st.integers(1, 4), n=st.integers(1, 4), k=st.integers(2, 4))
def test_three_layer_network_backpropagation_formulas(name, seed, n_in, n, k):
    """a_i = b_i + W_i h_{i-1}, h_i = g(a_i), ŷ = softmax(a_3), L = -log ŷ_ℓ; then
    ∇a_3 = -(e(ℓ) - ŷ), ∇W_k = ∇a_k h_{k-1}^T, ∇b_k = ∇a_k, ∇h_{k-1} = W_k^T ∇a_k and
    ∇a_k = ∇h_k ⊙ g'(a_k), exactly the seeds' module 4.5-4.9 formulas."""
    g, g_prime = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    params = [cr.tensor(p, requires_grad=True) for p in _network(rng, n_in, n, k)]
    w1, b1, w2, b2, w3, b3 = params
    x = cr.tensor(rng.normal(size=n_in))
    label = int(rng.integers(k))

    a1 = b1 + w1 @ x
    h1 = g(a1)
    a2 = b2 + w2 @ h1
    h2 = g(a2)
    a3 = b3 + w3 @ h2
    for t in (a1, h1, a2, h2, a3):
        t.retain_grad()
    y_hat = cr.softmax(a3)
    loss = cr.cross_entropy(a3, np.array(label))
    np.testing.assert_allclose(loss.item(), -np.log(y_hat.numpy()[label]), rtol=1e-12)
    loss.backward()

    def close(actual: cr.Tensor, expected: np.ndarray) -> None:
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-10, atol=1e-14)

    close(a3.grad, -(np.eye(k)[label] - y_hat.numpy()))  # output units (module 4.5)
    for w, b, h_prev, a in ((w1, b1, x, a1), (w2, b2, h1, a2), (w3, b3, h2, a3)):
        close(w.grad, np.outer(a.grad.numpy(), h_prev.numpy()))  # parameters (module 4.7)
        close(b.grad, a.grad.numpy())
    for w, h, a in ((w2, h1, a2), (w3, h2, a3)):
        close(h.grad, w.numpy().T @ a.grad.numpy())  # hidden units (module 4.6)
    for a, h in ((a1, h1), (a2, h2)):
        close(a.grad, h.grad.numpy() * g_prime(h.numpy()))  # pre-activations (seed 004)


def test_softmax_then_log_gives_the_same_output_gradient():
    """Cross-entropy spelled out as -log(softmax(a))[ℓ] backpropagates to the same
    -(e(ℓ) - ŷ) as the fused op."""
    a = cr.tensor([0.2, -1.0, 2.5, 0.0], dtype="float64", requires_grad=True)
    (-cr.log(cr.softmax(a))[2]).backward()
    y_hat = cr.softmax(a.detach()).numpy()
    np.testing.assert_allclose(a.grad.numpy(), -(np.eye(4)[2] - y_hat), rtol=1e-10)


@settings(max_examples=15)
@given(seed=seeds, depth=st.integers(1, 4), width=st.integers(1, 4))
def test_k_layer_sigmoid_network_with_squared_loss(seed, depth, width):
    """Seed 000: f_0 = x, f_i = σ(A_{i-1} f_{i-1} + b_{i-1}), L = ||y - f_K||^2, gradients
    w.r.t. every A_j, b_j (and x) against PyTorch."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=width), rng.normal(size=width)
    params = []
    for _ in range(depth):
        params += [rng.normal(size=(width, width)), rng.normal(size=width)]

    def loss(x, *ps, lib):
        f = x
        for a, b in zip(ps[::2], ps[1::2]):
            f = lib.sigmoid(a @ f + b)
        d = lib.tensor(y) - f if lib is cr else torch.tensor(y) - f
        return (d * d).sum()

    check_against_torch(lambda *a: loss(*a, lib=cr), lambda *a: loss(*a, lib=torch), [x, *params])


# ----------------------------------------------------------------------------- 4. batches
@settings(max_examples=15)
@given(seed=seeds, batch=st.integers(1, 5), name=st.sampled_from(list(ACTIVATIONS)))
def test_batch_gradient_is_the_sum_of_per_example_gradients(seed, batch, name):
    """Seed 001: 'if the loss function is additive, so are the gradients'."""
    g, _ = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    weights = _network(rng, 3, 4, 3)
    xs = rng.normal(size=(batch, 3))
    labels = rng.integers(0, 3, size=batch)

    def grads(x: np.ndarray, y: np.ndarray, reduction: str) -> list[np.ndarray]:
        w1, b1, w2, b2, w3, b3 = ps = [cr.tensor(p, requires_grad=True) for p in weights]
        h = g(cr.linear(cr.tensor(x), w1, b1))
        h = g(cr.linear(h, w2, b2))
        cr.cross_entropy(cr.linear(h, w3, b3), y, reduction=reduction).backward()
        return [p.grad.numpy() for p in ps]

    total = grads(xs, labels, "sum")
    mean = grads(xs, labels, "mean")
    singles = [grads(xs[i : i + 1], labels[i : i + 1], "sum") for i in range(batch)]
    for j, t in enumerate(total):
        summed = sum(s[j] for s in singles)
        np.testing.assert_allclose(t, summed, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mean[j], summed / batch, rtol=1e-10, atol=1e-12)
