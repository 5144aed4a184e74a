"""Backpropagation through a convolution explained (cr.explain.trace_conv, trace on a CNN,
``chainrule explain --model cnn``): engine, formulas and finite differences agree; the pooling
gradient sits on the winners only; ∇K and ∇x are the correlation / flipped-kernel convolution
the text names, checked here against scipy-free direct sums."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import UnsupportedModelError
from chainrule.explain import ConvTrace, trace, trace_conv
from cli_entry import entry_point


def _net(padding: int = 1, k: int = 3) -> cr.nn.Sequential:
    cr.manual_seed(0)
    side = (6 + 2 * padding - k + 1) // 2
    return cr.nn.Sequential(cr.nn.Conv2d(2, 3, k, padding=padding), cr.nn.ReLU(),
                            cr.nn.MaxPool2d(2), cr.nn.Flatten(),
                            cr.nn.Linear(3 * side * side, 4))  # fmt: skip


@pytest.mark.parametrize("padding, k", [(1, 3), (0, 3), (2, 5), (0, 1)])
def test_three_ways_agree(padding, k):
    x = np.random.default_rng(1).standard_normal((2, 6, 6))
    t = trace_conv(_net(padding, k), x, 3)
    t.check(tol=1e-12, fd_tol=1e-6)
    assert t.max_fd_disagreement is not None and t.max_fd_disagreement < 1e-6


def test_pooling_routes_to_winners_and_kernel_gradient_is_a_correlation():
    x = np.random.default_rng(2).standard_normal((2, 6, 6))
    t = trace_conv(_net(), x, 0, check=None)
    assert np.all(t.grad_h[~t.winners] == 0)
    assert t.winners.reshape(3, 3, 2, 3, 2).sum(axis=(2, 4)).max() == 1  # one per window
    # ∇K[o,c,u,v] = Σ_ij ∇a[o,i,j] x̂[c,i+u,j+v], as a direct sum over every index
    xh = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    o, c, u, v = 2, 1, 0, 2
    direct = sum(t.grad_a[o, i, j] * xh[c, i + u, j + v] for i in range(6) for j in range(6))
    assert abs(direct - t.grad_K[o, c, u, v]) < 1e-12
    # ∇x[c,i,j] = Σ_{o,u,v} ∇a[o, i+1-u, j+1-v] K[o,c,u,v] (full convolution, cropped by p=1)
    c, i, j = 0, 2, 4
    direct = sum(t.grad_a[o, i + 1 - u, j + 1 - v] * t.K[o, c, u, v]
                 for o in range(3) for u in range(3) for v in range(3)
                 if 0 <= i + 1 - u < 6 and 0 <= j + 1 - v < 6)  # fmt: skip
    assert abs(direct - t.grad_x[c, i, j]) < 1e-12


def test_trace_hands_a_cnn_to_trace_conv_and_refuses_others():
    net = cr.nn.Sequential(cr.nn.Unflatten(1, (2, 6, 6)), *_net())
    t = trace(net, np.random.default_rng(3).standard_normal(72), 1, check="fd")
    assert isinstance(t, ConvTrace) and t.max_disagreement < 1e-12
    with pytest.raises(UnsupportedModelError, match="Conv2d, ReLU, MaxPool2d"):
        trace_conv(cr.nn.Sequential(cr.nn.Conv2d(1, 1, 3), cr.nn.Flatten(), cr.nn.Linear(4, 2)),
                   np.zeros((1, 4, 4)), 0)  # fmt: skip
    with pytest.raises(UnsupportedModelError, match="stride 1"):
        trace_conv(cr.nn.Sequential(cr.nn.Conv2d(1, 1, 3, stride=2), cr.nn.ReLU(),
                                    cr.nn.MaxPool2d(2), cr.nn.Flatten(), cr.nn.Linear(1, 2)),
                   np.zeros((1, 6, 6)), 0)  # fmt: skip


def test_cli_explain_cnn(tmp_path):
    html = tmp_path / "conv.html"
    proc = subprocess.run([*entry_point(), "explain", "--model", "cnn", "--html", str(html)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    wanted = (
        "∇K ℒ = x ⋆ ∇a ℒ",
        "the full convolution with the flipped kernel",
        "routed to the winner of each pooling window",
        "max |engine − formulas|",
    )
    for text in wanted:
        assert text in out
    assert html.is_file() and "Checked three ways" in html.read_text()
