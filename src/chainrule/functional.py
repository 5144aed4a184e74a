"""Floor 2: transforms. Functions in, functions out, as in JAX: ``grad``, ``value_and_grad``,
``vjp``, ``jvp``, ``linearize``, ``jacrev`` (``jacobian``), ``jacfwd``, ``hessian``, ``hvp``.

Arguments and results may be pytrees: tensors, arrays and numbers nested in tuples, lists and
dicts (dict keys in sorted order, as JAX). Arguments are converted to tensors (integers to the
default float dtype); results come back as tensors in the same structure.

**How forward mode is computed.** chainrule has one set of rules, reverse ones (vector-Jacobian
products). A Jacobian-vector product is obtained from them by the "jvp from two vjps" trick
(the linearisation by transposition): for ``y = f(x)`` and a cotangent ``u``, the vjp
``u ↦ Jᵀu`` is linear in ``u``, and its own vjp with cotangent ``t`` is ``(Jᵀ)ᵀ t = J t``.
So ``linearize`` runs ``f`` once, runs its backward once *recording* (``create_graph``) with
a symbolic cotangent ``u`` (ones that require grad), and every tangent afterwards costs one
reverse pass through that recorded graph, pruned to the part that depends on ``u`` (about
the cost of one backward pass). ``jvp`` is ``linearize`` applied to one tangent (one forward
and two backward passes); ``jacfwd`` of a function of ``n`` input elements applies it to the
``n`` basis tangents: O(n) passes, against ``jacrev``'s O(m) for ``m`` output elements. Every
rule written with chainrule's differentiable ops (all built-in ones are) works in forward
mode with nothing else to write, provided it is linear in ``g`` as a vjp is: no term dropped
or changed by a test on ``g``'s values unless ``g.requires_grad`` is false. ``hessian`` is
``jacfwd(jacrev(f))``, JAX's forward-over-reverse composition; ``hvp`` uses the Hessian's
symmetry, ``H v = ∇(∇f · v)``: two reverse passes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd import enable_grad, gradients
from chainrule.errors import BackwardError, ShapeError
from chainrule.pytree import (
    Tree,
    argnums_tuple,
    as_leaves,
    cast_like,
    check_argnums,
    check_outputs,
    closes_over_graph,
    flatten,
    split_aux,
    stack_cols,
    stack_rows,
    unflatten,
)
from chainrule.tensor import Tensor

__all__ = [
    "grad", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jvp", "linearize",
    "value_and_grad", "vjp",
]  # fmt: skip


# ---------------------------------------------------------------------------- reverse mode
def value_and_grad(
    f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable:
    """``f`` turned into a function returning ``(f(*args), d f / d args[argnums])`` (JAX).

    ``f`` must return a one-element tensor (with ``has_aux=True``: a pair ``(value, aux)``,
    and the result is ``((value, aux), grad)``). With a tuple ``argnums`` the gradient is a
    tuple; an argument that is a pytree (tuple / list / dict of arrays) gets a gradient of the
    same structure. Arguments may be arrays, numbers or tensors; gradients come back as
    tensors, themselves differentiable when an argument already required grad (so
    ``grad(grad(f))`` works).

    Raises :class:`~chainrule.errors.BackwardError` when ``f`` does not return a one-element
    tensor.

    >>> import chainrule as cr
    >>> cr.value_and_grad(lambda x: (x ** 3).sum())(cr.tensor([2.0]))
    (tensor(8., dtype=float32), tensor([12.], dtype=float32))
    """
    nums = argnums_tuple(argnums)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        args = list(args)
        check_argnums("grad", nums, len(args))
        nested = False
        trees, targets = [], []
        for n in nums:
            leaves, tree = flatten(args[n])
            leaves, was = as_leaves(leaves)
            nested |= was
            args[n] = unflatten(tree, leaves)
            trees.append(tree)
            targets.extend(leaves)
        with enable_grad():
            res = f(*args, **kwargs)
        out, aux = split_aux("grad", res, has_aux)
        if not isinstance(out, Tensor) or out.data.size != 1:
            raise BackwardError(
                "grad/value_and_grad need f to return a one-element tensor, got "
                f"{getattr(out, 'shape', type(out).__name__)}"
            )
        nested = nested or closes_over_graph([out], targets)
        gs = _grads([out], targets, None, create_graph=nested, retain_graph=nested)
        per_arg, k = [], 0
        for tree in trees:
            per_arg.append(unflatten(tree, gs[k : k + tree.size]))
            k += tree.size
        value = out if nested else out.detach()
        g = per_arg[0] if isinstance(argnums, int) else tuple(per_arg)
        return ((value, aux) if has_aux else value), g

    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``f`` turned into a function returning its gradient (JAX's ``grad``).

    See :func:`value_and_grad` for ``argnums``, ``has_aux`` (then ``(grad, aux)``) and errors.

    >>> import chainrule as cr
    >>> cr.grad(cr.grad(lambda x: (x ** 3).sum()))(cr.tensor(2.0))
    tensor(12., dtype=float32)
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapped


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(v)`` gives ``vᵀJ`` for each primal (JAX).

    ``f`` returns a tensor or a pytree of tensors; ``v`` has the same structure and shapes.
    ``vjp_fn`` returns a tuple with one cotangent per primal (each shaped like its primal,
    pytrees kept) and may be called several times (the graph is retained). With
    ``has_aux=True`` ``f`` returns ``(out, aux)`` and the result is ``(out, vjp_fn, aux)``.

    Raises :class:`~chainrule.errors.BackwardError` when ``f`` returns something that is not
    a tensor (a NumPy array has no graph), :class:`~chainrule.errors.ShapeError` when ``v``
    does not match the output.

    >>> import chainrule as cr
    >>> out, vjp_fn = cr.vjp(lambda x: x * x, cr.tensor([1.0, 2.0]))
    >>> vjp_fn(cr.tensor([1.0, 1.0]))
    (tensor([2., 4.], dtype=float32),)
    """
    leaves_in, tree_in = flatten(tuple(primals))
    xs, nested = as_leaves(leaves_in)
    with enable_grad():
        res = f(*unflatten(tree_in, xs))
    res, aux = split_aux("vjp", res, has_aux)
    outs, tree_out = flatten(res)
    check_outputs("vjp", outs)
    nested = nested or closes_over_graph(outs, xs)

    def vjp_fn(v: Any) -> tuple[Any, ...]:
        vs, vtree = flatten(v)
        if vtree != tree_out:
            raise ShapeError(
                f"vjp: the cotangent's structure {vtree} differs from the output's {tree_out}"
            )
        vts = [cast_like("vjp", "cotangent", vi, o, "output") for vi, o in zip(vs, outs)]
        gs = _grads(outs, xs, vts, create_graph=nested, retain_graph=True)
        return unflatten(tree_in, gs)

    out = res if nested else unflatten(tree_out, [o.detach() for o in outs])
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``f`` turned into a function returning its Jacobian by reverse mode (JAX's ``jacrev``).

    For an output ``y`` and an argument ``x`` the Jacobian has shape ``y.shape + x.shape``,
    ``J[i..., j...] = ∂y[i...]/∂x[j...]``. ``f`` runs once; each of the ``m`` output
    elements then costs one backward pass: O(m) passes, the choice for few outputs (use
    :func:`jacfwd` for few inputs). Pytrees: the result has the output's structure, each leaf
    holding the argument's structure (a tuple over ``argnums`` when it is a tuple). With
    ``has_aux=True`` ``f`` returns ``(out, aux)`` and the result is ``(jacobian, aux)``.

    >>> import chainrule as cr
    >>> cr.jacrev(lambda x: x * x)(cr.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]], dtype=float32)
    """
    nums = argnums_tuple(argnums)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        lin = _Recorded("jacrev", f, args, kwargs, nums, has_aux)
        blocks = []  # blocks[o][j]: output leaf o against input leaf j
        xp = backend.xp
        for o in lin.outs:
            rows = []
            for k in range(o.data.size):
                e = xp.zeros(o.data.size, dtype=o.dtype)
                e[k] = 1
                rows.append(lin.vjp_one(o, Tensor._make(e.reshape(o.shape))))
            blocks.append([stack_rows(rows, j, o.shape, x) for j, x in enumerate(lin.xs)])
        return lin.result(blocks, isinstance(argnums, int))

    return wrapped


jacobian = jacrev  # the name chainrule has had; PyTorch's torch.autograd.functional.jacobian


# ---------------------------------------------------------------------------- forward mode
def linearize(f: Callable, *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(f(*primals), f_jvp)`` where ``f_jvp(*tangents)`` gives ``J t`` (JAX's ``linearize``).

    ``f`` is evaluated once, here; ``f_jvp`` takes one tangent per primal (same pytree
    structure and shapes) and returns the output tangent in the output's structure, each call
    one reverse pass through the transposed backward graph (see this module's docstring:
    forward mode from two vjps). With ``has_aux=True`` ``f`` returns ``(out, aux)`` and the
    result is ``(out, f_jvp, aux)``.

    Raises :class:`~chainrule.errors.BackwardError` when ``f`` returns something that is not
    a tensor, :class:`~chainrule.errors.ShapeError` when a tangent does not match its primal.

    >>> import chainrule as cr
    >>> out, f_jvp = cr.linearize(lambda x: cr.sin(x), cr.tensor([0.0, 1.0]))
    >>> f_jvp(cr.tensor([2.0, 0.0]))
    tensor([2., 0.], dtype=float32)
    """
    lin = _Recorded("linearize", f, primals, {}, tuple(range(len(primals))), has_aux)
    lin.transpose()

    def f_jvp(*tangents: Any) -> Any:
        if len(tangents) != len(primals):
            raise ShapeError(f"linearize: f_jvp takes {len(primals)} tangents, got {len(tangents)}")
        return lin.jvp("linearize", tangents)

    out = lin.output()
    return (out, f_jvp, lin.aux) if has_aux else (out, f_jvp)


