"""Backpropagation through time, and through attention, in the seeds' notation, with numbers,
computed three ways.

**A recurrent network** (:func:`trace_rnn`): an Elman ``RNN`` (tanh, one layer) unrolled over
a sequence x_1 .. x_T, with a ``Linear`` readout and softmax + cross-entropy::

    a_t = b + W_ih x_t + W_hh h_{t−1},   h_t = tanh(a_t),   h_0 given (zeros by default)
    o_t = b_o + W_o h_t,   ŷ_t = softmax(o_t),   ℒ = Σ_t −log ŷ_t[y_t]

(b = b_ih + b_hh; with one label the loss is taken at the last step only). Unrolled, the
network is the seeds' feed-forward chain with the same weights at every step, and h_t feeds
two arrows: the readout at t and the next step. The chain rule sums over both paths::

    ∇_{o_t} ℒ = ŷ_t − e(y_t)
    ∇_{h_t} ℒ = W_oᵀ ∇_{o_t} ℒ  +  W_hhᵀ ∇_{a_{t+1}} ℒ       (from the output + from h_{t+1})
    ∇_{a_t} ℒ = ∇_{h_t} ℒ ⊙ (1 − h_t²)
    ∇_{W_hh} ℒ = Σ_t ∇_{a_t} ℒ h_{t−1}ᵀ,  ∇_{W_ih} ℒ = Σ_t ∇_{a_t} ℒ x_tᵀ,  ∇_b ℒ = Σ_t ∇_{a_t} ℒ

Each step back multiplies by W_hhᵀ and by tanh′ ≤ 1, so ‖∇_{h_t} ℒ‖ shrinks (or grows)
geometrically with the distance from the loss: the per-step norms show vanishing gradients.

**Attention** (:func:`trace_attention`): S = Q Kᵀ / √d, A = softmax(S) row by row, O = A V,
ℒ = Σ W ⊙ O for fixed weights W (so ∇_O ℒ = W)::

    ∇_V ℒ = Aᵀ ∇_O ℒ,  ∇_A ℒ = ∇_O ℒ Vᵀ,  ∇_S ℒ = A ⊙ (∇_A ℒ − rowsum(∇_A ℒ ⊙ A)),
    ∇_Q ℒ = ∇_S ℒ K / √d,  ∇_K ℒ = ∇_S ℒᵀ Q / √d

The three ways: (1) the engine — the model's own forward and :func:`chainrule.gradients`;
(2) the formulas above written out in NumPy here, independently of the engine's rules; (3)
central finite differences (:func:`chainrule.numerical_grad`) for the parameters and inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from chainrule import backend
from chainrule.autograd import gradients
from chainrule.check import numerical_grad
from chainrule.errors import ShapeError, TargetError, UnsupportedModelError
from chainrule.explain import _html
from chainrule.explain.compgraph import graph
from chainrule.explain.notation import fmt
from chainrule.nn import RNN, Linear, losses
from chainrule.nn import functional as F
from chainrule.ops.activation import softmax
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.shape import stack, swapaxes
from chainrule.tensor import Tensor

__all__ = ["AttentionTrace", "RecurrentTrace", "trace_attention", "trace_rnn"]


@dataclass
class Check:
    """One quantity computed by the engine, by the formulas and (optionally) by finite
    differences, with the largest absolute differences between them."""

    name: str
    engine: np.ndarray
    formula: np.ndarray
    fd: np.ndarray | None = None

    @property
    def formula_error(self) -> float:
        return float(np.max(np.abs(self.engine - self.formula), initial=0.0))

    @property
    def fd_error(self) -> float | None:
        if self.fd is None:
            return None
        return float(np.max(np.abs(self.engine - self.fd), initial=0.0))


@dataclass
class RecurrentTrace:
    """Everything :func:`trace_rnn` computed: per step t = 1..T the pre-activations ``a``,
    states ``h``, readout probabilities ``y_hat``, and the gradients ``grad_h`` split into
    ``grad_h_output`` (what the readout at t sends) and ``grad_h_next`` (what step t + 1 sends
    back, W_hhᵀ ∇a_{t+1}), and ``grad_a``; every array (T, hidden) or (T, classes), float64.
    ``checks`` compares engine, formulas and finite differences for ∇h_t, ∇a_t and each
    parameter. ``to_text``/``to_html``/``to_latex`` render it."""

    x: np.ndarray
    labels: np.ndarray
    loss: float
    a: np.ndarray
    h: np.ndarray
    y_hat: np.ndarray
    grad_h_output: np.ndarray
    grad_h_next: np.ndarray
    grad_h: np.ndarray
    grad_a: np.ndarray
    checks: list[Check] = field(default_factory=list)
    graph: str = ""
    """The unrolled network's computation graph (Graphviz DOT, drawn inline in Jupyter): T
    copies of the step sharing W_ih, W_hh and b, each state feeding the readout and the next
    step."""

    @property
    def grad_norms(self) -> np.ndarray:
        """‖∇_{h_t} ℒ‖ for t = 1..T: how much gradient reaches each step."""
        return np.linalg.norm(self.grad_h, axis=1)

    def rows(self) -> list[list[str]]:
        """One row per step: t, x_t summary, h_t norm, the two paths' norms, the sum's norm."""
        n = np.linalg.norm
        return [
            [str(t + 1), fmt(float(self.loss_at(t))) if self.labels.size > 1 or t == len(self.h) - 1
             else "—", fmt(n(self.grad_h_output[t])), fmt(n(self.grad_h_next[t])),
             fmt(n(self.grad_h[t])), fmt(n(self.grad_a[t]))]
            for t in range(len(self.h))
        ]  # fmt: skip

    def loss_at(self, t: int) -> float:
        """−log ŷ_t[y_t] at step t (0-based), where a label is given."""
        y = self.labels[t] if self.labels.size > 1 else self.labels[0]
        return float(-np.log(self.y_hat[t, y]))

    HEADERS: ClassVar[list[str]] = [
        "t",
        "ℒ_t",
        "‖W_oᵀ∇o_t‖ (output)",
        "‖W_hhᵀ∇a_{t+1}‖ (from h_{t+1})",
        "‖∇h_t ℒ‖ (sum)",
        "‖∇a_t ℒ‖",
    ]

    def to_text(self) -> str:
        """A plain-text report: the equations, the per-step table, the three-way check."""
        lines = [
            "Backpropagation through time: a_t = b + W_ih x_t + W_hh h_{t−1}, h_t = tanh(a_t)",
            "∇h_t ℒ = W_oᵀ ∇o_t ℒ (from the output at t) + W_hhᵀ ∇a_{t+1} ℒ (from h_{t+1})",
            "∇a_t ℒ = ∇h_t ℒ ⊙ (1 − h_t²)",
            f"ℒ = {fmt(self.loss)}",
            "",
            _text_table(self.HEADERS, self.rows()),
            "",
            _text_table(CHECK_HEADERS, check_rows(self.checks)),
        ]
        return "\n".join(lines) + "\n"

    def to_html(self, title: str = "Backpropagation through time") -> str:
        """A self-contained HTML page of the same report."""
        body = (
            f"<h1>{_html.esc(title)}</h1>"
            "<p>a<sub>t</sub> = b + W<sub>ih</sub> x<sub>t</sub> + W<sub>hh</sub> "
            "h<sub>t−1</sub>, h<sub>t</sub> = tanh(a<sub>t</sub>). The gradient reaching "
            "h<sub>t</sub> is the sum over the two paths out of it: "
            "∇h<sub>t</sub>ℒ = W<sub>o</sub><sup>T</sup>∇o<sub>t</sub>ℒ + "
            "W<sub>hh</sub><sup>T</sup>∇a<sub>t+1</sub>ℒ.</p>"
            f"<p>ℒ = {fmt(self.loss)}</p>"
            + _html.table(self.HEADERS, self.rows())
            + "<h2>Checked three ways</h2>"
            + _html.table(CHECK_HEADERS, check_rows(self.checks))
        )
        return _html.page(title, body)

    def to_latex(self) -> str:
        """A LaTeX fragment: the equations and the per-step table."""
        eqs = (
            r"\begin{align*}a_t &= b + W_{ih} x_t + W_{hh} h_{t-1}, \quad h_t = \tanh(a_t)\\"
            r"\nabla_{h_t}\mathcal{L} &= W_o^\top \nabla_{o_t}\mathcal{L} + "
            r"W_{hh}^\top \nabla_{a_{t+1}}\mathcal{L}\\"
            r"\nabla_{a_t}\mathcal{L} &= \nabla_{h_t}\mathcal{L} \odot (1 - h_t^2)"
            r"\end{align*}"
        )
        head = (
            r"$t$ & $\mathcal{L}_t$ & output path & from $h_{t+1}$ & "
            r"$\|\nabla_{h_t}\mathcal{L}\|$ & $\|\nabla_{a_t}\mathcal{L}\|$ \\ \hline"
        )
        body = "\n".join(" & ".join(r).replace("—", "--") + r" \\" for r in self.rows())
        return f"{eqs}\n\\begin{{tabular}}{{rrrrrr}}\n{head}\n{body}\n\\end{{tabular}}\n"

    def _repr_html_(self) -> str:
        return _html.fragment(self.to_html())


CHECK_HEADERS = ["quantity", "max |engine − formulas|", "max |engine − finite differences|"]


def check_rows(checks: list[Check]) -> list[list[str]]:
    return [
        [c.name, f"{c.formula_error:.2e}", "—" if c.fd is None else f"{c.fd_error:.2e}"]
        for c in checks
    ]


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda r: "  ".join(
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))
    )
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


# ---------------------------------------------------------------------------- RNN
def trace_rnn(
    rnn: RNN,
    head: Linear,
    x: Any,
    y: Any,
    h0: Any = None,
    check: str | None = "fd",
) -> RecurrentTrace:
    """Trace one sequence through ``rnn`` (``nn.RNN``, tanh, one layer, one direction) and a
    ``head`` (``nn.Linear`` hidden -> classes) with softmax + cross-entropy.

    ``x`` (T, input_size) is one sequence; ``y`` one class index (loss at the last step) or T
    of them (loss summed over the steps); ``h0`` (hidden,) the initial state (zeros).
    ``check="fd"`` adds central finite differences (float64) for the parameters.

    Raises :class:`~chainrule.errors.UnsupportedModelError` for another kind of recurrent
    layer (a ReLU, multi-layer or bidirectional RNN, an LSTM or GRU), ``ShapeError`` for an
    ``x`` that is not (T, input_size) or a head that does not read the hidden state,
    :class:`~chainrule.errors.TargetError` for labels out of range or of the wrong count.
    """
    if type(rnn) is not RNN or rnn.mode != "RNN_TANH" or rnn.num_layers != 1 or rnn.bidirectional:
        raise UnsupportedModelError(
            f"trace_rnn: expected nn.RNN with tanh, one layer, one direction; got {rnn!r}"
        )
    if not isinstance(head, Linear) or head.in_features != rnn.hidden_size:
        raise ShapeError(
            f"trace_rnn: the head must be a Linear({rnn.hidden_size}, classes), got {head!r}"
        )
    xs = np.asarray(backend.to_numpy(x.data if isinstance(x, Tensor) else x), dtype=np.float64)
    if xs.ndim != 2 or xs.shape[1] != rnn.input_size:
        raise ShapeError(
            f"trace_rnn: x must be (T, {rnn.input_size}), one sequence; got {xs.shape}"
        )
    steps, classes = xs.shape[0], head.out_features
    labels = np.atleast_1d(np.asarray(y, dtype=np.int64))
    if labels.size not in (1, steps) or labels.min() < 0 or labels.max() >= classes:
        raise TargetError(
            f"trace_rnn: y must be one class index or {steps}, each in 0..{classes - 1}; "
            f"got {labels.tolist()}"
        )
    h_init = np.zeros(rnn.hidden_size) if h0 is None else np.asarray(h0, dtype=np.float64)
    p = {k: backend.to_numpy(v.data).astype(np.float64) for k, v in rnn.named_parameters()}
    p.update({f"head.{k}": backend.to_numpy(v.data).astype(np.float64)
              for k, v in head.named_parameters()})  # fmt: skip
    names = list(p)

    def loss_of(*arrays: Tensor, capture: list | None = None) -> Tensor:
        """ℒ from the unrolled network, step by step with the engine's ops."""
        w = dict(zip(names, arrays))
        hs = _rnn_states(w, xs, h_init, capture)
        out = linear(hs, w["head.weight"], w.get("head.bias"))
        last = labels.size == 1
        logits, targets = (out[-1:], labels) if last else (out, labels)
        return F.cross_entropy(logits, Tensor._make(targets), reduction="sum")

    # (1) the engine: ∇ of ℒ w.r.t. every a_t and h_t of the unrolled network, and the
    # parameters' gradients from the model's own forward (its fused scan), in float64
    leaves = [Tensor._make(p[k]).requires_grad_() for k in names]
    captured: list = []
    loss = loss_of(*leaves, capture=captured)
    unrolled = graph(loss, dict(zip(names, leaves)), title="the RNN unrolled over time")
    engine = gradients(loss, [*captured[0::2], *captured[1::2]])
    eng_a = np.stack([g.numpy() for g in engine[:steps]])
    eng_h = np.stack([g.numpy() for g in engine[steps:]])
    model_loss, eng_p = _model_gradients(rnn, head, p, xs, h_init, labels)
    # (2) the formulas, in NumPy
    f = _bptt_formulas(p, xs, h_init, labels)
    # (3) finite differences for the parameters
    fd = {}
    if check == "fd":
        for k in names:
            fd[k] = numerical_grad(
                lambda v, k=k: loss_of(*[v if n == k else Tensor._make(p[n]) for n in names]),
                [Tensor._make(p[k])],
            )[0]
    checks = [
        Check("∇a_t ℒ (all t)", eng_a, f["grad_a"]),
        Check("∇h_t ℒ (all t)", eng_h, f["grad_h"]),
    ]
    for k in names:
        checks.append(Check(f"∇ {k}", eng_p[k], f["params"][k], fd.get(k)))
    checks.append(Check("ℒ", np.array(model_loss), np.array(f["loss"])))
    return RecurrentTrace(
        x=xs, labels=labels, loss=f["loss"], a=f["a"], h=f["h"], y_hat=f["y_hat"],
        grad_h_output=f["grad_h_output"], grad_h_next=f["grad_h_next"], grad_h=f["grad_h"],
        grad_a=f["grad_a"], checks=checks, graph=unrolled,
    )  # fmt: skip


