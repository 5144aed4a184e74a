"""What a training run returns: one value per epoch for every logged quantity."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from chainrule._atomic import atomic_write_json, atomic_write_text
from chainrule.train.checkpoint import json_safe


class History:
    """Per-epoch logs of a run, as Keras's ``History``: ``history["val_loss"][-1]``.

    ``epochs`` lists the epoch numbers (1-based); ``history`` maps each name (``loss``,
    ``accuracy``, ``val_loss``, ``lr``, ``time``, ...) to a list aligned with it.
    """

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.stopped_early = False
        self.interrupted = False

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record the logs of ``epoch``; a name first seen late is padded with NaN."""
        for name in logs:
            if name not in self.history:
                self.history[name] = [math.nan] * len(self.epochs)
        self.epochs.append(int(epoch))
        for name, values in self.history.items():
            values.append(float(logs.get(name, math.nan)))

    def __getitem__(self, name: str) -> list[float]:
        return self.history[name]

    def __contains__(self, name: str) -> bool:
        return name in self.history

    def __len__(self) -> int:
        return len(self.epochs)

    def last(self) -> dict[str, float]:
        """The logs of the last epoch."""
        return {k: v[-1] for k, v in self.history.items()} if self.epochs else {}

    def best(self, monitor: str, mode: str = "min") -> tuple[int, float]:
        """``(epoch, value)`` where ``monitor`` was best (``mode`` ``"min"`` or ``"max"``; the
        earliest such epoch, NaN values skipped).

        Raises ``KeyError`` when ``monitor`` is not logged, ``ValueError`` when it holds only
        NaN.
        """
        values = self.history[monitor]
        pairs = [(v, e) for e, v in zip(self.epochs, values) if not math.isnan(v)]
        if not pairs:
            raise ValueError(f"no value of {monitor!r} was logged")
        v, e = min(pairs) if mode == "min" else max(pairs, key=lambda p: (p[0], -p[1]))
        return e, v

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``epochs``, ``history`` (name -> one value per epoch),
        ``names`` (the column order), ``stopped_early``, ``interrupted``."""
        return {
            "epochs": list(self.epochs),
            "history": {k: list(v) for k, v in self.history.items()},
            # the column order, which JSON objects written with sorted keys lose
            "names": list(self.history),
            "stopped_early": self.stopped_early,
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """The history :meth:`to_dict` described (``None`` values read back as NaN)."""
        h = cls()
        h.epochs = [int(e) for e in d.get("epochs", [])]
        # to_json writes NaN (and infinities) as null: read null back as NaN
        logged = d.get("history", {})
        order = [n for n in d.get("names", []) if n in logged]
        h.history = {
            k: [math.nan if x is None else float(x) for x in logged[k]]
            for k in [*order, *(k for k in logged if k not in order)]
        }
        h.stopped_early = bool(d.get("stopped_early", False))
        h.interrupted = bool(d.get("interrupted", False))
        return h

    def to_json(self, path: str | Path) -> Path:
        """Write the history as JSON (atomically), NaN and infinities as null."""
        return atomic_write_json(path, json_safe(self.to_dict(), nonfinite=lambda v: None))

    def to_csv(self, path: str | Path) -> Path:
        """Write one row per epoch (atomically)."""
        buf = io.StringIO()
        w = csv.writer(buf)
        names = list(self.history)
        w.writerow(["epoch", *names])
        for i, e in enumerate(self.epochs):
            w.writerow([e, *(repr(self.history[n][i]) for n in names)])
        return atomic_write_text(path, buf.getvalue())

    @classmethod
    def from_json(cls, path: str | Path) -> History:
        """Read a history written by :meth:`to_json` (``null`` values become NaN)."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def __repr__(self) -> str:
        return f"History({len(self)} epochs: {', '.join(self.history)})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the curves of :func:`~chainrule.train.plots.plot_history` and the
        last epoch's values."""
        from chainrule.train.plots import figure_html, history_figure

        if not len(self):
            return "<p>History: no epochs yet</p>"
        last = ", ".join(f"{k} {v:.4g}" for k, v in self.last().items() if k != "time")
        return f"{figure_html(history_figure(self))}<p>epoch {self.epochs[-1]}: {last}</p>"
