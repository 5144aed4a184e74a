"""Floor 2: the node, what the tape records of one op application.

A :class:`Node` holds what backward needs to apply the op's gradient rules: the node or leaf
each input came from, the inputs' shapes, and what the rules read (every input and the output,
or less when the op declared ``keep=``), with the versions of the kept inputs so that backward
can tell when one was modified in place. :func:`_record` builds one; every recorded op pays
for it, so it is written for speed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainrule.errors import GraphFreedError, InplaceError
from chainrule.tensor import Tensor

if TYPE_CHECKING:
    from chainrule.tape import Primitive

_new_node = object.__new__


class Node:
    """One recorded op application: what backward needs to apply its rule.

    ``parents[i]`` is the node that produced input ``i``, the leaf tensor itself, or ``None``
    when the input needs no gradient. ``args`` holds the inputs the rule reads (others
    ``None``, or their shape and dtype alone), ``out`` the output array if read; both are
    dropped after backward unless the graph is retained. ``versions`` holds the version of
    each tensor in ``args`` when the node was recorded, in order, for the in-place check.
    """

    __slots__ = (
        "__weakref__",
        "args",
        "hooks",
        "kwargs",
        "out",
        "out_version",
        "parents",
        "prim",
        "retained",
        "saves",
        "shapes",
        "versions",
    )

    def __new__(cls, prim: Primitive, args: tuple, kwargs: dict, out: Tensor) -> Node:
        return _record(prim, args, kwargs, out)

    @property
    def name(self) -> str:
        """The op's name, with a ``Backward`` suffix as PyTorch prints it."""
        return f"{self.prim.name}Backward"

    @property
    def freed(self) -> bool:
        """Whether backward has already freed what this node kept (graph not retained)."""
        return self.args is None

    @property
    def next_nodes(self) -> tuple:
        """The nodes (or leaf tensors) this node passes gradients to."""
        return tuple(p for p in self.parents if p is not None)

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def _output(self) -> Tensor | None:
        if self.out is None:
            return None
        t = Tensor._make(self.out)
        t._node = self
        t._requires_grad = True
        t._version = self.out_version
        return t

    def _check_saved(self) -> None:
        if self.args is None:
            raise GraphFreedError(
                f"backward through {self.prim.name} a second time: its saved tensors were "
                "freed after the first backward; pass retain_graph=True to the first one"
            )
        versions = iter(self.versions)
        for a in self.args:
            if isinstance(a, Tensor):  # an input kept for its data
                now, then = a._version[0], next(versions)
                if now != then:
                    raise InplaceError(
                        f"an input saved by {self.prim.name} for backward was modified in "
                        f"place (version {now}, saved at version {then}); "
                        "clone it before modifying, or recompute the forward"
                    )
        if self.out_version is not None and self.out_version[0] != 0:
            raise InplaceError(
                f"the output of {self.prim.name}, saved for backward, was modified in place"
            )

    def _free(self) -> None:
        if self.saves:
            self.args = None
            self.out = None
            self.versions = ()


