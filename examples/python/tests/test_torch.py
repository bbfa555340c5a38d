"""sigeo.torch.score against an independent per-sample brute force (one
autograd.grad per sample of the real, coupled per-sample losses) and
against libsigeo's own C path (sigeo.Model + sigeo_proxy_compute) on the
same weights, loaded through safetensors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import sigeo  # noqa: E402
import sigeo.torch  # noqa: E402
from conftest import score_ref  # noqa: E402


class MLP(nn.Module):
    def __init__(self, widths=(12, 8, 5)):
        super().__init__()
        self.layers = len(widths) - 1
        for i in range(self.layers):
            setattr(self, f"fc{i}", nn.Linear(widths[i], widths[i + 1]))

    def forward(self, x):
        for i in range(self.layers):
            x = getattr(self, f"fc{i}")(x)
            if i + 1 < self.layers:
                x = F.relu(x)
        return x


class ConvBN(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        # no conv bias before a train-mode BN: its gradient is zero up to
        # rounding, and ZiCo's mean/std of rounding noise differs between any two engines
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, classes)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3)))


def data(shape, classes, k=3, B=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn((B,) + shape, generator=g), torch.randint(0, classes, (B,), generator=g)) for _ in range(k)]


def brute_force(model, batches, modules):
    """Per batch: module gradients of the mean loss, d_n = theta . grad l_n (one grad per sample), mean loss."""
    grads, ds, losses = [], [], []
    theta = [p for ps in modules for p in ps]
    for x, y in batches:
        per = F.cross_entropy(model(x), y, reduction="none")
        mean = per.mean()
        g = torch.autograd.grad(mean, theta, retain_graph=True, allow_unused=True)
        g = [torch.zeros_like(p) if gi is None else gi for gi, p in zip(g, theta)]
        it = iter(g)
        grads.append([torch.cat([next(it).reshape(-1) for _ in ps]).numpy() for ps in modules])
        d = []
        for n in range(x.shape[0]):
            gn = torch.autograd.grad(per[n], theta, retain_graph=True, allow_unused=True)
            d.append(sum(float((gi.double() * p.detach().double()).sum()) for gi, p in zip(gn, theta)
                         if gi is not None))
        ds.append(np.array(d))
        losses.append(mean.item())
    return grads, ds, losses


def check_against_brute_force(model, batches, modules, expect_method, lambdas=(1.0, 1.0, 0.5)):
    r = sigeo.torch.score(model, batches, nn.CrossEntropyLoss(), lambdas=lambdas)
    assert r.fr_method == expect_method
    ref = score_ref(*brute_force(model, batches, modules), lambdas)
    for key in ("zico", "fr", "loss", "score"):
        assert r[key] == pytest.approx(ref[key], rel=2e-5, abs=1e-7), key
    return r


def test_mlp_hooks_exact():
    torch.manual_seed(0)
    m = MLP()
    b = data((12,), 5)
    r = check_against_brute_force(m, b, [[m.fc0.weight, m.fc0.bias], [m.fc1.weight, m.fc1.bias]], "hooks")
    assert r.module_names == ["fc0", "fc1"] and r.n_params == 12 * 8 + 8 + 8 * 5 + 5


def test_train_mode_batch_norm_uses_jvp_and_is_exact():
    torch.manual_seed(1)
    m = ConvBN().train()
    b = data((1, 6, 6), 3)
    mods = [[m.conv.weight], [m.bn.weight, m.bn.bias], [m.fc.weight, m.fc.bias]]
    before = {k: v.clone() for k, v in m.state_dict().items()}
    sigeo.torch.score(m, b, nn.CrossEntropyLoss())
    for k, v in m.state_dict().items():  # running statistics restored: no side effect
        assert torch.equal(v, before[k]), k
    r = check_against_brute_force(m, b, mods, "jvp")
    assert "couples the samples" in r.fr_method_reason
    # delta . y is not theta . grad l_n here: the identity approximation differs
    ident = sigeo.torch.score(m, b, nn.CrossEntropyLoss(), fr="identity")
    assert abs(ident.fr - r.fr) > 1e-3 * r.fr
    with pytest.raises(sigeo.InvalidArgumentError, match="method='hooks' is not exact.*'bn'.*couples"):
        sigeo.torch.score(m, b, nn.CrossEntropyLoss(), method="hooks")


def test_eval_mode_batch_norm_uses_hooks():
    torch.manual_seed(2)
    m = ConvBN().eval()
    m.bn.running_mean.uniform_(-0.5, 0.5)
    m.bn.running_var.uniform_(0.5, 2)
    b = data((1, 6, 6), 3)
    check_against_brute_force(m, b, [[m.conv.weight], [m.bn.weight, m.bn.bias],
                                     [m.fc.weight, m.fc.bias]], "hooks")
    assert not m.training


def test_shared_weights_counted_once_and_exact():
    torch.manual_seed(3)

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(6, 6)
            self.dec = nn.Linear(6, 6)
            self.dec.weight = self.enc.weight  # tied: one parameter, two layers
            self.head = nn.Linear(6, 4)

        def forward(self, x):
            h = F.relu(self.enc(x))
            h = torch.tanh(self.dec(h))
            return self.head(F.relu(self.enc(h)))  # enc called twice

    m = Tied()
    b = data((6,), 4)
    r = check_against_brute_force(m, b, [[m.enc.weight, m.enc.bias], [m.dec.bias], [m.head.weight, m.head.bias]],
                                  "hooks")
    assert r.module_names == ["enc", "dec", "head"] and r.n_params == 42 + 6 + 28


def test_frozen_parameters():
    torch.manual_seed(4)
    m = MLP((10, 7, 6, 3))
    for p in m.fc0.parameters():  # a frozen layer: not part of theta
        p.requires_grad_(False)
    r = check_against_brute_force(m, data((10,), 3), [[m.fc1.weight, m.fc1.bias], [m.fc2.weight, m.fc2.bias]],
                                  "hooks")
    assert r.module_names == ["fc1", "fc2"]
    m.fc2.bias.requires_grad_(False)  # partially frozen: delta . y would include the bias, forward mode instead
    r = check_against_brute_force(m, data((10,), 3), [[m.fc1.weight, m.fc1.bias], [m.fc2.weight]], "jvp")
    assert "partially frozen (bias)" in r.fr_method_reason
    for p in m.parameters():
        p.requires_grad_(False)
    with pytest.raises(sigeo.InvalidArgumentError, match="no trainable parameters"):
        sigeo.torch.score(m, data((10,), 3), nn.CrossEntropyLoss())


def test_non_homogeneous_layer_falls_back_to_jvp():
    torch.manual_seed(5)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3)
            self.temperature = nn.Parameter(torch.tensor(0.7))  # owned by the root: not delta . y

        def forward(self, x):
            return self.fc(x) * self.temperature  # degree 2 in theta: d_n = 2 delta . y

    m = Scaled()
    r = check_against_brute_force(m, data((5,), 3), [[m.temperature], [m.fc.weight, m.fc.bias]], "jvp")
    assert r.module_names == ["(root)", "fc"]


def test_proxies_and_errors():
    torch.manual_seed(6)
    m = MLP()
    b = data((12,), 5)
    s = sigeo.torch.score(m, b, nn.CrossEntropyLoss())
    z = sigeo.torch.score(m, b, nn.CrossEntropyLoss(), proxy="zico")
    f = sigeo.torch.score(m, b, nn.CrossEntropyLoss(), proxy="fisher-rao")
    assert z.score == pytest.approx(s.zico) and f.score == pytest.approx(s.log_fr) and z.fr_method == "none"
    # the official RecSys code's |theta . sum_i g_i| (set_params path), against the brute-force gradients
    mods = [[m.fc0.weight, m.fc0.bias], [m.fc1.weight, m.fc1.bias]]
    grads, _, _ = brute_force(m, b, mods)
    theta = [torch.cat([p.detach().reshape(-1) for p in ps]).double().numpy() for ps in mods]
    want = abs(sum(float(t @ sum(g[i] for g in grads).astype(np.float64)) for i, t in enumerate(theta)))
    rr = sigeo.torch.score(m, b, nn.CrossEntropyLoss(), fr="reference-recsys")
    assert rr.fr == pytest.approx(want, rel=1e-5) and rr.fr_method == "none"
    with pytest.raises(sigeo.InvalidArgumentError, match=r"per-sample losses.*reduction='none'"):
        sigeo.torch.score(m, b, lambda o, y: F.cross_entropy(o, y))
    with pytest.raises(sigeo.InvalidArgumentError, match="needs at least 2"):
        sigeo.torch.score(m, b[:1], nn.CrossEntropyLoss())
    bad = [(x.clone(), y) for x, y in b]
    bad[1][0][0, 0] = float("nan")
    with pytest.raises(sigeo.NonFiniteError, match="batch 1: loss is -?nan"):
        sigeo.torch.score(m, bad, nn.CrossEntropyLoss())
    with pytest.raises(sigeo.InvalidArgumentError, match="proxy 'snip'"):
        sigeo.torch.score(m, b, nn.CrossEntropyLoss(), proxy="snip")


# ----------------------------------------------------- against the C path

def c_mlp(ctx, widths):
    cm = sigeo.Model(ctx, "mlp")
    h = cm.input("x", widths[0])
    for i in range(1, len(widths)):
        h = cm.linear(f"fc{i - 1}", h, widths[i])
        if i + 1 < len(widths):
            h = cm.relu(h)
    cm.set_loss(h, "softmax_ce")
    cm.finalize()
    return cm


def c_conv_bn(ctx, classes=3):
    cm = sigeo.Model(ctx, "convbn")
    h = cm.input("x", 36, shape=(1, 6, 6))
    h = cm.conv2d("conv", h, 4, kernel=3, padding=1, bias=False)
    h = cm.relu(cm.batch_norm("bn", h))
    h = cm.linear("fc", cm.global_avg_pool("gap", h), classes)
    cm.set_loss(h, "softmax_ce")
    cm.finalize()
    return cm


def compare_with_c(tm, cm, batches, tmp_path, lambdas=(1.0, 1.0, 0.5)):
    path = tmp_path / "w.safetensors"
    sigeo.save_safetensors({k: v.detach().numpy() for k, v in tm.state_dict().items()
                            if k.endswith(("weight", "bias", "running_mean", "running_var"))}, str(path))
    cm.load(str(path), allow_missing=True)  # num_batches_tracked is not written
    for name, v in tm.named_parameters():
        np.testing.assert_array_equal(cm.get_param(name), v.detach().numpy())
    rt = sigeo.torch.score(tm, batches, nn.CrossEntropyLoss(), lambdas=lambdas)
    rc = cm.proxy([(x.numpy(), y.numpy()) for x, y in batches], "sigeo", lambdas=lambdas)
    assert rc.n_modules == rt.n_modules and rc.n_samples == rt.n_samples
    for key in ("zico", "fr", "log_fr", "loss", "score"):
        assert rt[key] == pytest.approx(rc[key], rel=5e-5, abs=1e-6), key
    return rt, rc


def test_mlp_equals_c_path(tmp_path):
    torch.manual_seed(7)
    with sigeo.Context(threads=1, seed=3) as ctx:
        rt, _ = compare_with_c(MLP((12, 16, 8, 5)), c_mlp(ctx, (12, 16, 8, 5)), data((12,), 5, k=4, B=8), tmp_path)
    assert rt.fr_method == "hooks"


def test_conv_bn_equals_c_path(tmp_path):
    torch.manual_seed(8)
    with sigeo.Context(threads=1, seed=3) as ctx:
        rt, _ = compare_with_c(ConvBN().train(), c_conv_bn(ctx), data((1, 6, 6), 3, k=3, B=8), tmp_path)
    assert rt.fr_method == "jvp"


def test_c_model_errors(tmp_path):
    with sigeo.Context(threads=1) as ctx:
        cm = c_mlp(ctx, (4, 3))
        sigeo.save_safetensors({"fc0.weight": np.zeros((3, 5)), "fc0.bias": np.zeros(3)}, str(tmp_path / "bad.st"))
        with pytest.raises(sigeo.ShapeError, match="fc0.weight"):
            cm.load(str(tmp_path / "bad.st"))
        with pytest.raises(sigeo.SigeoIOError, match="no-such-file"):
            cm.load(str(tmp_path / "no-such-file"))
        with pytest.raises(sigeo.InvalidArgumentError, match="proxy 'bogus'"):
            cm.proxy([], "bogus")
        m2 = sigeo.Model(ctx)
        x = m2.input("x", 4)
        with pytest.raises(sigeo.InvalidArgumentError, match="x"):
            m2.input("x", 4)  # duplicate name
        m2.linear("fc", x, 2)


# ------------------------------------------------ AZ-NAS block marks

def expressivity_ref(features):
    """AZ-NAS expressivity of one block from its rows x channels output, in float64 (docs/proxies-zoo.md)."""
    x = np.asarray(features, np.float64)
    xc = x - x.mean(0)
    s = np.linalg.eigvalsh(xc.T @ xc / x.shape[0])
    p = s / s.sum()
    return float(-(p * np.log(p + 1e-8)).sum())


def test_mark_block_drives_az_expressivity():
    with sigeo.Context(threads=1, seed=4) as ctx:
        cm = sigeo.Model(ctx, "mlp")
        x = cm.input("x", 12)
        h0 = cm.linear("fc0", x, 16)
        h1 = cm.linear("fc1", cm.relu(h0), 8)
        out = cm.linear("fc2", cm.relu(h1), 5)
        cm.set_loss(out, "softmax_ce")
        cm.finalize()
        assert cm.blocks() == []
        cm.mark_block(h1)  # the order of the calls does not matter
        cm.mark_block(h0)
        assert cm.blocks() == sorted([h0, h1])
        with pytest.raises(sigeo.InvalidArgumentError, match="is already a block"):
            cm.mark_block(h0)
        with pytest.raises(sigeo.InvalidArgumentError):
            cm.mark_block(x)  # a model input
        assert cm.blocks() == sorted([h0, h1])  # the handle is unchanged by the refusals
        g = np.random.default_rng(3)
        xb = g.standard_normal((32, 12)).astype(np.float32)
        yb = g.integers(0, 5, 32).astype(np.int32)
        w0, b0 = cm.get_param("fc0.weight").astype(np.float64), cm.get_param("fc0.bias").astype(np.float64)
        w1, b1 = cm.get_param("fc1.weight").astype(np.float64), cm.get_param("fc1.bias").astype(np.float64)
        f0 = xb.astype(np.float64) @ w0.T + b0  # the marked nodes are the linear outputs, before the ReLUs
        f1 = np.maximum(f0, 0) @ w1.T + b1
        want = expressivity_ref(f0) + expressivity_ref(f1)
        r = cm.proxy([(xb, yb)], "az_expressivity")
        assert r.score == pytest.approx(want, rel=1e-5, abs=1e-6)
