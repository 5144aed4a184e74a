"""ONNX export: every supported layer run by onnxruntime equals chainrule (1e-5, float32) at
several batch sizes; errors that name the layer; `chainrule export` through the entry point.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ExportError
from chainrule.onnx import export
from chainrule.train.run import Preprocess, build_mlp, model_spec, save_run
from cli_entry import entry_point

BATCHES = (1, 3, 17)


def _run_onnx(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"input": x})
    return out


def _ours(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with cr.no_grad():
        return model(cr.tensor(x)).numpy()


def _check(model: nn.Module, shape: tuple[int, ...], dtype=np.float32, tol: float = 1e-5):
    """Export with one example, then compare at several batch sizes (the dynamic batch)."""
    rng = np.random.default_rng(0)
    example = rng.standard_normal((2, *shape)).astype(dtype)
    proto = export(model, example, None)
    onnx.checker.check_model(proto, full_check=True)
    for n in BATCHES:
        x = (rng.standard_normal((n, *shape)) * 2).astype(dtype)
        got = _run_onnx(proto, x)
        want = _ours(model, x)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    return proto


def _mlp(act: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 16), act, nn.Linear(16, 16), act, nn.Linear(16, 4))


ACTIVATIONS = [
    nn.ReLU(),
    nn.LeakyReLU(0.2),
    nn.ELU(alpha=0.7),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.Sigmoid(),
    nn.Tanh(),
    nn.Softplus(),
    nn.Softplus(beta=2.0, threshold=1.5),
    nn.Identity(),
]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
def test_activations(act):
    _check(_mlp(act), (6,))


@pytest.mark.parametrize("out", [nn.Softmax(dim=1), nn.LogSoftmax(dim=-1)], ids=repr)
def test_softmax_outputs(out):
    _check(nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3), out), (5,))


def _trained_batchnorm(bn: nn.BatchNorm1d, shape: tuple[int, ...]) -> None:
    """Move the running statistics away from 0 / 1 so that the export must use them."""
    bn.train()
    for _ in range(3):
        bn(cr.tensor(np.random.default_rng(1).normal(3.0, 2.0, (8, *shape)).astype(np.float32)))
    bn.weight.data[...] = np.linspace(0.5, 2.0, bn.num_features)
    bn.bias.data[...] = np.linspace(-1.0, 1.0, bn.num_features)


def test_normalisation_dropout_and_residual_blocks():
    bn = nn.BatchNorm1d(16)
    _trained_batchnorm(bn, (16,))
    block = nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16), nn.GELU(), nn.Dropout(0.3))
    model = nn.Sequential(
        nn.Linear(8, 16),
        bn,
        nn.ReLU(),
        nn.Residual(block),
        nn.Residual(nn.Sequential(nn.Linear(16, 16, bias=False), nn.Tanh())),
        nn.Dropout(0.5),
        nn.Linear(16, 3),
    )
    model.train()
    export(model, np.zeros((2, 8), np.float32), None)
    assert model.training and model[5].training  # the mode is restored after export
    proto = _check(model, (8,))
    ops = [n.op_type for n in proto.graph.node]
    assert {"BatchNormalization", "LayerNormalization", "Add", "Erf"} <= set(ops)
    assert "Dropout" not in ops
    names = {i.name for i in proto.graph.initializer}
    assert {"0.weight", "1.running_mean", "1.running_var", "3.module.1.weight"} <= names


def test_layernorm_over_two_axes_and_without_affine():
    model = nn.Sequential(
        nn.Linear(5, 5),
        nn.LayerNorm((3, 5)),
        nn.LayerNorm(5, elementwise_affine=False),
        nn.LayerNorm(5, bias=False),
        nn.Flatten(),
        nn.Linear(15, 2),
    )
    model[1].weight.data[...] = np.random.default_rng(2).uniform(0.5, 1.5, (3, 5))
    proto = _check(model, (3, 5))
    assert "MatMul" in [n.op_type for n in proto.graph.node]  # Linear on 3-D input


def test_batchnorm_on_channels_and_flatten_variants():
    bn = nn.BatchNorm1d(4, affine=False)
    _trained_batchnorm_affine_free(bn)
    model = nn.Sequential(bn, nn.Flatten(), nn.Linear(4 * 6, 3))
    _check(model, (4, 6))
    # start_dim/end_dim in the middle: a Reshape that keeps the dynamic batch
    model = nn.Sequential(nn.Flatten(2, 3), nn.Linear(12, 2), nn.Flatten())
    proto = _check(model, (5, 3, 4))
    assert "Reshape" in [n.op_type for n in proto.graph.node]


def _trained_batchnorm_affine_free(bn: nn.BatchNorm1d) -> None:
    bn.train()
    bn(cr.tensor(np.random.default_rng(3).normal(-2.0, 3.0, (10, 4, 6)).astype(np.float32)))


def test_float64_export_is_exact_to_rounding():
    with_default = cr.get_default_dtype()
    cr.set_default_dtype("float64")
    try:
        model = nn.Sequential(
            nn.Linear(3, 9),
            nn.ELU(),
            nn.LayerNorm(9),
            nn.Linear(9, 9),
            nn.LeakyReLU(0.3),
            nn.Softplus(beta=1.5, threshold=2.0),
            nn.BatchNorm1d(9),
            nn.Linear(9, 2),
            nn.LogSoftmax(dim=1),
        )
    finally:
        cr.set_default_dtype(with_default)
    proto = _check(model, (3,), dtype=np.float64, tol=1e-12)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_file_written_and_loadable(tmp_path):
    model = _mlp(nn.ReLU())
    path = tmp_path / "m.onnx"
    export(model, np.zeros((1, 6), np.float32), path, input_name="input", output_name="scores")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version == 17
    assert [o.name for o in proto.graph.output] == ["scores"]
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 4
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.ones((5, 6), np.float32)
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], _ours(model, x), atol=1e-5)


def test_identity_only_model_and_standardize():
    mean, scale = np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.5, 4.0])
    proto = export(nn.Sequential(nn.Dropout(0.1), nn.Identity()), np.zeros((1, 3)), None)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_run_onnx(proto, x), x)
    model = nn.Sequential(nn.Linear(3, 2))
    proto = export(model, np.zeros((1, 3), np.float32), None, standardize=(mean, scale))
    x = np.random.default_rng(0).normal(2.0, 3.0, (4, 3)).astype(np.float32)
    want = _ours(model, ((x - mean) / scale).astype(np.float32))
    np.testing.assert_allclose(_run_onnx(proto, x), want, atol=1e-5)


class Doubler(nn.Module):
    def forward(self, x):
        return x * 2


@pytest.mark.parametrize(
    "model, match",
    [
        (nn.Sequential(nn.Linear(3, 3), Doubler()), r"'1' of type Doubler"),
        (nn.Sequential(nn.Residual(nn.Sequential(Doubler()))), r"'0\.module\.0' of type Doubler"),
        (Doubler(), r"\(the model\)' of type Doubler"),
        (nn.Sequential(nn.Linear(3, 3), nn.Softmax()), r"Softmax\(dim=None\)"),
        (
            nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False)),
            "track_running_stats=False",
        ),
    ],
)
def test_unsupported_layers_are_named(model, match):
    with pytest.raises(ExportError, match=match):
        export(model, np.zeros((2, 3), np.float32), None)


def test_bad_example_and_opset():
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="float32 or float64"):
        export(model, np.zeros((2, 3), np.int64), None)
    with pytest.raises(ValueError, match="opset_version"):
        export(model, np.zeros((2, 3), np.float32), None, opset_version=9)


@pytest.mark.slow  # trains a real model end to end
def test_sklearn_estimator_exports_through_to_module():
    from sklearn.datasets import load_iris

    from chainrule.sklearn import MLPClassifier

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    clf = MLPClassifier((12,), solver="lbfgs", max_iter=300, random_state=0).fit(X, y)
    proto = export(clf.to_module(), X[:2], None)
    np.testing.assert_allclose(_run_onnx(proto, X), clf.predict_proba(X), atol=1e-5)


# ---------------------------------------------------------------------------- command line
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*entry_point(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A run folder as `chainrule train` writes it: a 6 → 10 → 3 tanh classifier with its
    standardisation."""
    folder = tmp_path_factory.mktemp("run") / "run"
    cr.manual_seed(0)
    model = build_mlp(6, [10], 3, "tanh")
    pre = Preprocess(
        task="classification",
        n_features=6,
        input_shape=[6],
        n_classes=3,
        class_names=["a", "b", "c"],
        mean=[float(v) for v in np.linspace(-3, 3, 6)],
        scale=[float(v) for v in np.linspace(0.5, 4, 6)],
    )
    save_run(folder, config={"model": model_spec(6, [10], 3, "tanh", "softmax")}, model=model,
             preprocess=pre)  # fmt: skip
    return folder