def _record(prim: Primitive, args: tuple, kwargs: dict, out: Tensor) -> Node:
    """The node of one op application (``Node(prim, args, kwargs, out)``).

    Runs once per recorded op, so it is written for speed: one or two arguments read without
    lists, following the primitive's plan, the usual cases (one tensor; two tensors, or a tensor
    and a constant, keeping both or neither) first; the versions of kept inputs never modified
    in place (the usual case) are a constant tuple.
    """
    node = _new_node(Node)
    node.prim = prim
    node.kwargs = kwargs
    node.hooks = None
    node.retained = None
    if prim._keeps_out:
        node.out = out.data
        node.out_version = out._version
        saves = True
    else:
        node.out = None
        node.out_version = None
        saves = False
    n = len(args)
    if n == 1:  # one tensor: its data, its shape or nothing kept
        x = args[0]
        if isinstance(x, Tensor):
            xd = x.data
            node.parents = ((x._node or x) if x._requires_grad else None,)
            node.shapes = (xd.shape,)
            kx = prim._plan[0]
            if kx is None:
                node.args = (None,)
                node.versions = ()
                node.saves = saves
            elif kx == "data":
                node.args = args
                vx = x._version[0]
                node.versions = (vx,) if vx else (0,)
                node.saves = True
            else:
                node.args = (_meta(xd.shape, xd.dtype),)
                node.versions = ()
                node.saves = saves
            return node
    elif n == 2:
        x, y = args
        both = prim._both  # True: inputs 0 and 1 kept for their data; False: neither kept
        if both is not None and isinstance(x, Tensor):  # the usual two-input ops
            px = (x._node or x) if x._requires_grad else None
            if isinstance(y, Tensor):
                node.parents = (px, (y._node or y) if y._requires_grad else None)
                node.shapes = (x.data.shape, y.data.shape)
                if both:
                    node.args = args
                    vx = x._version[0]
                    vy = y._version[0]
                    node.versions = (vx, vy) if vx or vy else (0, 0)
                    node.saves = True
                else:
                    node.args = (None, None)
                    node.versions = ()
                    node.saves = saves
                return node
            node.parents = (px, None)  # a tensor and a constant (x * 2.0)
            node.shapes = (x.data.shape, None)
            if both:
                node.args = args
                vx = x._version[0]
                node.versions = (vx,) if vx else (0,)
                node.saves = True
            else:
                node.args = (None, y)
                node.versions = ()
                node.saves = saves
            return node
        # Any other two arguments: x, then y, written out (the general loop below costs
        # ~0.5 µs more per node).
        kx, ky = prim._plan
        vx = vy = None  # the versions of the inputs kept for their data
        if isinstance(x, Tensor):
            xd = x.data
            xs = xd.shape
            px = (x._node or x) if x._requires_grad else None
            if kx == "data":
                sx = x
                vx = x._version[0]
            else:
                sx = _meta(xs, xd.dtype) if kx else None
        else:
            sx = x
            xs = px = None
        if isinstance(y, Tensor):
            yd = y.data
            ys = yd.shape
            py = (y._node or y) if y._requires_grad else None
            if ky == "data":
                sy = y
                vy = y._version[0]
            else:
                sy = _meta(ys, yd.dtype) if ky else None
        else:
            sy = y
            ys = py = None
        node.parents = (px, py)
        node.shapes = (xs, ys)
        node.args = args if sx is x and sy is y else (sx, sy)
        if vx is None:
            if vy is None:
                node.versions = ()
                node.saves = saves
                return node
            node.versions = (vy,) if vy else (0,)
        elif vy is None:
            node.versions = (vx,) if vx else (0,)
        else:
            node.versions = (vx, vy) if vx or vy else (0, 0)
        node.saves = True
        return node
    keep = prim._keep_decl
    parents = []
    shapes = []
    versions = []
    if keep is None:  # every input and the output
        for a in args:
            if isinstance(a, Tensor):
                shapes.append(a.data.shape)
                parents.append((a._node or a) if a._requires_grad else None)
                versions.append(a._version[0])
            else:
                shapes.append(None)
                parents.append(None)
        node.args = args
    else:
        kinds = keep[0]
        saved = []
        i = -1
        for a in args:
            i += 1
            if not isinstance(a, Tensor):
                shapes.append(None)
                parents.append(None)
                saved.append(a)
                continue
            data = a.data
            shapes.append(data.shape)
            parents.append((a._node or a) if a._requires_grad else None)
            kind = kinds.get(i)
            if kind == "data":
                saved.append(a)
                versions.append(a._version[0])
            elif kind:
                saved.append(_meta(data.shape, data.dtype))
            else:
                saved.append(None)
        node.args = tuple(saved)
    node.parents = tuple(parents)
    node.shapes = tuple(shapes)
    node.versions = tuple(versions)
    node.saves = saves or bool(versions)
    return node


class _Meta:
    """Stands in for an input whose rule reads only its shape, ndim and dtype."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _meta(shape: tuple[int, ...], dtype: Any) -> _Meta:
    """``_Meta(shape, dtype)`` without the class call (once per input kept by its shape)."""
    m = _new_node(_Meta)
    m.shape = shape
    m.dtype = dtype
    return m
