"""``chainrule report RUN``: one self-contained HTML page for a training run."""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli import add_command


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    p = add_command(
        subparsers,
        "report",
        run,
        help="write one self-contained HTML page for a training run",
        description="Write an HTML report of a run folder (written by `chainrule train`): "
        "configuration, architecture, metrics, training curves, confusion matrix, gradient "
        "flow, and a backprop trace on one example of the run's data, layer by layer in the "
        "seeds' notation. Images are embedded and math is MathML: one file, viewable offline.",
        run_folder="the run folder",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="where to write the page (default RUN/report.html)"
    )
    p.add_argument(
        "--example",
        type=int,
        default=0,
        metavar="I",
        help="which example of the run's test split to trace (default 0)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the report and say where."""
    from chainrule.explain.report import write_report

    path = write_report(args.run_folder, args.output, example=args.example)
    print(f"wrote {path}")
    return 0
