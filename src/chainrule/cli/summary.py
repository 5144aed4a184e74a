"""``chainrule summary RUN``: the layers of a run's model, as ``cr.nn.summary`` shows them."""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli import add_command


def register(subparsers: Any) -> None:
    """Add the ``summary`` subcommand."""
    p = add_command(
        subparsers,
        "summary",
        run,
        help="print the layers, output shapes and parameters of a run's model",
        description="Print the model of a run folder (or of one of its checkpoints) layer by "
        "layer: output shape for one input row, parameters and trainable parameters, then the "
        "totals and the memory of the parameters and activations (as torchinfo's summary).",
        run_folder="a run folder, or a checkpoint in one",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=1,
        metavar="N",
        help="the batch size of the input the shapes and memory are given for (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the summary."""
    from chainrule.io import load_model
    from chainrule.nn import summary

    model, pre = load_model(args.run_folder)
    n_features = pre.n_features if pre is not None else next(model.parameters()).shape[1]
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    print(summary(model, (args.batch_size, n_features)))
    return 0
