"""Module, Parameter and the containers: registration, traversal, modes, state_dict keys
and strict loading against PyTorch's, repr, hooks, apply, dtype casts."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from nn_parity import assert_close, compare, copy_weights, float64, torch_state

import chainrule as cr
from chainrule.errors import StateDictError

nn = cr.nn
tnn = torch.nn


def _mlp_pair():
    t = tnn.Sequential(
        tnn.Linear(4, 6),
        tnn.BatchNorm1d(6),
        tnn.Tanh(),
        tnn.Dropout(0.2),
        tnn.Linear(6, 3),
    )
    c = nn.Sequential(
        nn.Linear(4, 6),
        nn.BatchNorm1d(6),
        nn.Tanh(),
        nn.Dropout(0.2),
        nn.Linear(6, 3),
    )
    return c, t


class CrNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 5), nn.ReLU())
        self.norm = nn.LayerNorm(5)
        self.heads = nn.ModuleDict({"cls": nn.Linear(5, 2), "reg": nn.Linear(5, 1)})
        self.blocks = nn.ModuleList([nn.Linear(5, 5), nn.Linear(5, 5, bias=False)])
        self.scale = nn.Parameter(cr.ones(1))
        self.register_buffer("steps", cr.zeros(1))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)

    def forward(self, x):
        h = self.norm(self.encoder(x))
        for b in self.blocks:
            h = cr.tanh(b(h))
        return self.heads["cls"](h) * self.scale


class TorchNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = tnn.Sequential(tnn.Linear(3, 5), tnn.ReLU())
        self.norm = tnn.LayerNorm(5)
        self.heads = tnn.ModuleDict({"cls": tnn.Linear(5, 2), "reg": tnn.Linear(5, 1)})
        self.blocks = tnn.ModuleList([tnn.Linear(5, 5), tnn.Linear(5, 5, bias=False)])
        self.scale = tnn.Parameter(torch.ones(1))
        self.register_buffer("steps", torch.zeros(1))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)

    def forward(self, x):
        h = self.norm(self.encoder(x))
        for b in self.blocks:
            h = torch.tanh(b(h))
        return self.heads["cls"](h) * self.scale


# ------------------------------------------------------------------------------- names
def test_names_and_order_match_torch():
    c, t = CrNet(), TorchNet()
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in c.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in c.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in c.named_children()] == [n for n, _ in t.named_children()]
    assert list(c.state_dict()) == list(t.state_dict())
    assert "scratch" not in c.state_dict()  # non-persistent buffer


def test_reassigning_keeps_each_name_in_its_place_as_torch_does():
    """``seq[1] = m``, ``model.encoder = m``, ``model.scale = p`` and re-registering a buffer
    replace the entry where it stands: a Sequential still runs its layers in order, and the
    names keep PyTorch's order."""
    c, t = CrNet(), TorchNet()
    for net, lib in ((c, cr.nn), (t, torch.nn)):
        net.encoder[1] = lib.Tanh()
        net.encoder[0] = lib.Linear(3, 5)
        net.norm = lib.LayerNorm(5)
        net.scale = lib.Parameter((cr if lib is cr.nn else torch).ones(1))
        net.register_buffer("steps", (cr if lib is cr.nn else torch).zeros(1))
    assert [type(m).__name__ for m in c.encoder] == ["Linear", "Tanh"]
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in c.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in c.named_modules()] == [n for n, _ in t.named_modules()]
    assert list(c.state_dict()) == list(t.state_dict())
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    want = np.tanh(c.encoder[0](cr.tensor(x)).numpy())  # Linear, then Tanh: in place order
    np.testing.assert_allclose(c.encoder(cr.tensor(x)).numpy(), want, rtol=1e-6)


def test_state_dict_keys_of_sequential_mlp_match_torch():
    c, t = _mlp_pair()
    assert list(c.state_dict()) == list(t.state_dict())
    for (name, a), (_, b) in zip(c.state_dict().items(), t.state_dict().items()):
        assert a.shape == tuple(b.shape), name