def test_cli_export_runs_with_onnxruntime(run_folder, tmp_path):
    out = tmp_path / "model.onnx"
    proc = _cli("export", run_folder, out)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout and "verified with onnxruntime" in proc.stdout
    run = cr.train.run.load_run(run_folder)
    raw = np.random.default_rng(5).normal(0, 3, (9, 6)).astype(np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (proba,) = sess.run(["probabilities"], {"input": raw})
    logits = _ours(run.model, run.preprocess.transform(raw))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, e / e.sum(axis=1, keepdims=True), atol=1e-5)


def test_cli_export_logits_without_preprocess(run_folder, tmp_path):
    out = tmp_path / "logits.onnx"
    proc = _cli("export", run_folder, out, "--logits", "--no-preprocess", "--opset", "18")
    assert proc.returncode == 0, proc.stderr
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version == 18 and proto.graph.output[0].name == "logits"
    assert not any(n.op_type in ("Softmax", "Sub") for n in proto.graph.node)


def test_cli_export_errors_are_one_line(tmp_path):
    proc = _cli("export", tmp_path / "missing", tmp_path / "m.onnx")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("chainrule export: error:")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow  # trains a real model end to end
def test_cli_export_of_a_trained_run(tmp_path):
    """`chainrule train`, then `chainrule export` of the run it wrote: onnxruntime on raw rows
    gives the probabilities chainrule computes from the reloaded run."""
    proc = _cli("train", "--dataset", "iris", "--epochs", "2", "--out", tmp_path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    out = tmp_path / "iris.onnx"
    proc = _cli("export", folder, out)
    assert proc.returncode == 0, proc.stderr
    run = cr.train.run.load_run(folder)
    raw = cr.data.load_dataset("iris").X_test.astype(np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (proba,) = sess.run(None, {"input": raw})
    logits = _ours(run.model, run.preprocess.transform(raw))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, e / e.sum(axis=1, keepdims=True), atol=1e-5)


# ---------------------------------------------------------------------------- sequence layers
def _check_all(model: nn.Module, shape: tuple[int, ...], batch_axis: int = 0, tol: float = 1e-5):
    """Like _check for layers with several outputs (output, h_n, ...) and a batch axis that
    may be axis 1: every output equals chainrule's at several batch sizes."""
    from chainrule.onnx import _call, _flat

    rng = np.random.default_rng(0)
    example = rng.standard_normal(shape).astype(np.float32)
    proto = export(model, example, None)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in BATCHES:
        size = list(shape)
        size[batch_axis] = n
        x = (rng.standard_normal(size) * 2).astype(np.float32)
        got = sess.run(None, {"input": x})
        model.eval()
        with cr.no_grad():
            want = [t.numpy() for t in _flat(_call(model, cr.tensor(x)))]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    return proto


def _dims(proto: onnx.ModelProto) -> dict[str, list]:
    return {
        o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
        for o in proto.graph.output
    }


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_recurrent_layers_use_onnx_ops(cls):
    """Two bidirectional layers, batch first: one ONNX node per layer, the gates reordered
    (a wrong order gives wrong numbers), outputs (output, h_n[, c_n]) as chainrule's."""
    cr.manual_seed(0)
    model = cls(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    proto = _check_all(model, (2, 7, 3))
    op = {nn.RNN: "RNN", nn.LSTM: "LSTM", nn.GRU: "GRU"}[cls]
    nodes = [n for n in proto.graph.node if n.op_type == op]
    assert len(nodes) == 2
    attrs = {a.name: helper_value(a) for a in nodes[0].attribute}
    assert attrs["direction"] == b"bidirectional" and attrs["hidden_size"] == 5
    if cls is nn.GRU:
        assert attrs["linear_before_reset"] == 1
    want = {"output": ["batch", 7, 10], "h_n": [4, "batch", 5]}
    if cls is nn.LSTM:
        want["c_n"] = [4, "batch", 5]
    assert _dims(proto) == want
    assert {"l0.W", "l1.R", "l1.B"} <= {i.name for i in proto.graph.initializer}


def helper_value(attr: onnx.AttributeProto):
    return onnx.helper.get_attribute_value(attr)


@pytest.mark.parametrize(
    "model",
    [nn.RNN(4, 6), nn.RNN(4, 6, nonlinearity="relu", bias=False), nn.LSTM(4, 6, bias=False),
     nn.GRU(4, 6, num_layers=2)],
    ids=repr,
)  # fmt: skip
def test_recurrent_layers_sequence_first(model):
    proto = _check_all(model, (9, 2, 4), batch_axis=1)
    assert _dims(proto)["output"] == [9, "batch", 6]
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param == "batch"


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_self_attention(batch_first):
    cr.manual_seed(1)
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    mha.in_proj_bias.data[...] = np.linspace(-1, 1, 24)  # biases are zero at initialisation
    shape, axis = ((2, 5, 8), 0) if batch_first else ((5, 2, 8), 1)
    proto = _check_all(mha, shape, batch_axis=axis)
    out = ["batch", 5, 8] if batch_first else [5, "batch", 8]
    assert _dims(proto) == {"output": out, "attn_weights": ["batch", 5, 5]}
    ops = {n.op_type for n in proto.graph.node}
    assert {"MatMul", "Softmax", "Transpose", "Reshape"} <= ops


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder_layer(norm_first, activation):
    cr.manual_seed(2)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation,
                                       batch_first=True, norm_first=norm_first)  # fmt: skip
    proto = _check_all(layer, (2, 6, 8))
    assert "LayerNormalization" in {n.op_type for n in proto.graph.node}
    assert {"self_attn.out_proj.weight_t", "linear1.bias", "norm2.weight"} <= {
        i.name for i in proto.graph.initializer
    }


def test_transformer_encoder_with_positions_and_final_norm():
    cr.manual_seed(3)
    layer = nn.TransformerEncoderLayer(8, 4, 16)
    encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))
    _check_all(encoder, (6, 2, 8), batch_axis=1)
    model = nn.Sequential(
        nn.Linear(3, 8),
        nn.PositionalEncoding(8, dropout=0.1, batch_first=True),
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2),
        nn.Flatten(),
        nn.Linear(8 * 6, 4),
    )
    _check(model, (6, 3))


