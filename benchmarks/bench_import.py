"""How long ``import chainrule`` takes once NumPy is loaded, in fresh interpreters.

Each round starts a new Python process that imports NumPy, then times ``import chainrule``
alone (NumPy's own import is the same for every array library, so it is left out). Prints the
median over ``--rounds`` processes, and which heavy floors and optional packages the import
left unloaded (they load on first use: ``cr.train``, ``cr.explain``, ...).

    python benchmarks/bench_import.py --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CODE = """
import json, sys, time
import numpy
t = time.perf_counter()
import chainrule
dt = time.perf_counter() - t
heavy = ("chainrule.explain", "chainrule.train", "chainrule.sklearn", "chainrule.onnx",
         "chainrule.cli", "rich", "matplotlib", "safetensors", "onnx", "torch")
print(json.dumps({"seconds": dt, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def measure(rounds: int) -> tuple[float, list[float], list[str]]:
    """Median seconds of ``import chainrule`` after NumPy, the samples, and the heavy modules
    it loaded (expected: none)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    samples, loaded = [], set()
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
        )
        res = json.loads(out.stdout)
        samples.append(res["seconds"])
        loaded.update(res["loaded"])
    return statistics.median(samples), samples, sorted(loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="fresh processes (default 15)")
    args = parser.parse_args()
    median, samples, loaded = measure(args.rounds)
    print(
        f"import chainrule after NumPy: median {median * 1000:.0f} ms over {args.rounds} fresh "
        f"processes (min {min(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms)"
    )
    print("heavy modules loaded by the import:", ", ".join(loaded) or "none")


if __name__ == "__main__":
    main()