def test_full_model_parity_after_loading_torch_weights():
    float64()
    c, t = CrNet(), TorchNet().double()
    with torch.no_grad():
        t.scale.fill_(1.7)
    copy_weights(c, t)
    compare(c, t, np.random.default_rng(0).standard_normal((4, 3)))


def test_mlp_parity_train_and_eval_without_dropout():
    float64()
    c, t = _mlp_pair()
    t.double()
    copy_weights(c, t)
    c[3].p = t[3].p = 0.0  # dropout masks differ between the generators; tested on its own
    x = np.random.default_rng(1).standard_normal((8, 4))
    compare(c, t, x)
    for k, v in torch_state(t).items():
        assert_close(c.state_dict()[k], v)
    c.eval()
    t.eval()
    compare(c, t, x)


def test_state_dict_is_a_snapshot_of_numpy_arrays():
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    with cr.no_grad():
        m.weight.fill_(3.0)
    assert not np.all(sd["weight"] == 3.0)
    kept = m.state_dict(keep_vars=True)
    assert kept["weight"] is m.weight


def test_load_state_dict_round_trip_keeps_parameter_objects():
    a, b = CrNet(), CrNet()
    before = list(b.parameters())
    b.load_state_dict(a.state_dict())
    assert all(p is q for p, q in zip(before, b.parameters()))
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)


def test_load_state_dict_casts_to_model_dtype():
    m = nn.Linear(2, 3)  # float32
    t = tnn.Linear(2, 3).double()
    m.load_state_dict(torch_state(t))
    assert m.weight.dtype == np.float32
    np.testing.assert_allclose(m.weight.numpy(), t.weight.detach().numpy(), rtol=1e-6)


def test_load_state_dict_accepts_unconverted_torch_tensors():
    m, t = nn.Linear(2, 3), tnn.Linear(2, 3)
    m.load_state_dict(t.state_dict())
    assert_close(m.bias, t.bias, rtol=1e-6)


def test_strict_loading_lists_every_problem_in_one_message():
    c, t = _mlp_pair()
    sd = torch_state(t)
    del sd["0.bias"]
    del sd["1.running_var"]
    sd["extra.weight"] = np.zeros(3)
    sd["4.weight"] = np.zeros((3, 7))
    before = c.state_dict()
    with pytest.raises(StateDictError) as e:
        c.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys (2): 0.bias, 1.running_var" in msg
    assert "unexpected keys (1): extra.weight" in msg
    assert "4.weight: shape (3, 7) in the state dict, (3, 6) in the model" in msg
    assert isinstance(e.value, KeyError)
    # nothing was loaded
    for k, v in c.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_non_strict_loading_reports_but_still_rejects_bad_shapes():
    c, t = _mlp_pair()
    sd = torch_state(t)
    del sd["0.bias"]
    sd["extra"] = np.zeros(1)
    result = c.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias"]
    assert result.unexpected_keys == ["extra"]
    np.testing.assert_allclose(c[0].weight.numpy(), sd["0.weight"], rtol=1e-6)
    sd["0.weight"] = np.zeros((1, 1))
    with pytest.raises(StateDictError, match="shape mismatches"):
        c.load_state_dict(sd, strict=False)


def test_load_state_dict_rejects_non_mapping_and_non_arrays():
    m = nn.Linear(2, 2)
    with pytest.raises(StateDictError, match="mapping"):
        m.load_state_dict([1, 2])
    sd = m.state_dict()
    sd["weight"] = "abc"
    with pytest.raises(StateDictError, match="weight: not an array"):
        m.load_state_dict(sd)


