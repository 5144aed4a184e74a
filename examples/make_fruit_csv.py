"""Write examples/fruit.csv and examples/fruit_new.csv: a small made-up table of fruit
measurements (weight, width, height, colour hue, sugar) labelled apple, lemon, orange or
pear, for the README's "Your own data (CSV)" section.

    python examples/make_fruit_csv.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# per fruit: mean and spread of weight (g), width (cm), height (cm), hue (degrees), sugar (%)
FRUIT = {
    "apple": ([170, 7.5, 7.0, 20, 12.0], [30, 0.6, 0.6, 25, 1.5]),
    "lemon": ([110, 5.8, 7.8, 55, 3.0], [20, 0.5, 0.6, 6, 1.0]),
    "orange": ([190, 7.8, 7.6, 32, 9.0], [35, 0.6, 0.6, 5, 1.5]),
    "pear": ([180, 6.6, 9.6, 70, 10.0], [30, 0.6, 0.8, 20, 1.5]),
}
COLUMNS = ["weight_g", "width_cm", "height_cm", "hue_deg", "sugar_pct"]


def make(n_per_class: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    rows = []
    for name, (mean, spread) in FRUIT.items():
        values = rng.normal(mean, spread, size=(n_per_class, len(COLUMNS)))
        rows += [(name, v) for v in values]
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write(path: Path, rows: list[tuple[str, np.ndarray]], with_target: bool) -> None:
    lines = [",".join(COLUMNS + (["fruit"] if with_target else []))]
    for name, v in rows:
        cells = [
            f"{v[0]:.0f}",
            f"{v[1]:.1f}",
            f"{v[2]:.1f}",
            f"{float(np.round(v[3])) + 0.0:.0f}",
            f"{v[4]:.1f}",
        ]
        lines.append(",".join(cells + ([name] if with_target else [])))
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    write(here / "fruit.csv", make(40, seed=0), with_target=True)
    write(here / "fruit_new.csv", make(2, seed=1), with_target=False)
