"""``chainrule predict RUN DATA``: a trained run's predictions for new rows, as CSV."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli import add_command

DESCRIPTION = """\
Predict with the model of a run folder (written by 'chainrule train') and write the
predictions as CSV, one row per input row, in the input's order.

DATA is a CSV file with a header (the feature columns named as in the training data; other
columns, such as the target, are ignored; with different names, the non-target columns are
taken in order when their number fits), an NPZ file (array X), or the name of a bundled
dataset (then its test split). Rows go through the run's own preprocessing (standardisation
fitted on its training split).

Columns: for a classifier 'prediction' (the class name) and 'p_<class>' for each class (the
softmax probabilities); for regression 'prediction' (one column per output when there are
several), in the target's own units.

The CSV goes to standard output, or to FILE with --output (written atomically)."""

EPILOG = """\
examples:
  chainrule predict runs/digits-20250101-120000 digits > predictions.csv
  chainrule predict runs/fruit-20250101-120000 examples/fruit_new.csv --output predicted.csv
"""


def register(subparsers: Any) -> None:
    """Add the ``predict`` subcommand."""
    p = add_command(
        subparsers,
        "predict",
        run,
        help="write a run's predictions for new data as CSV",
        description=DESCRIPTION,
        epilog=EPILOG,
        run_folder="a run folder written by 'chainrule train'",
    )
    p.add_argument("data", metavar="DATA", help="a .csv or .npz file, or a bundled dataset name")
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the CSV to FILE instead of standard output",
    )


def run(args: argparse.Namespace) -> int:
    """Load the run and the data, predict, write the CSV."""
    from chainrule._atomic import atomic_write_text
    from chainrule.train.inference import load_data_for_run, predict_run, predictions_csv
    from chainrule.train.run import load_run

    loaded = load_run(args.run_folder)
    X, _, what = load_data_for_run(loaded, args.data, need_target=False)
    text = predictions_csv(loaded, predict_run(loaded, X))
    if args.output:
        atomic_write_text(args.output, text)
        print(f"wrote {len(X):,} predictions for {what} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
