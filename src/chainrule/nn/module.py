"""Floor 3: ``Module``, the base of every layer, and ``Parameter``, a tensor a module learns.

A module finds its parameters the way PyTorch's does: assigning a :class:`Parameter` to an
attribute registers it, assigning a :class:`Module` registers a child, and ``register_buffer``
adds state that is saved but not learned (BatchNorm's running statistics). Everything else on
top (``parameters()``, ``state_dict()``, ``train()``, the printed tree) walks those three
registries in the order things were assigned, which is why the names and order of the keys in
``state_dict()`` are PyTorch's.
"""

from __future__ import annotations

import itertools
from collections import namedtuple
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule import backend, tape
from chainrule.autograd import no_grad
from chainrule.compile import replayable
from chainrule.errors import DTypeError, StateDictError
from chainrule.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
"""What ``load_state_dict(strict=False)`` skipped: keys the module has but the dict lacks, and
keys the dict has but the module lacks."""


class Parameter(Tensor):
    """A tensor that is a learned parameter of a module: ``requires_grad`` is on by default and
    assigning it to a module attribute registers it.

    ``Parameter(data)`` shares ``data``'s array when given a tensor or an array of a floating
    dtype (Python numbers become the default dtype). Raises
    :class:`~chainrule.errors.DTypeError` for integer data with ``requires_grad=True``.

    >>> import chainrule as cr
    >>> Parameter(cr.zeros(2))
    Parameter containing:
    tensor([0., 0.], dtype=float32, requires_grad=True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = backend.xp.empty(0, dtype=backend.get_default_dtype())
        elif isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods: ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Callable]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        """Unregister the hook (doing it twice is harmless)."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


@replayable  # cr.compile calls the hook again at each replay, on the replayed tensors
def _run_hook(hook: Callable, *args: Any) -> Any:
    """Call a forward (pre-)hook."""
    return hook(*args)


