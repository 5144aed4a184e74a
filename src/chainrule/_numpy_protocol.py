"""NumPy functions given tensors: ``np.sum(t)``, ``np.exp(t)``, ``ndarray + t``.

A Tensor implements NumPy's dispatch protocols (``__array_ufunc__``, ``__array_function__``)
here. A NumPy function or ufunc that chainrule also has, under the same name (or NumPy's
alias of it), runs as the chainrule op: the result is a Tensor and gradients flow. One that
chainrule lacks runs in NumPy on the tensors' arrays and returns NumPy's result, as before
(shapes, indices, booleans, arrays), except when a tensor argument requires grad and the
result holds floating-point values: their gradient would be lost silently, so a
:class:`~chainrule.errors.NotDifferentiableError` (a ``TypeError``) says what to call instead.
"""

from __future__ import annotations

import functools
from typing import Any

# NumPy's name -> chainrule's, where they differ.
_ALIASES = {
    "absolute": "abs", "fabs": "abs", "true_divide": "divide", "amax": "max", "amin": "min",
    "around": "round", "round_": "round", "concat": "concatenate", "pow": "power",
    "acos": "arccos", "asin": "arcsin", "atan": "arctan", "atan2": "arctan2",
    "acosh": "arccosh", "asinh": "arcsinh", "atanh": "arctanh", "bitwise_invert": "invert",
    "bitwise_left_shift": "left_shift", "bitwise_right_shift": "right_shift",
    "permute_dims": "transpose",
}  # fmt: skip
# ufunc methods with a chainrule op of their own: (ufunc, method) -> op
_METHODS = {
    ("add", "reduce"): "sum", ("multiply", "reduce"): "prod", ("maximum", "reduce"): "max",
    ("minimum", "reduce"): "min", ("logaddexp", "reduce"): "logsumexp",
    ("add", "accumulate"): "cumsum", ("multiply", "accumulate"): "cumprod",
    ("multiply", "outer"): "outer", ("logical_and", "reduce"): "all",
    ("logical_or", "reduce"): "any",
}  # fmt: skip


def _tensor_type() -> type:
    from chainrule.tensor import Tensor

    return Tensor


@functools.cache
def _lookup(name: str, module: str = "numpy") -> Any:
    """The chainrule function NumPy's ``module.name`` corresponds to, or None."""
    from chainrule import linalg, ops  # here: both import the Tensor this module serves

    name = _ALIASES.get(name, name)
    if module == "numpy":
        return getattr(ops, name, None) if name in ops.__all__ else None
    # numpy.linalg -> cr.linalg; NumPy's other submodules (fft, random...) have no namesake
    namespace = {"numpy.linalg": linalg}.get(module)
    fn = getattr(namespace, name, None) if namespace is not None else None
    return fn if callable(fn) else None


