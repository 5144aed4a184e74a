"""Floor 7: the ``chainrule`` command. It parses, calls the floors below, and prints.

Each subcommand lives in its own module ``chainrule.cli.<name>``, which defines
``register(subparsers)``: it adds its parser and sets ``run=`` to a function taking the parsed
arguments and returning the exit status.

Errors a user can fix (bad options, missing files, unusable data, broken checkpoints) end
the command with one line ``chainrule CMD: error: ...`` on stderr and a non-zero exit status:
2 for a command line argparse cannot parse (with "did you mean" for a misspelt option or
command), 1 for the rest. Set ``CHAINRULE_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
import warnings
from typing import Any, NoReturn

import numpy as np

from chainrule import __version__
from chainrule.errors import ChainruleError

COMMANDS = (
    "train", "predict", "evaluate", "datasets", "explain", "report", "export", "summary",
    "generate",
)  # fmt: skip


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, with the closest valid choice, and
    which takes option names only in full (``--no`` is not ``--no-preprocess``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2))
            close = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            what = "command" if "COMMAND" in message.split(":")[0] else "value"
            prefix = "" if what == "command" else message.split(": invalid choice")[0] + ": "
            message = f"{prefix}unknown {what} {m.group(1)!r}{hint}; choose from " + (
                ", ".join(choices)
            )
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def add_command(
    subparsers: Any,
    name: str,
    run: Any,
    *,
    help: str,
    description: str,
    epilog: str | None = None,
    run_folder: str | None = None,
) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` whose ``run(args)`` does the work; returns its parser.

    A ``description`` or ``epilog`` with line breaks is printed as written (pre-wrapped, with
    examples), one without is wrapped to the terminal. ``run_folder`` adds the positional
    ``RUN`` argument (``args.run_folder``) with that help, for the commands that read a run.
    """
    raw = "\n" in description or "\n" in (epilog or "")
    p = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter,
    )
    if run_folder is not None:
        p.add_argument("run_folder", metavar="RUN", help=run_folder)
    p.set_defaults(run=run)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The ``chainrule`` argument parser with every subcommand registered."""
    parser = Parser(
        prog="chainrule",
        description="Train, inspect and export neural networks built on chainrule's "
        "backpropagation engine.",
        epilog="Run 'chainrule COMMAND --help' for the options of a command. "
        "'chainrule train' with no options trains a 2-hidden-layer MLP on the bundled digits.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"chainrule.cli.{name}").register(sub)
    parser.set_defaults(_subparsers=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chainrule`` command; returns the exit status."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unknown_arguments(args, extras)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    from chainrule import distributed

    if distributed.rank() != 0:  # under mpiexec, rank 0 alone prints
        sys.stdout = open(os.devnull, "w")
    try:
        # NumPy's overflow warnings (with source lines) are not shown: what overflows is
        # caught by chainrule's own checks (non-finite loss, updates), which end with one line
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return int(args.run(args) or 0)
    except KeyboardInterrupt:
        _stop_other_ranks("interrupted", 130)
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `chainrule predict ... | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (ChainruleError, OSError, ValueError, ImportError) as exc:
        if os.environ.get("CHAINRULE_DEBUG"):
            raise
        _stop_other_ranks(f"chainrule {args.command}: error: {_one_line(exc)}", 1)
        print(f"chainrule {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _stop_other_ranks(message: str, code: int) -> None:
    """Under mpiexec with several processes, a rank that fails prints its line naming the rank
    and ends the whole job (MPI_Abort) so that no other rank waits for it forever."""
    from chainrule import distributed

    if distributed.size() > 1:
        distributed.abort(message, code)


def _unknown_arguments(args: argparse.Namespace, extras: list[str]) -> NoReturn:
    """Exit with one line naming the first unknown argument and the closest option."""
    sub = getattr(args, "_subparsers", None)
    command = getattr(args, "command", None)
    target = sub.choices[command] if sub is not None and command in sub.choices else None
    prog = target.prog if target is not None else "chainrule"
    options = [] if target is None else [o for a in target._actions for o in a.option_strings]
    first = next((e for e in extras if e.startswith("-")), extras[0])
    if first.startswith("-"):
        name = first.split("=", 1)[0]
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        message = f"unknown option {name}{hint}"
    else:
        message = f"unexpected argument {first!r}"
    sys.stderr.write(f"{prog}: error: {message} (see '{prog} --help')\n")
    sys.exit(2)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings during a command: one line each, ``chainrule: warning: ...``, no source."""
    text = " ".join(str(message).split())
    print(f"chainrule: {category.__name__}: {text}", file=file or sys.stderr)


def _one_line(exc: BaseException) -> str:
    # an error may say what to do differently on the command line than in Python
    text = getattr(exc, "cli_message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}"
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover - python -m chainrule.cli
    sys.exit(main())