class Module:
    """Base class of layers and models: subclass it, assign parameters and sub-modules in
    ``__init__`` (after ``super().__init__()``) and write ``forward``.

    >>> import chainrule as cr
    >>> class TwoLayer(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = cr.nn.Linear(3, 4)
    ...         self.out = cr.nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.out(cr.tanh(self.hidden(x)))
    >>> net = TwoLayer()
    >>> [name for name, _ in net.named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    >>> net(cr.randn(5, 3)).shape
    (5, 2)
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these registries to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_forward_pre_hooks", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it. Call the module, not ``forward``."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if tape.recorder is not None:  # cr.compile: train/eval mode and parameters guard
            tape.recorder.module(self)
        if backend.xp is not np and self._on_host(args):
            with backend.host():  # the GPU backend is on, and this module lives on the CPU
                return self._call(args, kwargs)
        return self._call(args, kwargs)

    def _on_host(self, args: tuple) -> bool:
        """Whether this module's first parameter or buffer (else its first tensor argument)
        lives on the CPU."""
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device == backend.CPU
        for a in args:
            if isinstance(a, Tensor):
                return a.device == backend.CPU
        return False

    def _call(self, args: tuple, kwargs: dict) -> Any:
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            r = _run_hook(hook, self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            r = _run_hook(hook, self, args, out)
            if r is not None:
                out = r
        return out

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, (Parameter, Module)):
            if params is None:
                raise AttributeError(
                    f"cannot assign {name!r} before Module.__init__() was called; "
                    "call super().__init__() first in your module's __init__"
                )
            into = params if isinstance(value, Parameter) else self._modules
            self._unregister(name, into)
            into[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(a cr.nn.Parameter or None is expected)"
                )
            params[name] = None
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} "
                    "(a cr.nn.Module or None is expected)"
                )
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} "
                    "(a Tensor or None is expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self._store(name, value)

    def _store(self, name: str, value: Any) -> None:
        # Registered things also live in __dict__, so reading them is a plain attribute read
        # (fast on the hot path), unless the name would hide a method or an internal field:
        # those (a ModuleDict key "train", say) are found through __getattr__ instead.
        if name in _RESERVED or callable(getattr(type(self), name, None)):
            self.__dict__.pop(name, None)
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: registered names kept out of __dict__.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            reg = d.get(registry)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        self._unregister(name)
        if name in self.__dict__:
            object.__delattr__(self, name)

    def _unregister(self, name: str, into: dict | None = None) -> None:
        # Out of every registry but ``into``, where it is about to be stored: a name already
        # there keeps its place (PyTorch's order: ``seq[1] = m`` stays the second layer).
        for reg in (self._parameters, self._modules, self._buffers):
            if reg is not into:
                reg.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or ``None``: a declared but absent parameter, like a missing bias).

        Raises ``TypeError`` for anything but a :class:`Parameter` or ``None``, ``KeyError``
        for a name that is already a non-parameter attribute.
        """
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter({name!r}): expected a cr.nn.Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._check_new_name(name, self._parameters)
        self._unregister(name, self._parameters)
        self._parameters[name] = param
        self._store(name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a learned parameter (saved in ``state_dict``
        unless ``persistent=False``), e.g. BatchNorm's running mean.

        Raises ``TypeError`` for anything but a Tensor or ``None``, ``KeyError`` for a name
        that is already another kind of attribute.
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer({name!r}): expected a Tensor or None, got {type(tensor).__name__}"
            )
        self._check_new_name(name, self._buffers)
        self._unregister(name, self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)
        self._store(name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (the same as assigning the attribute)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): {type(module).__name__} is not a Module")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        self._unregister(name, self._modules)
        self._modules[name] = module
        self._store(name, module)

    register_module = add_module

    def _check_new_name(self, name: str, own: dict) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("call super().__init__() before registering anything")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"name must be a non-empty string without '.', got {name!r}")
        if name in self.__dict__ and name not in own:
            raise KeyError(f"attribute {name!r} already exists")

    # ------------------------------------------------------------------ traversal
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """``(qualified name, module)`` for this module (name ``""``) and all below it,
        depth first, each module once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it (each once)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for the direct children."""
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct children."""
        for _, child in self.named_children():
            yield child

    def _named_members(
        self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, registry).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(qualified name, parameter)`` in registration order, each shared parameter once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter of this module and (with ``recurse``) the modules below it."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(qualified name, buffer)`` for every buffer that is not ``None``."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer of this module and (with ``recurse``) the modules below it."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path such as ``"encoder.0"``; ``AttributeError`` if none."""
        mod: Module = self
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"{mod._get_name()} has no submodule {part!r} ({target!r})")
            mod = child
        return mod

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child (recursively) and then on this module; returns ``self``.

        Typical use: custom initialisation, ``net.apply(init_weights)``.
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout drops, BatchNorm uses batch statistics) here and below."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch ``requires_grad`` on every parameter (e.g. to freeze a module)."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter: set to ``None`` (default) or to zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def to(
        self, *args: Any, device: Any = None, dtype: Any = None, non_blocking: bool = False
    ) -> Module:
        """Move every parameter, gradient and buffer to a device and/or cast the floating ones
        to a dtype, in place (the same Parameter objects, so an optimiser built before keeps
        working); returns ``self``. As PyTorch: ``model.to("cuda")``, ``model.to("float64")``,
        ``model.to("cuda", "float64")``, ``model.to(device=..., dtype=...)``
        (``non_blocking`` is accepted and ignored: copies are synchronous).

        Moving to a GPU selects the CuPy backend (see :func:`chainrule.set_backend`). Raises
        :class:`~chainrule.errors.DTypeError` unless ``dtype`` is a floating dtype,
        :class:`~chainrule.errors.DeviceError` for an unknown device, missing CuPy or no GPU.
        """
        for a in args:
            if backend.is_device(a):
                device = a
            else:
                dtype = a
        d = None
        if dtype is not None:
            d = backend.as_dtype(dtype)
            if d.kind != "f":
                raise DTypeError(f"Module.to: only floating dtypes are supported, got {d}")
        dev = None if device is None else backend.device(device)
        for t in [*self.parameters(), *self.buffers()]:
            for holder in (t, t.grad):
                if holder is None:
                    continue
                data = holder.data
                if dev is not None:
                    data = backend.to_device(data, dev)
                if d is not None and data.dtype.kind == "f" and data.dtype != d:
                    data = data.astype(d)
                if data is not holder.data:
                    holder.data = data
                    holder._bump()
        return self

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 (see :meth:`to`)."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32 (see :meth:`to`)."""
        return self.to(np.float32)

    def _repr_html_(self) -> str:
        """Jupyter's view of a module: :func:`chainrule.nn.summary`'s table (parameters per
        layer; call ``cr.nn.summary(model, input_size)`` for output shapes too)."""
        from chainrule.nn.summary import summary

        return summary(self)._repr_html_()

    # ------------------------------------------------------------------ hooks
    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward; a non-``None`` return
        replaces the output. Returns a handle whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward; a non-``None`` return replaces
        the positional arguments. Returns a handle whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ state
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> dict[str, Any]:
        """Parameters and persistent buffers by qualified name, with PyTorch's key names and
        order (each module's parameters, then its buffers, then its children's).

        Values are NumPy arrays holding copies of the data (a snapshot that later training
        does not change); with ``keep_vars=True`` the tensors themselves.

        >>> import chainrule as cr
        >>> sd = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.BatchNorm1d(3)).state_dict()
        >>> list(sd)  # doctest: +NORMALIZE_WHITESPACE
        ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var',
         '1.num_batches_tracked']
        """
        out: dict[str, Any] = {}
        for name, t in self._state_items(prefix):
            out[name] = t if keep_vars else backend.to_numpy(t.data).copy()
        return out

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every (key, tensor) of the state dict, shared tensors under each of their names."""
        for mod_prefix, mod in self.named_modules(prefix=prefix, remove_duplicate=False):
            dot = f"{mod_prefix}." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    yield dot + name, p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers:
                    yield dot + name, b

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` (arrays, tensors, or a PyTorch
        state_dict converted with ``{k: v.numpy() for k, v in sd.items()}``) into this module,
        in place, cast to each tensor's dtype.

        Nothing is changed unless everything fits. Raises
        :class:`~chainrule.errors.StateDictError` listing, in one message, every mis-shaped
        key and (when ``strict``, the default) every missing and unexpected key. Returns the
        missing and unexpected keys (empty when ``strict``).
        """
        if not hasattr(state_dict, "items"):
            raise StateDictError(
                f"load_state_dict expects a mapping of names to arrays, got "
                f"{type(state_dict).__name__}"
            )
        own = dict(self._state_items())
        given = {str(k): v for k, v in state_dict.items()}
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        mismatched = []
        arrays = {}
        for k, t in own.items():
            if k not in given:
                continue
            try:
                arr = _as_array(given[k])
            except (TypeError, ValueError) as exc:
                mismatched.append(f"{k}: not an array ({type(given[k]).__name__}: {exc})")
                continue
            if tuple(arr.shape) != t.data.shape:
                mismatched.append(
                    f"{k}: shape {tuple(arr.shape)} in the state dict, {t.data.shape} in the model"
                )
            else:
                arrays[k] = arr
        problems = []
        if strict and missing:
            problems.append(f"missing keys ({len(missing)}): " + ", ".join(missing))
        if strict and unexpected:
            problems.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
        if mismatched:
            problems.append(f"shape mismatches ({len(mismatched)}): " + "; ".join(mismatched))
        if problems:
            raise StateDictError(
                f"error(s) loading state_dict into {self._get_name()}:\n  " + "\n  ".join(problems)
            )
        with no_grad():
            for k, arr in arrays.items():
                own[k].copy_(backend.xp.asarray(arr))
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (its settings)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [
            f"({name}): " + _indent(repr(child), 2) for name, child in self._modules.items()
        ]
        return _tree(self._get_name(), lines, children)


_RESERVED = frozenset(
    {"training", "_parameters", "_buffers", "_non_persistent_buffers", "_modules",
     "_forward_hooks", "_forward_pre_hooks"}
)  # fmt: skip


def _tree(name: str, extra_lines: list[str], child_lines: list[str]) -> str:
    """PyTorch's layout: ``Name(extra)`` on one line, else one indented line per item."""
    if len(extra_lines) == 1 and not child_lines:
        return f"{name}({extra_lines[0]})"
    items = extra_lines + child_lines
    if not items:
        return f"{name}()"
    return f"{name}(\n  " + "\n  ".join(items) + "\n)"


def _indent(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first."""
    return text.replace("\n", "\n" + " " * spaces)


def _as_array(v: Any) -> Any:
    if isinstance(v, Tensor):
        return v.data
    if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor that was not converted
        v = v.detach().cpu().numpy()
    arr = np.asarray(v)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"dtype {arr.dtype} is not numeric")
    return arr
