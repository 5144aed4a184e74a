"""The passes behind :func:`~chainrule.explain.trace`: the model read as layers, the inputs
and targets checked, and the same quantities computed three ways: by the engine on the real
model (:func:`_engine_pass`), by the seeds' formulas written out in NumPy
(:func:`_formula_pass`, every line carrying its equation) and by central finite differences
(:func:`_fd_pass`). See :mod:`chainrule.explain.backprop` for the notation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import gradients, no_grad
from chainrule.check import numerical_grad
from chainrule.errors import ShapeError, TargetError, UnsupportedModelError
from chainrule.explain.notation import to_text
from chainrule.nn import Dropout, Linear, Module, Sequential, Softmax, activations, losses
from chainrule.nn.activations import Formula
from chainrule.nn.losses import Loss
from chainrule.ops.linalg import linear as _engine_linear
from chainrule.tensor import Tensor

Layers = list[tuple[Linear, Module | None, tuple[str, ...]]]


def activation_of(module: Module) -> Formula:
    """g and g' of the hidden unit ``module`` computes, with its settings, from its record in
    :mod:`chainrule.nn.activations`.

    Raises :class:`~chainrule.errors.UnsupportedModelError` for a module that is not a
    registered activation.
    """
    try:
        return activations.of(module).formula(module)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(f"trace: {exc}") from None


# ---------------------------------------------------------------------------- model
def _leaves(model: Module, prefix: str = "") -> list[tuple[str, Module]]:
    if isinstance(model, Sequential):
        out = []
        for name, child in model.named_children():
            out.extend(_leaves(child, f"{prefix}{name}."))
        return out
    return [(prefix.rstrip(".") or type(model).__name__, model)]


def _layers_of(model: Module) -> list[tuple[Linear, Module | None, tuple[str, ...]]]:
    """Group a Sequential into (Linear, activation or None, module names) per layer."""
    if not isinstance(model, (Sequential, Linear)):
        raise UnsupportedModelError(
            f"trace follows a Sequential of Linear layers and activations, got "
            f"{type(model).__name__}"
        )
    leaves = [(n, m) for n, m in _leaves(model) if not isinstance(m, Dropout)]
    layers: list[tuple[Linear, Module | None, tuple[str, ...]]] = []
    for name, m in leaves:
        if isinstance(m, Linear):
            layers.append((m, None, (name,)))
            continue
        if isinstance(m, Softmax):
            raise UnsupportedModelError(
                f"trace: module {name} is a Softmax; the output function comes from the loss "
                "(cross-entropy applies the softmax to the last layer's a_L), so end the model "
                "with its last Linear layer"
            )
        activation_of(m)  # raises for modules that are not supported activations
        if not layers:
            raise UnsupportedModelError(
                f"trace: the model starts with {type(m).__name__} (module {name}); it must "
                "start with a Linear layer"
            )
        lin, act, names = layers[-1]
        if act is not None:
            raise UnsupportedModelError(
                f"trace: two activations in a row ({type(act).__name__}, "
                f"{type(m).__name__} at module {name}); one g per layer"
            )
        layers[-1] = (lin, m, (*names, name))
    if not layers:
        raise UnsupportedModelError("trace: the model has no Linear layer")
    if layers[-1][1] is not None:
        raise UnsupportedModelError(
            f"trace: the model ends with an activation ({type(layers[-1][1]).__name__}); "
            "the seeds' output function O (softmax or linear) comes from the loss, so end "
            "the model with its last Linear layer"
        )
    for (a, _, na), (b, _, nb) in zip(layers[:-1], layers[1:]):
        if a.out_features != b.in_features:
            raise UnsupportedModelError(
                f"trace: layer {na[0]} gives {a.out_features} features but layer {nb[0]} "
                f"takes {b.in_features}"
            )
    return layers


def _copy_as(model: Module, dt: np.dtype) -> Module:
    """A deep copy of ``model`` cast to ``dt``, without the original's forward hooks (a
    diagnostics callback must not see the trace's pass)."""
    c = copy.deepcopy(model)
    for m in c.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
    return c.to(dt)


def _bias(lin: Linear) -> np.ndarray:
    if lin.bias is None:
        return np.zeros(lin.out_features)
    return lin.bias.data.astype(np.float64)


