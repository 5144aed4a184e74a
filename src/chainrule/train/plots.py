"""PNG plots of a run: loss and metric curves per epoch, and a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule._atomic import atomic_write_bytes
from chainrule.train.history import History

_SKIP = {"time", "samples_per_s", "lr"}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (unless one is already set).

    Raises ``ImportError`` with the install hint when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'chainrule[train]'") from exc
    return plt


def _save(fig: Any, path: str | Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)  # tight_layout() already fitted the figure
    pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def figure_html(fig: Any) -> str:
    """An ``<img>`` tag holding ``fig`` as an embedded PNG (for Jupyter's ``_repr_html_``);
    the figure is closed."""
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    pyplot().close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img src='data:image/png;base64,{data}'/>"


def plot_history(history: History, path: str | Path) -> Path:
    """One panel per quantity (loss, each metric), training and validation curves per epoch.

    Writes a PNG to ``path`` and returns it. Raises ``ValueError`` for an empty history,
    ``ImportError`` with the install hint when matplotlib is missing.
    """
    return _save(history_figure(history), path)


def history_figure(history: History) -> Any:
    """The matplotlib figure :func:`plot_history` saves. Raises ``ValueError`` for an empty
    history."""
    if not len(history):
        raise ValueError("the history is empty: nothing to plot")
    plt = pyplot()
    names = [k for k in history.history if not k.startswith("val_") and k not in _SKIP]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(history.epochs, history[name], marker="o", ms=3, label="train")
        if f"val_{name}" in history:
            ax.plot(history.epochs, history[f"val_{name}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        if name == "loss" and min(v for v in history[name] if np.isfinite(v)) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    matrix: np.ndarray, path: str | Path, class_names: list[str] | None = None, title: str = ""
) -> Path:
    """A heat map of ``matrix[i, j]`` (true class i predicted as j) with the counts written in.

    ``matrix``: ``(n, n)`` counts (see :func:`~chainrule.train.confusion_matrix`);
    ``class_names``: n labels for the axes (indices without). Writes a PNG to ``path`` and
    returns it. Raises ``ImportError`` with the install hint when matplotlib is missing.
    """
    plt = pyplot()
    m = np.asarray(matrix)
    n = m.shape[0]
    names = class_names or [str(i) for i in range(n)]
    size = min(3 + 0.45 * n, 14)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    if n <= 30:
        hi = m.max() if m.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > hi / 2 else "black")  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)
