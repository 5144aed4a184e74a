"""History: per-epoch logs, best epoch, and round trips through dicts, JSON and CSV."""

from __future__ import annotations

import csv
import json
import math

import pytest

from chainrule.train import History


def _history() -> History:
    h = History()
    h.append(1, {"loss": 1.0, "accuracy": 0.5})
    h.append(2, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.7})
    h.append(3, {"loss": 0.25, "accuracy": 0.75, "val_loss": 0.6})
    return h


def test_append_pads_late_names_with_nan():
    h = _history()
    assert h.epochs == [1, 2, 3]
    assert len(h) == 3 and "val_loss" in h and "lr" not in h
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1:] == [0.7, 0.6]
    h.append(4, {"loss": 0.2})  # a name missing later is NaN too
    assert math.isnan(h["accuracy"][-1])
    assert h.last()["loss"] == 0.2
    assert History().last() == {}
    assert repr(h) == "History(4 epochs: loss, accuracy, val_loss)"


def test_best_min_max_and_ties():
    h = _history()
    assert h.best("loss") == (3, 0.25)
    assert h.best("val_loss", "min") == (3, 0.6)
    assert h.best("accuracy", "max") == (2, 0.75)  # the first epoch of a tie
    empty = History()
    empty.append(1, {"x": math.nan})
    with pytest.raises(ValueError, match="no value of 'x' was logged"):
        empty.best("x")


def test_dict_round_trip_keeps_flags():
    h = _history()
    h.stopped_early = True
    h.interrupted = True
    back = History.from_dict(json.loads(json.dumps(h.to_dict(), allow_nan=True)))
    assert back.epochs == h.epochs
    assert back.stopped_early and back.interrupted
    for name in h.history:
        assert back[name] == pytest.approx(h[name], nan_ok=True)


def test_json_file_round_trip_is_strict_json(tmp_path):
    h = _history()
    path = h.to_json(tmp_path / "h.json")
    text = path.read_text()
    assert "NaN" not in text  # strict JSON: NaN is written as null
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))
    back = History.from_json(path)
    assert back.epochs == [1, 2, 3]
    assert math.isnan(back["val_loss"][0])  # written as null, read back as NaN
    assert back["loss"] == [1.0, 0.5, 0.25]


def test_csv_one_row_per_epoch(tmp_path):
    h = _history()
    path = h.to_csv(tmp_path / "h.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert float(rows[3][1]) == 0.25
    assert rows[1][3] == "nan"
    # full precision: the values read back exactly
    assert [float(r[1]) for r in rows[1:]] == h["loss"]
