"""One self-contained HTML page for a training run (the folder ``chainrule train`` writes, see
:mod:`chainrule.train.run`): configuration, architecture, metrics, curves, confusion matrix,
gradient flow and a backprop trace on one example of the run's data.

Images are embedded as base64 ``data:`` URIs and math is MathML, so the page is one file
that opens offline.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._atomic import atomic_write_text
from chainrule.errors import IndexRangeError
from chainrule.explain import _html
from chainrule.explain.backprop import Trace, trace
from chainrule.explain.diagnostics import (
    JSON_NAME,
    PNG_NAME,
    load_gradient_flow,
    plot_gradient_flow,
)
from chainrule.explain.notation import Func, Op, Row, Sym, to_mathml, to_text
from chainrule.explain.views import describe_network, html_sections
from chainrule.nn import Linear, losses
from chainrule.train.run import Run, load_run

__all__ = ["example_from_run", "run_report", "trace_run", "write_report"]


def write_report(
    folder: str | os.PathLike, path: str | os.PathLike | None = None, example: int = 0
) -> Path:
    """Write :func:`run_report` of the run in ``folder`` to ``path`` (default
    ``folder/report.html``); returns the path written."""
    out = Path(path) if path is not None else Path(folder) / "report.html"
    html = run_report(folder, example=example)
    return atomic_write_text(out, html)


def run_report(folder: str | os.PathLike, example: int = 0, max_entries: int = 16) -> str:
    """The HTML report of the run in ``folder``; ``example`` picks the test example (index
    into the run's test split) that the backprop trace follows. In the trace, arrays of more
    than ``max_entries`` numbers (every vector and matrix of a digits-sized network, so all
    alike) are summarised by their shape and norm; smaller ones are written out.

    Raises :class:`~chainrule.errors.CheckpointError` when the folder is not a complete run
    (see :func:`~chainrule.train.run.load_run`).
    """
    run = load_run(folder)
    folder = Path(folder)
    spec = run.spec
    parts = [f"<h1>Training run {_html.esc(folder.resolve().name)}</h1>"]
    lead = [
        f"{spec.get('activation', '?')} MLP {_sizes(spec)}",
        f"{spec.get('output', '?')} output",
    ]
    data_name = _dataset_name(run.config)
    if data_name:
        lead.append(f"data: {data_name}")
    parts.append(f'<p class="lead">{_html.esc("; ".join(lead))}</p>')
    sections = [
        ("config", "Configuration", _config_section(run)),
        ("architecture", "Architecture", _architecture_section(run)),
        ("metrics", "Metrics", _metrics_section(run)),
        ("curves", "Training curves", _curves_section(run, folder)),
        ("confusion", "Confusion matrix", _confusion_section(folder)),
        ("gradient-flow", "Gradient flow", _gradient_flow_section(folder)),
        ("trace", "Backprop on one example", _trace_section(run, example, max_entries)),
    ]
    toc = " ".join(f'<a href="#{a}">{_html.esc(t)}</a>' for a, t, _ in sections)
    parts.append(f'<nav class="toc">{toc}</nav>')
    for anchor, title, body in sections:
        parts.append(f'<section id="{anchor}"><h2>{_html.esc(title)}</h2>{body}</section>')
    return _html.page(f"chainrule report: {folder.resolve().name}", "\n".join(parts))


# ---------------------------------------------------------------------------- sections
def _sizes(spec: dict[str, Any]) -> str:
    sizes = [spec.get("input_dim"), *spec.get("hidden", []), spec.get("n_outputs")]
    return " → ".join(str(s) for s in sizes)


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            if k == "format" and not prefix:
                continue
            rows += (
                _flatten(v, f"{prefix}{k}.")
                if isinstance(v, dict) and v
                else [(f"{prefix}{k}", _value(v))]
            )
    else:
        rows.append((prefix.rstrip("."), _value(d)))
    return rows


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple, dict)):
        text = json.dumps(v)
        return text if len(text) <= 200 else text[:197] + "..."
    return str(v)


def _config_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Each setting once. ``chainrule train`` stores its settings under ``"settings"`` and
    again at the top level, and the architecture under ``"model"``: show the settings, then
    what the model spec and the rest add (input and output widths, the task, a data file's
    full path)."""
    settings = config.get("settings")
    if not isinstance(settings, dict):
        return _flatten(config)
    rows = [(k, _value(v)) for k, v in settings.items()]
    for k, v in (config.get("model") or {}).items():
        if k != "type" and not (k in settings and settings[k] == v):
            rows.append((f"model.{k}", _value(v)))
    data = config.get("data") or {}
    if data.get("name") not in (None, settings.get("dataset")):
        rows.append(("data.name", _value(data["name"])))
    for k, v in (data.get("options") or {}).items():
        if settings.get("target") != v:
            rows.append((f"data.options.{k}", _value(v)))
    for k, v in config.items():
        if k not in ("format", "settings", "model", "data") and k not in settings:
            rows += _flatten({k: v})
    return rows


def _config_section(run: Run) -> str:
    rows = _config_rows(run.config)
    if not rows:
        return "<p>No configuration recorded.</p>"
    return _html.table(["setting", "value"], rows, left=2)


def _architecture_section(run: Run) -> str:
    spec = run.spec
    act = spec.get("activation", "?")
    linears = [m for m in run.model.modules() if isinstance(m, Linear)]
    rows = []
    total = 0
    for k, lin in enumerate(linears, start=1):
        n = lin.weight.size + (lin.bias.size if lin.bias is not None else 0)
        total += n
        g = act if k < len(linears) else spec.get("output", "?")
        rows.append(
            [
                str(k),
                f"{lin.out_features} × {lin.in_features}",
                f"{n:,}",
                g if k < len(linears) else f"{g} (output)",
            ]
        )
    eq = (
        to_mathml(
            Row(Sym("a", "k"), Op("="), Sym("b", "k"), Op("+"), Sym("W", "k"), Sym("h", "k-1"))
        )
        + ", "
        + to_mathml(Row(Sym("h", "k"), Op("="), Func("g", Sym("a", "k"))))
    )
    return (
        f"<p>Layer k computes {eq}; W<sub>k</sub> has shape (n<sub>k</sub>, n<sub>k−1</sub>). "
        f"{total:,} parameters in all.</p>"
        + _html.table(["layer k", "W_k shape", "parameters", "g"], rows, left=1)
        + f"<pre>{_html.esc(repr(run.model))}</pre>"
    )


def _metrics_section(run: Run) -> str:
    rows = _flatten(run.metrics)
    if not rows:
        return "<p>No metrics recorded (metrics.json is missing).</p>"
    return _html.table(["metric", "value"], rows, left=2)


def _png(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _curves_section(run: Run, folder: Path) -> str:
    data = _png(folder / "curves.png")
    if data is None and run.history is not None and len(run.history):
        from chainrule.train.plots import plot_history

        with tempfile.TemporaryDirectory() as tmp:
            data = plot_history(run.history, Path(tmp) / "curves.png").read_bytes()
    if data is None:
        return "<p>No training history in this run folder.</p>"
    return _html.figure(data, "loss and metric curves", "Loss and metrics per epoch.")


def _confusion_section(folder: Path) -> str:
    data = _png(folder / "confusion_matrix.png")
    if data is None:
        return "<p>No confusion matrix (regression, or not written by this run).</p>"
    return _html.figure(
        data, "confusion matrix", "Test set: true class (rows) against predicted class (columns)."
    )


def _gradient_flow_section(folder: Path) -> str:
    if not (folder / JSON_NAME).is_file():
        return (
            "<p>This run did not record its gradient flow (no gradient_flow.json). Train with "
            "the <code>GradientFlow</code> callback (<code>cr.explain.GradientFlow(folder)</code>) "
            "to record per-layer gradient norms, update ratios and dead ReLU units.</p>"
        )
    try:
        data = load_gradient_flow(folder / JSON_NAME)
    except ValueError as exc:
        return f"<p>gradient_flow.json could not be read: {_html.esc(exc)}</p>"
    png = _png(folder / PNG_NAME)
    if png is None:
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_gradient_flow(data, Path(tmp) / PNG_NAME).read_bytes()
    parts = [
        _html.figure(
            png,
            "gradient flow",
            "Per-layer weight-gradient norm, update/weight ratio and dead ReLU units.",
        )
    ]
    layers = [d["name"] for d in data.get("layers", [])]
    if data.get("epochs"):
        last = len(data["epochs"]) - 1
        rows = []
        for k, n in enumerate(layers, start=1):
            r = data["records"][n]
            rows.append(
                [
                    f"{k} ({n})",
                    _fmt(r["grad_norm"][last]),
                    _fmt(r["weight_norm"][last]),
                    _fmt(r["update_ratio"][last]),
                    _fmt(r["dead_fraction"][last]),
                ]
            )
        parts.append(f"<p>Epoch {data['epochs'][last]}:</p>")
        parts.append(_html.table(["layer", "‖∇W‖", "‖W‖", "‖ΔW‖/‖W‖", "dead ReLU"], rows))
    warns = data.get("warnings", [])
    if warns:
        items = "".join(f"<li>{_html.esc(w.get('message', ''))}</li>" for w in warns[:20])
        more = f"<li>... and {len(warns) - 20} more</li>" if len(warns) > 20 else ""
        parts.append(f'<p class="bad">Warnings:</p><ul>{items}{more}</ul>')
    else:
        parts.append('<p class="ok">No vanishing or exploding gradients were detected.</p>')
    return "".join(parts)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    try:
        return f"{float(v):.3g}"
    except (TypeError, ValueError):
        return str(v)


def _trace_section(run: Run, example: int, max_entries: int) -> str:
    t, note = trace_run(run, example)
    return f'<p class="note">{_html.esc(note)}</p>' + html_sections(t, max_entries, level=3)


# ---------------------------------------------------------------------------- data
def _dataset_name(config: dict[str, Any]) -> str | None:
    """The data set's name or path: ``config["data"]["name"]`` (as ``chainrule train``
    writes it, a resolved path for files), else ``config["dataset"]``."""
    for key in ("data", "dataset"):
        v = config.get(key)
        if isinstance(v, dict):
            v = v.get("name") or v.get("path")
        if isinstance(v, str) and v:
            return v
    return None


def _dataset_options(config: dict[str, Any]) -> dict[str, Any]:
    for key in ("data", "dataset"):
        v = config.get(key)
        if isinstance(v, dict) and isinstance(v.get("options"), dict):
            return dict(v["options"])
    return {}


def example_from_run(run: Run, index: int = 0) -> tuple[np.ndarray, Any, str]:
    """One example of the run's data as the model sees it: ``(x, y, note)``.

    ``x`` is preprocessed (flattened, standardised) with the run's own preprocessing, ``y``
    the class index or target. The data set is loaded again by the name (and split seed,
    test size, options) in ``config.json``, and ``index`` picks a row of its test split.
    When the data cannot be loaded, the example is the average training input (zeros after
    standardisation) with the model's own prediction as label, and ``note`` says so.

    Raises :class:`~chainrule.errors.IndexRangeError` naming the valid range when ``index`` is
    not a row of the test split (negative indices included).
    """
    cfg = run.config
    name = _dataset_name(cfg)
    reason = "config.json names no dataset"
    if name is not None:
        try:
            from chainrule.data import load_dataset

            settings = cfg.get("settings", cfg)
            kwargs: dict[str, Any] = {"seed": int(settings.get("seed", cfg.get("seed", 0)))}
            test_size = settings.get("test_size", cfg.get("test_size"))
            if test_size is not None:
                kwargs["test_size"] = test_size
            data = load_dataset(name, **kwargs, **_dataset_options(cfg)).flattened()
            X, y = (data.X_test, data.y_test) if len(data.X_test) else (data.X_train, data.y_train)
            if not 0 <= index < len(X):
                raise IndexRangeError(
                    f"example {index} is outside the test split of {Path(str(name)).name}: "
                    f"choose 0..{len(X) - 1}"
                )
            x = run.preprocess.transform(X[index : index + 1])[0]
            shown = Path(name).name if Path(name).suffix.lower() in (".csv", ".npz") else name
            note = f"Example {index} of the test split of {shown}"
            if run.preprocess.class_names and data.task == "classification":
                note += f" (class {run.preprocess.class_names[int(y[index])]})"
            return x, y[index], note + "."
        except IndexRangeError:
            raise  # a wrong --example is the user's to fix, not a reason to trace another input
        except (ImportError, OSError, ValueError, IndexError, KeyError, TypeError) as exc:
            reason = f"{name} could not be loaded ({exc})"
    pre = run.preprocess
    x = np.zeros(pre.n_features, dtype=np.float32)
    if pre.mean is not None and pre.scale is not None:
        x = pre.transform(np.asarray(pre.mean)[None, :])[0]
    from chainrule.train.trainer import predict

    out = predict(run.model, x[None, :])[0]
    y = int(np.argmax(out)) if losses.by_output(run.spec.get("output", "linear")).labels else out
    return (
        x,
        y,
        (
            f"{reason}: tracing the average training input instead, with the model's "
            "own prediction as its label."
        ),
    )


def trace_run(run: Run, example: int = 0, check: str | None = None) -> tuple[Trace, str]:
    """:func:`~chainrule.explain.backprop.trace` of the run's model on one example of its data
    (see :func:`example_from_run`); returns the trace and a sentence saying which example."""
    x, y, note = example_from_run(run, example)
    loss = losses.by_output(run.spec.get("output", "softmax"))
    t = trace(run.model, x, y, loss, check=check, class_names=run.preprocess.class_names)
    note = f"{note} {describe_network(t)}."
    settings = run.config.get("settings", run.config)
    smoothing = settings.get("label_smoothing")
    try:
        trained = losses.get(settings.get("loss") or loss)
    except ValueError:
        trained = None
    if loss.labels and smoothing:
        note += (
            f" The trace follows the seeds' plain {loss.title} {to_text(loss.formula)}; training "
            f"used label smoothing {float(smoothing):g}, whose ∇_{{a_L}} ℒ is ŷ − q for the "
            "smoothed target q."
        )
    elif trained is not loss:
        used = trained.title if trained is not None else str(settings.get("loss"))
        note += f" The trace follows the {loss.title}; training used the {used}."
    return t, note
