"""A user's own data: CSV tables with a header row, and NumPy ``.npz`` archives."""

from __future__ import annotations

import csv
import difflib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chainrule.data.containers import TASKS, LabeledData
from chainrule.errors import DataError, ShapeError

__all__ = ["existing_file", "is_data_file", "load_csv", "load_npz"]


def load_csv(
    path: str | Path,
    target: str | None,
    *,
    task: str | None = None,
    features: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    delimiter: str = ",",
) -> LabeledData:
    """Read a CSV file with a header row into features ``X`` and a target ``y``.

    Args:
        path: the file (UTF-8, an optional byte-order mark is skipped).
        target: the name of the target column; ``None`` for a file without one (data to
            predict on): every column is then a feature and ``y`` is ``None``.
        task: ``"classification"`` or ``"regression"``; ``None`` decides from the target:
            text labels or whole numbers mean classification, other numbers regression.
        features: the feature columns to use, in order (default: every column but the target).
        class_names: the classes in index order (e.g. those of the training data, when reading
            test data); default: the sorted distinct labels.
        delimiter: the field separator.

    Returns a :class:`~chainrule.data.LabeledData`: ``X`` float64 of shape
    ``(n_rows, n_features)``; for classification ``y`` int64 class indices of shape
    ``(n_rows,)`` with ``class_names[i]`` the label of class ``i`` (labels are sorted: text
    alphabetically, numbers numerically); for regression ``y`` float64 of shape ``(n_rows,)``.
    Blank lines are skipped. Messages give the line number of the file (the header is line 1).

    Raises :class:`~chainrule.errors.DataError` for a missing file, a file with no header or no
    rows, rows with a wrong number of fields, a missing target or feature column (listing the
    columns, suggesting the closest), empty cells, non-numeric features, NaN or infinite values,
    non-integer labels asked to be classes, text targets asked to be regressed, or labels
    missing from ``class_names``.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pets.csv"
    >>> _ = p.write_text("weight,height,kind\\n4.0,25,cat\\n30,60,dog\\n5.5,28,cat\\n")
    >>> d = load_csv(p, target="kind")
    >>> d.X.shape, d.y.tolist(), d.class_names, d.task
    ((3, 2), [0, 1, 0], ['cat', 'dog'], 'classification')
    """
    path = existing_file(path)
    header, lines, cells = _read_csv(path, delimiter)
    if target is not None and target not in header:
        raise DataError(
            f"{path.name}: no target column {target!r}{_suggest(target, header)}; "
            f"the columns are {header}"
        )
    if features is None:
        feat_cols = [j for j, name in enumerate(header) if name != target]
    else:
        for name in features:
            if name not in header:
                raise DataError(
                    f"{path.name}: no feature column {name!r}{_suggest(name, header)}; "
                    f"the columns are {header}"
                )
        if target is not None and target in features:
            raise DataError(f"{path.name}: the target column {target!r} is also in features")
        feat_cols = [header.index(name) for name in features]
    if not feat_cols:
        raise DataError(f"{path.name}: there are no feature columns besides {target!r}")
    used = [*feat_cols] + ([] if target is None else [header.index(target)])
    empty = cells[:, used] == ""
    if empty.any():
        r, c = np.argwhere(empty)[0]
        raise DataError(
            f"{path.name}: empty cell at line {lines[r]}, column {header[used[c]]!r} "
            f"({int(empty.sum())} empty cells in all); fill them in or remove those rows"
        )
    X = _numeric_columns(path, cells, feat_cols, header, lines)
    names = [header[j] for j in feat_cols]
    if target is None:
        return LabeledData(path.name, X, None, None, None, names, None, _describe(path, X, None))
    t = header.index(target)
    y, task, n_classes, classes = _target(
        path.name, cells[:, t], task, class_names, f"column {target!r}", lines
    )
    return LabeledData(
        path.name, X, y, task, n_classes, names, classes, _describe(path, X, task, target)
    )