# ------------------------------------------------------------------------------- repr
def test_repr_matches_torch():
    c, t = _mlp_pair()
    assert repr(c) == repr(t)
    c, t = CrNet(), TorchNet()
    assert repr(c).replace("CrNet", "Net", 1) == repr(t).replace("TorchNet", "Net", 1)

    def examples(ns):
        return [
            ns.ModuleList([ns.Linear(2, 2)] * 3 + [ns.ReLU()]),
            ns.BatchNorm1d(3, momentum=None, affine=False, track_running_stats=False),
            ns.LayerNorm((3, 4), bias=False),
            ns.Sequential(),
            ns.Sequential(ns.Flatten(0, 2), ns.Identity(), ns.Dropout()),
            ns.ModuleDict({"mse": ns.MSELoss(), "ce": ns.CrossEntropyLoss(), "h": ns.HuberLoss()}),
            ns.ModuleList([ns.BCEWithLogitsLoss(), ns.BCELoss(), ns.NLLLoss(), ns.L1Loss()]),
        ]

    for cm, tm in zip(examples(nn), examples(tnn)):
        assert repr(cm) == repr(tm)
    assert repr(nn.Residual(nn.Identity())) == "Residual(\n  (module): Identity()\n)"


def test_parameter_repr_and_defaults():
    p = nn.Parameter(cr.tensor([1.0, 2.0]))
    assert p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    assert not nn.Parameter(cr.zeros(2), requires_grad=False).requires_grad


# ------------------------------------------------------------------------------- registration
def test_assignment_registers_and_reassignment_rules():
    m = nn.Module()
    m.w = nn.Parameter(cr.zeros(2))
    m.child = nn.Linear(1, 1)
    m.plain = cr.zeros(3)  # a plain tensor is not a parameter
    assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
    m.w = None
    assert [n for n, _ in m.named_parameters(recurse=False)] == []
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = cr.zeros(2)
    with pytest.raises(TypeError, match="child module 'child'"):
        m.child = 3
    del m.child
    assert list(m.children()) == []
    with pytest.raises(AttributeError):
        _ = m.child


def test_forgetting_super_init_is_explained():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(cr.zeros(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_register_buffer_and_errors():
    m = nn.Module()
    m.register_buffer("b", cr.ones(2))
    m.b = cr.zeros(2)  # replacing a buffer keeps it a buffer
    assert [n for n, _ in m.named_buffers()] == ["b"]
    with pytest.raises(TypeError):
        m.register_buffer("c", np.zeros(2))
    m.x = 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("x", cr.zeros(1))


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(net.parameters())) == 2
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_module_dict_keys_that_shadow_methods():
    d = nn.ModuleDict({"train": nn.Linear(1, 2), "keys": nn.Linear(2, 1)})
    assert d["train"].out_features == 2
    assert list(d.keys()) == ["train", "keys"]
    d.train(False)  # still the method
    assert not d["train"].training
    assert list(d.state_dict()) == ["train.weight", "train.bias", "keys.weight", "keys.bias"]


def test_undefined_forward():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


# ------------------------------------------------------------------------------- containers
def test_sequential_indexing_slicing_and_mutation():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    s = nn.Sequential(*layers)
    assert len(s) == 3 and list(s) == layers
    assert s[0] is layers[0] and s[-1] is layers[2]
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    assert list(sub._modules) == ["1", "2"]  # slices keep names, as in torch
    with pytest.raises(IndexError):
        s[3]
    s.append(nn.Sigmoid())
    assert len(s) == 4 and s(cr.randn(5, 2)).shape == (5, 1)
    del s[1]
    assert [type(m).__name__ for m in s] == ["Linear", "Linear", "Sigmoid"]
    assert list(s._modules) == ["0", "1", "2"]
    s.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in s] == ["Linear", "Tanh", "Linear", "Sigmoid"]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert named.fc is named[0]


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "ReLU", "Tanh"]
    assert type(ml[1:3]) is nn.ModuleList and len(ml[1:3]) == 2
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2"]
    with pytest.raises(NotImplementedError):
        ml(cr.zeros(1))
    md = nn.ModuleDict()
    md["a"] = nn.Linear(1, 1)
    md.update([("b", nn.ReLU())])
    assert "a" in md and len(md) == 2 and list(md) == ["a", "b"]
    assert isinstance(md.pop("a"), nn.Linear) and list(md) == ["b"]
    md.clear()
    assert len(md) == 0


