"""``chainrule explain``: one forward and backward pass, every quantity of the seeds'
backpropagation printed layer by layer, checked against the explicit formulas.

With no arguments it walks the seeds' small example: a network with two hidden layers of
logistic units, softmax output and cross-entropy, on one input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli import add_command

DEFAULT_LAYERS = "3,3,3,2"


def register(subparsers: Any) -> None:
    """Add the ``explain`` subcommand."""
    from chainrule.nn import losses
    from chainrule.nn.activations import names as activation_names

    p = add_command(
        subparsers,
        "explain",
        run,
        help="walk through one forward and backward pass in the seeds' notation",
        description="Run one forward and backward pass and print, layer by layer, every "
        "quantity of backpropagation: h_{k-1}, a_k = b_k + W_k h_{k-1}, h_k = g(a_k), ŷ, the "
        "loss, and the gradients ∇_{a_k}, ∇_{h_k}, ∇_{W_k}, ∇_{b_k}, each computed by the "
        "engine and by the explicit formulas (and optionally by finite differences). Without "
        "options: the seeds' small example, two hidden layers, softmax output, cross-entropy.",
    )
    p.add_argument(
        "--layers",
        default=DEFAULT_LAYERS,
        metavar="N,N,...",
        help="layer widths: input, hidden..., output (default %(default)s: two hidden layers)",
    )
    p.add_argument(
        "--activation",
        default="logistic",
        choices=activation_names(),
        help="hidden units g (default %(default)s)",
    )
    p.add_argument(
        "--loss",
        default="cross_entropy",
        type=_loss,
        metavar="LOSS",
        help=" or ".join(
            f"{r.output} output + {r.title} ({', '.join((r.name, *r.aliases[:1]))})"
            for r in losses.LOSSES.values()
            if r.traceable
        )
        + " (default %(default)s)",
    )
    p.add_argument(
        "--input",
        metavar="X1,X2,...",
        help="the input values (default: drawn "
        "from --seed); with --run, raw feature values, preprocessed as in training",
    )
    p.add_argument(
        "--label",
        metavar="Y",
        help="the class index (cross-entropy) or the "
        "comma-separated targets (squared error); default: drawn from --seed",
    )
    p.add_argument(
        "--batch", type=int, metavar="N", help="trace a batch of N random examples instead of one"
    )
    p.add_argument(
        "--model",
        default="mlp",
        choices=["mlp", "cnn"],
        help="mlp (the default) or cnn: a 3x3 convolution, ReLU, 2x2 max pooling and a linear "
        "readout on a 6x6 input: the kernel's gradient as a correlation, the input's as a full "
        "convolution with the flipped kernel, pooling routing each gradient to its winner",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the example")
    p.add_argument(
        "--run",
        dest="run_folder",
        metavar="RUN",
        help="explain a trained model: a run folder written by `chainrule train`",
    )
    p.add_argument(
        "--example",
        type=int,
        default=0,
        metavar="I",
        help="with --run: which example of the run's test split (default 0)",
    )
    p.add_argument(
        "--fd",
        action="store_true",
        help="also compute every gradient by central finite differences",
    )
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML walk-through")
    p.add_argument("--latex", metavar="FILE", help="write a LaTeX document")
    p.add_argument("--markdown", metavar="FILE", help="write Markdown (with LaTeX math)")
    p.add_argument(
        "--graph",
        metavar="FILE",
        help="draw the computation graph of the loss: "
        ".svg, .png or .pdf (needs Graphviz's dot), or .dot for the source",
    )
    p.add_argument(
        "--max-entries",
        type=int,
        default=30,
        metavar="N",
        help="print the values of arrays with at most N entries (default %(default)s)",
    )
    p.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="width of the printed tables (default: the terminal's; in a pipe as wide as the "
        "tables need, at least 132)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but the files written")


def run(args: argparse.Namespace) -> int:
    """Build or load the model, trace it, print the walk-through and write the files."""
    import chainrule as cr
    from chainrule.explain import graph, render, rich_view, trace
    from chainrule.explain.report import example_from_run

    if args.model == "cnn" and not args.run_folder:
        return _explain_cnn(args)
    if args.run_folder:
        from chainrule.nn import losses
        from chainrule.train.run import load_run

        loaded = load_run(args.run_folder)
        model = loaded.model
        kind = losses.by_output(loaded.spec.get("output", "softmax"))
        class_names = loaded.preprocess.class_names
        if args.input is not None:
            x = loaded.preprocess.transform(_floats(args.input, "--input")[None, :])[0]
            y = (
                _label(args.label, kind, model, x)
                if args.label is not None
                else _predicted(model, x, kind)
            )
            note = "the given input"
        else:
            x, y, note = example_from_run(loaded, args.example)
            if args.label is not None:
                y = _label(args.label, kind, model, x)
    else:
        sizes = _ints(args.layers, "--layers")
        if len(sizes) < 2:
            raise ValueError("--layers needs at least an input and an output width, e.g. 3,3,3,2")
        from chainrule.train.run import build_mlp

        cr.manual_seed(args.seed)
        activation = "identity" if args.activation == "linear" else args.activation
        model = build_mlp(sizes[0], sizes[1:-1], sizes[-1], activation)
        kind = args.loss
        class_names = None
        rng = np.random.default_rng(args.seed)
        n = args.batch
        if n is not None and n < 1:
            raise ValueError(f"--batch must be at least 1, got {n}")
        if args.input and n is not None:
            raise ValueError("give either --input (one example) or --batch (random examples)")
        shape = (sizes[0],) if n is None else (n, sizes[0])
        x = _floats(args.input, "--input") if args.input else np.round(rng.normal(size=shape), 2)
        if args.label is not None:
            y = _label(args.label, kind, model, x)
        elif kind.labels:
            y = rng.integers(sizes[-1], size=None if n is None else n)
        else:
            y = np.round(rng.normal(size=(sizes[-1],) if n is None else (n, sizes[-1])), 2)
        note = ""
    t = trace(model, x, y, kind, check="fd" if args.fd else None, class_names=class_names)

    written = []
    if args.html:
        title = "Backprop, layer by layer" + (f": {note}" if note else "")
        written.append(
            _write(args.html, t.to_html(max_entries=max(args.max_entries, 64), title=title))
        )
    if args.latex:
        written.append(_write(args.latex, t.to_latex(max_entries=max(args.max_entries, 64))))
    if args.markdown:
        written.append(_write(args.markdown, t.to_markdown(max_entries=max(args.max_entries, 64))))
    if args.graph:
        dot = _graph_source(model, x, y, kind, graph)
        path = Path(args.graph)
        if path.suffix.lower() in (".dot", ".gv"):
            written.append(_write(path, dot))
        else:
            written.append(render(dot, path))

    if not args.quiet:
        from rich.console import Console

        from chainrule.explain.views import natural_width

        view = rich_view(t, max_entries=args.max_entries)
        # in a pipe or a log, print the tables whole (a terminal crops them to its width)
        width = args.width or (None if sys.stdout.isatty() else max(132, natural_width(view)))
        console = Console(width=width)
        if note:
            console.print(note, highlight=False)
        console.print(view)
    for path in written:
        print(f"wrote {path}")
    return 0


def _explain_cnn(args: argparse.Namespace) -> int:
    """``chainrule explain --model cnn``: the convolution walk-through, three ways checked."""
    import chainrule as cr
    from chainrule.explain import trace_conv

    cr.manual_seed(args.seed)
    net = cr.nn.Sequential(cr.nn.Conv2d(1, 2, 3, padding=1), cr.nn.ReLU(), cr.nn.MaxPool2d(2),
                           cr.nn.Flatten(), cr.nn.Linear(2 * 3 * 3, 3))  # fmt: skip
    rng = np.random.default_rng(args.seed)
    x = np.round(rng.normal(size=(1, 6, 6)), 2)
    if args.input:
        x = _floats(args.input, "--input").reshape(1, 6, 6)
    y = int(args.label) if args.label is not None else int(rng.integers(3))
    t = trace_conv(net, x, y, check="fd")
    if not args.quiet:
        print(t.to_text(max_entries=max(args.max_entries, 72)), end="")
    if args.html:
        print(f"wrote {_write(args.html, t.to_html())}")
    return 0


def _ints(text: str, opt: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"{opt} takes comma-separated integers, got {text!r}") from None


def _floats(text: str, opt: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.replace(" ", "").split(",") if v])
    except ValueError:
        raise ValueError(f"{opt} takes comma-separated numbers, got {text!r}") from None


def _loss(name: str) -> Any:
    """``--loss``: a loss of :mod:`chainrule.nn.losses` with the seeds' formulas."""
    from chainrule.nn import losses

    try:
        rec = losses.get(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not rec.traceable:
        raise argparse.ArgumentTypeError(f"the seeds' formulas are not written for the {rec.title}")
    return rec


def _label(text: str, kind: Any, model: Any, x: np.ndarray) -> Any:
    if kind.labels:
        vals = _ints(text, "--label")
        if np.ndim(x) == 2 and len(vals) == 1:
            return np.full(len(x), vals[0])
        return vals[0] if np.ndim(x) == 1 and len(vals) == 1 else np.array(vals)
    vals = _floats(text, "--label")
    if np.ndim(x) == 2:
        return np.tile(vals, (len(x), 1))
    return vals


def _predicted(model: Any, x: np.ndarray, kind: Any) -> Any:
    from chainrule.train.trainer import predict

    out = predict(model, np.asarray(x, dtype=np.float32)[None, :])[0]
    return int(np.argmax(out)) if kind.labels else out


def _graph_source(model: Any, x: Any, y: Any, kind: Any, graph: Any) -> str:
    import chainrule as cr

    xt = cr.tensor(np.asarray(x, dtype=np.float32))
    out = model(xt)
    names = {**dict(model.named_parameters()), "x": xt}
    if kind.labels:
        target = cr.tensor(np.asarray(y, dtype=np.int64))
    else:
        target = cr.tensor(np.asarray(y, dtype=np.float32).reshape(out.shape))
        names["y"] = target
    loss = kind.function(out, target, reduction="sum")
    return graph(loss, names=names, title="the loss's computation graph")


def _write(path: str | Path, text: str) -> Path:
    from chainrule._atomic import atomic_write_text

    return atomic_write_text(path, text)


if __name__ == "__main__":  # pragma: no cover
    from chainrule.cli import main

    sys.exit(main(["explain", *sys.argv[1:]]))