def load_npz(
    path: str | Path,
    x_key: str = "X",
    y_key: str | None = "y",
    *,
    task: str | None = None,
    class_names: Sequence[str] | None = None,
) -> LabeledData:
    """Read features and targets from a NumPy ``.npz`` archive (``numpy.savez``).

    ``X = file[x_key]`` of shape ``(n, ...)`` and numeric; ``y = file[y_key]`` of shape
    ``(n,)`` or ``(n, k)``, or no target when ``y_key=None``. The task is decided as in
    :func:`load_csv`: text or whole-number labels mean classification (mapped to indices of
    the sorted distinct labels, kept in ``class_names``), other numbers regression. Features
    keep their dtype. Pickled objects are never loaded.

    Raises :class:`~chainrule.errors.DataError` for a missing or unreadable file, a missing key
    (listing the keys, suggesting the closest), object or non-numeric features, NaN or
    infinite values (giving the index), an empty array, non-integer labels for
    classification; :class:`~chainrule.errors.ShapeError` when ``X`` and ``y`` differ in
    length.

    >>> import pathlib, tempfile, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.npz"
    >>> np.savez(p, X=np.zeros((4, 2)), y=np.array([0.5, 1.5, 2.0, 3.0]))
    >>> d = load_npz(p)
    >>> d.X.shape, d.task
    ((4, 2), 'regression')
    """
    import zipfile  # here: numpy loads it for .npz files anyway, chainrule's import need not

    path = existing_file(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise DataError(
                    f"{path.name}: not a .npz archive (the zip file numpy.savez writes)"
                )
            fh.seek(0)
            archive = np.load(fh, allow_pickle=False)
            keys = list(archive.files)
            arrays = {}
            for key in (x_key, y_key):
                if key is None:
                    continue
                if key not in keys:
                    raise DataError(
                        f"{path.name}: no array {key!r}{_suggest(key, keys)}; the file holds "
                        f"{keys} (choose with x_key=... / y_key=...)"
                    )
                arrays[key] = archive[key]
            archive.close()
    except DataError:
        raise
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise DataError(
            f"{path.name}: holds Python objects (pickled arrays), which chainrule does not "
            "load; save plain numeric arrays with numpy.savez"
        ) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path.name}: not a readable .npz archive ({exc})") from exc
    X = arrays[x_key]
    if X.ndim == 0 or X.shape[0] == 0:
        raise DataError(f"{path.name}: {x_key!r} is empty or 0-d (shape {X.shape})")
    if X.dtype.kind not in "iubf":
        raise DataError(f"{path.name}: {x_key!r} must hold numbers, it has dtype {X.dtype}")
    _check_finite(path.name, x_key, X)
    names = [f"x{i}" for i in range(int(np.prod(X.shape[1:], dtype=np.int64)))]
    if y_key is None:
        return LabeledData(path.name, X, None, None, None, names, None, _describe(path, X, None))
    y = arrays[y_key]
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ShapeError(
            f"{path.name}: {x_key!r} and {y_key!r} must have the same number of samples; "
            f"got shapes {X.shape} and {y.shape}"
        )
    y, task, n_classes, classes = _target(path.name, y, task, class_names, repr(y_key), None)
    return LabeledData(path.name, X, y, task, n_classes, names, classes, _describe(path, X, task))


# ---------------------------------------------------------------------------------- CSV
def _read_csv(path: Path, delimiter: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Header, the file line number of each data row, and the stripped cells ``(n, m)``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [cell.strip() for cell in row]
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path.name}: line {reader.line_num} has {len(row)} fields but the "
                        f"header has {len(header)} ({header})"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not a UTF-8 text file ({exc.reason})") from exc
    except csv.Error as exc:
        raise DataError(f"{path.name}: not a readable CSV file ({exc})") from exc
    if header is None:
        raise DataError(f"{path.name}: the file is empty (no header row)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{path.name}: the header repeats column names {dupes}")
    if not rows:
        raise DataError(f"{path.name}: the file has a header but no data rows (empty dataset)")
    cells = np.char.strip(np.array(rows, dtype=str))
    return header, np.asarray(lines), cells


def _numeric_columns(
    path: Path, cells: np.ndarray, cols: list[int], header: list[str], lines: np.ndarray
) -> np.ndarray:
    block = cells[:, cols]
    try:
        X = block.astype(np.float64)
    except ValueError:
        for c, j in enumerate(cols):  # error path: find the column and the value
            bad = _first_non_number(block[:, c])
            if bad is not None:
                what = (
                    f"{path.name}: feature column {header[j]!r} is not numeric: line "
                    f"{lines[bad]} holds {_show(block[bad, c])}; encode it as numbers or "
                )
                err = DataError(what + "leave the column out with features=[...]")
                # the command line has no features option: every column but the target is one
                err.cli_message = what + "delete the column from the file"  # type: ignore[attr-defined]
                raise err from None
        raise
    finite = np.isfinite(X)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise DataError(
            f"{path.name}: line {lines[r]}, column {header[cols[c]]!r} holds {_show(block[r, c])}, "
            f"not a finite number ({int((~finite).sum())} such cells); fill them in or remove "
            "those rows"
        )
    return X


def _first_non_number(column: np.ndarray) -> int | None:
    for i, value in enumerate(column.tolist()):
        try:
            float(value)
        except ValueError:
            return i
    return None