# ------------------------------------------------------------------------------- modes, grads
def test_train_eval_propagate():
    c = CrNet()
    assert all(m.training for m in c.modules())
    assert c.eval() is c
    assert not any(m.training for m in c.modules())
    c.train()
    assert all(m.training for m in c.modules())


def test_zero_grad_and_requires_grad():
    m = nn.Linear(3, 2)
    m(cr.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None
    grad = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is grad and not np.any(grad.numpy())
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_apply_visits_children_first():
    seen = []
    net = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU()))
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)

    net.apply(init_weights)
    assert net[0].weight.item() == 0.5


def test_forward_hooks_and_pre_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_hook(
        lambda mod, args, out: calls.append((mod, args[0].shape, out.shape))
    )
    h2 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    out = m(cr.ones(3, 2))
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(m.bias.numpy(), (3, 2)))
    assert calls == [(m, (3, 2), (3, 2))]
    h1.remove()
    h2.remove()
    m(cr.ones(3, 2))
    assert len(calls) == 1
    with m.register_forward_hook(lambda mod, args, out: out * 2):
        doubled = m(cr.ones(1, 2))
    np.testing.assert_allclose(doubled.numpy(), 2 * m(cr.ones(1, 2)).numpy())


def test_to_double_and_float_keep_parameter_objects():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    params = list(m.parameters())
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64
    assert all(p is q for p, q in zip(params, m.parameters()))
    m.float()
    assert m(cr.randn(3, 2)).dtype == np.float32
    with pytest.raises(cr.errors.DTypeError):
        m.to("int32")


def test_deepcopy_gives_independent_module():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    m2 = copy.deepcopy(m)
    with cr.no_grad():
        m2[0].weight.fill_(0.0)
    assert np.any(m[0].weight.numpy())
    assert list(m2.state_dict()) == list(m.state_dict())
    assert isinstance(m2[0].weight, nn.Parameter)
    assert m2(cr.randn(3, 2)).shape == (3, 2)


def test_get_submodule():
    c = CrNet()
    assert c.get_submodule("heads.cls") is c.heads["cls"]
    assert c.get_submodule("") is c
    with pytest.raises(AttributeError):
        c.get_submodule("encoder.7")


def test_float32_model_keeps_float32_everywhere():
    net = nn.Sequential(
        nn.Linear(4, 6),
        nn.LayerNorm(6),
        nn.BatchNorm1d(6),
        nn.GELU(),
        nn.Dropout(0.1),
        nn.Residual(nn.Sequential(nn.Linear(6, 6), nn.ELU())),
        nn.Linear(6, 3),
    )
    x = cr.randn(5, 4, requires_grad=True)
    for mode in (True, False):
        net.train(mode)
        out = net(x)
        assert out.dtype == np.float32
        nn.CrossEntropyLoss()(out, cr.tensor([0, 1, 2, 0, 1])).backward()
        assert x.grad.dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in net.parameters())
        assert all(v.dtype in (np.float32, np.int64) for v in net.state_dict().values())


def test_sequential_insert_with_a_negative_index_matches_torch():
    import torch

    for index in (-1, -3, 0, 3):
        ours = cr.nn.Sequential(cr.nn.Identity(), cr.nn.ReLU(), cr.nn.Tanh())
        theirs = torch.nn.Sequential(torch.nn.Identity(), torch.nn.ReLU(), torch.nn.Tanh())
        ours.insert(index, cr.nn.Sigmoid())
        theirs.insert(index, torch.nn.Sigmoid())
        assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
