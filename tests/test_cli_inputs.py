"""A property of the command over its data inputs: for any CSV file (odd headers, quoting,
encodings, blank lines, huge and tiny numbers, empty or text cells), ``chainrule train`` and
``chainrule predict`` either succeed with valid output or exit non-zero with one line and no
traceback. The command runs in-process (``chainrule.cli.main``), on tiny settings."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from chainrule.cli import main

NAMES = st.one_of(
    st.sampled_from(["x", "weight (g)", "a,b", 'say "hi"', " padded ", "ünï", "1", "", "日本"]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([1e300, -1e300, 1e-300, 5e-324, 1.7976931348623157e308, 0.0, -0.0]),
    st.integers(-(10**30), 10**30),
)
CELLS = st.one_of(
    NUMBERS.map(repr),
    NUMBERS.map(lambda v: f"{v:.3e}" if isinstance(v, float) else str(v)),
    st.sampled_from(["", "nan", "inf", "-Infinity", "red", " 3 ", "1e999", "0x10", "1_000"]),
)
LABELS = st.one_of(st.sampled_from(["cat", "dog", "0", "1", "2.5", "", "ça"]), CELLS)


@st.composite
def csv_files(draw) -> tuple[bytes, str]:
    """(file content, target column name)."""
    n_features = draw(st.integers(1, 3))
    plain = draw(
        st.sampled_from([True, True, False])
    )  # distinct odd names, numbers, two labels: it often trains
    if plain:
        names = draw(st.permutations(["weight (g)", "a,b", 'say "hi"', "ünï", "日本", "x"]))
        names = names[: n_features + 1]
    else:
        names = [draw(NAMES) for _ in range(n_features + 1)]
    target = names[-1]
    n_rows = draw(st.integers(10, 30) if plain else st.integers(0, 24))
    rows = []
    for i in range(n_rows):
        if plain:
            values = st.one_of(st.floats(-1e6, 1e6), NUMBERS) if i == 0 else st.floats(-1e6, 1e6)
            rows.append([repr(draw(values)) for _ in range(n_features)] + [("cat", "dog")[i % 2]])
        else:
            rows.append([draw(CELLS) for _ in range(n_features)] + [draw(LABELS)])
    buf = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    writer = csv.writer(buf, quoting=quoting, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(names)
    for row in rows:
        if draw(st.integers(0, 9)) == 0:
            buf.write(draw(st.sampled_from(["\n", "  \n", ",,\n"])))  # blank-ish lines
        writer.writerow(row)
    text = buf.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    # the rows to predict on: the same file, or its feature cells without the header line
    headerless = draw(st.booleans())
    if headerless:
        pbuf = io.StringIO()
        csv.writer(pbuf, quoting=quoting).writerows(row[:n_features] for row in rows)
        to_predict = pbuf.getvalue()
    else:
        to_predict = text
    data_rows = [r for r in csv.reader(io.StringIO(to_predict)) if any(c.strip() for c in r)]
    n_predict = len(data_rows) - (0 if headerless else 1)

    def encode(t: str) -> bytes:
        return t.encode(encoding, errors="replace")

    return encode(text), target, encode(to_predict), n_predict


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's own exits
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue(), err.getvalue()


def _fails_cleanly(status: int, err: str) -> None:
    lines = err.strip().splitlines()
    assert status != 0
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("chainrule"), err


@settings(max_examples=10)
@given(csv_files())
def test_any_csv_trains_or_fails_with_one_line(case):
    content, target, to_predict, n_predict = case
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        data.write_bytes(content)
        rows_file = Path(tmp) / "rows.csv"
        rows_file.write_bytes(to_predict)
        quick = ["--hidden", "3", "--epochs", "1", "--batch-size", "2", "--quiet"]
        status, out, err = _run(["train", "--dataset", str(data), "--target", target, *quick,
                                 "--out", tmp, "--name", "run"])  # fmt: skip
        event("trained" if status == 0 else "refused")
        if status != 0:
            _fails_cleanly(status, err)
            return
        run = Path(tmp) / "run"
        metrics = json.loads((run / "metrics.json").read_text())
        assert all(math.isfinite(v) for v in metrics["test"].values()), metrics
        assert (run / "model.safetensors").is_file()
        status, out, err = _run(["predict", str(run), str(rows_file)])
        event("predicted" if status == 0 else "prediction refused")
        if status != 0:
            _fails_cleanly(status, err)
            return
        rows = [r for r in csv.reader(io.StringIO(out)) if r]
        assert rows[0][0] == "prediction"
        assert len(rows) - 1 == n_predict  # one prediction per data row, none lost
        assert all(math.isfinite(float(p)) for r in rows[1:] for p in r[1:])