# ---------------------------------------------------------------------------- inputs
def _loss_kind(loss: Any) -> tuple[Loss, str]:
    """The loss record and the reduction of ``loss`` (a name, a record or a plain loss
    module); a name means the sum over a batch."""
    if isinstance(loss, (str, Loss)):
        try:
            rec = losses.get(loss)
        except ValueError as exc:
            raise ValueError(f"trace: {exc}; {_TRACEABLE}") from None
        reduction = "sum"
    elif isinstance(loss, Module):
        try:
            rec = losses.get(loss)
        except ValueError:
            raise ValueError(
                f"trace: loss must be {_TRACEABLE}, got {type(loss).__name__}"
            ) from None
        if getattr(loss, "weight", None) is not None or getattr(loss, "label_smoothing", 0):
            raise UnsupportedModelError(
                f"trace: the seeds' ∇_{{a_L}} ℒ = {to_text(rec.gradient)} is for a plain "
                f"{rec.title}; this {type(loss).__name__} has class weights or label smoothing"
            )
        reduction = _reduction(loss.reduction)
    else:
        raise ValueError(f"trace: loss must be {_TRACEABLE}, got {type(loss).__name__}")
    if not rec.traceable:
        raise ValueError(
            f"trace: the seeds' formulas are not written for the {rec.title}; {_TRACEABLE}"
        )
    return rec, reduction


_TRACEABLE = "use " + " or ".join(
    f"{r.name!r} ({r.output} output) or a {r.module.__name__}"
    for r in losses.LOSSES.values()
    if r.traceable
)


def _reduction(r: str) -> str:
    if r not in ("mean", "sum"):
        raise ValueError(f"trace: the loss's reduction must be 'mean' or 'sum', got {r!r}")
    return r


def _inputs(x: Any, d: int, dt: np.dtype) -> tuple[np.ndarray, bool]:
    X = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=dt)
    batched = X.ndim == 2
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != d or X.shape[0] == 0:
        raise ShapeError(
            f"trace: x must have shape ({d},) or (N, {d}) with N >= 1 for the first layer, "
            f"got {np.shape(x.data if isinstance(x, Tensor) else x)}"
        )
    return X, batched


def _targets(y: Any, rec: Loss, n: int, k: int, dt: np.dtype) -> np.ndarray:
    raw = np.asarray(y.data if isinstance(y, Tensor) else y)
    if rec.labels:
        if raw.dtype.kind == "f":
            if not np.all(raw == np.round(raw)):
                raise TargetError(f"trace: {rec.title} labels must be class indices, got {raw}")
        Y = raw.astype(np.int64).reshape(-1)
        if Y.shape != (n,):
            raise ShapeError(f"trace: expected {n} class label(s), got shape {raw.shape}")
        if Y.min() < 0 or Y.max() >= k:
            raise TargetError(f"trace: class labels must lie in [0, {k}), got {Y.tolist()}")
        return Y
    Y = raw.astype(dt)
    if Y.shape in ((k,), ()) and n == 1:
        Y = Y.reshape(1, k)
    elif Y.shape == (n,) and k == 1:
        Y = Y.reshape(n, 1)
    if Y.shape != (n, k):
        raise ShapeError(
            f"trace: {rec.adjective} targets must have shape ({n}, {k}), got {raw.shape}"
        )
    return Y


