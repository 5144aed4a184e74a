"""``chainrule generate RUN``: sample text from a character-level language model."""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli import add_command

DESCRIPTION = """\
Sample text from a language model trained with 'chainrule train --task lm': the prompt, then
LENGTH characters drawn one at a time from the model's next-character distribution, sharpened
(temperature < 1) or flattened (> 1); temperature 0 takes the most likely character."""

EPILOG = """\
examples:
  chainrule generate runs/kjv-20250101-120000 --prompt "And God said" --length 300
  chainrule generate runs/kjv-20250101-120000 --temperature 0.5 --seed 1
"""


def register(subparsers: Any) -> None:
    """Add the ``generate`` subcommand."""
    p = add_command(
        subparsers,
        "generate",
        run,
        help="sample text from a character-level language model run",
        description=DESCRIPTION,
        epilog=EPILOG,
        run_folder="a run folder of 'chainrule train --task lm'",
    )
    p.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    p.add_argument("--length", type=int, default=200, help="characters to add (default 200)")
    p.add_argument("--temperature", type=float, default=0.8, help="default 0.8; 0: greedy")
    p.add_argument("--seed", type=int, default=None, help="seed of the sampling")


def run(args: argparse.Namespace) -> int:
    """Load the model, sample, print the text."""
    from chainrule.train.lm import generate, load_char_lm

    model, vocab = load_char_lm(args.run_folder)
    print(generate(model, vocab, args.prompt, args.length, args.temperature, args.seed))
    return 0