def _rnn_states(w: dict, xs: np.ndarray, h0: np.ndarray, capture: list | None) -> Tensor:
    """h_1..h_T with the engine's ops, step by step; a_t, h_t appended to ``capture``."""
    w_ih, w_hh = w["weight_ih_l0"], w["weight_hh_l0"]
    b_ih, b_hh = w.get("bias_ih_l0"), w.get("bias_hh_l0")
    h = Tensor._make(h0)
    hs = []
    for t in range(xs.shape[0]):
        a = linear(Tensor._make(xs[t]), w_ih, b_ih) + linear(h, w_hh, b_hh)
        h = a.tanh()
        if capture is not None:
            capture += [a, h]
        hs.append(h)
    return stack(hs)


def _model_gradients(rnn: RNN, head: Linear, p: dict, xs: np.ndarray, h0: np.ndarray,
                     labels: np.ndarray) -> tuple[float, dict]:  # fmt: skip
    """ℒ and every parameter's gradient from float64 copies of the real modules (the RNN's
    fused scan and the Linear head), by ``backward``."""
    prev = backend.get_default_dtype()
    backend.set_default_dtype("float64")
    try:
        r = RNN(rnn.input_size, rnn.hidden_size, bias=rnn.bias)
        lin = Linear(head.in_features, head.out_features, bias=head.bias is not None)
    finally:
        backend.set_default_dtype(prev)
    r.load_state_dict({k: v for k, v in p.items() if not k.startswith("head.")})
    lin.load_state_dict({k[5:]: v for k, v in p.items() if k.startswith("head.")})
    out, _ = r(Tensor._make(xs), Tensor._make(h0[None]))
    logits = lin(out)
    if labels.size == 1:
        logits = logits[-1:]
    loss = F.cross_entropy(logits, Tensor._make(labels), reduction="sum")
    loss.backward()
    grads = {k: v.grad.numpy() for k, v in r.named_parameters()}
    grads.update({f"head.{k}": v.grad.numpy() for k, v in lin.named_parameters()})
    return float(loss.item()), grads