def jvp(
    f: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple[Any, ...]:
    """``(f(*primals), J t)``: the Jacobian-vector product (JAX's ``jvp``, forward mode).

    ``primals`` and ``tangents`` are tuples (or lists) of the same length and structure, each
    tangent shaped like its primal; the output tangent has the output's structure. Computed
    from two vjps (one forward, two backward passes; see this module's docstring). With
    ``has_aux=True`` the result is ``(out, tangent_out, aux)``.

    Raises ``TypeError`` when ``primals`` or ``tangents`` is not a tuple or list,
    :class:`~chainrule.errors.ShapeError` when they do not match,
    :class:`~chainrule.errors.BackwardError` when ``f`` returns something that is not a tensor.

    >>> import chainrule as cr
    >>> x, y = cr.tensor(3.0), cr.tensor(4.0)
    >>> cr.jvp(lambda x, y: x * y, (x, y), (cr.tensor(1.0), cr.tensor(0.0)))
    (tensor(12., dtype=float32), tensor(4., dtype=float32))
    """
    for what, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, (tuple, list)):
            raise TypeError(
                f"jvp: {what} must be a tuple or list of arguments to f, got "
                f"{type(v).__name__} (write jvp(f, (x,), (t,)) for one argument)"
            )
    if len(primals) != len(tangents):
        raise ShapeError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    lin = _Recorded("jvp", f, primals, {}, tuple(range(len(primals))), has_aux)
    lin.transpose()
    t = lin.jvp("jvp", tangents)
    out = lin.output()
    return (out, t, lin.aux) if has_aux else (out, t)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``f`` turned into a function returning its Jacobian by forward mode (JAX's ``jacfwd``).

    Same result and layout as :func:`jacrev` (``y.shape + x.shape`` per output and argument,
    pytrees kept). ``f`` runs once and its backward is recorded once; each of the ``n`` input
    elements then costs one pass through the transposed graph: O(n) passes, the choice for
    few inputs and many outputs.

    >>> import chainrule as cr
    >>> cr.jacfwd(lambda x: cr.stack([x.sum(), (x * x).sum(), x[0]]))(cr.tensor([1.0, 2.0]))
    tensor([[1., 1.],
            [2., 4.],
            [1., 0.]], dtype=float32)
    """
    nums = argnums_tuple(argnums)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        lin = _Recorded("jacfwd", f, args, kwargs, nums, has_aux)
        lin.transpose()
        xp = backend.xp
        cols = [[] for _ in lin.outs]  # cols[o][j]: for input leaf j, its columns for output o
        for j, x in enumerate(lin.xs):
            per_out: list[list[Tensor]] = [[] for _ in lin.outs]
            for k in range(x.data.size):
                e = xp.zeros(x.data.size, dtype=x.dtype)
                e[k] = 1
                for o, t in enumerate(lin.jvp_one(j, Tensor._make(e.reshape(x.shape)))):
                    per_out[o].append(t)
            for o in range(len(lin.outs)):
                cols[o].append(per_out[o])
        blocks = [
            [stack_cols(cols[o][j], out.shape, x) for j, x in enumerate(lin.xs)]
            for o, out in enumerate(lin.outs)
        ]
        return lin.result(blocks, isinstance(argnums, int))

    return wrapped


def hessian(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Hessian of a scalar ``f``: ``jacfwd(jacrev(f))``, forward-over-reverse as in JAX.

    Shape ``x.shape + x.shape`` for one argument (nested tuples of blocks for a tuple
    ``argnums``). The gradient is recorded once and each of the ``n`` input elements costs one
    pass: O(n) passes.

    >>> import chainrule as cr
    >>> cr.hessian(lambda x: (x ** 3).sum())(cr.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]], dtype=float32)
    """
    return jacfwd(jacrev(f, argnums, has_aux), argnums, has_aux)


def hvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """The Hessian-vector product ``H v`` of a scalar ``f`` at ``primals`` (JAX's cookbook
    ``hvp(f, primals, tangents)``), without forming ``H``.

    ``primals`` and ``tangents`` are tuples of the same structure; the result is a tuple with
    one entry per primal (``(H v)_i = Σ_j ∂²f/∂x_i∂x_j v_j``). Computed as ``∇(∇f · v)``: one
    recorded backward pass and one plain one, whatever the size of ``x`` (for a twice
    continuously differentiable ``f`` the Hessian is symmetric, so this equals the
    forward-over-reverse ``jvp(grad(f), primals, tangents)``).

    Raises ``TypeError`` / :class:`~chainrule.errors.ShapeError` as :func:`jvp`, and
    :class:`~chainrule.errors.BackwardError` when ``f`` does not return a one-element tensor.

    >>> import chainrule as cr
    >>> cr.hvp(lambda x: (x ** 3).sum(), (cr.tensor([1.0, 2.0]),), (cr.tensor([1.0, 1.0]),))
    (tensor([ 6., 12.], dtype=float32),)
    """
    for what, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, (tuple, list)):
            raise TypeError(f"hvp: {what} must be a tuple or list, got {type(v).__name__}")
    if len(primals) != len(tangents):
        raise ShapeError(f"hvp: {len(primals)} primals but {len(tangents)} tangents")
    leaves_in, tree_in = flatten(tuple(primals))
    t_leaves, t_tree = flatten(tuple(tangents))
    if t_tree != tree_in:
        raise ShapeError(
            f"hvp: the tangents' structure {t_tree} differs from the primals' {tree_in}"
        )
    xs, nested = as_leaves(leaves_in)
    vs = [cast_like("hvp", "tangent", t, x, "primal") for t, x in zip(t_leaves, xs)]
    with enable_grad():
        out = f(*unflatten(tree_in, xs))
        if not isinstance(out, Tensor) or out.data.size != 1:
            raise BackwardError(
                "hvp needs f to return a one-element tensor, got "
                f"{getattr(out, 'shape', type(out).__name__)}"
            )
        nested = nested or closes_over_graph([out], xs)
        gs = _grads([out], xs, None, create_graph=True, retain_graph=True)
        dot = None
        for g, v in zip(gs, vs):
            if g._requires_grad:
                term = (g * v).sum()
                dot = term if dot is None else dot + term
    if dot is None:
        hv = [Tensor._make(backend.xp.zeros_like(x.data)) for x in xs]
    else:
        hv = _grads([dot], xs, None, create_graph=nested, retain_graph=nested)
    return unflatten(tree_in, hv)


