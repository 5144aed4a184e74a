"""Floor 4: what every optimiser shares, with PyTorch's names and semantics.

An optimiser holds ``param_groups`` (a list of dicts: ``"params"``, a list of tensors, plus that
group's hyper-parameters, defaults filled in) and ``state`` (per parameter: step counts and
running averages). ``step()`` reads each parameter's ``.grad`` and updates ``.data`` in place; a
subclass only writes the update rule for one parameter (``_update``), as the seeds write
θ ← θ + αΔ with Δ = -∇l - λ∇Ω(θ).

Before anything is modified, ``step()`` checks that every gradient is finite: by default a NaN or
Inf raises :class:`~chainrule.errors.NonFiniteError` naming the parameter; with
``skip_nonfinite=True`` the whole step is skipped and counted in ``skipped_steps`` instead.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import enable_grad
from chainrule.compile import replayable
from chainrule.errors import DTypeError, NonFiniteError, OptimizerError, ShapeError
from chainrule.optim._saving import StateDictMixin
from chainrule.tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
"""What an optimiser is built from: tensors, ``(name, tensor)`` pairs, or parameter groups."""


class Optimizer(StateDictMixin):
    """Base class of the optimisers: parameter groups, state, ``zero_grad``, ``step``.

    ``params`` is an iterable of tensors (one group), of ``(name, tensor)`` pairs (as
    ``named_parameters()`` yields; the names are kept in ``"param_names"``), or of dicts, each a
    parameter group ``{"params": [...], "lr": ..., ...}`` whose missing hyper-parameters are
    taken from ``defaults``. With ``skip_nonfinite=True`` a step whose gradients hold NaN or Inf
    is skipped (nothing changes, ``skipped_steps`` goes up by one) instead of raising.
    Parameters may have any shape; each one's gradient must have its shape, and its ``state``
    arrays (running averages, momentum buffers) have its shape and dtype. Hyper-parameters are
    read with :meth:`hyperparameter` and changed with :meth:`set_hyperparameters` /
    :meth:`set_lr` (or by writing ``param_groups``, as in PyTorch).

    Raises :class:`~chainrule.errors.OptimizerError` (a ``ValueError``) for an empty parameter
    list, a parameter given twice, a non-leaf tensor or a hyper-parameter out of range (the
    message names it), ``TypeError`` for a single tensor, a set, or something not a tensor,
    :class:`~chainrule.errors.DTypeError` for an integer tensor.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = cr.optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0., 0.], dtype=float32, requires_grad=True)
    """

    _current: tuple[int, int, int, Any] = (0, 0, 0, None)  # the parameter step() updates
    # per-parameter state buffers b whose update is -lr · b: rescaled by set_lr(keep_velocity)
    _velocity_keys: tuple[str, ...] = ()
    # hyper-parameters that must be finite and >= 0 besides lr, checked by _check_group
    _nonnegative_keys: tuple[str, ...] = ()

    def __init__(
        self, params: ParamsT, defaults: dict[str, Any], *, skip_nonfinite: bool = False
    ) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of tensors or of parameter-group dicts, "
                "got a single Tensor; wrap it in a list: [t]"
            )
        if isinstance(params, dict):
            raise TypeError(
                f"{name}: params must be an iterable of tensors or of parameter-group dicts, "
                "got a single dict; wrap it in a list: [group]"
            )
        self.defaults: dict[str, Any] = dict(defaults)
        self.skip_nonfinite: bool = bool(skip_nonfinite)
        self.skipped_steps: int = 0
        """Steps skipped because a gradient was NaN or Inf (with ``skip_nonfinite=True``)."""
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._workspace: dict[tuple, Any] = {}  # scratch arrays (_tmp), not in state_dict
        self._grad: tuple[Any, Any] = (None, None)  # the gradient being applied and its g·g
        groups = list(params)
        if not groups:
            raise OptimizerError(
                f"{name} got an empty parameter list: pass model.parameters() or a list of "
                "tensors made with requires_grad=True (a generator can be consumed only once)"
            )
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], hyper-parameter: value, ...}``; missing
        hyper-parameters take the optimiser's defaults.

        Useful to start training layers that were frozen. Raises as the constructor does, and
        :class:`~chainrule.errors.OptimizerError` when a parameter is already in another group.
        """
        name = type(self).__name__
        k = len(self.param_groups)
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}: parameter group {k} must be a dict, got {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise OptimizerError(f"{name}: parameter group {k} has no 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: the parameters of group {k} are a set, whose order changes from run "
                "to run; give a list (state_dict() indexes parameters by position)"
            )
        else:
            params = list(params)
        if params and all(isinstance(p, tuple) for p in params):
            group["param_names"] = [str(p[0]) for p in params]
            params = [p[1] for p in params]
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: parameter {i} of group {k} is a {type(p).__name__}, not a Tensor"
                )
            if not p.is_leaf:
                raise OptimizerError(
                    f"{name}: parameter {i} of group {k} (shape {p.shape}) is not a leaf: it "
                    f"was computed by {p.grad_fn}; optimise the tensors it was computed from"
                )
            if p.dtype.kind != "f":
                raise DTypeError(
                    f"{name}: parameter {i} of group {k} has dtype {p.dtype}; only "
                    "floating-point tensors can be optimised"
                )
            if id(p) in seen:
                raise OptimizerError(
                    f"{name}: parameter {i} of group {k} (shape {p.shape}) is given twice; "
                    "it would be updated twice per step"
                )
            seen.add(id(p))
        for other in self.param_groups:
            if any(id(q) in seen for q in other["params"]):
                raise OptimizerError(
                    f"{name}: some parameters appear in more than one parameter group"
                )
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group, k)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any], k: int) -> None:
        """Raise :class:`~chainrule.errors.OptimizerError` for a hyper-parameter out of range:
        ``lr`` and the class's ``_nonnegative_keys`` must be finite and >= 0; subclasses add
        their other rules (``_require``)."""
        for key in ("lr", *self._nonnegative_keys):
            self._require(group, k, key, _nonnegative(group[key]), "a finite number >= 0")

    def _require(self, group: dict[str, Any], k: int, key: str, ok: bool, rule: str) -> None:
        if not ok:
            raise OptimizerError(
                f"{type(self).__name__}: invalid {key}={group[key]!r} in parameter group {k}; "
                f"{key} must be {rule}"
            )

    # ------------------------------------------------------------------ hyper-parameters
    def hyperparameter(self, name: str, group: int = 0) -> Any:
        """The value of hyper-parameter ``name`` (``"lr"``, ``"eps"``, ...) in parameter group
        ``group``.

        Raises :class:`~chainrule.errors.OptimizerError` for a name this optimiser does not
        have and ``IndexError`` for a group it does not have.
        """
        self._check_names(name)
        return self.param_groups[self._group_index(group)][name]

    def set_hyperparameters(self, group: int | None = None, **values: Any) -> None:
        """Set hyper-parameters (``lr=...``, ``eps=...``, ``weight_decay=...``) in every
        parameter group, or in group ``group`` only; the state (running averages, momentum
        buffers) is kept, so training goes on with the new values from the next ``step()``.

        Each value is checked as the constructor checks it. Raises
        :class:`~chainrule.errors.OptimizerError` for a name this optimiser does not have or a
        value out of range (no group is changed then), ``IndexError`` for a group it does not
        have.

        >>> import chainrule as cr
        >>> opt = cr.optim.Adam([cr.zeros(2, requires_grad=True)], lr=0.1)
        >>> opt.set_hyperparameters(eps=1e-6, lr=0.01)
        >>> opt.hyperparameter("eps"), opt.hyperparameter("lr")
        (1e-06, 0.01)
        """
        self._check_names(*values)
        indices = range(len(self.param_groups)) if group is None else [self._group_index(group)]
        updated = []
        for k in indices:
            new = {**self.param_groups[k], **values}
            self._check_group(new, k)
            updated.append((k, new))
        for k, new in updated:
            self.param_groups[k].update({key: new[key] for key in values})

    def set_lr(self, lr: float, group: int | None = None, *, keep_velocity: bool = False) -> None:
        """Set the learning rate of every parameter group (or of group ``group``).

        With ``keep_velocity=True`` the momentum buffers b whose step is ``-lr · b`` (SGD's
        and RMSprop's ``"momentum_buffer"``) are rescaled by old lr / new lr, so the velocity
        ``-lr · b`` carries over unchanged: the next step moves as far as it would have with
        the old rate (as scikit-learn's SGD keeps its velocity when its rate changes).

        Raises :class:`~chainrule.errors.OptimizerError` for a negative or non-finite ``lr``,
        for ``keep_velocity`` with ``lr`` 0 or with an optimiser that has no such buffer
        (Adam, Adagrad), ``IndexError`` for a group it does not have.
        """
        name = type(self).__name__
        if keep_velocity and not self._velocity_keys:
            raise OptimizerError(f"{name}.set_lr: keep_velocity=True, but {name} has no velocity")
        if keep_velocity and _finite(lr) and float(lr) == 0:
            raise OptimizerError(f"{name}.set_lr: keep_velocity=True needs lr > 0, got {lr!r}")
        indices = range(len(self.param_groups)) if group is None else [self._group_index(group)]
        old = {k: self.param_groups[k]["lr"] for k in indices}
        self.set_hyperparameters(group=group, lr=lr)
        if not keep_velocity:
            return
        for k in indices:
            for p in self.param_groups[k]["params"]:
                for key in self._velocity_keys:
                    buf = self.state[p].get(key) if p in self.state else None
                    if buf is not None:
                        buf *= old[k] / lr

    def _check_names(self, *names: str) -> None:
        unknown = [n for n in names if n not in self.defaults]
        if unknown:
            raise OptimizerError(
                f"{type(self).__name__} has no hyper-parameter {', '.join(map(repr, unknown))}; "
                f"it has {', '.join(sorted(self.defaults))}"
            )

    def _group_index(self, group: int) -> int:
        n = len(self.param_groups)
        if not isinstance(group, int) or not -n <= group < n:
            raise IndexError(f"{type(self).__name__}: no parameter group {group!r} (it has {n})")
        return group % n

    # ------------------------------------------------------------------ stepping
    @replayable  # cr.compile calls it again at each replay
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: ``.grad = None`` (default, frees the memory) or,
        with ``set_to_none=False``, fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.grad_fn is not None:  # a gradient built with create_graph=True
                    p.grad = Tensor._make(backend.xp.zeros_like(p.grad.data))
                else:
                    p.grad.data[...] = 0

    @replayable
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a ``.grad``, in place; return ``closure()``'s loss.

        ``closure``, if given, re-evaluates the model and returns the loss (run with gradients
        recorded). Raises :class:`~chainrule.errors.NonFiniteError` naming the parameter when
        a gradient holds NaN or Inf (nothing is modified), unless the optimiser was made with
        ``skip_nonfinite=True``; :class:`~chainrule.errors.ShapeError` when a gradient's shape
        differs from its parameter's.
        """
        if backend.xp is not np and self._on_host():
            with backend.host():  # the GPU backend is on, and these parameters live on the CPU
                return self._step(closure)
        return self._step(closure)

    def _on_host(self) -> bool:
        for group in self.param_groups:
            for p in group["params"]:
                return p.device == backend.CPU
        return False

    def _step(self, closure: Callable[[], Any] | None) -> Any:
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # overflow is not warned about but caught, once per parameter, by _apply
        with np.errstate(over="ignore", invalid="ignore"):
            todo = self._gradients_finite()
            if todo is None:
                return loss
            for k, group, entries in todo:
                if group.get("foreach") is False:  # one parameter at a time, as asked
                    Optimizer._update_group(self, k, group, entries)
                else:
                    self._update_group(k, group, entries)
        return loss

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update parameter array ``p`` in place from its gradient array ``g``."""
        raise NotImplementedError

    def _update_group(self, k: int, group: dict[str, Any], entries: list[tuple]) -> None:
        """Update the parameters of group ``k`` that have gradients, given as ``entries``
        ``(index, j, p, g, g·g)`` (position across groups, position in the group, the
        parameter tensor, its gradient array, and the finite check's g·g): :meth:`_update`
        on each in turn. A subclass with a multi-tensor step overrides it, giving the same
        results; a group's ``"foreach": False`` keeps this one."""
        for index, j, p, g, square in entries:
            self._current = (index, k, j, p)
            self._grad = (g, square)
            self._update(p.data, g, self.state[p], group)
            p._bump()  # a graph that saved p now sees it was modified

    def _gradients_finite(self) -> list[tuple[int, dict[str, Any], list[tuple]]] | None:
        """Per group ``(k, group, entries)``, the entries ``(index, j, p, g, g·g)`` of the
        parameters that have a gradient; None when a gradient holds NaN or Inf and the step is
        skipped (``skip_nonfinite``), else :class:`~chainrule.errors.NonFiniteError`. Called
        under ``np.errstate(over="ignore", invalid="ignore")``.

        One pass per gradient, allocating nothing: g·g (a BLAS dot, faster than sum) is
        NaN/Inf whenever an element is; a finite gradient whose g·g overflows is told apart by
        the full (rarely needed) isfinite check. g·g also bounds the update (see _apply)."""
        dot = backend.xp.dot
        index = 0
        todo = []
        for k, group in enumerate(self.param_groups):
            entries = []
            for j, p in enumerate(group["params"]):
                g = p.grad
                if g is not None:
                    g = g.data
                    if g.shape != p.data.shape:
                        raise ShapeError(
                            f"{type(self).__name__}.step: the gradient of parameter "
                            f"{index} (group {k}) has shape {g.shape} but the "
                            f"parameter has shape {p.data.shape}"
                        )
                    flat = g.reshape(-1)
                    square = dot(flat, flat)
                    if not math.isfinite(square) and not bool(backend.xp.isfinite(flat).all()):
                        if self.skip_nonfinite:
                            self.skipped_steps += 1
                            return None
                        raise NonFiniteError(self._nonfinite_message(index, k, j, p))
                    entries.append((index, j, p, g, square))
                index += 1
            todo.append((k, group, entries))
        return todo

    def _nonfinite_message(self, index: int, k: int, j: int, p: Tensor) -> str:
        xp = backend.xp
        g = p.grad.data
        n_nan = int(xp.isnan(g).sum())
        n_inf = int(xp.isinf(g).sum())
        names = self.param_groups[k].get("param_names")
        label = f" {names[j]!r}" if names is not None else ""
        return (
            f"{type(self).__name__}.step: the gradient of parameter {index}{label} (group {k}, "
            f"shape {p.shape}) holds {n_nan} NaN and {n_inf} Inf values; no parameter was "
            "updated. Lower the learning rate, clip gradients (cr.nn.utils.clip_grad_norm_), "
            "or make the optimiser with skip_nonfinite=True to skip such steps"
        )

    def _tmp(self, p: Any, k: int) -> Any:
        """Scratch array ``k`` (0 or 1) shaped like ``p``: a view of one flat array per dtype
        and ``k``, as large as the largest parameter, reused across steps and parameters so
        that updates allocate nothing and all parameters' updates share the same memory (one
        array of each shape measured 1-2% slower per training step: more memory in cache)."""
        key = (p.dtype, k)
        buf = self._workspace.get(key)
        if buf is None or buf.size < p.size:
            buf = self._workspace[key] = backend.xp.empty(p.size, dtype=p.dtype)
        return buf[: p.size].reshape(p.shape)

    @staticmethod
    def _zeros(state: dict[str, Any], key: str, p: Any) -> Any:
        """``state[key]``, created as zeros shaped like ``p`` on first use."""
        buf = state.get(key)
        if buf is None:
            buf = state[key] = backend.xp.zeros_like(p)
        return buf

    def _average_square(self, v: Any, d: Any, beta: float, p: Any) -> None:
        """``v ← β v + (1 − β) d²`` in place (the running average of squared gradients of
        Adam's v and RMSprop's), through scratch array 1."""
        t = self._tmp(p, 1)
        v *= beta
        backend.xp.multiply(d, 1 - beta, out=t)
        t *= d
        v += t

    def _decayed_grad(self, p: Any, g: Any, weight_decay: float, maximize: bool) -> Any:
        """``±g + weight_decay * p`` (the seeds' ∇l + λ∇Ω for Ω = ½‖θ‖²); ``g`` itself when
        there is nothing to add, else written into scratch array 0."""
        if weight_decay == 0 and not maximize:
            return g
        xp = backend.xp
        d = self._tmp(p, 0)
        if weight_decay != 0:
            xp.multiply(p, weight_decay, out=d)
            (xp.subtract if maximize else xp.add)(d, g, out=d)
        else:
            xp.negative(g, out=d)
        return d

    def _add_scaled(self, p: Any, alpha: float, x: Any) -> None:
        """``p += alpha * x`` in place, through scratch array 1 (which ``x`` may be)."""
        backend.xp.multiply(x, alpha, out=(t := self._tmp(p, 1)))
        g, square = self._grad  # x is the gradient (plain SGD): the finite check's g·g bounds t
        self._apply(p, t, None, math.sqrt(float(square)) * abs(alpha) if x is g else None)

    def _apply(self, p: Any, t: Any, decay: float | None = None, t_norm: Any = None) -> None:
        """``p ← p + t`` (``p · decay + t`` with ``decay``), where ``t`` is scratch array 1,
        written to ``p`` only when every new value is finite.

        Raises :class:`~chainrule.errors.NonFiniteError` naming the parameter (which keeps its
        value) when the update overflows or turns into NaN, e.g. from a learning rate far too
        large. Two BLAS dots decide before any write: no element of p or t exceeds √(p·p) or
        √(t·t) (a rounded sum of non-negative terms is never below its largest), so when
        √(p·p)·|decay| + √(t·t) < max/4 of the dtype, ``p *= decay; p += t`` in place (the
        same roundings). Else (a huge or non-finite value, or a dot overflowed) p + t is
        computed into ``t``, checked element-wise and copied. ``t_norm``: √(t·t) if known.
        """
        xp = backend.xp
        flat = t.reshape(-1)
        if t_norm is None:
            t_norm = math.sqrt(float(xp.dot(flat, flat)))
        p_flat = p.reshape(-1)
        bound = math.sqrt(float(xp.dot(p_flat, p_flat))) * (1.0 if decay is None else abs(decay))
        bound += t_norm  # NaN or Inf when a dot was: the slow path below
        if bound < _quarter_max(p.dtype):
            if decay is not None:
                p *= decay
            p += t
            return
        if decay is None:
            xp.add(p, t, out=t)
        else:
            scaled = self._tmp(p, 0)
            xp.multiply(p, decay, out=scaled)
            xp.add(scaled, t, out=t)
        if not bool(xp.isfinite(xp.dot(flat, flat))) and not bool(xp.isfinite(flat).all()):
            raise NonFiniteError(self._update_message(t))
        xp.copyto(p, t)

    def _update_message(self, new: Any) -> str:
        index, k, _, p = self._current
        xp = backend.xp
        names = self.param_groups[k].get("param_names")
        label = f" {names[self._current[2]]!r}" if names is not None else ""
        n_bad = int((~xp.isfinite(new)).sum())
        lr = self.param_groups[k].get("lr")
        return (
            f"{type(self).__name__}.step: the update of parameter {index}{label} (group {k}, "
            f"shape {p.shape}) overflows: {n_bad} of its {new.size} new values would be NaN or "
            f"Inf (lr {lr}); the parameter was left unchanged. Lower the learning rate or "
            "clip gradients (cr.nn.utils.clip_grad_norm_)"
        )

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _defaults_from(arguments: dict[str, Any]) -> dict[str, Any]:
    """An optimiser's hyper-parameter defaults from its constructor's ``locals()`` (taken
    first thing): every argument but ``self``, ``params`` and ``skip_nonfinite``, in the
    signature's order."""
    skip = ("self", "params", "skip_nonfinite", "__class__")
    return {k: v for k, v in arguments.items() if k not in skip}


@functools.cache
def _quarter_max(dtype: Any) -> float:
    """A quarter of the largest finite number of floating dtype ``dtype``."""
    return float(np.finfo(dtype).max) / 4


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _nonnegative(x: Any) -> bool:
    return _finite(x) and float(x) >= 0
