"""cr.load_model: a trained model and its preprocessing from a `chainrule train` run folder or
one of its checkpoints, ready to predict."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_dataset
from chainrule.errors import CheckpointError
from chainrule.train.experiment import start_run
from chainrule.train.settings import TrainSettings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    settings = TrainSettings.from_mapping(
        {"dataset": "moons", "hidden": "8", "epochs": 3, "batch_size": 64}
    )
    run = start_run(settings, tmp_path_factory.mktemp("runs"), name="moons")
    run.fit()
    run.finish()
    return run


def test_run_folder_gives_the_final_model_and_preprocess(trained):
    model, pre = cr.load_model(trained.folder)
    assert not model.training and pre.class_names == trained.data.preprocess.class_names
    X = load_dataset("moons", seed=0).X_test
    expected = cr.train.predict(trained.model, trained.data.preprocess.transform(X))
    np.testing.assert_array_equal(cr.train.predict(model, pre(X)), expected)


def test_best_and_last_checkpoints(trained):
    ckpts = trained.folder / "checkpoints"
    X = trained.data.preprocess.transform(load_dataset("moons", seed=0).X_test)
    for where in (ckpts / "best.json", ckpts / "best", ckpts / "last.json", ckpts):
        model, pre = cr.load_model(where)
        assert pre is not None and pre.n_features == 2 and not model.training
    best, _ = cr.load_model(ckpts / "best.json")
    arrays, _ = cr.train.load_checkpoint(ckpts / "best.json")
    for k, v in best.state_dict().items():
        np.testing.assert_array_equal(v, arrays[f"model/{k}"])
    # the last checkpoint is the final model (classification: nothing folded in at the end)
    last, _ = cr.load_model(ckpts / "last")
    final, _ = cr.load_model(trained.folder)
    np.testing.assert_array_equal(cr.train.predict(last, X), cr.train.predict(final, X))


def test_unfinished_run_falls_back_to_its_best_checkpoint(trained, tmp_path):
    copy = shutil.copytree(trained.folder, tmp_path / "copy")
    (copy / "model.safetensors").unlink()
    model, _ = cr.load_model(copy)
    arrays, _ = cr.train.load_checkpoint(copy / "checkpoints" / "best.json")
    np.testing.assert_array_equal(model.state_dict()["0.weight"], arrays["model/0.weight"])
    shutil.rmtree(copy / "checkpoints")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        cr.load_model(copy)


def test_plain_load_of_the_sidecar_points_to_load_model(trained):
    with pytest.raises(CheckpointError, match=r"cr\.load_model"):
        cr.load(trained.folder / "checkpoints" / "best.json", model=trained.model)
    with pytest.raises(CheckpointError, match=r"cr\.load_model"):
        cr.load(trained.folder)
