"""A training run on disk: what ``chainrule train`` writes and ``predict``, ``evaluate``,
``report`` and ``export`` read back.

A run folder holds:

=========================  ===========================================================
``config.json``            the run's settings, with ``"model"``: the architecture spec
                           that :func:`build_mlp` takes (see :func:`model_spec`)
``model.safetensors``      the final weights (the model's ``state_dict``)
``preprocess.json``        what turns raw feature rows into model inputs, and labels back
                           into class names (:class:`Preprocess`)
``history.json/.csv``      per-epoch logs
``metrics.json``           final train/validation/test metrics, time, samples per second
``curves.png``             loss and metric curves
``confusion_matrix.png``   test-set confusion matrix (classifiers)
``checkpoints/``           ``last`` and ``best`` checkpoints, for ``--resume``
=========================  ===========================================================

A new run's folder is named by :func:`new_run_folder`; :func:`resume_checkpoint` and
:func:`resume_settings` check that a folder can be resumed and with which settings.

``chainrule train`` (:mod:`chainrule.train.experiment`) writes ``config.json`` and
``preprocess.json`` before the first epoch and the rest at the end. Its ``config.json`` holds,
besides ``"model"``: ``"settings"`` (every setting of
:class:`~chainrule.train.settings.TrainSettings`, as in a ``--config`` file; the same keys are
repeated at the top level: ``"dataset"``, ``"seed"``, ``"test_size"``, ...), ``"task"``, and
``"data"``: ``{"name": dataset name or absolute file path, "options": loader options such as
{"target": column}}``, enough to load the same data again with
:func:`~chainrule.data.load_dataset`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._atomic import atomic_write_json
from chainrule.data.files import is_data_file
from chainrule.errors import CheckpointError, DataError, ShapeError, StateDictError
from chainrule.nn import Dropout, Linear, Module, Sequential, activations
from chainrule.train.checkpoint import load_arrays, read_json, save_arrays
from chainrule.train.history import History
from chainrule.train.settings import RESUMABLE_CHANGES, TrainSettings

FORMAT = "chainrule-run/1"


def build_mlp(
    input_dim: int,
    hidden: list[int] | tuple[int, ...],
    n_outputs: int,
    activation: str = "tanh",
    dropout: float = 0.0,
) -> Sequential:
    """The seeds' feed-forward network: ``a_k = b_k + W_k h_{k-1}``, ``h_k = g(a_k)`` for each
    hidden layer, then a last ``Linear`` whose output ``a_L`` is the logits (softmax output,
    fused into the cross-entropy loss) or the prediction itself (linear output).

    ``activation`` is a name of the activation registry, :func:`chainrule.nn.activations.get`.
    Raises ``ValueError`` for an unknown activation or non-positive sizes.

    >>> build_mlp(64, [32], 10, "relu")
    Sequential(
      (0): Linear(in_features=64, out_features=32, bias=True)
      (1): ReLU()
      (2): Linear(in_features=32, out_features=10, bias=True)
    )
    """
    unit = activations.get(activation).module
    sizes = [int(input_dim), *(int(h) for h in hidden), int(n_outputs)]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"layer sizes must be positive, got {sizes}")
    layers: list[Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(unit())
            if dropout:
                layers.append(Dropout(dropout))
    return Sequential(*layers)


def model_spec(
    input_dim: int,
    hidden: list[int],
    n_outputs: int,
    activation: str,
    output: str,
    dropout: float = 0.0,
    *,
    model: str = "mlp",
    input_shape: list[int] | None = None,
    channels: list[int] | None = None,
) -> dict[str, Any]:
    """The ``config["model"]`` entry: ``"type"`` (a kind of
    :data:`~chainrule.train.models.MODELS`) and what building it needs, plus the output
    function (``"softmax"`` for classifiers, ``"linear"`` for regression). Convolutional kinds
    also record ``input_shape`` (C, *spatial) and ``channels``."""
    spec: dict[str, Any] = {
        "type": model,
        "input_dim": int(input_dim),
        "hidden": [int(h) for h in hidden],
        "n_outputs": int(n_outputs),
        "activation": activation,
        "output": output,
        "dropout": float(dropout),
    }
    if model != "mlp":
        spec["input_shape"] = [int(s) for s in input_shape or [1, input_dim]]
        spec["channels"] = [int(c) for c in channels or []]
    return spec


def build_from_spec(spec: dict[str, Any]) -> Sequential:
    """The network a :func:`model_spec` dict describes, built by its kind's record.

    Raises ``ValueError`` for an unknown kind.
    """
    from chainrule.train.models import MODELS

    kind = spec.get("type", "mlp")
    if kind not in MODELS:
        raise ValueError(f"unknown model type {kind!r}; known: {', '.join(MODELS)}")
    return MODELS[kind].build(spec)


@dataclass
class Preprocess:
    """Turns raw feature rows into model inputs, and class indices back into names.

    ``mean`` / ``scale`` (per flattened feature, or ``None``) standardise as
    ``(x - mean) / scale``, fitted on the training split only.
    """

    task: str
    n_features: int
    input_shape: list[int]
    n_classes: int | None = None
    class_names: list[str] | None = None
    feature_names: list[str] = field(default_factory=list)
    mean: list[float] | None = None
    scale: list[float] | None = None

    def transform(self, X: Any) -> np.ndarray:
        """Rows of features (n, ...) -> flattened, standardised float32 model inputs (n, d).

        Raises :class:`~chainrule.errors.ShapeError` when a row has the wrong number of
        features, :class:`~chainrule.errors.DataError` for NaN or infinite values.
        """
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        X = X.reshape(len(X), -1).astype(np.float64)
        if X.shape[1] != self.n_features:
            raise ShapeError(
                f"the data has {X.shape[1]} features per row, the model expects {self.n_features}"
            )
        if not np.isfinite(X).all():
            raise DataError("the data holds NaN or infinite values")
        raw = X
        if self.mean is not None and self.scale is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                X = (X - np.asarray(self.mean)) / np.asarray(self.scale)
        with np.errstate(over="ignore"):
            out = X.astype(np.float32)
        if not np.isfinite(out).all():
            i, j = (int(k) for k in np.argwhere(~np.isfinite(out))[0])
            where = f"feature {j} of row {i} ({raw[i, j]:.4g})"
            if self.mean is not None and self.scale is not None:
                where += f", with mean {self.mean[j]:.4g} and scale {self.scale[j]:.4g},"
            raise DataError(
                f"{where} is beyond float32's range once standardised: the data is far "
                "outside what the model was trained on"
            )
        return out

    def __call__(self, X: Any) -> np.ndarray:
        """The same as :meth:`transform`: ``model(preprocess(X))``."""
        return self.transform(X)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (what ``preprocess.json`` holds)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
        """The :class:`Preprocess` a :meth:`to_dict` dict describes (not checked: see
        :meth:`check`). Raises ``TypeError`` for unknown or missing fields."""
        return cls(**d)

    def check(self) -> None:
        """Raise ``ValueError`` saying what is wrong when the fields do not fit together:
        ``mean``/``scale`` not ``n_features`` finite numbers (scale > 0), ``input_shape`` not
        holding ``n_features`` values, ``class_names`` not ``n_classes`` names."""
        n = self.n_features
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n_features must be a positive integer, got {n!r}")
        shape = self.input_shape
        if (
            not isinstance(shape, list)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
            or math.prod(shape) != n
        ):
            raise ValueError(f"input_shape {shape!r} does not hold n_features = {n} values")
        for name in ("mean", "scale"):
            values = getattr(self, name)
            if values is None:
                continue
            if not isinstance(values, list) or len(values) != n:
                got = f"{len(values)} values" if isinstance(values, list) else repr(values)
                raise ValueError(f"{name!r} must hold n_features = {n} numbers, it has {got}")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ValueError(f"{name!r} must hold numbers only")
            arr = np.asarray(values, dtype=np.float64)
            if not np.isfinite(arr).all() or (name == "scale" and (arr <= 0).any()):
                raise ValueError(f"{name!r} holds a value that is not a finite (positive) number")
        if (self.mean is None) != (self.scale is None):
            raise ValueError("'mean' and 'scale' must be given together")
        if self.task == "classification":
            k = self.n_classes
            if not isinstance(k, int) or k < 2:
                raise ValueError(f"n_classes must be an integer >= 2, got {k!r}")
            if self.class_names is not None and len(self.class_names) != k:
                raise ValueError(
                    f"'class_names' has {len(self.class_names)} names for n_classes = {k}"
                )
        elif self.task != "regression":
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        if self.feature_names and len(self.feature_names) != n:
            raise ValueError(
                f"'feature_names' has {len(self.feature_names)} names for n_features = {n}"
            )


@dataclass
class Run:
    """A run folder, loaded: see the module docstring for the files."""

    folder: Path
    config: dict[str, Any]
    model: Sequential
    preprocess: Preprocess
    history: History | None
    metrics: dict[str, Any]

    @property
    def spec(self) -> dict[str, Any]:
        """The model's architecture spec, ``config["model"]`` (see :func:`model_spec`)."""
        return self.config["model"]


