"""``chainrule export RUN OUT.onnx``: a training run's model as an ONNX file."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from chainrule.cli import add_command


def register(subparsers: Any) -> None:
    """Add the ``export`` subcommand."""
    p = add_command(
        subparsers,
        "export",
        run,
        help="export a run's model to ONNX",
        description="Write the model of a run folder (written by `chainrule train`) as an ONNX "
        "file with a dynamic batch dimension. By default the graph takes raw feature rows, "
        "flattened to (batch, n_features): the run's standardisation (x - mean) / scale comes "
        "first, and classifiers end in a softmax, so the output is class probabilities. When "
        "onnxruntime is installed the file is run on random rows and compared with chainrule.",
        run_folder="the run folder",
    )
    p.add_argument("output", metavar="OUT.onnx", help="the ONNX file to write")
    p.add_argument(
        "--opset", type=int, default=None, help="ONNX opset version (17..21, default 17)"
    )
    p.add_argument(
        "--no-preprocess",
        action="store_true",
        help="leave out the standardisation: the graph takes already standardised inputs",
    )
    p.add_argument(
        "--logits",
        action="store_true",
        help="classifiers: output the logits instead of the softmax probabilities",
    )


def run(args: argparse.Namespace) -> int:
    """Export, verify with onnxruntime when it is installed, and say what was written."""
    from chainrule.nn import Sequential, Softmax
    from chainrule.onnx import DEFAULT_OPSET, export
    from chainrule.train.run import load_run

    r = load_run(args.run_folder)
    pre = r.preprocess
    classifier = r.spec.get("output") == "softmax"
    # a Sequential's layers re-registered under the same indices: the same weight names
    layers = list(r.model) if isinstance(r.model, Sequential) else [r.model]
    if classifier and not args.logits:
        layers.append(Softmax(dim=1))
        output_name = "probabilities"
    else:
        output_name = "logits" if classifier else "prediction"
    model = Sequential(*layers)
    standardize = None
    if not args.no_preprocess and pre.mean is not None and pre.scale is not None:
        standardize = (np.asarray(pre.mean), np.asarray(pre.scale))
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((16, pre.n_features))
    if standardize is not None:
        rows = rows * standardize[1] + standardize[0]  # raw rows around the training data
    rows = rows.astype(np.float32)
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    export(
        model,
        rows,
        args.output,
        output_name=output_name,
        opset_version=opset,
        standardize=standardize,
    )
    out_dim = r.spec["n_outputs"]
    print(
        f"wrote {args.output}: opset {opset}, input 'input' (batch, {pre.n_features}) float32 "
        f"-> output '{output_name}' (batch, {out_dim})"
        + (", standardisation included" if standardize is not None else "")
    )
    difference = _verify(args.output, model, rows, standardize)
    if difference is None:
        print("onnxruntime is not installed: the file was checked but not run")
    else:
        print(
            f"verified with onnxruntime: largest difference from chainrule {difference:.2e} "
            f"on {len(rows)} random rows"
        )
    return 0


def _verify(path: str, model: Any, rows: np.ndarray, standardize: Any) -> float | None:
    """Largest absolute difference between onnxruntime's and chainrule's outputs on ``rows``
    (None without onnxruntime)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    import chainrule as cr

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": rows})
    x = rows if standardize is None else ((rows - standardize[0]) / standardize[1])
    model.eval()
    with cr.no_grad():
        want = model(cr.tensor(x.astype(np.float32))).numpy()
    return float(np.abs(got - want).max())
