"""A user's own data: load_csv and load_npz, good files and every kind of bad one."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import load_csv, load_dataset, load_npz
from chainrule.errors import DataError, ShapeError


def _csv(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


PETS = """weight,height,kind
4.0,25,cat
30,60,dog
5.5,28,cat
12,40,fox
"""


# ------------------------------------------------------------------------------ CSV: good files
def test_csv_categorical_target_becomes_class_indices(tmp_path):
    d = load_csv(_csv(tmp_path, PETS), target="kind")
    assert d.X.dtype == np.float64 and d.X.shape == (4, 2)
    np.testing.assert_array_equal(d.X[:, 0], [4.0, 30.0, 5.5, 12.0])
    assert d.y.dtype == np.int64 and d.y.tolist() == [0, 1, 0, 2]
    assert d.class_names == ["cat", "dog", "fox"] and d.n_classes == 3
    assert d.task == "classification" and d.feature_names == ["weight", "height"]
    assert "4 samples" in d.description


def test_csv_integer_target_is_classification_sorted_numerically(tmp_path):
    d = load_csv(_csv(tmp_path, "a,b,label\n1,2,10\n3,4,2\n5,6,10\n7,8,2.0\n"), target="label")
    assert d.task == "classification"
    assert d.class_names == ["2", "10"] and d.y.tolist() == [1, 0, 1, 0]


def test_csv_real_target_is_regression(tmp_path):
    d = load_csv(_csv(tmp_path, "x,y\n1,0.5\n2,1.5\n3,2.25\n"), target="y")
    assert d.task == "regression" and d.n_classes is None and d.class_names is None
    assert d.y.dtype == np.float64 and d.y.tolist() == [0.5, 1.5, 2.25]


def test_csv_explicit_task_and_feature_selection(tmp_path):
    p = _csv(tmp_path, "x,z,y\n1,9,1\n2,8,2\n3,7,3\n")
    d = load_csv(p, target="y", task="regression", features=["z"])
    assert d.task == "regression" and d.y.dtype == np.float64
    assert d.feature_names == ["z"] and d.X[:, 0].tolist() == [9.0, 8.0, 7.0]


def test_csv_class_names_from_training_data(tmp_path):
    d = load_csv(
        _csv(tmp_path, "x,kind\n1,fox\n2,cat\n"), target="kind", class_names=["cat", "dog", "fox"]
    )
    assert d.y.tolist() == [2, 0] and d.n_classes == 3
    with pytest.raises(DataError, match=r"'emu' at line 3 is not one of the classes"):
        load_csv(
            _csv(tmp_path, "x,kind\n1,fox\n2,emu\n"), target="kind", class_names=["cat", "fox"]
        )


def test_csv_quirks_blank_lines_bom_quotes_spaces_delimiter(tmp_path):
    p = tmp_path / "q.csv"
    p.write_bytes('\ufeffa; "b" ;kind\n\n1.5; 2 ;"x"\n3;4;y\n\n'.encode())
    d = load_csv(p, target="kind", delimiter=";")
    assert d.feature_names == ["a", '"b"'] or d.feature_names == ["a", "b"]
    assert d.X.tolist() == [[1.5, 2.0], [3.0, 4.0]] and d.class_names == ["x", "y"]


def test_csv_without_target_for_prediction(tmp_path):
    d = load_csv(
        _csv(
            tmp_path,
            PETS.replace(",kind", ",size")
            .replace("cat", "1")
            .replace("dog", "2")
            .replace("fox", "3"),
        ),
        target=None,
    )
    assert d.y is None and d.task is None and d.X.shape == (4, 3)
    with pytest.raises(DataError, match="no target"):
        d.split()


def test_csv_split_and_dataset(tmp_path):
    rows = "\n".join(f"{i},{i % 2}" for i in range(20))
    d = load_csv(_csv(tmp_path, "x,label\n" + rows + "\n"), target="label")
    s = d.split(test_size=0.25, seed=0)
    assert len(s.X_test) == 5 and len(s.X_train) == 15
    assert s.class_names == ["0", "1"] and len(d.dataset()) == 20


# ------------------------------------------------------------------------------ CSV: bad files
def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"no such file: .*nope\.csv"):
        load_csv(tmp_path / "nope.csv", target="y")
    with pytest.raises(DataError, match="directory"):
        load_csv(tmp_path, target="y")


def test_csv_missing_target_lists_columns_and_suggests(tmp_path):
    with pytest.raises(DataError) as err:
        load_csv(_csv(tmp_path, PETS), target="knd")
    msg = str(err.value)
    assert "no target column 'knd'" in msg and "did you mean 'kind'" in msg
    assert "['weight', 'height', 'kind']" in msg
    with pytest.raises(DataError, match="did you mean 'kind'"):
        load_csv(_csv(tmp_path, PETS), target="KIND")
    with pytest.raises(DataError, match=r"no feature column 'hieght'.*did you mean 'height'"):
        load_csv(_csv(tmp_path, PETS), target="kind", features=["hieght"])


def test_csv_non_numeric_feature_names_column_line_and_value(tmp_path):
    text = "size,color,label\n1,2,a\n2,red,b\n3,4,a\n"
    with pytest.raises(
        DataError, match=r"feature column 'color' is not numeric: line 3 holds 'red'"
    ):
        load_csv(_csv(tmp_path, text), target="label")
    # leaving the column out works
    assert load_csv(_csv(tmp_path, text), target="label", features=["size"]).X.shape == (3, 1)


def test_csv_empty_cells_name_line_and_column(tmp_path):
    with pytest.raises(DataError, match=r"empty cell at line 3, column 'b' \(2 empty"):
        load_csv(_csv(tmp_path, "a,b,y\n1,2,0\n3, ,1\n4,,0\n"), target="y")
    with pytest.raises(DataError, match=r"empty cell at line 2, column 'y'"):
        load_csv(_csv(tmp_path, "a,b,y\n1,2,\n3,4,1\n"), target="y")


def test_csv_nan_and_inf_cells(tmp_path):
    with pytest.raises(DataError, match=r"line 3, column 'a' holds 'nan', not a finite number"):
        load_csv(_csv(tmp_path, "a,y\n1,0\nnan,1\n"), target="y")
    with pytest.raises(DataError, match=r"line 2, column 'a' holds 'inf'"):
        load_csv(_csv(tmp_path, "a,y\ninf,0\n2,1\n"), target="y")
    with pytest.raises(DataError, match=r"target column 'y' at line 3 holds 'NaN'"):
        load_csv(_csv(tmp_path, "a,y\n1,0.5\n2,NaN\n"), target="y")


def test_csv_structure_errors(tmp_path):
    with pytest.raises(DataError, match="line 3 has 2 fields but the header has 3"):
        load_csv(_csv(tmp_path, "a,b,y\n1,2,0\n3,1\n"), target="y")
    with pytest.raises(DataError, match="empty"):
        load_csv(_csv(tmp_path, ""), target="y")
    with pytest.raises(DataError, match="no data rows"):
        load_csv(_csv(tmp_path, "a,y\n\n"), target="y")
    with pytest.raises(DataError, match=r"repeats column names \['a'\]"):
        load_csv(_csv(tmp_path, "a,a,y\n1,2,3\n"), target="y")
    with pytest.raises(DataError, match="no feature columns"):
        load_csv(_csv(tmp_path, "y\n1\n"), target="y")
    with pytest.raises(DataError, match="also in features"):
        load_csv(_csv(tmp_path, "a,y\n1,2\n"), target="y", features=["a", "y"])
    p = tmp_path / "bin.csv"
    p.write_bytes(b"a,y\n\xff\xfe,1\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_csv(p, target="y")


def test_csv_label_errors(tmp_path):
    with pytest.raises(
        DataError, match=r"labels that are not integers for classification.*line 3 holds '2.5'"
    ):
        load_csv(_csv(tmp_path, "a,y\n1,1\n2,2.5\n"), target="y", task="classification")
    with pytest.raises(DataError, match=r"target column 'y' is not numeric \(line 2 holds 'cat'\)"):
        load_csv(_csv(tmp_path, "a,y\n1,cat\n2,dog\n"), target="y", task="regression")
    with pytest.raises(DataError, match="task must be one of"):
        load_csv(_csv(tmp_path, "a,y\n1,1\n"), target="y", task="clustering")


# ------------------------------------------------------------------------------ NPZ
def test_npz_classification_regression_and_keys(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, data=np.ones((6, 2, 2), dtype=np.float32), labels=np.array([3, 1, 3, 1, 2, 2]))
    d = load_npz(p, x_key="data", y_key="labels")
    assert d.X.shape == (6, 2, 2) and d.X.dtype == np.float32
    assert d.task == "classification" and d.class_names == ["1", "2", "3"]
    assert d.y.tolist() == [2, 0, 2, 0, 1, 1] and len(d.feature_names) == 4
    np.savez(p, X=np.ones((3, 1)), y=np.array([0.1, 0.2, 0.3]))
    assert load_npz(p).task == "regression"
    np.savez(p, X=np.ones((3, 1)), y=np.array(["b", "a", "b"]))
    d = load_npz(p)
    assert d.class_names == ["a", "b"] and d.y.tolist() == [1, 0, 1]
    np.savez(p, X=np.ones((3, 1)), y=np.ones((3, 2)))
    assert load_npz(p).task == "regression"
    assert load_npz(p, y_key=None).y is None


def test_npz_bad_input(tmp_path):
    p = tmp_path / "d.npz"
    with pytest.raises(DataError, match="no such file"):
        load_npz(p)
    np.savez(p, x=np.ones((3, 1)), y=np.zeros(3))
    with pytest.raises(
        DataError, match=r"no array 'X' \(did you mean 'x'\?\); the file holds \['x', 'y'\]"
    ):
        load_npz(p)
    np.savez(p, X=np.array([[1.0], [np.nan], [2.0]]), y=np.zeros(3))
    with pytest.raises(DataError, match=r"X\[1, 0\] is nan"):
        load_npz(p)
    np.savez(p, X=np.ones((3, 1)), y=np.zeros(4))
    with pytest.raises(ShapeError, match=r"\(3, 1\) and \(4,\)"):
        load_npz(p)
    np.savez(p, X=np.ones((0, 1)), y=np.zeros(0))
    with pytest.raises(DataError, match="empty"):
        load_npz(p)
    np.savez(p, X=np.array(["a", "b"]), y=np.zeros(2))
    with pytest.raises(DataError, match="must hold numbers"):
        load_npz(p)
    np.savez(p, X=np.ones((2, 1)), y=np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="not integers for classification"):
        load_npz(p, task="classification")
    np.savez(p, X=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(DataError, match="pickled"):
        load_npz(p)
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"not a \.npz archive"):
        load_npz(p)
    np.save(tmp_path / "plain.npy", np.ones(3))
    (tmp_path / "plain.npy").rename(p)
    with pytest.raises(DataError, match=r"not a \.npz archive"):
        load_npz(p)
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load_npz(p)


# ---------------------------------------------------------------------- through load_dataset
def test_load_dataset_reads_csv_and_npz_paths(tmp_path):
    rows = "\n".join(f"{i},{i * 0.5},{'ab'[i % 2]}" for i in range(40))
    p = _csv(tmp_path, "u,v,cls\n" + rows + "\n")
    d = load_dataset(str(p), target="cls", test_size=0.25, seed=1)
    assert len(d.X_test) == 10 and np.bincount(d.y_test).tolist() == [5, 5]
    assert d.class_names == ["a", "b"] and d.name == "data.csv"
    with pytest.raises(DataError, match="target=COLUMN"):
        load_dataset(p)
    q = tmp_path / "d.npz"
    np.savez(q, X=np.ones((10, 2)), y=np.arange(10) % 2)
    assert load_dataset(q).X_train.shape == (8, 2)
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.csv", target="y")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        load_dataset(tmp_path / "notes.txt")