def _bptt_formulas(p: dict, xs: np.ndarray, h0: np.ndarray, labels: np.ndarray) -> dict:
    """The seeds' equations, unrolled over time, in NumPy (no engine)."""
    w_ih, w_hh = p["weight_ih_l0"], p["weight_hh_l0"]
    b = p.get("bias_ih_l0", 0.0) + p.get("bias_hh_l0", 0.0)
    w_o, b_o = p["head.weight"], p.get("head.bias", 0.0)
    steps = xs.shape[0]
    a, h, h_prev = [], [], h0
    for t in range(steps):
        a.append(b + w_ih @ xs[t] + w_hh @ h_prev)  # a_t = b + W_ih x_t + W_hh h_{t−1}
        h_prev = np.tanh(a[-1])  # h_t = tanh(a_t)
        h.append(h_prev)
    a, h = np.array(a), np.array(h)
    o = h @ w_o.T + b_o  # o_t = b_o + W_o h_t
    e = np.exp(o - o.max(axis=1, keepdims=True))
    y_hat = e / e.sum(axis=1, keepdims=True)  # ŷ_t = softmax(o_t)
    at = np.arange(steps) if labels.size == steps else np.array([steps - 1])  # labelled steps
    # ℒ = Σ_t −log ŷ_t[y_t], ∇o_t ℒ = ŷ_t − e(y_t): the cross-entropy record's NumPy form
    _, loss, grad_at = losses.get("cross_entropy").numpy(o[at], labels[: len(at)])
    grad_o = np.zeros_like(o)
    grad_o[at] = grad_at  # 0 at the steps without a label
    from_out = grad_o @ w_o  # W_oᵀ ∇o_t ℒ, as rows
    from_next = np.zeros_like(h)
    grad_h, grad_a = np.zeros_like(h), np.zeros_like(h)
    for t in range(steps - 1, -1, -1):
        if t + 1 < steps:
            from_next[t] = grad_a[t + 1] @ w_hh  # W_hhᵀ ∇a_{t+1} ℒ
        grad_h[t] = from_out[t] + from_next[t]  # the sum over the two paths out of h_t
        grad_a[t] = grad_h[t] * (1 - h[t] ** 2)  # ∇a_t ℒ = ∇h_t ℒ ⊙ tanh′(a_t)
    prev = np.vstack([h0[None], h[:-1]])
    params = {
        "weight_ih_l0": grad_a.T @ xs,  # Σ_t ∇a_t ℒ x_tᵀ
        "weight_hh_l0": grad_a.T @ prev,  # Σ_t ∇a_t ℒ h_{t−1}ᵀ
        "head.weight": grad_o.T @ h,  # Σ_t ∇o_t ℒ h_tᵀ
    }
    if "bias_ih_l0" in p:
        params["bias_ih_l0"] = params["bias_hh_l0"] = grad_a.sum(axis=0)  # Σ_t ∇a_t ℒ
    if "head.bias" in p:
        params["head.bias"] = grad_o.sum(axis=0)
    return dict(loss=float(loss), a=a, h=h, y_hat=y_hat, grad_h_output=from_out,
                grad_h_next=from_next, grad_h=grad_h, grad_a=grad_a, params=params)  # fmt: skip


