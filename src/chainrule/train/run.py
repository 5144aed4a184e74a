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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._atomic import atomic_write_json
from chainrule.errors import CheckpointError, DataError, ShapeError, StateDictError
from chainrule.nn import Dropout, Linear, Module, Sequential, activations
from chainrule.train.checkpoint import load_arrays, read_json, save_arrays
from chainrule.train.history import History

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
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
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
    config = _read_json(folder / "config.json")
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
        preprocess = Preprocess.from_dict(_read_json(folder / "preprocess.json"))
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
    metrics = _read_json(folder / "metrics.json") if (folder / "metrics.json").exists() else {}
    return Run(folder, config, model, preprocess, history, metrics)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing from run folder {path.parent}")
    data = read_json(path, str(path))
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is corrupt (expected a JSON object)")
    return data
