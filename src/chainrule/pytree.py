"""Floor 2: what the transforms of :mod:`chainrule.functional` share: checks on their
arguments and results, the stacking of Jacobian rows and columns, and pytrees (tensors,
arrays and numbers nested in tuples, lists and dicts, flattened to a list of leaves and
rebuilt, dict keys in sorted order as JAX).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd import Node, is_grad_enabled, topological_order
from chainrule.errors import BackwardError, ShapeError
from chainrule.ops import reshape, stack, transpose
from chainrule.tensor import Tensor


def stack_rows(rows: list[list[Tensor]], j: int, out_shape: tuple, x: Tensor) -> Tensor:
    """Rows ``vᵀJ`` (one per output element) for input leaf ``j`` -> ``out.shape + x.shape``."""
    if not rows:
        return Tensor._make(backend.xp.zeros(out_shape + x.shape, dtype=x.dtype))
    return reshape(stack([r[j] for r in rows]), out_shape + x.shape)


def stack_cols(cols: list[Tensor], out_shape: tuple, x: Tensor) -> Tensor:
    """Columns ``J e_k`` (one per element of ``x``) -> ``out.shape + x.shape``."""
    if not cols:
        return Tensor._make(backend.xp.zeros(out_shape + x.shape, dtype=x.dtype))
    n, m = len(cols), cols[0].data.size
    stacked = reshape(stack(cols), (n, m))
    return reshape(transpose(stacked), out_shape + x.shape)


def as_leaf(x: Any) -> tuple[Tensor, bool]:
    """A tensor to differentiate w.r.t.; True when it already carried a graph (nesting)."""
    if isinstance(x, Tensor):
        if x._requires_grad:
            return x, True
        t = x.detach()
    else:
        t = Tensor(x)
    if t.dtype.kind != "f":
        t = Tensor._make(t.data.astype(backend.get_default_dtype()))
    t.requires_grad = True
    return t, False


def as_leaves(values: list[Any]) -> tuple[list[Tensor], bool]:
    leaves, nested = [], False
    for v in values:
        t, was = as_leaf(v)
        leaves.append(t)
        nested |= was
    return leaves, nested


def closes_over_graph(outs: Sequence[Tensor], targets: Sequence[Tensor]) -> bool:
    """Whether the outputs also depend on tensors that require grad other than ``targets``
    (f closes over an outer variable or a parameter), while recording: then the result must
    stay differentiable w.r.t. them (``grad`` of a ``grad`` that uses the outer argument, a
    gradient penalty on a model's parameters)."""
    roots = [o._node for o in outs if o._node is not None]
    if not is_grad_enabled() or not roots:
        return False
    own = {id(t) for t in targets}
    return any(
        p is not None and type(p) is not Node and id(p) not in own
        for node in topological_order(roots)
        for p in node.parents
    )


def argnums_tuple(argnums: int | Sequence[int]) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def check_argnums(name: str, nums: tuple[int, ...], n_args: int) -> None:
    for n in nums:
        if not -n_args <= n < n_args:
            raise IndexError(f"{name}: argnums {n} is out of range for {n_args} arguments")


def split_aux(name: str, res: Any, has_aux: bool) -> tuple[Any, Any]:
    if not has_aux:
        return res, None
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        raise TypeError(f"{name}: has_aux=True needs f to return a pair (output, aux)")
    return res[0], res[1]


def check_outputs(name: str, outs: list[Any]) -> None:
    for o in outs:
        if not isinstance(o, Tensor):
            raise BackwardError(
                f"{name}: f returned a {type(o).__module__}.{type(o).__name__}, not a Tensor: "
                "its result has no graph to differentiate; compute it with chainrule ops (or "
                "wrap a constant with cr.tensor)"
            )


def cast_like(name: str, what: str, v: Any, ref: Tensor, ref_what: str) -> Tensor:
    """``v`` as a tensor shaped and typed like ``ref`` (a tangent like its primal, a
    cotangent like its output)."""
    if isinstance(v, Tensor):
        t = v
    else:
        t = Tensor._make(backend.to_device(v, backend.device_of(ref.data)))
    if t.shape != ref.shape:
        raise ShapeError(f"{name}: {what} has shape {t.shape}, {ref_what} has {ref.shape}")
    if t.dtype != ref.dtype:
        t = Tensor._make(t.data.astype(ref.dtype))
    return t


# ---------------------------------------------------------------------------- pytrees
class Tree:
    """The structure of a pytree: ``kind`` is ``None`` for a leaf, else the container type
    (tuple, list, dict or a namedtuple class), with the children's structures (and a dict's
    sorted keys)."""

    __slots__ = ("children", "keys", "kind", "size")

    def __init__(self, kind: Any, children: Sequence[Tree] = (), keys: tuple = ()) -> None:
        self.kind = kind
        self.children = tuple(children)
        self.keys = keys
        self.size = 1 if kind is None else sum(c.size for c in self.children)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tree)
            and self.kind is other.kind
            and self.keys == other.keys
            and self.children == other.children
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.keys, self.children))

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        inner = (
            ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children))
            if self.kind is dict
            else ", ".join(repr(c) for c in self.children)
        )
        if self.kind is dict:
            return "{" + inner + "}"
        if self.kind is list:
            return "[" + inner + "]"
        return "(" + inner + ("," if len(self.children) == 1 else "") + ")"


def flatten(tree: Any) -> tuple[list[Any], Tree]:
    """The leaves of a pytree, left to right, and its structure."""
    if isinstance(tree, (tuple, list)):
        leaves: list[Any] = []
        children = []
        for c in tree:
            ls, t = flatten(c)
            leaves.extend(ls)
            children.append(t)
        return leaves, Tree(type(tree), children)
    if isinstance(tree, dict):
        keys = tuple(sorted(tree))
        leaves, children = [], []
        for k in keys:
            ls, t = flatten(tree[k])
            leaves.extend(ls)
            children.append(t)
        return leaves, Tree(dict, children, keys)
    return [tree], Tree(None)


def unflatten(tree: Tree, leaves: Sequence[Any]) -> Any:
    """The pytree of structure ``tree`` holding ``leaves`` (inverse of :func:`flatten`)."""
    it = iter(leaves)

    def build(t: Tree) -> Any:
        if t.kind is None:
            return next(it)
        parts = [build(c) for c in t.children]
        if t.kind is dict:
            return dict(zip(t.keys, parts))
        if t.kind in (tuple, list):
            return t.kind(parts)
        return t.kind(*parts)  # a namedtuple

    return build(tree)
