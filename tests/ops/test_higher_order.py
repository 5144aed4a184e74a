"""Second derivatives of every differentiable op family against PyTorch.

Each gradient rule is written with chainrule's own ops, so with ``create_graph=True`` the
gradient is itself differentiable. For an op f, inputs x and fixed random weights v, u: the
gradient of sum(v * f(x)) and then the gradient of sum(u * that gradient) (a
Hessian-vector product) must match PyTorch's ``torch.autograd.grad(..., create_graph=True)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

import chainrule as cr
from strategies import seeds, uniform
from torch_ref import assert_close, hvp


def _positive(seed: int, shape: tuple) -> np.ndarray:
    return uniform(seed, shape, 0.3, 2.0)


def _any(seed: int, shape: tuple) -> np.ndarray:
    return uniform(seed, shape, -2.0, 2.0, avoid=(0.0,))


# name: (chainrule fn, torch fn, input shapes, input maker)
CASES: dict[str, tuple[Callable, Callable, list[tuple], Callable]] = {
    "exp": (cr.exp, torch.exp, [(2, 3)], _any),
    "log": (cr.log, torch.log, [(2, 3)], _positive),
    "sqrt": (cr.sqrt, torch.sqrt, [(2, 3)], _positive),
    "sin_cos": (lambda x: cr.sin(x) * cr.cos(x), lambda x: torch.sin(x) * torch.cos(x),
                [(4,)], _any),
    "tanh": (cr.tanh, torch.tanh, [(2, 3)], _any),
    "sigmoid": (cr.sigmoid, torch.sigmoid, [(2, 3)], _any),
    "abs_cubed": (lambda x: cr.abs(x) ** 3, lambda x: torch.abs(x) ** 3, [(5,)], _any),
    "relu_sq": (lambda x: cr.relu(x) ** 2, lambda x: torch.relu(x) ** 2, [(5,)], _any),
    "leaky_relu_sq": (lambda x: cr.leaky_relu(x, 0.1) ** 2,
                      lambda x: F.leaky_relu(x, 0.1) ** 2, [(5,)], _any),
    "elu": (lambda x: cr.elu(x, 0.7), lambda x: F.elu(x, 0.7), [(6,)], _any),
    "gelu": (cr.gelu, F.gelu, [(6,)], _any),
    "gelu_tanh": (lambda x: cr.gelu(x, approximate="tanh"),
                  lambda x: F.gelu(x, approximate="tanh"), [(6,)], _any),
    "softplus": (cr.softplus, F.softplus, [(6,)], _any),
    "erf": (cr.erf, torch.erf, [(6,)], _any),
    "normal_cdf": (cr.normal_cdf, torch.special.ndtr, [(6,)], _any),
    "clip_sq": (lambda x: cr.clip(x, -1.0, 1.0) ** 2, lambda x: torch.clamp(x, -1, 1) ** 2,
                [(6,)], _any),
    # issue 9's element-wise ops, a few per case
    "trig_inverse": (lambda x: cr.tan(x) * cr.arcsin(x / 3) + cr.arccos(x / 3) * cr.arctan(x),
                     lambda x: torch.tan(x) * torch.asin(x / 3) + torch.acos(x / 3)
                     * torch.atan(x), [(5,)], _any),
    "hyperbolic": (lambda x: cr.sinh(x) * cr.cosh(x) + cr.arcsinh(x) * cr.arctanh(x / 3)
                   + cr.arccosh(x * x + 1.5),
                   lambda x: torch.sinh(x) * torch.cosh(x) + torch.asinh(x) * torch.atanh(x / 3)
                   + torch.acosh(x * x + 1.5), [(5,)], _any),
    "logs_exps": (lambda x: cr.log1p(x) * cr.expm1(x) + cr.log2(x) * cr.exp2(x) + cr.log10(x),
                  lambda x: torch.log1p(x) * torch.expm1(x) + torch.log2(x) * torch.exp2(x)
                  + torch.log10(x), [(5,)], _positive),
    "powers": (lambda x: cr.square(x) * cr.reciprocal(x) + cr.cbrt(x) * cr.sinc(x),
               lambda x: torch.square(x) * torch.reciprocal(x)
               + torch.sign(x) * x.abs() ** (1 / 3) * torch.sinc(x), [(5,)], _any),
    "special": (lambda x: cr.erfc(x) * cr.gammaln(x) + cr.digamma(x) * cr.erfinv(x / 3),
                lambda x: torch.erfc(x) * torch.lgamma(x) + torch.digamma(x)
                * torch.erfinv(x / 3), [(5,)], _positive),
    "logaddexp_hypot_atan2": (
        lambda x, y: cr.logaddexp(x, y) * cr.hypot(x, y) + cr.arctan2(x, y) * cr.logaddexp2(y, x),
        lambda x, y: torch.logaddexp(x, y) * torch.hypot(x, y)
        + torch.atan2(x, y) * torch.logaddexp2(y, x), [(2, 3), (3,)], _any,
    ),
    "remainders_fmax": (lambda x, y: cr.fmod(x, y) * cr.remainder(y, x) * cr.fmax(x, y)
                        * cr.fmin(y, x) * cr.copysign(x, y),
                        lambda x, y: torch.fmod(x, y) * torch.remainder(y, x) * torch.fmax(x, y)
                        * torch.fmin(y, x) * torch.copysign(x, y), [(4,), (4,)], _positive),
    "xlogy_rounding": (lambda x, y: cr.xlogy(x, y) * y + cr.floor(x) * x + cr.sign(x) * x * x,
                       lambda x, y: torch.xlogy(x, y) * y + torch.floor(x) * x
                       + torch.sign(x) * x * x, [(4,), (4,)], _positive),
    "activations": (lambda x: cr.silu(x) * cr.mish(x) + cr.selu(x) * cr.celu(x, 0.5)
                    + cr.hardswish(x * 2) * cr.softsign(x) + cr.logsigmoid(x) * cr.hardtanh(x)
                    + cr.hardsigmoid(x * 2) * x + cr.relu6(x * 4) * x,
                    lambda x: F.silu(x) * F.mish(x) + F.selu(x) * F.celu(x, 0.5)
                    + F.hardswish(x * 2) * F.softsign(x) + F.logsigmoid(x) * F.hardtanh(x)
                    + torch.clamp(x / 3 + 0.5, 0, 1) * x + F.relu6(x * 4) * x, [(6,)], _any),
    # (torch has no second derivative of hardsigmoid: the clamp is the same function)
    "softmin_glu_normalize": (
        lambda x: cr.softmin(x, axis=0) * cr.normalize(x, axis=-1)
        + cr.glu(cr.concatenate([x, x * x], axis=1), axis=1),
        lambda x: F.softmin(x, 0) * F.normalize(x, dim=-1)
        + F.glu(torch.cat([x, x * x], 1), 1), [(3, 4)], _any,
    ),
    "multiply_divide": (lambda x, y: x * y / (y * y + 1), lambda x, y: x * y / (y * y + 1),
                        [(2, 3), (3,)], _any),
    "power": (lambda x, y: x**y, lambda x, y: x**y, [(2, 3), (2, 1)], _positive),
    "maximum_product": (lambda x, y: cr.maximum(x, y) * x * y,
                        lambda x, y: torch.maximum(x, y) * x * y, [(4,), (4,)], _any),
    "where": (lambda x, y: cr.where(x > 0, x * x, y * x),
              lambda x, y: torch.where(x > 0, x * x, y * x), [(5,), (5,)], _any),
    "sum_mean": (lambda x: cr.sum(x, axis=0) * cr.mean(x, axis=-1, keepdims=True),
                 lambda x: torch.sum(x, 0) * torch.mean(x, -1, keepdim=True), [(3, 3)], _any),
    "var_std": (lambda x: cr.var(x, axis=1) + cr.std(x, axis=0, ddof=1),
                lambda x: torch.var(x, 1, correction=0) + torch.std(x, 0), [(3, 3)], _any),
    "max_product": (lambda x: cr.max(x, axis=1) * cr.min(x, axis=1),
                    lambda x: torch.amax(x, 1) * torch.amin(x, 1), [(3, 4)], _any),
    "logsumexp": (lambda x: cr.logsumexp(x, axis=-1), lambda x: torch.logsumexp(x, -1),
                  [(3, 4)], _any),
    "softmax": (lambda x: cr.softmax(x, axis=0), lambda x: torch.softmax(x, 0), [(3, 4)], _any),
    "log_softmax": (cr.log_softmax, lambda x: torch.log_softmax(x, -1), [(3, 4)], _any),
    "matmul": (lambda x, y: cr.tanh(x @ y), lambda x, y: torch.tanh(x @ y),
               [(2, 3, 4), (4, 2)], _any),
    "matmul_vectors": (lambda x, y: (x @ y) ** 2, lambda x, y: (x @ y) ** 2, [(3,), (3,)], _any),
    "linear": (lambda x, w, b: cr.tanh(cr.linear(x, w, b)),
               lambda x, w, b: torch.tanh(F.linear(x, w, b)), [(2, 3), (4, 3), (4,)], _any),
    "linear_batch_1": (lambda x, w: cr.linear(x, w) ** 2, lambda x, w: F.linear(x, w) ** 2,
                       [(1, 3), (2, 3)], _any),
    "reshape_transpose": (lambda x: x.reshape(3, 2).T * x, lambda x: x.reshape(3, 2).T * x,
                          [(2, 3)], _any),
    "getitem_repeats": (lambda x: x[[0, 0, 2]] ** 3, lambda x: x[torch.tensor([0, 0, 2])] ** 3,
                        [(3, 2)], _any),
    "concatenate_stack": (
        lambda x, y: cr.stack([cr.concatenate([x, y]) ** 2, cr.concatenate([y, x])]),
        lambda x, y: torch.stack([torch.cat([x, y]) ** 2, torch.cat([y, x])]),
        [(3,), (3,)], _any,
    ),
    "pad_reflect": (lambda x: cr.pad(x, ((0, 0), (0, 0), (2, 1)), mode="reflect") ** 2,
                    lambda x: F.pad(x, (2, 1), mode="reflect") ** 2, [(1, 2, 4)], _any),
    "cross_entropy": (
        lambda x: cr.cross_entropy(x, np.array([0, 2, 1]), label_smoothing=0.1),
        lambda x: F.cross_entropy(x, torch.tensor([0, 2, 1]), label_smoothing=0.1),
        [(3, 4)], _any,
    ),
    "cross_entropy_probs": (
        lambda x, p: cr.cross_entropy(x, cr.softmax(p), reduction="sum"),
        lambda x, p: F.cross_entropy(x, torch.softmax(p, 1), reduction="sum"),
        [(3, 4), (3, 4)], _any,
    ),
    "conv2d": (lambda x, w, b: cr.tanh(cr.nn.functional.conv2d(x, w, b, stride=2, padding=1,
                                                               groups=2)),
               lambda x, w, b: torch.tanh(F.conv2d(x, w, b, stride=2, padding=1, groups=2)),
               [(2, 4, 5, 4), (4, 2, 3, 2), (4,)], _any),
    "conv_transpose1d": (lambda y, w: cr.nn.functional.conv_transpose1d(y, w, stride=2) ** 2,
                         lambda y, w: F.conv_transpose1d(y, w, stride=2) ** 2,
                         [(2, 3, 4), (3, 2, 3)], _any),
    "max_pool2d": (lambda x: cr.nn.functional.max_pool2d(x, 2, 1, ceil_mode=True) ** 3,
                   lambda x: F.max_pool2d(x, 2, 1, ceil_mode=True) ** 3, [(1, 2, 4, 3)], _any),
    "avg_pool2d": (lambda x: cr.nn.functional.avg_pool2d(x, 3, 2, 1) ** 2,
                   lambda x: F.avg_pool2d(x, 3, 2, 1) ** 2, [(1, 2, 5, 4)], _any),
    "unfold_fold": (lambda x: cr.nn.functional.fold(cr.nn.functional.unfold(x, 2) ** 2, (3, 4), 2),
                    lambda x: F.fold(F.unfold(x, 2) ** 2, (3, 4), 2), [(1, 2, 3, 4)], _any),
    "bilinear": (lambda x: cr.nn.functional.interpolate(x, size=(4, 5), mode="bilinear") ** 2,
                 lambda x: F.interpolate(x, size=(4, 5), mode="bilinear") ** 2,
                 [(1, 2, 3, 3)], _any),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=5)
@given(seed=seeds)
def test_hessian_vector_product_matches_torch(name, seed):
    fn_cr, fn_torch, arg_shapes, make = CASES[name]
    arrays = [make(seed + i, s) for i, s in enumerate(arg_shapes)]
    g_cr, h_cr = hvp(fn_cr, cr, arrays)
    g_t, h_t = hvp(fn_torch, torch, arrays)
    for a, b in zip(g_cr, g_t):
        assert_close(a, b)
    for i, (a, b) in enumerate(zip(h_cr, h_t)):
        if b is None:  # PyTorch: no second-order dependence at all
            assert a is None or np.all(a.numpy() == 0), f"input {i}"
        else:
            assert a is not None, f"input {i} has no second derivative"
            assert_close(a, b)
