"""Shared by the cr.nn tests: run a chainrule module and a PyTorch module with the same
weights (copied through ``load_state_dict``) on the same float64 input, and compare outputs,
input gradients and parameter gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import chainrule as cr
import torch_ref

RTOL = 1e-6
ATOL = 1e-10


def assert_close(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
    """``actual`` (chainrule tensor / array) equals ``expected`` (torch tensor / array):
    :func:`torch_ref.assert_close` with this module's tolerances."""
    torch_ref.assert_close(actual, expected, rtol, atol)


def torch_state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A torch module's state_dict converted to NumPy (what users pass to load_state_dict)."""
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def copy_weights(cr_module: cr.nn.Module, torch_module: torch.nn.Module) -> None:
    cr_module.load_state_dict(torch_state(torch_module))


def compare(
    cr_module: cr.nn.Module,
    torch_module: torch.nn.Module,
    *inputs: np.ndarray,
    grad_inputs: bool = True,
    seed: int = 1,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """Forward both modules on ``inputs`` (float arrays get gradients when ``grad_inputs``;
    integer arrays never), compare outputs, then backpropagate the same random weighting of
    the output and compare every input's and every parameter's gradient, by name."""
    cr_in, t_in = [], []
    for a in inputs:
        diff = grad_inputs and a.dtype.kind == "f"
        cr_in.append(cr.tensor(a, requires_grad=diff))
        t_in.append(torch.tensor(a, requires_grad=diff))
    out = cr_module(*cr_in)
    ref = torch_module(*t_in)
    assert_close(out, ref, rtol, atol)
    if not ref.requires_grad:
        return
    w = np.random.default_rng(seed).uniform(0.5, 1.5, size=ref.shape)
    (out * cr.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for c, t in zip(cr_in, t_in):
        if t.requires_grad:
            assert_close(c.grad, t.grad, rtol, atol)
    cr_params = dict(cr_module.named_parameters())
    t_params = dict(torch_module.named_parameters())
    assert list(cr_params) == list(t_params)
    for name, tp in t_params.items():
        cp = cr_params[name]
        if tp.grad is None:
            assert cp.grad is None or not np.any(cp.grad.numpy()), name
        else:
            assert cp.grad is not None, f"{name} got no gradient"
            assert_close(cp.grad, tp.grad, rtol, atol)


def float64() -> None:
    """Make float64 the default dtype for the rest of the test (conftest restores it)."""
    cr.set_default_dtype("float64")
