"""cr.compile: replays equal eager mode (bit for bit in float64), recaptures when the record no
longer applies, and falls back to eager mode, with one warning, where it cannot replay."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.errors import CompileWarning


@pytest.fixture(autouse=True)
def _float64():
    before = cr.get_default_dtype()
    cr.set_default_dtype("float64")
    yield
    cr.set_default_dtype(before)


class _Recurrent(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = (nn.GRU if kind == "gru" else nn.LSTM)(6, 8, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


def _model(kind: str) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(),
                             nn.Linear(16, 3))  # fmt: skip
    if kind == "batchnorm":
        return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    if kind == "dropout":
        return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
        )  # fmt: skip
    return _Recurrent(kind)


def _batch(kind: str, rng: np.random.Generator, dtype: str, n: int = 8):
    shape = {"cnn": (n, 1, 8, 8), "gru": (n, 5, 6), "lstm": (n, 5, 6)}.get(kind, (n, 12))
    return cr.tensor(rng.standard_normal(shape).astype(dtype)), cr.tensor(rng.integers(0, 3, n))


def _optimizer(name: str, params) -> cr.optim.Optimizer:
    if name == "sgd":
        return cr.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3, nesterov=True)
    if name == "adam":
        return cr.optim.Adam(params, lr=0.01)
    return cr.optim.AdamW(params, lr=0.01, weight_decay=0.1)


def _train(kind, opt_name, compiled, dtype="float64", steps=5, clip=None, schedule=False,
           modes=False):  # fmt: skip
    """Losses, then parameters and buffers after ``steps`` steps, and the step function."""
    cr.set_default_dtype(dtype)
    cr.manual_seed(0)
    model = _model(kind)
    opt = _optimizer(opt_name, model.parameters())
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if schedule else None

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if clip == "norm":
            cr.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        elif clip == "value":
            cr.nn.utils.clip_grad_value_(model.parameters(), 0.01)
        opt.step()
        return loss.item()

    fn = cr.compile(step) if compiled else step
    rng = np.random.default_rng(3)
    losses = []
    for i in range(steps):
        x, y = _batch(kind, rng, dtype)
        if modes and i == 2:
            model.eval()
        if modes and i == 4:
            model.train()
        losses.append(fn(x, y))
        if sched is not None:
            sched.step()
    state = [p.data.copy() for p in model.parameters()] + [b.data for b in model.buffers()]
    return losses, [np.array(s) for s in state], fn


CASES = [
    ("mlp", "sgd", {}),
    ("mlp", "adam", {"clip": "norm", "schedule": True}),
    ("mlp", "adamw", {"clip": "value", "modes": True}),
    ("batchnorm", "sgd", {"modes": True}),
    ("batchnorm", "adamw", {"clip": "norm", "schedule": True}),
    ("dropout", "adam", {"modes": True}),
    ("dropout", "sgd", {"clip": "value", "schedule": True}),
    ("cnn", "sgd", {"modes": True, "clip": "norm"}),
    ("gru", "adam", {"schedule": True}),
    ("lstm", "adamw", {"clip": "norm"}),
]


@pytest.mark.parametrize(("kind", "opt_name", "options"), CASES)
def test_replay_is_eager_bit_for_bit_in_float64(kind, opt_name, options):
    eager_losses, eager_state, _ = _train(kind, opt_name, False, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        losses, state, step = _train(kind, opt_name, True, **options)
    assert step.reason is None
    # one capture, or one per train/eval mode when the mode changes (back to a cached one)
    assert step.captures == (2 if options.get("modes") else 1)
    np.testing.assert_array_equal(losses, eager_losses)
    assert all(type(v) is float for v in losses)
    for a, b in zip(state, eager_state):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kind", "opt_name"), [("mlp", "adam"), ("cnn", "sgd"), ("gru", "sgd"), ("batchnorm", "adamw")]
)
def test_replay_is_eager_in_float32_too(kind, opt_name):
    # no float64 promotion anywhere in the record (a recorded number reaches NumPy as a plain
    # float, as in eager mode): equal, not only to rounding
    eager_losses, eager_state, _ = _train(kind, opt_name, False, dtype="float32")
    losses, state, step = _train(kind, opt_name, True, dtype="float32")
    assert step.reason is None and step.captures == 1
    np.testing.assert_array_equal(losses, eager_losses)
    for a, b in zip(state, eager_state):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_replay_does_what_the_function_does_with_grads_and_returns_its_structure():
    # no zero_grad: gradients accumulate across calls, as in eager mode
    def make():
        w = cr.tensor([1.0, -2.0, 0.5], requires_grad=True)
        b = cr.tensor(0.25, requires_grad=True)

        def step(x):
            y = (x * w).sum() + b * b
            y.backward()
            return {"y": y, "pair": (y.item(), w.grad), "const": "same"}

        return w, b, step

    w, b, step = make()
    w2, b2, step2 = make()
    fast = cr.compile(step2)
    for i in range(4):
        x = cr.tensor([1.0, 2.0, float(i)])
        want, got = step(x), fast(x)
        assert set(got) == {"y", "pair", "const"} and got["const"] == "same"
        np.testing.assert_array_equal(got["y"].data, want["y"].data)
        assert got["pair"][0] == want["pair"][0] and type(got["pair"][0]) is float
        assert got["pair"][1] is w2.grad
        np.testing.assert_array_equal(w2.grad.data, w.grad.data)
        np.testing.assert_array_equal(b2.grad.data, b.grad.data)
    assert fast.captures == 1
    assert not got["y"].requires_grad  # replayed results carry no graph


def test_functions_taking_numpy_arrays_and_parameters_as_arguments():
    def loss_fn(w, x):
        loss = ((x @ w) ** 2).mean()
        loss.backward()
        return loss

    fast = cr.compile(loss_fn)
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = cr.tensor(rng.standard_normal((4, 2)), requires_grad=True)
        w_eager = cr.tensor(w.data.copy(), requires_grad=True)
        x = rng.standard_normal((5, 4))
        np.testing.assert_array_equal(fast(w, x).data, loss_fn(w_eager, cr.tensor(x)).data)
        np.testing.assert_array_equal(w.grad.data, w_eager.grad.data)  # the new w's grad
    assert fast.captures == 1


def _counting_model():
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    return model, opt, cr.compile(step)


def test_recaptures_on_new_shapes_dtypes_parameters_requires_grad_and_mode():
    model, _, step = _counting_model()
    x = cr.ones(2, 3)
    step(x)
    step(x)
    assert step.captures == 1
    step(cr.ones(5, 3))  # new shape
    assert step.captures == 2
    step(cr.ones(2, 3, dtype="float32"))  # new dtype
    assert step.captures == 3
    step(x)  # back to the first: cached
    assert step.captures == 3
    model.eval()  # train/eval mode of a module called
    step(x)
    assert step.captures == 4
    model.train()
    model[0].weight = nn.Parameter(cr.zeros(4, 3))  # the parameter set
    step(x)
    assert step.captures == 5
    model[2].bias.requires_grad = False  # requires_grad
    step(x)
    assert step.captures == 6
    with cr.no_grad():  # grad mode (backward then fails as in eager mode)
        with pytest.raises(cr.BackwardError):
            step(x)
    assert step.reason is None


def test_replaced_parameter_is_the_one_trained():
    model, _, step = _counting_model()
    model.eval()  # no dropout: the update is easy to check
    x = cr.ones(1, 3)
    step(x)
    new = nn.Parameter(cr.zeros(2, 4))
    model[2].weight = new
    before = new.data.copy()
    step(x)
    assert not np.array_equal(new.data, before) or new.grad is not None


def test_replaced_or_added_module_captures_again():
    """A child replaced or appended between calls is what the next call runs: the record of
    the old one is not replayed (a parameter-less ReLU -> Tanh, a new Linear, one more layer)."""
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = cr.tensor(np.random.default_rng(0).normal(size=(5, 3)))

    def run(x):
        out = model(x)
        loss = (out * out).sum()
        loss.backward()
        return loss.detach()

    step = cr.compile(run)
    for change in (
        lambda: model.__setitem__(1, nn.Tanh()),
        lambda: model.__setitem__(2, nn.Linear(4, 2)),
        lambda: model.append(nn.Sigmoid()),
    ):
        step(x)
        step(x)
        captures = step.captures
        change()
        model.zero_grad()
        got = step(x)
        assert step.captures == captures + 1
        grads = [p.grad.numpy().copy() for p in model.parameters()]
        model.zero_grad()
        want = run(x)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        for g, p in zip(grads, model.parameters()):
            np.testing.assert_array_equal(g, p.grad.numpy())
        model.zero_grad()


def test_learning_rate_changed_between_steps_acts():
    w = cr.tensor([1.0], requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.5)

    @cr.compile
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    step()  # 1 - 0.5 * 2 = 0
    w.data[...] = 1.0
    opt.param_groups[0]["lr"] = 0.25
    step()  # 1 - 0.25 * 2 = 0.5
    assert w.data[0] == 0.5 and step.captures == 1


def _fallback(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [fn(*args) for _ in range(3)]
    said = [w for w in caught if issubclass(w.category, CompileWarning)]
    assert len(said) == 1, [str(w.message) for w in caught]
    return results, str(said[0].message)


def test_value_dependent_control_flow_falls_back_with_one_warning():
    w = cr.tensor([1.0, -1.0], requires_grad=True)

    def step(x):
        y = (w * x).sum()
        if y.item() > 0:  # a branch on a value
            return y * 2
        return y

    fast = cr.compile(step)
    _, message = _fallback(fast, cr.tensor([3.0, 1.0]))
    assert "used in Python (__gt__)" in message and fast.reason in message
    assert float(fast(cr.tensor([1.0, 3.0])).item()) == -2.0  # eager: the other branch
    for read in (lambda y: float(y), lambda y: bool(y > 0), lambda y: y.numpy().sum()):
        f = cr.compile(lambda x, read=read: read((w * x).sum()))
        _fallback(f, cr.tensor([3.0, 1.0]))
        assert "reads a tensor's value" in f.reason


def test_unreplayable_side_effects_fall_back_with_one_warning():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    def manual_sgd(x):
        loss = (w * x).sum()
        loss.backward()
        with cr.no_grad():
            w.sub_(0.1 * w.grad)  # in place, outside a replayable call
        w.grad = None
        return loss

    fast = cr.compile(manual_sgd)
    _fallback(fast, cr.tensor([1.0, 1.0]))
    assert "in place" in fast.reason
    np.testing.assert_allclose(w.data, [0.7, 1.7])  # every call ran, eagerly

    def assign(x):
        w.data = np.zeros(2)
        return (w * x).sum()

    f = cr.compile(assign)
    _fallback(f, cr.tensor([1.0, 1.0]))
    assert ".data is assigned" in f.reason

    def raw(x):
        return (x * cr.tensor(np.full(2, 3.0))).sum()  # an array the record cannot follow

    f = cr.compile(raw)
    _fallback(f, cr.tensor([1.0, 1.0]))
    assert "raw array" in f.reason

    def read(x):
        return (x * cr.tensor(np.exp(x.data))).sum()  # raw NumPy on a recorded value

    f = cr.compile(read)
    _fallback(f, cr.tensor([1.0, 1.0]))
    assert "reads a tensor's .data" in f.reason

    def legacy(x):
        return x * float(np.random.rand())  # noqa: NPY002 - NumPy's global generator

    f = cr.compile(legacy)
    _fallback(f, cr.tensor([1.0]))
    assert "global random generator" in f.reason

    def draw(x):
        return x * float(np.asarray(cr.backend.rng().random()))  # the generator, unrecorded

    f = cr.compile(draw)
    _fallback(f, cr.tensor([1.0]))
    assert "random" in f.reason


def test_returning_a_graph_tensor_falls_back():
    w = cr.tensor([1.0], requires_grad=True)
    f = cr.compile(lambda x: (w * x).sum())
    (out, *_), _ = _fallback(f, cr.tensor([2.0]))
    out.backward()  # eager results keep their graph
    assert w.grad is not None and "graph" in f.reason


def test_random_tensors_and_dropout_advance_the_stream_as_in_eager():
    def noisy(x):
        return x + cr.randn(3)

    cr.manual_seed(5)
    want = [noisy(cr.zeros(3)).data for _ in range(3)]
    fast = cr.compile(noisy)
    cr.manual_seed(5)
    got = [fast(cr.zeros(3)).data for _ in range(3)]
    np.testing.assert_array_equal(got, want)
    assert fast.captures == 1 and fast.reason is None


def test_tensors_made_from_the_inputs_inside_the_function():
    w = cr.tensor(np.ones(3), requires_grad=True)

    def f(batch):
        x = cr.tensor(batch, dtype="float64") * cr.tensor(batch)  # a conversion and a copy
        y = (w * x).sum()
        y.backward()
        return y.item()

    fast = cr.compile(f)
    for i in range(3):
        batch = np.arange(3.0, dtype=np.float32) + i
        w.grad = None
        want = (f(batch), w.grad.data.copy())
        w.grad = None
        assert fast(batch) == want[0]
        np.testing.assert_array_equal(w.grad.data, want[1])
    assert fast.captures == 1 and fast.reason is None


def test_a_rebound_free_variable_captures_again():
    opt = cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1)
    w = opt.param_groups[0]["params"][0]

    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    fast = cr.compile(step)
    fast()
    fast()
    assert fast.captures == 1
    opt = cr.optim.SGD([w], lr=0.0)  # the function now calls another optimiser
    fast()
    assert fast.captures == 2
    before = w.data.copy()
    fast()
    np.testing.assert_array_equal(w.data, before)  # lr 0: the new optimiser's step


def test_a_compiled_method_binds_its_instance():
    class Scaled:
        def __init__(self, k: float) -> None:
            self.w = cr.tensor([k], requires_grad=True)

        @cr.compile
        def step(self, x):
            loss = (self.w * x).sum()
            loss.backward()
            return loss.item()

    a, b = Scaled(2.0), Scaled(3.0)
    assert [a.step(cr.ones(1)), b.step(cr.ones(1)), a.step(cr.ones(1))] == [2.0, 3.0, 2.0]
    assert a.w.grad.data[0] == 2.0 and b.w.grad.data[0] == 1.0
    assert Scaled.step.captures == 2  # one record per instance


def test_estimators_compile_by_default_with_the_same_results():
    from sklearn.exceptions import ConvergenceWarning

    from chainrule.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((120, 6)), rng.integers(0, 3, 120)
    fits = []
    for compile_ in (None, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("error", CompileWarning)
            est = MLPClassifier((8,), max_iter=3, batch_size=32, random_state=0, alpha=1e-3,
                                compile=compile_).fit(X, y)  # fmt: skip
        fits.append(est)
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_array_equal(a, b)
    assert "compile" not in fits[0].get_params() and fits[1].get_params()["compile"] is False


def test_forward_hooks_run_at_each_replay_and_adding_one_captures_again():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    seen = []
    model[1].register_forward_hook(lambda m, args, out: seen.append(out.data.sum()))

    @cr.compile
    def step(x):
        loss = model(x).sum()
        loss.backward()
        return loss.item()

    xs = [cr.tensor(np.full((2, 3), float(i))) for i in range(3)]
    for x in xs:
        step(x)
    with cr.no_grad():
        want = [model[1](model[0](x)).data.sum() for x in xs]
    assert seen[:3] == want and step.captures == 1 and step.reason is None
    model[0].register_forward_pre_hook(lambda m, args: (args[0] * 2,))  # changes the input
    got = step(xs[1])
    assert step.captures == 2
    with cr.no_grad():
        assert got == model(xs[1]).sum().item()  # eager, through the hook too
    assert got == step(xs[1])  # replayed with the hook


def test_fit_compiles_by_default_with_the_same_history_and_weights():
    from chainrule.explain import GradientFlow

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((70, 5)), rng.integers(0, 3, 70)
    runs = []
    for compile_ in (True, False):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        flow = GradientFlow(plot=False)  # on_after_backward and forward hooks: replayed
        trainer = cr.train.Trainer(
            model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"], progress=False,
            scheduler=cr.optim.lr_scheduler.StepLR(opt, 1, 0.5), grad_clip=1.0,
            callbacks=[flow], compile=compile_,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            history = trainer.fit((X, y), (X[:20], y[:20]), epochs=3, batch_size=16)
        runs.append((history, [p.data.copy() for p in model.parameters()], flow, trainer))
    (h1, w1, f1, t1), (h2, w2, f2, _) = runs
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert h1[key] == h2[key], key
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert f1.records == f2.records
    train, test = t1._compiled["train"], t1._compiled["test"]
    assert train.reason is None and test.reason is None
    assert train.captures == 2  # full batches and the last, smaller one
    assert test.captures == 1  # one validation batch


class _Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.lstm(self.emb(x))[0])


MORE = {
    "transformer": (
        lambda: nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True),
                              nn.Flatten(), nn.Linear(40, 3)),
        (5, 8), lambda out, y: F.cross_entropy(out, y, label_smoothing=0.1),
    ),
    "transformer-fused": (  # no dropout: fused self-attention, linear with relu (seqspeed)
        lambda: nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
                              nn.Flatten(), nn.Linear(40, 3)),
        (5, 8), lambda out, y: F.cross_entropy(out, y),
    ),
    "conv1d-groupnorm-avgpool": (
        lambda: nn.Sequential(nn.Conv1d(2, 4, 3), nn.GroupNorm(2, 4), nn.ELU(), nn.AvgPool1d(2),
                              nn.Flatten(), nn.Linear(12, 3)),
        (2, 8), lambda out, y: F.cross_entropy(out, y),
    ),
    "dropout2d-adaptive": (
        lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout2d(0.3), nn.AdaptiveAvgPool2d(1),
                              nn.Flatten(), nn.Linear(4, 3)),
        (1, 6, 6), lambda out, y: F.cross_entropy(out, y),
    ),
    "layernorm-nll-ignore-weight": (  # the mean's denominator depends on the targets
        lambda: nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.BatchNorm1d(8, momentum=None),
                              nn.LeakyReLU(), nn.Linear(8, 3)),
        (4,), lambda out, y: F.nll_loss(F.log_softmax(out, dim=1), y, ignore_index=1,
                                        weight=cr.tensor([1.0, 2.0, 0.5])),
    ),
    "embedding-lstm": (_Tokens, None, lambda out, y: F.cross_entropy(out.reshape(-1, 10), y)),
    "cross-entropy-ignore-weight": (
        lambda: nn.Sequential(nn.Linear(4, 3)), (4,),
        lambda out, y: F.cross_entropy(out, y, ignore_index=2, weight=cr.tensor([0.5, 2.0, 1.0])),
    ),
    "cross-entropy-rows-sum": (  # the fused class-index op's row losses and its sum
        lambda: nn.Sequential(nn.Linear(4, 3)), (4,),
        lambda out, y: (F.cross_entropy(out, y, reduction="none", ignore_index=0,
                                        weight=cr.tensor([0.5, 2.0, 1.0])) ** 2).sum()
        + F.cross_entropy(out, y, reduction="sum"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", list(MORE))
def test_more_layers_and_losses_replay_bit_for_bit(kind, dtype):
    make, shape, loss_fn = MORE[kind]
    cr.set_default_dtype(dtype)
    runs = []
    for compiled in (False, True):
        cr.manual_seed(0)
        model = make()
        opt = cr.optim.Adam(model.parameters(), lr=0.01)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        fn = cr.compile(step) if compiled else step
        rng = np.random.default_rng(1)
        losses = []
        for _ in range(4):
            if shape is None:
                x, y = cr.tensor(rng.integers(0, 10, (6, 5))), cr.tensor(rng.integers(0, 10, 30))
            else:
                x = cr.tensor(rng.standard_normal((6, *shape)).astype(dtype))
                y = cr.tensor(rng.integers(0, 3, 6))
            with warnings.catch_warnings():
                warnings.simplefilter("error", CompileWarning)
                losses.append(fn(x, y))
        runs.append((losses, [p.data.copy() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    assert fn.captures == 1


def test_numbers_from_item_made_into_tensors_are_recomputed():
    w = cr.tensor([2.0], requires_grad=True)

    def f(x):
        scale = cr.tensor((w * x).sum().item())  # a tensor again, from the replayed number
        loss = (w * scale).sum()
        loss.backward()
        return loss.item()

    fast = cr.compile(f)
    for v in (1.0, 3.0):
        w.grad = None
        assert fast(cr.tensor([v])) == f(cr.tensor([v])) == 4.0 * v
    assert fast.captures == 1 and fast.reason is None


def test_replayable_calls_get_the_input_tensors_themselves():
    def step(w, x):
        w.grad = None
        (w * x).sum().backward()
        cr.nn.utils.clip_grad_norm_([w], 1.0)  # reads and scales the input's own .grad
        return w.grad

    fast = cr.compile(step)
    for v in (3.0, 4.0):
        w, w2 = cr.tensor([1.0, 1.0], requires_grad=True), cr.tensor([1.0, 1.0], requires_grad=True)
        got, want = fast(w, cr.tensor([v, 0.0])), step(w2, cr.tensor([v, 0.0]))
        np.testing.assert_array_equal(got.data, want.data)
        assert got is w.grad
    assert fast.captures == 1 and fast.reason is None


def test_grad_assigned_in_the_function_is_replayed():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    @cr.compile
    def step(x):
        w.grad = None  # as zero_grad would
        (w * x).sum().backward()
        return w.grad

    for v in (1.0, 2.0, 3.0):
        assert step(cr.tensor([v, v])).data.tolist() == [v, v]  # assigned, not accumulated
    assert step.captures == 1 and step.reason is None


def test_errors_of_eager_mode_are_raised_at_replay():
    w = cr.tensor([1.0, 1.0], requires_grad=True)

    @cr.compile
    def step(x, y):
        loss = F.cross_entropy((w * x).reshape(1, 2), y)
        loss.backward()
        return loss.item()

    step(cr.tensor([1.0, 2.0]), cr.tensor([0]))
    with pytest.raises(cr.errors.NonFiniteError, match="logits contain NaN"):
        step(cr.tensor([np.nan, 2.0]), cr.tensor([0]))
    with pytest.raises(cr.errors.TargetError, match="out of range"):
        step(cr.tensor([1.0, 2.0]), cr.tensor([5]))
    assert step.captures == 1 and step.reason is None


def test_a_function_captured_too_often_runs_eagerly_with_one_warning():
    w = cr.tensor([1.0], requires_grad=True)
    fast = cr.compile(lambda x: (w * x).sum().item(), max_captures=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [fast(cr.ones(n)) for n in range(1, 7)]  # a new shape every call
    assert got == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert len([c for c in caught if issubclass(c.category, CompileWarning)]) == 1
    assert "captured 4 times" in fast.reason and fast.captures == 4


def test_backward_into_a_graph_made_outside_falls_back():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3.0  # a graph made outside the function

    def step(x):
        loss = (h * x).sum()
        loss.backward(retain_graph=True)
        return loss.item()

    fast = cr.compile(step)
    _fallback(fast, cr.tensor([1.0, 1.0]))
    assert "outside the function" in fast.reason
    np.testing.assert_array_equal(w.grad.data, [9.0, 9.0])  # three eager backward passes


def test_detect_anomaly_runs_the_function_eagerly_while_on():
    w = cr.tensor([1.0], requires_grad=True)

    @cr.compile
    def step(x):
        loss = (w * x).sum()
        loss.backward()
        return loss.item()

    step(cr.tensor([1.0]))
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError):
        step(cr.tensor([np.nan]))  # NaN: found, as in eager mode
    assert step.captures == 1 and step.reason is None


def test_buffers_reused_by_the_replay_never_change_what_the_caller_kept():
    """A replay writes matrix products and activations into buffers of its own, reused from
    call to call only while nothing else holds them: gradients kept from an earlier step, a
    returned activation and gradients accumulated without zero_grad keep their values."""

    def make():
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
        opt = cr.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y, zero=True):
            if zero:
                opt.zero_grad()
            h = model[1](model[0](x))
            F.cross_entropy(model[2](h), y).backward()
            opt.step()
            return h.detach(), model[0].weight.grad

        return step

    eager, fast = make(), cr.compile(make())
    rng = np.random.default_rng(0)
    kept_eager, kept_fast = [], []
    for i in range(4):
        x, y = cr.tensor(rng.standard_normal((4, 6))), cr.tensor(rng.integers(0, 3, 4))
        zero = i != 2  # the third step accumulates into the kept gradient
        kept_eager.append(eager(x, y, zero))  # (the accumulated one changes in both)
        kept_fast.append(fast(x, y, zero))
    for want, got in zip(kept_eager, kept_fast):
        for w, g in zip(want, got):
            np.testing.assert_array_equal(g.data, w.data)
    sources = [e.source for entries in fast.cache.values() for e in entries]
    assert any("RC(b" in s for s in sources)  # the buffers were used


def test_a_record_with_buffers_in_use_by_another_call_runs_the_function_eagerly():
    cr.manual_seed(0)
    layer = nn.Linear(4, 3)
    eager_calls = []

    def f(x):
        eager_calls.append(1)  # Python code runs only when the function runs (eagerly)
        return cr.relu(layer(x)).sum().item()

    fast = cr.compile(f)
    x = cr.tensor(np.arange(8.0).reshape(2, 4))
    want = fast(x)
    entry = next(iter(fast.cache.values()))[0]
    assert entry.lock is not None
    with entry.lock:  # as while another thread replays it
        assert fast(x) == want
    assert len(eager_calls) == 2
    assert fast(x) == want and len(eager_calls) == 2  # replayed again once it is free


def test_the_capture_holds_no_intermediate_array_and_is_freed_without_the_cycle_collector():
    """What the capture saw is not kept: an intermediate array dies as it would in eager mode
    (not at the capture's end), and the whole capture (its maps of every array and node) is
    released when the record is built, without waiting for Python's cycle collector (a
    recorded number, such as the optimiser's learning rate, refers to its capture)."""
    import gc
    import weakref

    from chainrule import tape
    from chainrule.compile import replayable

    cr.manual_seed(0)
    model = _model("batchnorm")
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = cr.randn(8, 12), cr.tensor(np.arange(8) % 3)
    seen: list = []

    @replayable
    def spy(t):  # runs unrecorded: may hold weak references to what it is given
        seen.append((weakref.ref(t.data), weakref.ref(tape.recorder or t)))

    alive: list[bool] = []

    @cr.compile
    def step(x, y):
        opt.zero_grad()
        h = model[0](x)  # the first layer's output: an intermediate of the step
        spy(h)
        loss = F.cross_entropy(model[1:](h), y)
        loss.backward()
        del h, loss
        alive.append(seen[-1][0]() is not None)  # Python code: runs at the capture only
        opt.step()
        return None

    gc.collect()
    gc.disable()
    try:
        step(x, y)
        assert alive == [False]  # freed after backward, as eagerly, during the capture
        array, capture = seen[0]
        assert array() is None
        assert capture() is None  # the capture itself: gone with the call
        step(x, y)
        assert len(step.cache) == 1 and step.reason is None
    finally:
        gc.enable()
