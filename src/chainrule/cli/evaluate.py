"""``chainrule evaluate RUN DATA``: a trained run's metrics on labelled data."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from chainrule.cli import add_command

DESCRIPTION = """\
Evaluate the model of a run folder (written by 'chainrule train') on labelled data and print
the metrics: the loss (the training loss, e.g. cross-entropy with the run's label smoothing)
and accuracy for a classifier; mse, mae and r2 in the target's own units for regression.

DATA is a CSV file holding the run's target column (features named as in training), an NPZ
file (arrays X and y, or the run's --target array), or the name of a bundled dataset: its
test split (split as in the run when it is the run's own dataset)."""

EPILOG = """\
examples:
  chainrule evaluate runs/digits-20250101-120000 digits
  chainrule evaluate runs/fruit-20250101-120000 examples/fruit.csv --json
"""


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand."""
    p = add_command(
        subparsers,
        "evaluate",
        run,
        help="print a run's metrics on labelled data",
        description=DESCRIPTION,
        epilog=EPILOG,
        run_folder="a run folder written by 'chainrule train'",
    )
    p.add_argument(
        "data", metavar="DATA", help="a .csv or .npz file with targets, or a bundled dataset"
    )
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Load the run and the data, evaluate, print the metrics."""
    from chainrule.cli._output import fmt_number, fmt_rate, fmt_seconds, print_table
    from chainrule.train.inference import evaluate_run, load_data_for_run
    from chainrule.train.run import load_run

    loaded = load_run(args.run_folder)
    X, y, what = load_data_for_run(loaded, args.data, need_target=True)
    metrics = evaluate_run(loaded, X, y)
    if args.json:
        print(json.dumps({"data": what, **metrics}))
        return 0
    names = [k for k in metrics if k not in ("samples", "time_s", "samples_per_s")]
    rows = [[name, fmt_number(metrics[name])] for name in names]
    rows.append(["samples", f"{int(metrics['samples']):,}"])
    rows.append(["time", fmt_seconds(metrics["time_s"])])
    rows.append(["samples/s", fmt_rate(metrics["samples_per_s"])])
    print_table(["metric", "value"], rows, title=f"{loaded.folder.name} on {what}")
    sys.stdout.flush()
    return 0