# ---------------------------------------------------------------------------------- targets
def _target(
    source: str,
    raw: np.ndarray,
    task: str | None,
    class_names: Sequence[str] | None,
    what: str,
    lines: np.ndarray | None,
) -> tuple[np.ndarray, str, int | None, list[str] | None]:
    """Turn raw target values (strings from a CSV, or an array) into ``(y, task, n_classes,
    class_names)``."""
    if task is not None and task not in TASKS:
        raise DataError(f"task must be one of {list(TASKS)}, got {task!r}")
    where = (lambda i: f"line {lines[i]}") if lines is not None else (lambda i: f"index {i}")
    values: np.ndarray | None
    if raw.dtype.kind in "iubf":
        values = raw
    else:
        try:
            values = raw.astype(np.float64)
        except ValueError:
            values = None
    if values is not None and values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            i = int(np.argwhere(~finite)[0][0])
            raise DataError(
                f"{source}: target {what} at {where(i)} holds {_show(raw[i])}, not a finite number"
            )
    whole = values is not None and (
        values.dtype.kind in "iub" or bool(np.all(values == np.round(values)))
    )
    if task is None:
        numeric_target = values is not None and (not whole or raw.ndim != 1)
        task = "regression" if numeric_target else "classification"
    if task == "regression":
        if values is None:
            i = _first_non_number(raw.reshape(-1))
            raise DataError(
                f"{source}: target {what} is not numeric ({where(i or 0)} holds "
                f"{_show(raw.reshape(-1)[i or 0])}); regression needs numbers, use "
                "task='classification' for class labels"
            )
        return values.astype(np.float64), task, None, None
    if raw.ndim != 1:
        raise DataError(
            f"{source}: class labels must have one value per sample, target {what} has shape "
            f"{raw.shape}"
        )
    if values is not None:
        if not whole:
            i = int(np.argwhere(values != np.round(values))[0][0])
            raise DataError(
                f"{source}: labels that are not integers for classification: target {what} at "
                f"{where(i)} holds {_show(raw[i])}; use task='regression' for continuous targets"
            )
        labels = values.astype(np.int64).astype(str)
        order_key = values.astype(np.int64)
    else:
        labels = raw.astype(str)
        order_key = labels
    if class_names is not None:
        names = [str(c) for c in class_names]
        lookup = np.array(names, dtype=str)
        sorter = np.argsort(lookup)
        pos = np.clip(np.searchsorted(lookup, labels, sorter=sorter), 0, len(names) - 1)
        y = sorter[pos]
        unknown = lookup[y] != labels
        if unknown.any():
            i = int(np.argwhere(unknown)[0][0])
            raise DataError(
                f"{source}: label {_show(labels[i])} at {where(i)} is not one of the classes "
                f"{names}"
            )
        return y.astype(np.int64), task, len(names), names
    keys, first, y = np.unique(order_key, return_index=True, return_inverse=True)
    names = labels[first].tolist()
    return y.astype(np.int64).reshape(-1), task, len(keys), names


# ---------------------------------------------------------------------------------- shared
def is_data_file(name: str) -> bool:
    """Whether ``name`` names a data file (``.csv`` / ``.npz``) rather than a bundled set: by
    its suffix, or because it is a path (it holds a folder separator, or is a directory)."""
    seps = [s for s in (os.sep, os.altsep) if s]
    return (
        Path(name).suffix.lower() in (".csv", ".npz")
        or any(s in name for s in seps)
        or Path(name).expanduser().is_dir()
    )


def existing_file(path: str | Path) -> Path:
    """``path`` (with ``~`` expanded) when it is a readable file's name.

    Raises :class:`~chainrule.errors.DataError` "no such file" when nothing is there, and
    one saying what is there instead (a directory, a device, ...) when it is not a file.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise DataError(f"{str(path)!r} is a directory, not a data file (a .csv or .npz file)")
    if not p.exists():
        raise DataError(f"no such file: {str(path)!r} (resolved to {p.resolve()})")
    if not p.is_file():
        raise DataError(f"{str(path)!r} is not a regular file (a .csv or .npz file)")
    return p


def _check_finite(source: str, key: str, X: np.ndarray) -> None:
    if X.dtype.kind != "f":
        return
    finite = np.isfinite(X)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise DataError(
            f"{source}: {key}[{', '.join(map(str, idx))}] is {X[idx]}, not a finite number "
            f"({int((~finite).sum())} such values); fill them in or remove those samples"
        )


def _show(value: object) -> str:
    """``repr`` of a cell or an array element as a plain Python value (``'red'``, ``2.5``)."""
    if isinstance(value, np.ndarray):
        return repr(value.tolist())
    return repr(value.item() if isinstance(value, np.generic) else value)


def _suggest(name: str, choices: Sequence[str]) -> str:
    lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.5)
    return f" (did you mean {lower[close[0]]!r}?)" if close else ""


def _describe(path: Path, X: np.ndarray, task: str | None, target: str | None = None) -> str:
    what = f"{task} on {target!r}" if target else (task or "no target")
    return f"{path.name}: {X.shape[0]} samples, {int(np.prod(X.shape[1:]))} features, {what}"