# ---------------------------------------------------------------------------- attention
@dataclass
class AttentionTrace:
    """:func:`trace_attention`'s results: S, A, O and the gradients of ℒ = Σ W ⊙ O with
    respect to O, A, S, Q, K, V (float64), with the three-way ``checks``."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    s: np.ndarray
    a: np.ndarray
    o: np.ndarray
    grads: dict[str, np.ndarray]
    checks: list[Check] = field(default_factory=list)

    def to_text(self) -> str:
        """The equations, A with its rows, and the three-way check."""
        lines = [
            "S = Q Kᵀ / √d,  A = softmax(S) (rows),  O = A V,  ℒ = Σ W ⊙ O",
            "∇V = Aᵀ ∇O,  ∇A = ∇O Vᵀ,  ∇S = A ⊙ (∇A − rowsum(∇A ⊙ A)),  "
            "∇Q = ∇S K / √d,  ∇K = ∇Sᵀ Q / √d",
            "",
            "A (each row sums to 1):",
            *("  " + "  ".join(fmt(float(v)) for v in row) for row in self.a),
            "",
            _text_table(CHECK_HEADERS, check_rows(self.checks)),
        ]
        return "\n".join(lines) + "\n"

    def to_html(self, title: str = "Backpropagation through attention") -> str:
        """A self-contained HTML page of the same report."""
        rows = [[str(i + 1), *(fmt(float(v)) for v in r)] for i, r in enumerate(self.a)]
        body = (
            f"<h1>{_html.esc(title)}</h1><p>S = Q K<sup>T</sup>/√d, A = softmax(S), O = A V; "
            "∇S = A ⊙ (∇A − rowsum(∇A ⊙ A)).</p><h2>A</h2>"
            + _html.table(["query", *(f"key {j + 1}" for j in range(self.a.shape[1]))], rows)
            + "<h2>Checked three ways</h2>"
            + _html.table(CHECK_HEADERS, check_rows(self.checks))
        )
        return _html.page(title, body)

    def to_latex(self) -> str:
        """The equations as a LaTeX align block."""
        return (
            r"\begin{align*}S &= QK^\top/\sqrt{d}, \quad A = \mathrm{softmax}(S), \quad O = AV\\"
            r"\nabla_V\mathcal{L} &= A^\top\nabla_O\mathcal{L}, \quad "
            r"\nabla_A\mathcal{L} = \nabla_O\mathcal{L}\,V^\top\\"
            r"\nabla_S\mathcal{L} &= A\odot\big(\nabla_A\mathcal{L} - "
            r"\mathrm{rowsum}(\nabla_A\mathcal{L}\odot A)\big)\\"
            r"\nabla_Q\mathcal{L} &= \nabla_S\mathcal{L}\,K/\sqrt{d}, \quad "
            r"\nabla_K\mathcal{L} = \nabla_S\mathcal{L}^\top Q/\sqrt{d}\end{align*}" + "\n"
        )

    def _repr_html_(self) -> str:
        return _html.fragment(self.to_html())


def trace_attention(q: Any, k: Any, v: Any, weights: Any = None,
                    check: str | None = "fd") -> AttentionTrace:  # fmt: skip
    """Trace single-head attention O = softmax(Q Kᵀ/√d) V for Q (L, d), K (S, d), V (S, d_v)
    and the loss ℒ = Σ W ⊙ O (``weights`` W (L, d_v); fixed random ones by default).

    Raises :class:`~chainrule.errors.ShapeError` for shapes that do not fit.
    """
    Q, K, V = (np.asarray(backend.to_numpy(t.data if isinstance(t, Tensor) else t),
                          dtype=np.float64) for t in (q, k, v))  # fmt: skip
    if (
        Q.ndim != 2
        or K.ndim != 2
        or V.ndim != 2
        or Q.shape[1] != K.shape[1]
        or (K.shape[0] != V.shape[0])
    ):
        raise ShapeError(
            f"trace_attention: expected Q (L, d), K (S, d), V (S, d_v); got {Q.shape}, "
            f"{K.shape}, {V.shape}"
        )
    W = (np.random.default_rng(0).uniform(-1, 1, (Q.shape[0], V.shape[1]))
         if weights is None else np.asarray(weights, dtype=np.float64))  # fmt: skip
    if W.shape != (Q.shape[0], V.shape[1]):
        raise ShapeError(f"trace_attention: weights must be {(Q.shape[0], V.shape[1])}")
    scale = 1.0 / np.sqrt(Q.shape[1])

    def loss_of(qt: Tensor, kt: Tensor, vt: Tensor, keep: list | None = None) -> Tensor:
        s = matmul(qt, swapaxes(kt, 0, 1)) * scale
        a = softmax(s, axis=-1)
        o = matmul(a, vt)
        if keep is not None:
            keep += [s, a, o]
        return (o * Tensor._make(W)).sum()

    # (1) the engine
    ts = [Tensor._make(m).requires_grad_() for m in (Q, K, V)]
    kept: list = []
    loss = loss_of(*ts, keep=kept)
    g = [t.numpy() for t in gradients(loss, [*kept, *ts])]
    eng = dict(zip(["S", "A", "O", "Q", "K", "V"], g))
    # (2) the formulas
    S = Q @ K.T * scale  # S = Q Kᵀ / √d
    E = np.exp(S - S.max(axis=1, keepdims=True))
    A = E / E.sum(axis=1, keepdims=True)  # A = softmax(S), row by row
    O = A @ V  # noqa: E741 - O = A V, the paper's name
    dO = W  # ℒ = Σ W ⊙ O
    dV = A.T @ dO  # ∇V = Aᵀ ∇O
    dA = dO @ V.T  # ∇A = ∇O Vᵀ
    dS = A * (dA - (dA * A).sum(axis=1, keepdims=True))  # each row's softmax Jacobian
    dQ = dS @ K * scale  # ∇Q = ∇S K / √d
    dK = dS.T @ Q * scale  # ∇K = ∇Sᵀ Q / √d
    formulas = {"O": dO, "A": dA, "S": dS, "Q": dQ, "K": dK, "V": dV}
    # (3) finite differences
    fd = {}
    if check == "fd":
        for i, name in enumerate("QKV"):
            fd[name] = numerical_grad(
                lambda m, i=i: loss_of(*[m if j == i else Tensor._make(x)
                                         for j, x in enumerate((Q, K, V))]),
                [Tensor._make((Q, K, V)[i])],
            )[0]  # fmt: skip
    checks = [
        Check(f"∇{n} ℒ", eng[n], formulas[n], fd.get(n)) for n in ["O", "A", "S", "Q", "K", "V"]
    ]
    return AttentionTrace(Q, K, V, S, A, O, formulas, checks)
