"""Each op issue 9 adds: its forward against the bare NumPy call, its backward against its forward.

For every op of the issue's lists that exists in this checkout (the others are listed as
missing), at two sizes: (64, 64) and (1000, 1000) for element-wise, reduction, shape and
product ops (the natural analogue for the rest: vectors of 64 / 1000 for ``outer``,
``kron`` of two (8, 8) / (32, 32), and (64, 64) / (256, 256) for the cubic decompositions of
``cr.linalg``). Three timings per op, interleaved round after round in this one process,
medians: the NumPy call (SciPy's where NumPy has none: ``erf``, ``gammaln``,
``solve_triangular``...; the plain NumPy expression for activations), chainrule's forward on
inputs that require grad (so the node is recorded), and its backward alone (``cr.gradients``
through the same retained graph, a fixed random cotangent). float64 throughout. Times are
this thread's CPU time (``time.thread_time``, which other jobs on a shared machine inflate
less than the wall clock; it still counts page faults) unless ``--clock wall``.

Goals (issue 9): forward ≤ 1.5x NumPy, backward ≤ 3x forward; rows over a goal are flagged.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ops.py
    python benchmarks/bench_ops.py --rounds 3 --only tan,cumsum,linalg.inv   # a few, quicker

(The einsum rows write the subscripts' comma as ·, so that --only can name them.)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import scipy.special

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, table

import chainrule as cr

FWD_GOAL = 1.5
BWD_GOAL = 3.0
SQUARE = (64, 1000)
CUBIC = (64, 256)


@dataclass
class Op:
    """One benchmarked op: where chainrule has it (first existing path wins), the NumPy call,
    how to build its inputs at size ``n``, and which inputs are differentiable."""

    name: str
    paths: tuple[str, ...]
    numpy: Callable[..., Any]
    inputs: Callable[[int], list[Any]]
    diff: tuple[int, ...] = (0,)
    call: Callable[..., Any] | None = None  # fn, *inputs -> result (default fn(*inputs))
    sizes: tuple[int, ...] = SQUARE
    family: str = ""
    kw: dict = field(default_factory=dict)


RNG = np.random.default_rng(0)


def U(lo: float = -1.0, hi: float = 1.0, k: int = 1) -> Callable[[int], list[Any]]:
    """``k`` (n, n) arrays uniform in [lo, hi)."""
    return lambda n: [RNG.uniform(lo, hi, (n, n)) for _ in range(k)]


def V(k: int = 1) -> Callable[[int], list[Any]]:
    return lambda n: [RNG.uniform(-1, 1, n) for _ in range(k)]


def spd(n: int) -> list[Any]:
    a = RNG.standard_normal((n, n))
    return [a @ a.T / n + np.eye(n)]


def _sigmoid(x: Any) -> Any:
    return 0.5 * (1 + np.tanh(0.5 * x))


def _softmin(x: Any) -> Any:
    e = np.exp(x.min(-1, keepdims=True) - x)
    return e / e.sum(-1, keepdims=True)


def _glu(x: Any) -> Any:
    a, b = np.split(x, 2, axis=-1)
    return a * _sigmoid(b)


def _put_along(x: Any, i: Any, v: Any) -> Any:
    y = x.copy()
    np.put_along_axis(y, i, v, axis=1)
    return y


def _add_at(x: Any, i: Any, v: Any) -> Any:
    y = x.copy()
    np.add.at(y, i, v)
    return y


def _scatter_add(x: Any, i: Any, v: Any) -> Any:  # along dim 1, as torch.scatter_add
    y = x.copy()
    rows = np.arange(x.shape[0])[:, None]
    np.add.at(y, (rows, i), v)
    return y


def _topk(x: Any, k: int = 10) -> Any:
    i = np.argpartition(x, -k, axis=-1)[..., -k:]
    return np.take_along_axis(x, i, -1)


def _ops() -> list[Op]:
    ops: list[Op] = []

    def add(family: str, *items: Op) -> None:
        for o in items:
            o.family = family
            ops.append(o)

    def same(name: str, inputs: Callable, diff: tuple = (0,), **kw: Any) -> Op:
        np_fn = _resolve(np, name) or _resolve(scipy.special, name)
        return Op(name, (name,), lambda *a: np_fn(*a, **kw), inputs, diff, kw=kw)

    unary = {
        "tan": U(-1.2, 1.2), "arcsin": U(-0.9, 0.9), "arccos": U(-0.9, 0.9), "arctan": U(),
        "sinh": U(), "cosh": U(), "arcsinh": U(), "arccosh": U(1.5, 3), "arctanh": U(-0.9, 0.9),
        "log1p": U(0, 2), "expm1": U(), "log2": U(0.5, 2), "log10": U(0.5, 2), "exp2": U(),
        "square": U(), "reciprocal": U(0.5, 2), "cbrt": U(0.1, 2), "sinc": U(),
        "deg2rad": U(), "rad2deg": U(), "nan_to_num": U(), "sign": U(), "floor": U(-3, 3),
        "ceil": U(-3, 3), "trunc": U(-3, 3), "rint": U(-3, 3), "round": U(-3, 3),
    }  # fmt: skip
    binary = {
        "arctan2": U(k=2), "logaddexp": U(k=2), "logaddexp2": U(k=2), "hypot": U(k=2),
        "fmod": lambda n: [RNG.uniform(-3, 3, (n, n)), RNG.uniform(0.5, 1, (n, n))],
        "remainder": lambda n: [RNG.uniform(-3, 3, (n, n)), RNG.uniform(0.5, 1, (n, n))],
        "floor_divide": lambda n: [RNG.uniform(-3, 3, (n, n)), RNG.uniform(0.5, 1, (n, n))],
        "fmax": U(k=2), "fmin": U(k=2), "copysign": U(k=2),
    }  # fmt: skip
    add("element-wise", *(same(n, f) for n, f in unary.items()))
    add("element-wise", *(same(n, f, (0, 1)) for n, f in binary.items()))
    add("element-wise", Op("heaviside", ("heaviside",), lambda x: np.heaviside(x, 0.5), U(),
                            call=lambda f, x: f(x, 0.5)))  # fmt: skip
    special = {"erf": U(), "erfc": U(), "erfinv": U(-0.9, 0.9), "gammaln": U(0.5, 3),
               "digamma": U(0.5, 3)}  # fmt: skip
    for n, f in special.items():
        fn = getattr(scipy.special, n)
        add("special", Op(n, (f"special.{n}", n), fn, f))
    add("special", Op("xlogy", ("special.xlogy", "xlogy"), scipy.special.xlogy, U(0.5, 2, 2),
                      (0, 1)))  # fmt: skip

    ax = {"axis": -1}
    red = [
        ("prod", U(0.9, 1.1), lambda x: np.prod(x, axis=-1)),
        ("cumsum", U(), lambda x: np.cumsum(x, axis=-1)),
        ("cumprod", U(0.9, 1.1), lambda x: np.cumprod(x, axis=-1)),
        ("logcumsumexp", U(), lambda x: np.logaddexp.accumulate(x, axis=-1)),
        ("cummax", U(), lambda x: np.maximum.accumulate(x, axis=-1)),
        ("cummin", U(), lambda x: np.minimum.accumulate(x, axis=-1)),
        ("median", U(), lambda x: np.median(x, axis=-1)),
        ("nanmean", U(), lambda x: np.nanmean(x, axis=-1)),
        ("nansum", U(), lambda x: np.nansum(x, axis=-1)),
    ]
    add("reduction", *(Op(n, (n,), f, i, call=lambda fn, x: fn(x, **ax)) for n, i, f in red))
    add("reduction",
        Op("average", ("average",), lambda x, w: np.average(x, axis=-1, weights=w),
           lambda n: [RNG.uniform(-1, 1, (n, n)), RNG.uniform(0.1, 1, n)], (0, 1),
           call=lambda fn, x, w: fn(x, axis=-1, weights=w)),
        Op("all", ("all",), lambda x: np.all(x, axis=-1), U(), (),
           call=lambda fn, x: fn(x, **ax)),
        Op("any", ("any",), lambda x: np.any(x, axis=-1), U(), (),
           call=lambda fn, x: fn(x, **ax)),
        Op("count_nonzero", ("count_nonzero",), lambda x: np.count_nonzero(x, axis=-1),
           U(), (), call=lambda fn, x: fn(x, **ax)),
    )  # fmt: skip

    add("products",
        Op("dot", ("dot",), np.dot, U(k=2), (0, 1)),
        Op("vdot", ("vdot",), np.vdot, U(k=2), (0, 1)),
        Op("inner", ("inner",), np.inner, U(k=2), (0, 1)),
        Op("outer", ("outer",), np.outer, V(2), (0, 1)),
        Op("tensordot", ("tensordot",), lambda a, b: np.tensordot(a, b, axes=1), U(k=2), (0, 1),
           call=lambda fn, a, b: fn(a, b, axes=1)),
        Op("einsum ij·jk->ik", ("einsum",), lambda a, b: np.einsum("ij,jk->ik", a, b), U(k=2),
           (0, 1), call=lambda fn, a, b: fn("ij,jk->ik", a, b)),
        Op("einsum ij·ij->i", ("einsum",), lambda a, b: np.einsum("ij,ij->i", a, b), U(k=2),
           (0, 1), call=lambda fn, a, b: fn("ij,ij->i", a, b)),
        Op("einsum ii->", ("einsum",), lambda a: np.einsum("ii->", a), U(),
           call=lambda fn, a: fn("ii->", a)),
        Op("kron", ("kron",), np.kron, lambda n: [RNG.uniform(-1, 1, (8 if n < 100 else 32,) * 2)
                                                  for _ in range(2)], (0, 1)),
        Op("cross", ("cross",), np.cross, lambda n: [RNG.uniform(-1, 1, (n * n // 3, 3))
                                                     for _ in range(2)], (0, 1)),
        Op("trace", ("trace",), np.trace, U()),
        Op("diag", ("diag",), np.diag, V()),
        Op("diagonal", ("diagonal",), np.diagonal, U()),
        Op("tril", ("tril",), np.tril, U()),
        Op("triu", ("triu",), np.triu, U()),
    )  # fmt: skip

    def lin(name: str, np_fn: Callable, inputs: Callable | None = None, diff: tuple = (0,),
            call: Callable | None = None, sizes: tuple = CUBIC) -> Op:  # fmt: skip
        path = f"linalg.{name.split(' ')[0]}"
        return Op(f"linalg.{name}", (path,), np_fn, inputs or U(), diff, call, sizes)

    tri = lambda n: [
        np.triu(RNG.uniform(-1, 1, (n, n))) + 2 * np.eye(n),
        RNG.uniform(-1, 1, (n, n)),
    ]
    add("linalg",
        lin("inv", np.linalg.inv, lambda n: [RNG.uniform(-1, 1, (n, n)) + n * np.eye(n)]),
        lin("solve", np.linalg.solve, lambda n: [RNG.uniform(-1, 1, (n, n)) + n * np.eye(n),
                                                 RNG.uniform(-1, 1, (n, n))], (0, 1)),
        lin("det", np.linalg.det, lambda n: [np.eye(n) + RNG.uniform(-1, 1, (n, n)) / n]),
        lin("slogdet", np.linalg.slogdet, lambda n: [RNG.uniform(-1, 1, (n, n)) + n * np.eye(n)]),
        lin("cholesky", np.linalg.cholesky, spd),
        lin("eigh", np.linalg.eigh, spd),
        lin("eigvalsh", np.linalg.eigvalsh, spd),
        lin("svd", lambda a: np.linalg.svd(a, full_matrices=False), U(),
            call=lambda fn, a: fn(a, full_matrices=False)),
        lin("qr", np.linalg.qr, U()),
        lin("pinv", np.linalg.pinv, U()),
        lin("lstsq", lambda a, b: np.linalg.lstsq(a, b, rcond=None), U(k=2), (0, 1)),
        lin("norm", np.linalg.norm, U(), sizes=SQUARE),
        lin("norm (nuc)", lambda a: np.linalg.norm(a, "nuc"), U(), call=lambda fn, a: fn(a, "nuc")),
        lin("matrix_norm", np.linalg.matrix_norm, U(), sizes=SQUARE),
        lin("vector_norm", np.linalg.vector_norm, U(), sizes=SQUARE),
        lin("matrix_power", lambda a: np.linalg.matrix_power(a, 3), U(),
            call=lambda fn, a: fn(a, 3)),
        lin("multi_dot", lambda a, b, c: np.linalg.multi_dot([a, b, c]), U(k=3), (0, 1, 2),
            call=lambda fn, a, b, c: fn([a, b, c])),
        lin("solve_triangular", lambda a, b: scipy.linalg.solve_triangular(a, b), tri, (0, 1)),
    )  # fmt: skip
    pair = lambda f, a, b: f([a, b])  # a list of two arrays
    mat_idx = lambda n: [RNG.uniform(-1, 1, (n, n)), RNG.integers(0, n, (n, n))]
    add("shape",
        Op("ravel", ("ravel",), np.ravel, U()),
        Op("flatten", ("flatten", "Tensor.flatten"), lambda x: x.flatten(), U()),
        Op("hstack", ("hstack",), lambda a, b: np.hstack([a, b]), U(k=2), (0, 1), call=pair),
        Op("vstack", ("vstack",), lambda a, b: np.vstack([a, b]), U(k=2), (0, 1), call=pair),
        Op("dstack", ("dstack",), lambda a, b: np.dstack([a, b]), U(k=2), (0, 1), call=pair),
        Op("column_stack", ("column_stack",), lambda a, b: np.column_stack([a, b]), U(k=2),
           (0, 1), call=pair),
        Op("atleast_3d", ("atleast_3d",), np.atleast_3d, U()),
        Op("moveaxis", ("moveaxis",), lambda x: np.moveaxis(x, 0, -1), U(),
           call=lambda f, x: f(x, 0, -1)),
        Op("flip", ("flip",), lambda x: np.flip(x, 0), U(), call=lambda f, x: f(x, 0)),
        Op("fliplr", ("fliplr",), np.fliplr, U()),
        Op("rot90", ("rot90",), np.rot90, U()),
        Op("roll", ("roll",), lambda x: np.roll(x, 3, axis=1), U(),
           call=lambda f, x: f(x, 3, axis=1)),
        Op("repeat", ("repeat",), lambda x: np.repeat(x, 2, axis=0), U(),
           call=lambda f, x: f(x, 2, axis=0)),
        Op("tile", ("tile",), lambda x: np.tile(x, (2, 1)), U(), call=lambda f, x: f(x, (2, 1))),
        Op("array_split", ("array_split",), lambda x: np.array_split(x, 4), U(),
           call=lambda f, x: f(x, 4)),
        Op("hsplit", ("hsplit",), lambda x: np.hsplit(x, 4), U(), call=lambda f, x: f(x, 4)),
        Op("vsplit", ("vsplit",), lambda x: np.vsplit(x, 4), U(), call=lambda f, x: f(x, 4)),
        Op("unstack", ("unstack",), getattr(np, "unstack", tuple), U()),  # n pieces: unbind
        Op("meshgrid", ("meshgrid",), np.meshgrid, V(2), (0, 1)),
        Op("take", ("take",), lambda x, i: np.take(x, i, axis=0),
           lambda n: [RNG.uniform(-1, 1, (n, n)), RNG.integers(0, n, n)],
           call=lambda f, x, i: f(x, i, axis=0)),
        Op("take_along_axis", ("take_along_axis",), lambda x, i: np.take_along_axis(x, i, 1),
           mat_idx, call=lambda f, x, i: f(x, i, axis=1)),
        Op("put_along_axis", ("put_along_axis",), _put_along,
           lambda n: [*mat_idx(n), RNG.uniform(-1, 1, (n, n))], (0, 2),
           call=lambda f, x, i, v: f(x, i, v, axis=1)),
        Op("gather", ("gather",), lambda x, i: np.take_along_axis(x, i, 1), mat_idx,
           call=lambda f, x, i: f(x, 1, i)),
        Op("scatter_add", ("scatter_add",), _scatter_add,
           lambda n: [*mat_idx(n), RNG.uniform(-1, 1, (n, n))], (0, 2),
           call=lambda f, x, i, v: f(x, 1, i, v)),
        Op("index_add", ("index_add",), _add_at,
           lambda n: [RNG.uniform(-1, 1, (n, n)), RNG.integers(0, n, n),
                      RNG.uniform(-1, 1, (n, n))], (0, 2),
           call=lambda f, x, i, v: f(x, 0, i, v)),
        Op("masked_fill", ("masked_fill",), lambda x, m: np.where(m, 0.0, x),
           lambda n: [RNG.uniform(-1, 1, (n, n)), RNG.uniform(-1, 1, (n, n)) > 0],
           call=lambda f, x, m: f(x, m, 0.0)),
        Op("Tensor.view", ("Tensor.view",), lambda x: x.reshape(-1), U(),
           call=lambda f, x: f(x, -1)),
        Op("Tensor.permute", ("Tensor.permute",), lambda x: x.transpose(1, 0), U(),
           call=lambda f, x: f(x, 1, 0)),
        Op("Tensor.unsqueeze", ("Tensor.unsqueeze",), lambda x: np.expand_dims(x, 0), U(),
           call=lambda f, x: f(x, 0)),
        Op("Tensor.expand", ("Tensor.expand",), lambda x: np.broadcast_to(x, (x.shape[1],) * 2),
           lambda n: [RNG.uniform(-1, 1, (1, n))], call=lambda f, x: f(x, x.shape[1], x.shape[1])),
        Op("Tensor.clamp", ("Tensor.clamp",), lambda x: np.clip(x, -0.5, 0.5), U(),
           call=lambda f, x: f(x, -0.5, 0.5)),
        Op("array", ("array",), np.array, lambda n: [list(RNG.uniform(-1, 1, (n, n)))],
           call=lambda f, rows: f(rows)),
    )  # fmt: skip
    add("sort and search",
        Op("sort", ("sort",), lambda x: np.sort(x, axis=-1), U()),
        Op("argsort", ("argsort",), lambda x: np.argsort(x, axis=-1), U(), ()),
        Op("topk", ("topk",), _topk, U(), call=lambda f, x: f(x, 10)),
        Op("partition", ("partition",), lambda x: np.partition(x, 5, axis=-1), U(),
           call=lambda f, x: f(x, 5)),
        Op("argpartition", ("argpartition",), lambda x: np.argpartition(x, 5, axis=-1), U(), (),
           call=lambda f, x: f(x, 5)),
        Op("searchsorted", ("searchsorted",), np.searchsorted,
           lambda n: [np.sort(RNG.uniform(-1, 1, n * n)), RNG.uniform(-1, 1, (n, n))], ()),
        Op("unique", ("unique",), np.unique, lambda n: [RNG.integers(0, 50, (n, n)) * 1.0], ()),
        Op("nonzero", ("nonzero",), np.nonzero, lambda n: [RNG.integers(0, 2, (n, n)) * 1.0], ()),
        Op("argwhere", ("argwhere",), np.argwhere, lambda n: [RNG.integers(0, 2, (n, n)) * 1.0],
           ()),
    )  # fmt: skip
    acts = {
        "silu": lambda x: x * _sigmoid(x),
        "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
        "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
        "celu": lambda x: np.where(x > 0, x, np.expm1(x)),
        "hardtanh": lambda x: np.clip(x, -1, 1),
        "relu6": lambda x: np.clip(x, 0, 6),
        "hardsigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
        "hardswish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
        "softsign": lambda x: x / (1 + np.abs(x)),
        "logsigmoid": lambda x: -np.logaddexp(0, -x),
        "softmin": _softmin,
        "glu": _glu,
        "normalize": lambda x: x / np.maximum(np.sqrt((x * x).sum(1, keepdims=True)), 1e-12),
    }  # fmt: skip
    add("activation", *(Op(n, (n, f"nn.functional.{n}"), f, U(-3, 3)) for n, f in acts.items()))
    return ops


def _resolve(root: Any, path: str) -> Any:
    if path.startswith("Tensor."):
        meth = getattr(cr.Tensor, path.split(".", 1)[1], None)
        return None if meth is None else (lambda x, *a, **k: meth(x, *a, **k))
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def measure(
    op: Op, fn: Callable, n: int, rounds: int, clock: Callable[[], float] = time.thread_time
) -> dict[str, Any]:
    """Median seconds of the NumPy call, chainrule's forward and its backward at size n, on
    ``clock`` (this thread's CPU time by default: other jobs' load inflates it less)."""
    arrays = op.inputs(n)
    call = op.call or (lambda f, *a: f(*a))

    def wrap(i: int, a: Any) -> Any:
        if isinstance(a, list):  # a list of rows (cr.array)
            return [cr.tensor(r, requires_grad=i in op.diff) for r in a]
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            return cr.tensor(a, requires_grad=i in op.diff)
        return cr.tensor(a) if isinstance(a, np.ndarray) else a

    tensors = [wrap(i, a) for i, a in enumerate(arrays)]
    leaves = [t for i, t in enumerate(tensors) if i in op.diff]
    leaves = [x for t in leaves for x in (t if isinstance(t, list) else [t])]

    def np_call() -> Any:
        return op.numpy(*arrays)

    def fwd() -> Any:
        return call(fn, *tensors)

    out = fwd()
    outs = [o for o in (out if isinstance(out, (tuple, list)) else [out])
            if isinstance(o, cr.Tensor) and o.requires_grad]  # fmt: skip
    cases: dict[str, Callable] = {"numpy": np_call, "fwd": fwd}
    if leaves and outs:
        gs = [cr.tensor(RNG.uniform(-1, 1, o.shape)) for o in outs]

        def bwd() -> Any:
            return cr.gradients(outs, leaves, gs, retain_graph=True, allow_unused=True)

        cases["bwd"] = bwd
    return interleaved(cases, rounds=rounds, budget_s=0.03, clock=clock)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--only", default="", help="comma-separated op names")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument(
        "--clock", choices=("thread", "wall"), default="thread",
        help="thread: this thread's CPU time (time.thread_time); wall: time.perf_counter",
    )  # fmt: skip
    args = parser.parse_args(argv)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(args.threads)
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            print(
                f"BLAS: {info.get('internal_api')} {info.get('version')}, kernel "
                f"{info.get('architecture')}, {info.get('num_threads')} thread(s)"
            )
    print(f"numpy {np.__version__}, chainrule {cr.__version__}, float64, {args.clock} clock")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    rows, missing, failed, over = [], [], [], []
    fam: dict[str, dict[str, list[str]]] = {}  # family -> ops, over the fwd / bwd goal
    for op in _ops():
        if only and op.name not in only:
            continue
        fn = next((f for f in (_resolve(cr, p) for p in op.paths) if f is not None), None)
        if fn is None:
            missing.append(op.name)
            continue
        counts = fam.setdefault(op.family, {"ops": [], "fwd": [], "bwd": []})
        counts["ops"].append(op.name)
        for n in op.sizes:
            try:
                t = measure(op, fn, n, args.rounds, clock)
            except Exception as exc:  # a signature that differs from the one assumed here
                failed.append(f"{op.name} at {n}: {type(exc).__name__}: {str(exc)[:100]}")
                break
            f_ratio = t["fwd"] / t["numpy"]
            b_ratio = t["bwd"] / t["fwd"] if "bwd" in t else None
            flag = []
            if f_ratio > FWD_GOAL:
                flag.append("fwd")
            if b_ratio is not None and b_ratio > BWD_GOAL:
                flag.append("bwd")
            if flag:
                over.append(f"{op.name} ({n}: {'+'.join(flag)})")
            for which in flag:
                counts[which].append(f"{op.name} ({n})")
            rows.append([
                op.family, op.name, f"({n}, {n})", f"{t['numpy'] * 1e6:,.1f}",
                f"{t['fwd'] * 1e6:,.1f}", f"{f_ratio:.2f}",
                "-" if b_ratio is None else f"{t['bwd'] * 1e6:,.1f}",
                "-" if b_ratio is None else f"{b_ratio:.2f}", " ".join(flag) or "ok",
            ])  # fmt: skip
            print(table(rows[-1:], HEADER).splitlines()[-1], flush=True)
    print()
    print(table(rows, HEADER))
    print(f"\ngoals: forward <= {FWD_GOAL}x NumPy, backward <= {BWD_GOAL}x forward")
    print(f"over a goal ({len(over)}): {', '.join(over) or 'none'}")
    print(f"missing from this checkout ({len(missing)}): {', '.join(missing) or 'none'}")
    if failed:
        print(f"could not run ({len(failed)}):\n  " + "\n  ".join(failed))
    print("\nper family (the README's table):\n")
    summary = [[f, str(len(c["ops"])), _names(c["fwd"]), _names(c["bwd"])] for f, c in fam.items()]
    print(table(summary, ["family", "ops", "forward > 1.5x NumPy", "backward > 3x forward"]))


def _names(items: list[str]) -> str:
    """``["tan (64)", "tan (1000)", "cosh (64)"]`` -> ``"tan, cosh (64)"``: one entry per op,
    its size only when one size alone missed."""
    sizes: dict[str, list[str]] = {}
    for item in items:
        name, _, size = item.rpartition(" (")
        sizes.setdefault(name, []).append(size.rstrip(")"))
    parts = [n if len(s) > 1 else f"{n} ({s[0]})" for n, s in sizes.items()]
    return ", ".join(parts) or "none"


HEADER = ["family", "op", "shape", "NumPy µs", "fwd µs", "fwd/NumPy", "bwd µs", "bwd/fwd", "over"]


if __name__ == "__main__":
    main()