def save_run(
    folder: str | Path,
    *,
    config: dict[str, Any],
    model: Module,
    preprocess: Preprocess,
    history: History | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write a run's files into ``folder`` (each atomically); returns the folder.

    ``config["model"]`` must be a :func:`model_spec` dict describing ``model``.
    """
    folder = save_run_settings(folder, config=config, preprocess=preprocess)
    save_arrays(folder / "model.safetensors", dict(model.state_dict()), {"format": FORMAT})
    if history is not None:
        history.to_json(folder / "history.json")
        history.to_csv(folder / "history.csv")
    if metrics is not None:
        atomic_write_json(folder / "metrics.json", metrics)
    return folder


def save_run_settings(
    folder: str | Path, *, config: dict[str, Any], preprocess: Preprocess
) -> Path:
    """Write ``config.json`` and ``preprocess.json`` only (each atomically); returns the
    folder. ``chainrule train`` writes them before the first epoch, so that a run interrupted
    before it ends can be resumed; :func:`save_run` writes them again with the rest.

    Raises ``ValueError`` when ``config`` has no ``"model"`` entry.
    """
    folder = Path(folder)
    if "model" not in config:
        raise ValueError("config needs a 'model' entry (see model_spec)")
    atomic_write_json(folder / "config.json", {"format": FORMAT, **config})
    atomic_write_json(folder / "preprocess.json", preprocess.to_dict())
    return folder


def load_run(folder: str | Path) -> Run:
    """Read a run folder back: the model rebuilt from its spec, with its final weights.

    Raises :class:`~chainrule.errors.CheckpointError` naming the missing or broken file when
    the folder is not a complete run, or when the weights do not fit the architecture.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"no run folder at {folder}")
    config = read_run_json(folder / "config.json")
    if config.get("format") != FORMAT or "model" not in config:
        raise CheckpointError(f"{folder / 'config.json'} is not a chainrule run configuration")
    try:
        model = build_from_spec(config["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'config.json'} has a bad model spec: {exc}") from exc
    weights, _ = load_arrays(folder / "model.safetensors")
    try:
        model.load_state_dict(weights, strict=True)
    except StateDictError as exc:
        raise CheckpointError(
            f"{folder / 'model.safetensors'} does not match the architecture in config.json: {exc}"
        ) from exc
    try:
        preprocess = Preprocess.from_dict(read_run_json(folder / "preprocess.json"))
        preprocess.check()
        inputs = int(config["model"]["input_dim"])
        if preprocess.n_features != inputs:
            raise ValueError(
                f"n_features = {preprocess.n_features}, but the model in config.json takes "
                f"{inputs} inputs"
            )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'preprocess.json'} is malformed: {exc}") from exc
    history = (
        History.from_json(folder / "history.json") if (folder / "history.json").exists() else None
    )
    metrics = read_run_json(folder / "metrics.json") if (folder / "metrics.json").exists() else {}
    return Run(folder, config, model, preprocess, history, metrics)


