"""PyTorch weights in and out: a torch ``nn.Sequential`` MLP's ``state_dict`` loads into the
same chainrule model (and back), directly and through safetensors files, in float32 and
float64, BatchNorm1d buffers and LayerNorm included; the outputs agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.torch
import torch

import chainrule as cr
from chainrule import nn

TOL = {"float32": 1e-5, "float64": 1e-12}


def _torch_mlp(dtype: torch.dtype) -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(7, 16),
        torch.nn.BatchNorm1d(16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 16),
        torch.nn.LayerNorm(16),
        torch.nn.Tanh(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(16, 3),
    ).to(dtype)


def _cr_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(7, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Linear(16, 16),
        nn.LayerNorm(16),
        nn.Tanh(),
        nn.Dropout(0.2),
        nn.Linear(16, 3),
    )


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    prev = cr.get_default_dtype()
    cr.set_default_dtype(request.param)
    yield request.param
    cr.set_default_dtype(prev)


def _warm_up(model: torch.nn.Sequential, dtype: str) -> None:
    """Give BatchNorm1d running statistics and LayerNorm an affine that are not the defaults,
    so that a missed buffer or parameter shows in the outputs."""
    model.train()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(32, 7, generator=gen, dtype=getattr(torch, dtype)) * 3 + 1)
        model[4].weight.uniform_(0.5, 1.5, generator=gen)
        model[4].bias.uniform_(-0.5, 0.5, generator=gen)
    model.eval()


def _inputs(dtype: str, n: int = 11) -> np.ndarray:
    return (np.random.default_rng(2).standard_normal((n, 7)) * 2).astype(dtype)


def _torch_out(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _cr_out(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with cr.no_grad():
        return model(cr.tensor(x)).numpy()


def test_torch_state_dict_into_chainrule(dtype):
    ref = _torch_mlp(getattr(torch, dtype))
    _warm_up(ref, dtype)
    ours = _cr_mlp()
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})  # strict
    ours.eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert int(ours[1].num_batches_tracked.item()) == 4
    x = _inputs(dtype)
    out = _cr_out(ours, x)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, _torch_out(ref, x), rtol=TOL[dtype], atol=TOL[dtype])
    # training mode too: BatchNorm1d from the batch's statistics, updating the same buffers
    ours.train()
    ref.train()
    ours[6].p = ref[6].p = 0.0  # dropout aside
    x = _inputs(dtype, 20)
    np.testing.assert_allclose(
        _cr_out(ours, x), _torch_out(ref, x), rtol=TOL[dtype], atol=TOL[dtype]
    )
    np.testing.assert_allclose(
        ours[1].running_var.numpy(), ref[1].running_var.numpy(), rtol=TOL[dtype]
    )


def test_chainrule_state_dict_into_torch(dtype):
    cr.manual_seed(3)
    ours = _cr_mlp()
    # one training step in chainrule, so the weights and BatchNorm buffers are chainrule's own
    opt = cr.optim.SGD(ours.parameters(), lr=0.1)
    x = cr.tensor(_inputs(dtype, 32))
    loss = cr.nn.functional.mse_loss(ours(x), cr.zeros(32, 3))
    loss.backward()
    opt.step()
    ours.eval()
    ref = _torch_mlp(getattr(torch, dtype))
    missing = ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert not missing.missing_keys and not missing.unexpected_keys
    ref.eval()
    assert ref[1].num_batches_tracked.item() == 1
    assert ref[0].weight.dtype == getattr(torch, dtype)
    x = _inputs(dtype)
    np.testing.assert_allclose(
        _torch_out(ref, x), _cr_out(ours, x), rtol=TOL[dtype], atol=TOL[dtype]
    )


def test_safetensors_files_both_ways(dtype, tmp_path):
    ref = _torch_mlp(getattr(torch, dtype))
    _warm_up(ref, dtype)
    x = _inputs(dtype)
    # torch writes, chainrule reads
    safetensors.torch.save_file(ref.state_dict(), tmp_path / "torch.safetensors")
    ours = cr.load(tmp_path / "torch.safetensors", model=_cr_mlp())
    ours.eval()
    np.testing.assert_allclose(
        _cr_out(ours, x), _torch_out(ref, x), rtol=TOL[dtype], atol=TOL[dtype]
    )
    # chainrule writes (cr.save), torch reads with safetensors' own loader
    with cr.no_grad():
        ours[0].weight.data[...] *= 0.5  # a change that must travel
    cr.save(ours, tmp_path / "chainrule.safetensors")
    loaded = safetensors.torch.load_file(tmp_path / "chainrule.safetensors")
    assert loaded["1.num_batches_tracked"].dtype == torch.int64
    assert loaded["1.num_batches_tracked"].shape == ()  # 0-d, as PyTorch keeps it
    cr.load(tmp_path / "chainrule.safetensors", model=_cr_mlp())  # and back into chainrule
    assert loaded["0.weight"].dtype == getattr(torch, dtype)
    back = _torch_mlp(getattr(torch, dtype))
    back.load_state_dict(loaded)  # strict
    back.eval()
    np.testing.assert_allclose(
        _torch_out(back, x), _cr_out(ours, x), rtol=TOL[dtype], atol=TOL[dtype]
    )


def test_mismatched_architecture_is_reported():
    ref = _torch_mlp(torch.float32)
    ours = nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Linear(16, 3))
    with pytest.raises(cr.errors.StateDictError, match="unexpected"):
        ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})


def test_sklearn_estimator_weights_into_torch():
    """A fitted chainrule MLPClassifier, as a torch nn.Sequential."""
    from sklearn.datasets import load_iris

    from chainrule.sklearn import MLPClassifier

    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((10,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 10), torch.nn.ReLU(), torch.nn.Linear(10, 3), torch.nn.Softmax(dim=1)
    ).double()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in clf.to_module().state_dict().items()})
    np.testing.assert_allclose(_torch_out(net, X), clf.predict_proba(X), atol=1e-12)
