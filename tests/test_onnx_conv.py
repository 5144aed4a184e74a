"""ONNX export of the convolutional layers: each model exported and run by onnxruntime equals
chainrule's output (float32, 1e-5) at several batch sizes; settings with no ONNX form are
named; a trained CNN run exports through ``chainrule export``."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ExportError
from chainrule.onnx import export


def _run(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def _check(model: nn.Module, shape: tuple[int, ...], opset: int = 17) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    model.train()
    with cr.no_grad():  # give the batch norms running statistics other than 0 and 1
        model(cr.tensor(rng.standard_normal((8, *shape)).astype(np.float32) * 3 + 1))
    model.eval()
    proto = export(model, rng.standard_normal((2, *shape)).astype(np.float32), None,
                   opset_version=opset)  # fmt: skip
    for n in (1, 3):
        x = rng.standard_normal((n, *shape)).astype(np.float32)
        with cr.no_grad():
            want = model(cr.tensor(x)).numpy()
        np.testing.assert_allclose(_run(proto, x), want, rtol=1e-5, atol=1e-5)
    return proto


MODELS = {
    "conv2d_bn_pool": (lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=(1, 2), padding=1, dilation=(2, 1)), nn.BatchNorm2d(4),
        nn.ReLU(), nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), nn.Flatten(),
        nn.Linear(4 * 4 * 3, 5)), (2, 9, 9), ["Conv", "BatchNormalization", "MaxPool"]),
    "conv2d_same_groups_reflect": (lambda: nn.Sequential(
        nn.Conv2d(4, 4, (3, 2), padding="same", groups=2, padding_mode="reflect")),
        (4, 6, 7), ["Pad", "Conv"]),
    "conv2d_replicate_circular": (lambda: nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, padding_mode="replicate"),
        nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular")), (1, 5, 5), ["Pad", "Conv"]),
    "conv_transpose2d": (lambda: nn.Sequential(
        nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1, groups=1)),
        (3, 4, 5), ["ConvTranspose"]),
    "conv1d_pools": (lambda: nn.Sequential(
        nn.Conv1d(1, 3, 5, padding=2), nn.AvgPool1d(3, 2, padding=1, count_include_pad=False),
        nn.MaxPool1d(2), nn.ConvTranspose1d(3, 2, 4, stride=2)), (1, 20),
        ["Conv", "AveragePool", "MaxPool", "ConvTranspose"]),
    "avgpool2d_and_global": (lambda: nn.Sequential(
        nn.AvgPool2d(2, 1, padding=1), nn.AdaptiveAvgPool2d((3, 2)), nn.AdaptiveMaxPool2d(1)),
        (2, 5, 3), ["AveragePool", "GlobalMaxPool"]),
    "global_average_and_norms": (lambda: nn.Sequential(
        nn.InstanceNorm2d(3, affine=True), nn.GroupNorm(3, 3), nn.Dropout2d(0.5),
        nn.AdaptiveAvgPool2d(1), nn.Flatten()), (3, 4, 4),
        ["InstanceNormalization", "GlobalAveragePool"]),
    "unflatten_cnn_resnet": (lambda: cr.train.models.build_cnn([1, 8, 8], [4, 8], 10,
                                                               residual=True),
                             (64,), ["Reshape", "Conv", "Add", "GlobalAveragePool"]),
    "upsample_nearest": (lambda: nn.Sequential(nn.Upsample(scale_factor=2),
                                               nn.Upsample(size=(5, 7))), (2, 3, 3), ["Resize"]),
    "upsample_bilinear": (lambda: nn.Sequential(
        nn.Upsample(size=(7, 5), mode="bilinear"),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)), (1, 3, 4), ["Resize"]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MODELS))
def test_layer_runs_in_onnxruntime(name):
    import chainrule.train.models  # noqa: F401  (cr.train.models for the resnet case)

    make, shape, ops = MODELS[name]
    cr.manual_seed(0)
    proto = _check(make(), shape, opset=19)
    used = {n.op_type for n in proto.graph.node}
    assert set(ops) <= used, used


@pytest.mark.parametrize(
    "layer, shape, match",
    [
        (nn.AvgPool2d(2, divisor_override=3), (1, 4, 4), "divisor_override"),
        (nn.MaxPool2d(2, return_indices=True), (1, 4, 4), "return_indices"),
        (nn.AdaptiveAvgPool2d(3), (1, 5, 5), "does not tile"),
        (nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), (1, 4, 4), "opset 19"),
    ],
)
def test_settings_without_an_onnx_form_are_named(layer, shape, match):
    with pytest.raises(ExportError, match=match):
        export(nn.Sequential(layer), np.zeros((2, *shape), np.float32), None)


def test_cli_export_of_a_cnn_run(tmp_path):
    import subprocess

    from chainrule.train.experiment import start_run
    from chainrule.train.settings import TrainSettings
    from cli_entry import entry_point

    settings = TrainSettings.from_mapping(
        {"model": "cnn", "channels": "4,8", "epochs": 1, "batch_size": 128, "augment": False}
    )
    run = start_run(settings, tmp_path, name="cnn")
    run.fit()
    run.finish()
    out = tmp_path / "cnn.onnx"
    proc = subprocess.run([*entry_point(), "export", str(tmp_path / "cnn"), str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "verified with onnxruntime" in proc.stdout
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"Conv", "BatchNormalization", "MaxPool", "Reshape"} <= ops
