"""Backpropagation through a convolution, in the seeds' notation, with numbers, computed three
ways (:func:`trace_conv`).

The network: one 2-D convolution with a kernel K (out, in, k, k) and bias b (stride 1, zero
padding p), ReLU, k_p x k_p max pooling, and a ``Linear`` readout with softmax +
cross-entropy::

    a[o, i, j] = b[o] + Σ_{c,u,v} K[o, c, u, v] x̂[c, i + u, j + v]     (x̂: x padded by p)
    h = relu(a),   q = maxpool(h),   z = b_z + W_z vec(q),   ℒ = −log softmax(z)_y

It is the seeds' a = b + W h at every position with the same weights, so the chain rule sums
over the positions::

    ∇_z ℒ = ŷ − e(y)
    ∇_q ℒ = W_zᵀ ∇_z ℒ
    ∇_h ℒ = ∇_q ℒ routed to the position that won each pooling window (0 elsewhere)
    ∇_a ℒ = ∇_h ℒ ⊙ 1[a > 0]
    ∇_K ℒ[o, c, u, v] = Σ_{i,j} ∇_a ℒ[o, i, j] x̂[c, i + u, j + v]   (the correlation of the
                                                                    input with ∇_a ℒ)
    ∇_b ℒ[o] = Σ_{i,j} ∇_a ℒ[o, i, j]
    ∇_x ℒ = the full convolution of ∇_a ℒ with the flipped kernel, cropped by p:
            ∇_x̂ ℒ[c, i, j] = Σ_{o,u,v} pad(∇_a ℒ)[o, i + u, j + v] K[o, c, k−1−u, k−1−v]

The three ways: (1) the engine (the layers' own forward and :func:`chainrule.gradients`);
(2) the formulas above written out in NumPy here, one kernel offset at a time, independently
of the engine's im2col; (3) central finite differences for K, b and x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd import gradients
from chainrule.check import numerical_grad
from chainrule.errors import ShapeError, UnsupportedModelError
from chainrule.explain import _html
from chainrule.explain.notation import fmt
from chainrule.explain.recurrent import CHECK_HEADERS, Check, _text_table, check_rows
from chainrule.nn import (
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
    Unflatten,
    losses,
)
from chainrule.nn import functional as F
from chainrule.tensor import Tensor

__all__ = ["ConvTrace", "trace_conv"]


@dataclass
class ConvTrace:
    """Everything :func:`trace_conv` computed (float64, one example): the input ``x``
    (C, H, W), kernel ``K`` and bias ``b``, the maps ``a`` and ``h`` (O, H', W'), the pooled
    ``q``, the logits ``z`` and ``y_hat``, the loss, the gradients ``grad_z``, ``grad_q``,
    ``grad_h`` (nonzero only at each window's winner), ``grad_a``, ``grad_K``, ``grad_b``,
    ``grad_x``, the ``winners`` mask, and ``checks`` (engine vs formulas vs finite
    differences). ``to_text`` / ``to_html`` render it."""

    x: np.ndarray
    K: np.ndarray
    b: np.ndarray
    padding: int
    label: int
    a: np.ndarray
    h: np.ndarray
    q: np.ndarray
    z: np.ndarray
    y_hat: np.ndarray
    loss: float
    grad_z: np.ndarray
    grad_q: np.ndarray
    grad_h: np.ndarray
    grad_a: np.ndarray
    grad_K: np.ndarray
    grad_b: np.ndarray
    grad_x: np.ndarray
    winners: np.ndarray
    checks: list[Check] = field(default_factory=list)

    @property
    def max_disagreement(self) -> float:
        """The largest |engine − formulas| over every checked quantity."""
        return max(c.formula_error for c in self.checks)

    @property
    def max_fd_disagreement(self) -> float | None:
        """The largest |engine − finite differences|, or ``None`` without them."""
        errs = [c.fd_error for c in self.checks if c.fd is not None]
        return max(errs) if errs else None

    def check(self, tol: float = 1e-10, fd_tol: float = 1e-5) -> None:
        """Raise ``AssertionError`` naming the quantity where the three ways disagree."""
        for c in self.checks:
            assert c.formula_error <= tol, f"{c.name}: engine vs formulas {c.formula_error:.2e}"
            if c.fd is not None:
                assert c.fd_error <= fd_tol, (
                    f"{c.name}: engine vs finite differences {c.fd_error:.2e}"
                )

    def sections(self) -> list[tuple[str, str, np.ndarray]]:
        """(name, what it is, values) in the order of the walk-through."""
        return [
            ("x", "the input (C, H, W)", self.x),
            ("K", "the kernel (out, in, k, k)", self.K),
            (
                "a = b + K ⋆ x",
                "the convolution's output maps (correlation with the kernel)",
                self.a,
            ),
            ("h = relu(a)", "the maps after the activation", self.h),
            ("q = maxpool(h)", "the pooled maps", self.q),
            (
                "ŷ = softmax(z)",
                f"the output; ℒ = −log ŷ_{self.label} = {fmt(self.loss)}",
                self.y_hat,
            ),
            ("∇z ℒ = ŷ − e(y)", "the output's gradient", self.grad_z),
            ("∇q ℒ = W_zᵀ ∇z ℒ", "the pooled maps' gradient", self.grad_q),
            ("∇h ℒ", "routed to the winner of each pooling window, 0 elsewhere", self.grad_h),
            ("∇a ℒ = ∇h ℒ ⊙ 1[a > 0]", "through the ReLU", self.grad_a),
            ("∇K ℒ = x ⋆ ∇a ℒ", "the correlation of the input with ∇a ℒ", self.grad_K),
            ("∇b ℒ = Σ_ij ∇a ℒ", "summed over the positions", self.grad_b),
            (
                "∇x ℒ = ∇a ℒ ∗ flip(K)",
                "the full convolution with the flipped kernel",
                self.grad_x,
            ),
        ]

    def to_text(self, max_entries: int = 64) -> str:
        """A plain-text walk-through: each quantity with its values, then the check."""
        lines = ["Backpropagation through a convolution (stride 1, padding "
                 f"{self.padding}), ReLU, max pooling and a linear readout", ""]  # fmt: skip
        for name, what, arr in self.sections():
            lines.append(f"{name}    ({what}; shape {tuple(arr.shape)})")
            if arr.size <= max_entries:
                lines.append(_show(arr))
            else:
                lines.append(f"  ‖·‖ = {fmt(float(np.linalg.norm(arr)))}")
            lines.append("")
        lines.append(_text_table(CHECK_HEADERS, check_rows(self.checks)))
        return "\n".join(lines) + "\n"

    def to_html(self, title: str = "Backpropagation through a convolution") -> str:
        """A self-contained HTML page of the same walk-through."""
        body = f"<h1>{_html.esc(title)}</h1>"
        for name, what, arr in self.sections():
            body += f"<h3>{_html.esc(name)}</h3><p>{_html.esc(what)}</p><pre>"
            body += _html.esc(_show(arr)) + "</pre>"
        body += "<h2>Checked three ways</h2>" + _html.table(CHECK_HEADERS, check_rows(self.checks))
        return _html.page(title, body)

    def _repr_html_(self) -> str:
        return _html.fragment(self.to_html())


def _show(arr: np.ndarray) -> str:
    a = np.atleast_2d(arr)
    if a.ndim > 2:
        blocks = []
        for idx in np.ndindex(*a.shape[:-2]):
            rows = "\n".join("  " + "  ".join(fmt(v).rjust(10) for v in r) for r in a[idx])
            blocks.append(f" [{', '.join(map(str, idx))}]\n{rows}")
        return "\n".join(blocks)
    return "\n".join("  " + "  ".join(fmt(v).rjust(10) for v in r) for r in a)


def _parts(model: Module) -> tuple[Conv2d, MaxPool2d, Linear]:
    mods = [m for m in (model if isinstance(model, Sequential) else [model])
            if not isinstance(m, (Unflatten, Flatten))]  # fmt: skip
    kinds = [type(m) for m in mods]
    if kinds != [Conv2d, ReLU, MaxPool2d, Linear]:
        raise UnsupportedModelError(
            "trace_conv follows Sequential(Conv2d, ReLU, MaxPool2d, Flatten, Linear) "
            f"(an Unflatten first is fine), got {[k.__name__ for k in kinds]}"
        )
    conv, _, pool, head = mods
    if (
        conv.stride != (1, 1)
        or conv.dilation != (1, 1)
        or conv.groups != 1
        or isinstance(conv.padding, str)
        or conv.padding[0] != conv.padding[1]
        or conv.kernel_size[0] != conv.kernel_size[1]
    ):
        raise UnsupportedModelError(
            f"trace_conv follows a square kernel, stride 1, equal integer padding: got {conv!r}"
        )
    return conv, pool, head


def trace_conv(model: Module, x: Any, y: int, *, check: str | None = "fd") -> ConvTrace:
    """Trace one example ``x`` (C, H, W) with class ``y`` through ``model``,
    ``Sequential(Conv2d, ReLU, MaxPool2d, Flatten, Linear)`` (stride-1 square-kernel
    convolution; an ``Unflatten`` first is fine, then ``x`` may be a flat row), in float64:
    the engine's gradients, the module docstring's formulas, and (``check="fd"``) central
    finite differences for K, b and x.

    Raises :class:`~chainrule.errors.UnsupportedModelError` for another architecture,
    :class:`~chainrule.errors.ShapeError` for an input that does not fit.

    >>> import chainrule as cr
    >>> cr.manual_seed(0)
    >>> net = cr.nn.Sequential(cr.nn.Conv2d(1, 2, 3, padding=1), cr.nn.ReLU(),
    ...                        cr.nn.MaxPool2d(2), cr.nn.Flatten(), cr.nn.Linear(8, 3))
    >>> t = trace_conv(net, cr.randn(1, 4, 4), 2)
    >>> t.max_disagreement < 1e-12, t.max_fd_disagreement < 1e-6
    (True, True)
    """
    conv, pool, head = _parts(model)
    x = np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float64)
    c = conv.in_channels
    if x.ndim == 1 and x.size % c == 0:
        side = round((x.size // c) ** 0.5)
        x = x.reshape(c, side, side)
    if x.ndim != 3 or x.shape[0] != c:
        raise ShapeError(f"trace_conv: expected one input (C={c}, H, W), got shape {x.shape}")
    K = np.asarray(conv.weight.numpy(), dtype=np.float64)
    b = (np.zeros(conv.out_channels) if conv.bias is None
         else np.asarray(conv.bias.numpy(), dtype=np.float64))  # fmt: skip
    Wz = np.asarray(head.weight.numpy(), dtype=np.float64)
    bz = np.zeros(len(Wz)) if head.bias is None else np.asarray(head.bias.numpy(), np.float64)
    p = conv.padding[0]
    kp, sp = pool.kernel_size, pool.stride
    if kp != sp or not isinstance(kp, int):
        raise UnsupportedModelError(
            f"trace_conv follows non-overlapping square pooling, got {pool!r}"
        )
    f = _formulas(x, K, b, Wz, bz, p, kp, int(y))
    eng = _engine(x, K, b, Wz, bz, p, kp, int(y))
    fd: dict[str, np.ndarray] = {}
    if check == "fd":

        def loss_of(xx: Tensor, kk: Tensor, bb: Tensor) -> Tensor:
            return _engine_loss(xx, kk, bb, Wz, bz, p, kp, int(y))[0]

        gx, gk, gb = numerical_grad(loss_of, [x, K, b])
        fd = {"∇x ℒ": gx, "∇K ℒ": gk, "∇b ℒ": gb}
    checks = [Check(name, eng[name], f[name], fd.get(name))
              for name in ("∇z ℒ", "∇q ℒ", "∇h ℒ", "∇a ℒ", "∇K ℒ", "∇b ℒ", "∇x ℒ")]  # fmt: skip
    return ConvTrace(
        x=x, K=K, b=b, padding=p, label=int(y), a=f["a"], h=f["h"], q=f["q"], z=f["z"],
        y_hat=f["y_hat"], loss=f["loss"], grad_z=f["∇z ℒ"], grad_q=f["∇q ℒ"],
        grad_h=f["∇h ℒ"], grad_a=f["∇a ℒ"], grad_K=f["∇K ℒ"], grad_b=f["∇b ℒ"],
        grad_x=f["∇x ℒ"], winners=f["winners"], checks=checks,
    )  # fmt: skip


_CROSS_ENTROPY = losses.get("cross_entropy")


def _formulas(x, K, b, Wz, bz, p, kp, y) -> dict[str, Any]:
    """The module docstring's equations in NumPy, one kernel offset at a time."""
    o, _, k, _ = K.shape
    xh = np.pad(x, ((0, 0), (p, p), (p, p)))  # x̂
    H, W = xh.shape[1] - k + 1, xh.shape[2] - k + 1
    a = np.broadcast_to(b[:, None, None], (o, H, W)).copy()
    for u in range(k):
        for v in range(k):  # a[o,i,j] += Σ_c K[o,c,u,v] x̂[c,i+u,j+v]
            a += np.einsum("oc,cij->oij", K[:, :, u, v], xh[:, u : u + H, v : v + W])
    h = np.maximum(a, 0.0)
    Hq, Wq = H // kp, W // kp
    win = h[:, : Hq * kp, : Wq * kp].reshape(o, Hq, kp, Wq, kp)
    q = win.max(axis=(2, 4))
    # the winner of each window: the first position holding the window's max (row-major)
    flat = win.transpose(0, 1, 3, 2, 4).reshape(o, Hq, Wq, kp * kp)
    arg = flat.argmax(axis=-1)
    winners = np.zeros((o, H, W), dtype=bool)
    oo, ii, jj = np.meshgrid(np.arange(o), np.arange(Hq), np.arange(Wq), indexing="ij")
    winners[oo, ii * kp + arg // kp, jj * kp + arg % kp] = True
    z = bz + Wz @ q.reshape(-1)
    # ŷ = softmax(z), ℒ = −log ŷ_y, ∇z ℒ = ŷ − e(y): the cross-entropy record's NumPy form
    y_hat, loss, gz = _CROSS_ENTROPY.numpy(z[None], np.array([y]))  # as a batch of one
    y_hat, gz = y_hat[0], gz[0]
    gq = (Wz.T @ gz).reshape(q.shape)  # ∇q ℒ = W_zᵀ ∇z ℒ
    gh = np.zeros_like(h)
    gh[oo, ii * kp + arg // kp, jj * kp + arg % kp] = gq  # routed to the winners
    ga = gh * (a > 0)  # ∇a ℒ = ∇h ℒ ⊙ 1[a > 0]
    gK = np.zeros_like(K)
    for u in range(k):
        for v in range(k):  # ∇K[o,c,u,v] = Σ_ij ∇a[o,i,j] x̂[c,i+u,j+v]
            gK[:, :, u, v] = np.einsum("oij,cij->oc", ga, xh[:, u : u + H, v : v + W])
    gb = ga.sum(axis=(1, 2))
    gpad = np.pad(ga, ((0, 0), (k - 1, k - 1), (k - 1, k - 1)))
    flipped = K[:, :, ::-1, ::-1]
    gxh = np.zeros_like(xh)
    for u in range(k):
        for v in range(k):  # ∇x̂[c,i,j] = Σ_o pad(∇a)[o,i+u,j+v] K[o,c,k−1−u,k−1−v]
            gxh += np.einsum("oc,oij->cij", flipped[:, :, u, v],
                             gpad[:, u : u + xh.shape[1], v : v + xh.shape[2]])  # fmt: skip
    gx = gxh[:, p : p + x.shape[1], p : p + x.shape[2]]
    return {"a": a, "h": h, "q": q, "z": z, "y_hat": y_hat, "loss": loss, "winners": winners,
            "∇z ℒ": gz, "∇q ℒ": gq, "∇h ℒ": gh, "∇a ℒ": ga, "∇K ℒ": gK, "∇b ℒ": gb,
            "∇x ℒ": gx}  # fmt: skip


def _engine_loss(x, K, b, Wz, bz, p, kp, y) -> tuple[Tensor, list[Tensor]]:
    xt = x if isinstance(x, Tensor) else Tensor(x)
    kt = K if isinstance(K, Tensor) else Tensor(K)
    bt = b if isinstance(b, Tensor) else Tensor(b)
    a = F.conv2d(xt.reshape(1, *xt.shape), kt, bt, padding=p)
    h = F.relu(a)
    q = F.max_pool2d(h, kp)
    z = F.linear(q.reshape(1, -1), Tensor(Wz), Tensor(bz))
    loss = F.cross_entropy(z, np.array([y]), reduction="sum")
    return loss, [z, q, h, a]


def _engine(x, K, b, Wz, bz, p, kp, y) -> dict[str, np.ndarray]:
    xt, kt, bt = (Tensor(v, requires_grad=True) for v in (x, K, b))
    loss, (z, q, h, a) = _engine_loss(xt, kt, bt, Wz, bz, p, kp, y)
    gs = gradients(loss, [z, q, h, a, kt, bt, xt])
    names = ("∇z ℒ", "∇q ℒ", "∇h ℒ", "∇a ℒ", "∇K ℒ", "∇b ℒ", "∇x ℒ")
    out = {n: np.asarray(g.numpy(), dtype=np.float64) for n, g in zip(names, gs)}
    for n in ("∇z ℒ", "∇q ℒ", "∇h ℒ", "∇a ℒ"):
        out[n] = out[n][0]
    return out