def _walk(obj: Any, fn: Any) -> Any:
    """``obj`` with ``fn`` applied to every Tensor inside lists, tuples and dicts."""
    tensor = _tensor_type()
    if isinstance(obj, tensor):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_walk(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    return obj


def _contains_tensor(obj: Any) -> bool:
    found: list[bool] = []
    _walk(obj, lambda t: found.append(True))
    return bool(found)


def _needs_grad(*objs: Any) -> bool:
    from chainrule.autograd import is_grad_enabled

    found = []
    _walk(objs, lambda t: found.append(t._requires_grad))
    return any(found) and is_grad_enabled()


def _unwrap(obj: Any) -> Any:
    return _walk(obj, lambda t: t.numpy())


def _has_floats(obj: Any) -> bool:
    if isinstance(obj, (list, tuple)):
        return any(_has_floats(o) for o in obj)
    kind = getattr(getattr(obj, "dtype", None), "kind", None)
    return kind in ("f", "c") or isinstance(obj, float)


def _numpy_result(func: Any, what: str, instead: str | None, args: tuple, kwargs: dict) -> Any:
    """NumPy's ``func`` on the unwrapped arguments, refused when it would lose a gradient."""
    result = func(*_unwrap(args), **_unwrap(kwargs))
    if _has_floats(result) and _needs_grad(args, kwargs):
        raise _refuse(what, instead)
    return result


def _refuse(what: str, instead: str | None) -> Exception:
    hint = (
        f"call cr.{instead}"
        if instead
        else "chainrule has no differentiable version of it: compute it with chainrule ops"
    )
    from chainrule.errors import NotDifferentiableError

    return NotDifferentiableError(
        f"{what} got a tensor that requires grad, and its result would carry no gradient; "
        f"{hint}, or .detach() the tensor to leave the graph on purpose"
    )


# NumPy functions that write into their first argument: a tensor there is refused (its data
# would change behind the graph's back, or, dispatched to an out-of-place op, not at all).
_IN_PLACE = {
    "copyto": "t[...] = value (under cr.no_grad() for a tensor that requires grad)",
    "put": "t[...] = value, or cr.scatter", "place": "cr.where(mask, values, t)",
    "putmask": "cr.where(mask, values, t)", "fill_diagonal": "t[...] = value",
    "put_along_axis": "cr.put_along_axis (out of place: it returns the new tensor)",
}  # fmt: skip


def _in_place_error(what: str, instead: str) -> TypeError:
    return TypeError(
        f"{what} writes into its first argument in place, and NumPy does not write into "
        f"chainrule tensors; use {instead}"
    )


def array_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_ufunc__``: see the module docstring."""
    name = ufunc.__name__
    if method == "at" and _contains_tensor(inputs[:1]):
        raise _in_place_error(f"numpy.{name}.at", "cr.index_add / cr.scatter_add (out of place)")
    out = kwargs.get("out")
    has_out = out is not None and any(
        o is not None for o in (out if isinstance(out, tuple) else (out,))
    )
    extra = {k: v for k, v in kwargs.items() if k != "out"}
    op = None
    if method == "__call__":
        op = _lookup(name)
    elif (name, method) in _METHODS:
        op = _lookup(_METHODS[(name, method)])
    if op is not None and not has_out and not extra:
        if method == "reduce" and not kwargs:
            return op(inputs[0], axis=0)
        if method == "accumulate":
            return op(inputs[0], axis=0)
        return op(*inputs)
    if op is not None and method == "reduce" and not has_out and set(extra) <= {"axis", "keepdims"}:
        return op(inputs[0], **{"axis": 0, **extra})
    what = f"numpy.{name}" + ("" if method == "__call__" else f".{method}")
    if has_out and _contains_tensor(out):
        raise TypeError(
            f"{what}(..., out=<Tensor>): chainrule tensors are not written by NumPy; "
            "assign the result instead (t[...] = value under cr.no_grad())"
        )
    instead = op.__name__ if op is not None else None
    if op is not None and has_out:
        instead += " without out= (chainrule ops return new tensors)"
    return _numpy_result(getattr(ufunc, method), what, instead, inputs, kwargs)


def array_function(func: Any, args: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_function__``: see the module docstring."""
    name = func.__name__
    module = func.__module__ or "numpy"
    if name in _IN_PLACE and _contains_tensor(args[:1]):
        raise _in_place_error(f"numpy.{name}", _IN_PLACE[name])
    fn = _lookup(name, "numpy" if module.startswith("numpy._core") else module)
    what = f"{module if module.startswith('numpy.') and '_' not in module else 'numpy'}.{name}"
    if fn is not None:
        kw = dict(kwargs)
        if kw.pop("out", None) is not None:
            instead = f"{fn.__name__} without out= (chainrule ops return new tensors)"
            return _numpy_result(func, what, instead, args, kwargs)
        dtype = kw.pop("dtype", None)
        try:
            result = fn(*args, **kw)
        except TypeError:
            # NumPy's signature differs here (np.where(c) with one argument, an option
            # chainrule lacks): NumPy itself answers when no gradient is at stake
            if _needs_grad(args, kwargs):
                raise
            return func(*_unwrap(args), **_unwrap(kwargs))
        return result if dtype is None else result.astype(dtype)
    return _numpy_result(func, what, None, args, kwargs)