@pytest.mark.parametrize("kind", ["gru", "lstm", "transformer"])
@pytest.mark.parametrize("shape", [[1, 40], [2, 6, 3], [2, 12]])
def test_train_sequence_models(kind, shape):
    """`chainrule train --model gru|lstm|transformer` networks: flat rows in, steps inside."""
    from chainrule.train.models import build_sequence_model

    cr.manual_seed(4)
    _check(build_sequence_model(kind, shape, [8, 8], 10), (int(np.prod(shape)),))


def test_sequence_layers_that_have_no_export():
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=lambda x: x * 2, batch_first=True)
    with pytest.raises(ExportError, match=r"'model': its activation .* use 'relu' or 'gelu'"):
        export(layer, np.zeros((1, 3, 8), np.float32), None)
    mha = nn.MultiheadAttention(8, 2, kdim=4, vdim=4, batch_first=True)
    with pytest.raises(ExportError, match="kdim = vdim = embed_dim"):
        export(mha, np.zeros((1, 3, 8), np.float32), None)
    with pytest.raises(ValueError, match=r"GRU without batch_first takes \(L, N, \.\.\.\)"):
        export(nn.GRU(3, 4), np.zeros((5, 3), np.float32), None)


def test_float64_recurrent_export_is_valid_onnx():
    """onnxruntime has float32 kernels only for RNN/LSTM/GRU; the float64 graph still checks."""
    with_default = cr.get_default_dtype()
    cr.set_default_dtype("float64")
    try:
        model = nn.LSTM(3, 4, batch_first=True)
    finally:
        cr.set_default_dtype(with_default)
    proto = export(model, np.zeros((2, 5, 3)), None)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    (w,) = [i for i in proto.graph.initializer if i.name == "l0.W"]
    want = model.weight_ih_l0.data.reshape(4, 4, 3)[[0, 3, 1, 2]]  # i, o, f, c
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(w)[0], want.reshape(16, 3))


@pytest.mark.slow  # trains a real model end to end
def test_cli_trains_and_exports_a_gru(tmp_path):
    """`chainrule train --model gru`, then `chainrule export` of its run: onnxruntime on raw
    rows gives the probabilities chainrule computes from the reloaded run."""
    proc = _cli("train", "--dataset", "digits", "--model", "gru", "--hidden", "8", "--epochs",
                "1", "--out", tmp_path, "--name", "gru")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "GRU over 8 steps of 8 values, 1 bidirectional layer of 8" in proc.stdout
    assert "adam lr 0.01" in proc.stdout and "batches of 100" in proc.stdout
    out = tmp_path / "gru.onnx"
    proc = _cli("export", tmp_path / "gru", out)
    assert proc.returncode == 0, proc.stderr
    assert "verified with onnxruntime" in proc.stdout
    run = cr.train.run.load_run(tmp_path / "gru")
    raw = cr.data.load_dataset("digits").X_test[:50].astype(np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (proba,) = sess.run(None, {"input": raw})
    logits = _ours(run.model, run.preprocess.transform(raw))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, e / e.sum(axis=1, keepdims=True), atol=1e-5)
    assert "GRU" in {n.op_type for n in onnx.load(str(out)).graph.node}