# ---------------------------------------------------------------------------- the machinery
class _Recorded:
    """``f`` evaluated once on leaves made from the chosen arguments, its graph recorded.

    ``vjp_one`` gives a vjp; after ``transpose()`` (the backward recorded once with symbolic
    cotangents ``us``), ``jvp_one`` / ``jvp`` give Jacobian-vector products, each one reverse
    pass through that recorded backward, w.r.t. ``us``.
    """

    def __init__(
        self,
        name: str,
        f: Callable,
        args: Sequence[Any],
        kwargs: dict,
        nums: tuple[int, ...],
        has_aux: bool,
    ) -> None:
        args = list(args)
        check_argnums(name, nums, len(args))
        self.trees = []
        self.xs: list[Tensor] = []
        self.nested = False
        for n in nums:
            leaves, tree = flatten(args[n])
            leaves, was = as_leaves(leaves)
            self.nested |= was
            args[n] = unflatten(tree, leaves)
            self.trees.append(tree)
            self.xs.extend(leaves)
        with enable_grad():
            res = f(*args, **kwargs)
        res, self.aux = split_aux(name, res, has_aux)
        self.has_aux = has_aux
        self.outs, self.tree_out = flatten(res)
        check_outputs(name, self.outs)
        self.nested = self.nested or closes_over_graph(self.outs, self.xs)
        self.vjps: list[Tensor | None] = []

    def output(self) -> Any:
        if self.nested:
            return unflatten(self.tree_out, self.outs)
        return unflatten(self.tree_out, [o.detach() for o in self.outs])

    def vjp_one(self, out: Tensor, v: Tensor) -> list[Tensor]:
        """``vᵀ J`` for one output leaf: one gradient per input leaf."""
        return _grads([out], self.xs, [v], create_graph=self.nested, retain_graph=True)

    def transpose(self) -> None:
        """Record ``u ↦ Jᵀu`` once, at cotangents ``us`` of ones that require grad. The map
        is linear, so where it is taken does not change its derivative; ones rather than
        zeros, so that a rule that skips a term when its part of ḡ is all zero (an
        optimisation for the common loss of part of an op's outputs) keeps every term."""
        xp = backend.xp
        self.live = [o for o in self.outs if o._requires_grad]
        self.us = []
        for o in self.live:
            u = Tensor._make(xp.ones_like(o.data))
            u.requires_grad = True
            self.us.append(u)
        if not self.live:
            self.vjps = [None] * len(self.xs)
            return
        with enable_grad():
            gs = gradients(
                self.live, self.xs, self.us, retain_graph=True, create_graph=True, allow_unused=True
            )
        self.vjps = [g if g is not None and g._requires_grad else None for g in gs]

    def jvp_one(self, j: int, t: Tensor) -> list[Tensor]:
        """``J t`` for a tangent ``t`` on input leaf ``j`` only: one tensor per output leaf."""
        return self._apply([(self.vjps[j], t)])

    def jvp(self, name: str, tangents: Sequence[Any]) -> Any:
        t_leaves, t_tree = flatten(tuple(tangents))
        if t_tree != self.trees_tuple:
            raise ShapeError(
                f"{name}: the tangents' structure {t_tree} differs from the primals' "
                f"{self.trees_tuple}"
            )
        ts = [cast_like(name, "tangent", t, x, "primal") for t, x in zip(t_leaves, self.xs)]
        return unflatten(self.tree_out, self._apply(list(zip(self.vjps, ts))))

    @property
    def trees_tuple(self) -> Tree:
        return Tree(tuple, self.trees)

    def _apply(self, pairs: list[tuple[Tensor | None, Tensor]]) -> list[Tensor]:
        pairs = [(g, t) for g, t in pairs if g is not None]
        xp = backend.xp
        got: list[Tensor | None] = [None] * len(self.us)
        if pairs:
            with enable_grad():
                got = list(
                    gradients(
                        [g for g, _ in pairs],
                        self.us,
                        [t for _, t in pairs],
                        retain_graph=True,
                        create_graph=self.nested,
                        allow_unused=True,
                    )
                )
        by_out = {id(o): g for o, g in zip(self.live, got)}
        res = []
        for o in self.outs:
            g = by_out.get(id(o))
            res.append(Tensor._make(xp.zeros_like(o.data)) if g is None else g)
        return res

    def result(self, blocks: list[list[Tensor]], single: bool) -> Any:
        """The Jacobian blocks arranged as JAX does: the output's structure, each leaf the
        argument's structure (a tuple over ``argnums`` unless it was one int)."""
        per_out = []
        for row in blocks:
            per_arg, k = [], 0
            for tree in self.trees:
                per_arg.append(unflatten(tree, row[k : k + tree.size]))
                k += tree.size
            per_out.append(per_arg[0] if single else tuple(per_arg))
        jac = unflatten(self.tree_out, per_out)
        return (jac, self.aux) if self.has_aux else jac


def _grads(
    outs: list[Tensor],
    xs: list[Tensor],
    vs: list[Tensor] | None,
    create_graph: bool,
    retain_graph: bool,
) -> list[Tensor]:
    """Gradients of ``outs`` (cotangents ``vs``) w.r.t. ``xs``; zeros where none flows."""
    xp = backend.xp
    keep = [i for i, o in enumerate(outs) if o._requires_grad]
    gs: tuple = (None,) * len(xs)
    if keep:
        gs = gradients(
            [outs[i] for i in keep],
            xs,
            None if vs is None else [vs[i] for i in keep],
            retain_graph=retain_graph,
            create_graph=create_graph,
            allow_unused=True,
        )
    return [Tensor._make(xp.zeros_like(x.data)) if g is None else g for g, x in zip(gs, xs)]