# ---------------------------------------------------------------------------- engine
def _engine_pass(
    model: Module,
    layers: list[tuple[Linear, Module | None, tuple[str, ...]]],
    X: np.ndarray,
    Y: np.ndarray,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    output: Callable[[Tensor], Tensor],
) -> dict[str, Any]:
    """The real model on the real graph: forward hooks catch a_k and h_k, reverse mode gives
    the gradient of the loss with respect to each of them and to every parameter."""
    caught: dict[int, Tensor] = {}
    handles = []
    for lin, act, _ in layers:
        for m in (lin, act):
            if m is not None:
                handles.append(m.register_forward_hook(_catch(caught, id(m))))
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    x = Tensor(X, requires_grad=True)
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, t in was_training:
            m.training = t
    if not isinstance(out, Tensor) or id(layers[-1][0]) not in caught:
        raise UnsupportedModelError("trace: the model's forward did not call its layers in order")
    loss = loss_fn(out, Tensor(Y))
    a_t = [caught[id(lin)] for lin, _, _ in layers]
    h_t = [x] + [caught[id(act)] if act is not None else caught[id(lin)] for lin, act, _ in layers]
    weights = [lin.weight for lin, _, _ in layers]
    biases = [lin.bias for lin, _, _ in layers if lin.bias is not None]
    wanted = [*a_t, *h_t[:-1], *weights, *biases]
    grads = gradients(loss, wanted, allow_unused=True)
    L = len(layers)

    def arr(t: Tensor | None, like: Tensor) -> np.ndarray:
        if t is None:  # not used by the loss: its gradient is zero
            return np.zeros(like.shape)
        return backend.to_numpy(t.data).astype(np.float64)

    ga = [arr(g, t) for g, t in zip(grads[:L], a_t)]
    gh = [arr(g, t) for g, t in zip(grads[L : 2 * L], h_t[:-1])]
    gW = [arr(g, t) for g, t in zip(grads[2 * L : 3 * L], weights)]
    gb_iter = iter(grads[3 * L :])
    # A layer without a bias parameter: record the gradient a bias would get (b_k = 0), the
    # engine's ∇_{a_k} ℒ summed over the batch, so that every layer reads the same.
    gb = [
        arr(next(gb_iter), lin.bias) if lin.bias is not None else g.reshape(-1, g.shape[-1]).sum(0)
        for (lin, _, _), g in zip(layers, ga)
    ]
    with no_grad():
        y_hat = output(out).data  # ŷ = O(a_L)
    # g'(a_k) by the engine's own rule for g: the gradient of sum(g(a)) is g'(a) element-wise.
    dg = []
    for (_, act, _), a in zip(layers[:-1], a_t[:-1]):
        leaf = Tensor(a.data, requires_grad=True)
        (d,) = gradients((act(leaf) if act is not None else leaf).sum(), [leaf])
        dg.append(backend.to_numpy(d.data).astype(np.float64))
    return {
        "a": [backend.to_numpy(t.data).astype(np.float64) for t in a_t],
        "h": [backend.to_numpy(t.data).astype(np.float64) for t in h_t],
        "grad_a": ga,
        "grad_h": gh,
        "grad_W": gW,
        "grad_b": gb,
        "dg": dg,
        "y_hat": backend.to_numpy(y_hat).astype(np.float64),
        "loss": float(loss.item()),
    }


def _catch(store: dict[int, Tensor], key: int) -> Callable[[Module, tuple, Any], None]:
    def hook(module: Module, args: tuple, out: Any) -> None:
        store[key] = out

    return hook


# ---------------------------------------------------------------------------- formulas
def _formula_pass(
    params: list[tuple[np.ndarray, np.ndarray]],
    acts: list[Formula | None],
    X: np.ndarray,
    Y: np.ndarray,
    loss: Loss,
    scale: float,
) -> dict[str, Any]:
    """The seeds' forward and backward propagation, written out in NumPy (float64).

    Rows are examples: a_k = b_k + W_k h_{k-1} for each row is ``h @ W.T + b``. The output
    function, ℒ and ∇_{a_L} ℒ are the loss record's NumPy form (:mod:`chainrule.nn.losses`).
    """
    L = len(params)
    h = [X]
    a = []
    for (W, b), g in zip(params, acts):
        a_k = b + h[-1] @ W.T  # a_k = b_k + W_k h_{k-1}
        a.append(a_k)
        if g is not None:
            h.append(g.g(a_k))  # h_k = g(a_k)
    y_hat, loss_sum, grad_out = loss.numpy(a[-1], Y)  # ŷ = O(a_L), ℒ and ∇_{a_L} ℒ
    loss_value = scale * loss_sum  # the sum (scale 1) or the mean over the batch
    grad_a_L = scale * grad_out  # each example's ∇_{a_L} ℒ, times the same factor
    grad_a: list[np.ndarray] = [np.empty(0)] * L
    grad_h: list[np.ndarray] = [np.empty(0)] * L
    grad_W: list[np.ndarray] = [np.empty(0)] * L
    grad_b: list[np.ndarray] = [np.empty(0)] * L
    dg: list[np.ndarray] = [np.empty(0)] * L
    grad_a[L - 1] = grad_a_L
    for k in range(L, 0, -1):  # k = L .. 1, as the seeds' loop
        i = k - 1
        grad_W[i] = grad_a[i].T @ h[i]  # ∇_{W_k} ℒ = ∇_{a_k} ℒ h_{k-1}^T, summed over rows
        grad_b[i] = grad_a[i].sum(axis=0)  # ∇_{b_k} ℒ = ∇_{a_k} ℒ, summed over rows
        grad_h[i] = grad_a[i] @ params[i][0]  # ∇_{h_{k-1}} ℒ = W_k^T ∇_{a_k} ℒ
        if k > 1:
            dg[i - 1] = acts[i - 1].dg(a[i - 1])  # g'(a_{k-1})
            grad_a[i - 1] = grad_h[i] * dg[i - 1]  # ∇_{a_{k-1}} ℒ = ∇_{h_{k-1}} ℒ ⊙ g'(a_{k-1})
    return {
        "a": a,
        "h": h,
        "grad_a": grad_a,
        "grad_h": grad_h,
        "grad_W": grad_W,
        "grad_b": grad_b,
        "dg": dg,
        "y_hat": y_hat,
        "loss": loss_value,
    }


