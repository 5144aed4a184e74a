"""Floor 7: the ``chainrule`` command. It parses, calls the floors below, and prints.

Each subcommand lives in its own module ``chainrule.cli.<name>``, which defines
``register(subparsers)``: it adds its parser and sets ``run=`` to a function taking the parsed
arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from chainrule import __version__
from chainrule.errors import ChainruleError

COMMANDS = ("train", "predict", "evaluate", "datasets", "explain", "report", "export")


def build_parser() -> argparse.ArgumentParser:
    """The ``chainrule`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Train, inspect and export neural networks built on chainrule's "
        "backpropagation engine.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"chainrule.cli.{name}") is None:
            continue
        importlib.import_module(f"chainrule.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chainrule`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ChainruleError, OSError, ValueError) as exc:
        print(f"chainrule {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - python -m chainrule.cli
    sys.exit(main())