def read_run_json(path: Path) -> dict[str, Any]:
    """The JSON object in the run file ``path``.

    Raises :class:`~chainrule.errors.CheckpointError` when the file is missing, corrupt, or
    holds something other than an object.
    """
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing from run folder {path.parent}")
    data = read_json(path, str(path))
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is corrupt (expected a JSON object)")
    return data


# ---------------------------------------------------------------------------------- run folders
#: the settings that make the architecture: a resumed run may not change them
MODEL_KEYS = ("model", "hidden", "channels", "activation", "output", "dropout")


def new_run_folder(out: str | Path, dataset: str, name: str | None = None) -> Path:
    """Make and return a new, empty run folder in ``out`` (made when missing).

    ``out/<dataset>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... when taken; a data file's name
    without its suffix, other characters than letters, digits, ``-_.`` replaced by ``_``), or
    ``out/<name>`` when ``name`` is given. Raises ``ValueError`` when ``name`` is not a plain
    folder name or names a folder that exists and is not empty; ``OSError`` when no free name
    is found.
    """
    out = Path(out)
    if name is not None:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"a run name must be a plain folder name, got {name!r}")
        folder = out / name
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ValueError(
                f"{folder} already exists; choose another name, or continue that run with "
                f"--resume {folder}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    stem = Path(dataset).stem if is_data_file(dataset) else dataset
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        folder = out / (f"{stem}-{stamp}" if i == 1 else f"{stem}-{stamp}-{i}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise OSError(f"could not make a new run folder in {out}")


def resume_checkpoint(path: str | Path) -> tuple[Path, Path]:
    """``(run folder, checkpoint sidecar)`` for ``--resume PATH``: ``PATH`` is a run folder
    (its ``checkpoints/last.json``), its ``checkpoints`` folder, or a checkpoint's sidecar.

    Raises :class:`~chainrule.errors.CheckpointError` when there is no such folder, it is
    not a run folder (no ``config.json``), or it has no checkpoint yet.
    """
    path = Path(path)
    if path.suffix == ".json" and path.parent.name == "checkpoints":
        folder, checkpoint = path.parent.parent, path
    elif path.name == "checkpoints":
        folder, checkpoint = path.parent, path / "last.json"
    else:
        folder, checkpoint = path, path / "checkpoints" / "last.json"
    if not folder.is_dir():
        raise CheckpointError(f"cannot resume {path}: no such run folder")
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"cannot resume {path}: it is not a run folder (config.json is missing)"
        )
    if not checkpoint.is_file():
        raise CheckpointError(
            f"cannot resume {path}: there is no checkpoint {checkpoint.relative_to(folder)} "
            "(the run stopped before its first epoch ended); start it again instead"
        )
    return folder, checkpoint


def resume_settings(folder: str | Path, explicit: Mapping[str, Any]) -> TrainSettings:
    """The settings to resume the run in ``folder`` with: those of its ``config.json``, with
    ``explicit`` (e.g. the flags given) applied on top.

    Raises :class:`~chainrule.errors.CheckpointError` when the folder holds no usable
    settings or ``explicit`` asks for another architecture (:data:`MODEL_KEYS`);
    ``ValueError`` when it changes anything else than
    :data:`~chainrule.train.settings.RESUMABLE_CHANGES` (the epochs, early stopping).
    """
    folder = Path(folder)
    config = read_run_json(folder / "config.json")
    saved = config.get("settings")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{folder / 'config.json'} holds no training settings to resume")
    try:
        base = TrainSettings.from_mapping(saved, source=str(folder / "config.json"))
    except ValueError as exc:
        raise CheckpointError(f"cannot resume {folder}: {exc}") from exc
    wanted = TrainSettings.from_mapping(explicit, base=base)
    arch = [k for k in MODEL_KEYS if getattr(wanted, k) != getattr(base, k)]
    if arch:
        spec = config.get("model", {})
        have = "-".join(str(s) for s in _layer_sizes(spec)) if spec else "?"
        asked = ", ".join(f"--{k} {_show(getattr(wanted, k))}" for k in arch)
        raise CheckpointError(
            f"cannot resume {folder}: its checkpoint holds a {have} "
            f"{base.activation} network (hidden {_show(base.hidden)}), but {asked} asks for a "
            "different architecture; resume without changing the architecture, or start a new run"
        )
    changed = [
        k for k in TrainSettings.keys() if getattr(wanted, k) != getattr(base, k)
        and k not in RESUMABLE_CHANGES
    ]  # fmt: skip
    if changed:
        what = ", ".join(
            f"{k.replace('_', '-')} {_show(getattr(base, k))} -> {_show(getattr(wanted, k))}"
            for k in changed
        )
        raise ValueError(
            f"cannot resume {folder} with other settings ({what}); a resumed run may only "
            "change --epochs and --early-stopping"
        )
    return wanted


def _layer_sizes(spec: Mapping[str, Any]) -> list[int]:
    return [spec.get("input_dim"), *spec.get("hidden", []), spec.get("n_outputs")]


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v) or "none"
    return str(v)
