"""The run report, in-process: where the example comes from, and missing pieces of a run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from html_check import check_html

from chainrule.errors import IndexRangeError
from chainrule.explain.report import example_from_run, run_report, trace_run
from chainrule.train.run import load_run


@pytest.fixture
def run_copy(run_folder, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run_folder, dst)
    return dst


def rewrite_config(folder, change):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def test_config_as_chainrule_train_writes_it(run_copy):
    """``chainrule train`` keeps the data under "data" (name, loader options) and the
    settings under "settings"; with label smoothing the report says the trace is the plain
    cross-entropy."""

    def change(c):
        del c["dataset"]
        c["data"] = {"name": "moons", "options": {}}
        c["settings"] = {"dataset": "moons", "seed": 0, "test_size": None,
                         "loss": "cross_entropy", "label_smoothing": 0.1}  # fmt: skip

    rewrite_config(run_copy, change)
    run = load_run(run_copy)
    x, y, note = example_from_run(run, 3)
    name = run.preprocess.class_names[int(y)]
    assert note == f"Example 3 of the test split of moons (class {name})."
    assert x.shape == (2,) and x.dtype == np.float32
    t, text = trace_run(run, 3)
    assert t.max_disagreement < 1e-10
    assert "label smoothing 0.1" in text and "plain cross-entropy" in text
    # an index past the split is refused, naming the valid range (no silent fallback)
    with pytest.raises(IndexRangeError, match=r"example 1000000 is outside .*: choose 0\.\.199"):
        example_from_run(run, 10**6)


def test_unloadable_data_falls_back_to_the_mean_input(run_copy):
    rewrite_config(run_copy, lambda c: c.update(dataset="no-such-dataset"))
    run = load_run(run_copy)
    x, y, note = example_from_run(run)
    assert "no-such-dataset could not be loaded" in note
    assert "average training input" in note
    np.testing.assert_allclose(x, np.zeros(2), atol=1e-6)  # the mean, standardised
    assert int(y) in (0, 1)
    page = run_report(run_copy)
    check_html(page)
    assert "average training input" in page


def test_report_without_gradient_flow_or_pictures(run_copy):
    for name in ("gradient_flow.json", "gradient_flow.png", "curves.png", "confusion_matrix.png"):
        (run_copy / name).unlink()
    page = run_report(run_copy)
    parser = check_html(page)
    assert "did not record its gradient flow" in page
    assert "No confusion matrix" in page
    imgs = [a for tag, a in parser.tags if tag == "img"]
    assert len(imgs) == 1  # the curves, drawn again from history.json
    assert "<mtable" in page