# ---------------------------------------------------------------------------- finite differences
def _fd_pass(
    layers: list[tuple[Linear, Module | None, tuple[str, ...]]],
    params: list[tuple[np.ndarray, np.ndarray]],
    X: np.ndarray,
    Y: np.ndarray,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    eps: float,
    max_entries: int,
) -> dict[str, Any]:
    """Every gradient again by central differences of the loss (float64): with respect to
    the input and the parameters ``params`` (each layer's W_k and b_k in float64), and to
    each a_k and h_k (running the network from there)."""
    L = len(layers)
    Ws = [W for W, _ in params]
    bs = [b for _, b in params]
    acts = [act for _, act, _ in layers]
    X64 = X.astype(np.float64)
    Yt = Tensor(Y if Y.dtype.kind in "iu" else Y.astype(np.float64))
    n, sizes = len(X), [lin.out_features for lin, _, _ in layers]
    total = X.size + sum(w.size + b.size for w, b in zip(Ws, bs)) + n * (2 * sum(sizes) - sizes[-1])
    if total > max_entries:
        raise ValueError(
            f"trace: check='fd' would perturb {total} entries ({2 * total} forward passes), more "
            f"than fd_max_entries={max_entries}; trace a smaller batch or raise the limit"
        )

    def run(h: Tensor, start: int, stage: str, Wt: list, bt: list) -> Tensor:
        # From h_{start} (stage "h") or a_{start+1}... (stage "a": h is a_{start}) to ℒ.
        k = start
        if stage == "a":
            if acts[k - 1] is not None:
                h = acts[k - 1](h)
        for i in range(k, L):
            h = _engine_linear(h, Wt[i], bt[i])
            if acts[i] is not None:
                h = acts[i](h)
        return loss_fn(h, Yt)

    with no_grad():
        flat = numerical_grad(
            lambda x, *p: run(x, 0, "h", list(p[:L]), list(p[L:])), [X64, *Ws, *bs], eps=eps
        )
        Wt = [Tensor(w) for w in Ws]
        bt = [Tensor(b) for b in bs]
        hs = [X64]
        as_ = []
        for i in range(L):
            a_i = _engine_linear(Tensor(hs[-1]), Wt[i], bt[i]).data
            as_.append(a_i)
            hs.append(acts[i](Tensor(a_i)).data if acts[i] is not None else a_i)
        grad_a = [
            numerical_grad(lambda a, k=k: run(a, k, "a", Wt, bt), [as_[k - 1]], eps=eps)[0]
            for k in range(1, L + 1)
        ]
        grad_h = [flat[0]] + [
            numerical_grad(lambda h, k=k: run(h, k, "h", Wt, bt), [hs[k]], eps=eps)[0]
            for k in range(1, L)
        ]
    return {"grad_h": grad_h, "grad_a": grad_a, "grad_W": flat[1 : L + 1], "grad_b": flat[L + 1 :]}
