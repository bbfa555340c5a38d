#!/usr/bin/python3
"""PyTorch side of bench-proxy: the same four cases, timed the same way.

Run with Debian's interpreter (python3-torch lives there, not in a pyenv):
    /usr/bin/python3 bench/torch_proxy.py [--reps N] [--quick] [--case NAME]...

Per case (k = 4 batches, weights fixed, 2 threads unless --threads N):
  torch_plain_ms  median time of 4 plain forward+backward steps
  torch_plain_cpu_ms, torch_cpu_ms   the same as process CPU time (a measure
                  of work, robust to other load, only with --threads 1)
  torch_ms        median time of one SiGeo evaluation done the way a careful
                  PyTorch user would: forward hooks keep each Linear /
                  EmbeddingBag output y and hook its gradient, so the
                  per-sample Fisher-Rao term d_n = B * sum_layers dL/dy_n . y_n
                  comes out of the ordinary backward; ZiCo statistics are
                  accumulated with fused multi-tensor ops (torch._foreach_*)
                  over all parameters at once: sum |g|, sum g, sum g^2.
                  The cell case (conv + train-mode BN) needs the exact
                  per-sample FR instead: forward-mode AD, see SiGeoExact.
                  (Float32 sums, E[g^2] - E[g]^2: cheaper than libsigeo's
                  double-precision Welford, so the comparison favours torch.)
JSON lines on stdout ({"bench":"torch","case":...,"metric":...}), a table
on stderr. compare.sh divides torch_ms by bench-proxy's sigeo_ms.
"""
import argparse
import gzip
import json
import math
import os
import statistics
import struct
import sys
import time

# Before torch is imported: its OpenMP runtime reads these once at start-up.
# Passive waiting keeps idle workers from spinning on a 2-core machine.
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
if "--threads" in sys.argv[1:-1]:
    os.environ["OMP_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import torch  # noqa: E402
from torch import nn  # noqa: E402

K = 4
WARMUP = 3
CASES = {
    "mlp-small": ("MLP 784-48-10, batch 128, Fashion-MNIST", 200),
    "mlp-large": ("MLP 784-1024-1024-10, batch 256", 40),
    "dlrm": ("DLRM 13->512-256-16, 26x(100k x 16), dot, 367->512-256-1, batch 512", 20),
    "cell": ("NB201 cell space (docs/cellspace.md), all six edges nor_conv_3x3, batch 64, Fashion-MNIST, exact FR", 10),
}
DLRM_DENSE, DLRM_FIELDS, DLRM_ROWS, DLRM_DIM = 13, 26, 100000, 16


def say(msg=""):
    print(msg, file=sys.stderr, flush=True)


def emit(case, metric, value, unit):
    v = value if (value is not None and math.isfinite(value)) else None
    print(json.dumps({"bench": "torch", "case": case, "metric": metric, "value": v, "unit": unit}), flush=True)


def now_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1e3


def quartiles(v):
    s = sorted(v)
    def q(p):
        pos = p * (len(s) - 1)
        lo = int(pos)
        if lo >= len(s) - 1:
            return s[-1]
        return s[lo] * (1 - (pos - lo)) + s[lo + 1] * (pos - lo)
    return q(0.25), q(0.75)


# ---------------------------------------------------------------- data

def fashion_dir():
    """Same search order as sigeo_fashion_mnist_locate."""
    places = []
    env = os.environ.get("SIGEO_DATA_DIR")
    if env:
        places += [env, os.path.join(env, "fashion-mnist")]
    places.append("/usr/share/datasets/fashion-mnist")
    for d in places:
        if all(os.path.exists(os.path.join(d, f)) or os.path.exists(os.path.join(d, f + ".gz"))
               for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")):
            return d
    return None


def read_idx(path):
    opener = open
    if not os.path.exists(path):
        opener, path = gzip.open, path + ".gz"
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return body.reshape(dims)


def fashion_batches(gen):
    d = fashion_dir()
    if d is None:
        say("  Fashion-MNIST not found -> using random data for mlp-small instead")
        return [(torch.rand(128, 784, generator=gen), torch.randint(0, 10, (128,), generator=gen))
                for _ in range(K)], "random (Fashion-MNIST missing)"
    x = read_idx(os.path.join(d, "train-images-idx3-ubyte"))[:512].reshape(512, 784).float() / 255.0
    y = read_idx(os.path.join(d, "train-labels-idx1-ubyte"))[:512].long()
    return [(x[i * 128:(i + 1) * 128].contiguous(), y[i * 128:(i + 1) * 128].contiguous()) for i in range(K)], \
        "Fashion-MNIST train[0:512]"


# -------------------------------------------------------------- models

def mlp(widths, inp=784):
    layers = []
    for i, w in enumerate(widths):
        layers.append(nn.Linear(inp, w))
        if i + 1 < len(widths):
            layers.append(nn.ReLU())
        inp = w
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    def __init__(self):
        super().__init__()
        self.bottom = nn.Sequential(nn.Linear(DLRM_DENSE, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                    nn.Linear(256, DLRM_DIM), nn.ReLU())
        self.tables = nn.ModuleList(nn.EmbeddingBag(DLRM_ROWS, DLRM_DIM, mode="sum") for _ in range(DLRM_FIELDS))
        n = DLRM_FIELDS + 1
        li, lj = torch.tril_indices(n, n, offset=-1)  # pairs i > j, row-major lower triangle
        self.register_buffer("li", li)
        self.register_buffer("lj", lj)
        self.top = nn.Sequential(nn.Linear(DLRM_DIM + n * (n - 1) // 2, 512), nn.ReLU(), nn.Linear(512, 256),
                                 nn.ReLU(), nn.Linear(256, 1))

    def forward(self, inp):
        dense, ids = inp
        x = self.bottom(dense)
        vecs = [x] + [t(ids[:, f:f + 1]) for f, t in enumerate(self.tables)]
        z = torch.stack(vecs, dim=1)                  # [B, 27, 16]
        dots = torch.bmm(z, z.transpose(1, 2))[:, self.li, self.lj]  # [B, 351]
        return self.top(torch.cat([x, dots], dim=1))


def make_case(name, gen):
    if name == "cell":
        model = CellNet()
        return model, cell_batches(gen), nn.CrossEntropyLoss(), "Fashion-MNIST train[0:256]"
    if name == "mlp-small":
        model = mlp([48, 10])
        batches, note = fashion_batches(gen)
        loss = nn.CrossEntropyLoss()
    elif name == "mlp-large":
        model = mlp([1024, 1024, 10])
        batches = [(torch.rand(256, 784, generator=gen) * 2 - 1, torch.randint(0, 10, (256,), generator=gen))
                   for _ in range(K)]
        note, loss = "random", nn.CrossEntropyLoss()
    else:
        model = DLRM()
        batches = [((torch.rand(512, DLRM_DENSE, generator=gen) * 2 - 1,
                     torch.randint(0, DLRM_ROWS, (512, DLRM_FIELDS), generator=gen)),
                    torch.randint(0, 2, (512, 1), generator=gen).float()) for _ in range(K)]
        note, loss = "random", nn.BCEWithLogitsLoss()
    return model, batches, loss, note


# ------------------------------------------------- the cell-space network
# An independent PyTorch implementation of docs/cellspace.md §1 with
# every edge nor_conv_3x3 (the arch string
# |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|).

def relu_conv_bn(cin, cout, k, stride, pad):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout))


class Cell(nn.Module):
    """Node j = sum over i < j of edge_ij(node i); node 3 is the output."""

    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList(relu_conv_bn(c, c, 3, 1, 1) for _ in range(6))  # 01 02 12 03 13 23

    def forward(self, x):
        e = self.edges
        n1 = e[0](x)
        n2 = e[1](x) + e[2](n1)
        return e[3](x) + e[4](n1) + e[5](n2)


class Reduction(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = relu_conv_bn(cin, cout, 3, 2, 1)
        self.b = relu_conv_bn(cout, cout, 3, 1, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.shortcut(x) + self.b(self.a(x))


class CellNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), Cell(8),
                                  Reduction(8, 16), Cell(16), Reduction(16, 32), Cell(32),
                                  nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(32, 10)
        n = sum(p.numel() for p in self.parameters())
        if n != 91842:  # docs/cellspace.md §1: the all-nor_conv_3x3 count
            raise SystemExit(f"torch_proxy: the cell network has {n} parameters, docs/cellspace.md says 91842")

    def forward(self, x):
        return self.head(self.body(x))


def cell_batches(gen):
    d = fashion_dir()
    if d is None:
        say("  Fashion-MNIST not found -> using random images for cell instead")
        return [(torch.rand(64, 1, 28, 28, generator=gen), torch.randint(0, 10, (64,), generator=gen))
                for _ in range(K)]
    x = read_idx(os.path.join(d, "train-images-idx3-ubyte"))[:256].reshape(256, 1, 28, 28).float() / 255.0
    y = read_idx(os.path.join(d, "train-labels-idx1-ubyte"))[:256].long()
    return [(x[i * 64:(i + 1) * 64].contiguous(), y[i * 64:(i + 1) * 64].contiguous()) for i in range(K)]


class SiGeoExact:
    """SiGeo with the exact per-sample Fisher-Rao term through train-mode BN
    (libsigeo's SIGEO_FR_EXACT, docs/proxies.md 4.3a): d_n = d/da l_n(a theta)
    at a = 1, batch statistics included. Computed by forward-mode AD
    (torch.autograd.forward_ad): every parameter becomes the dual tensor
    (theta, tangent theta), one forward gives the losses and their tangents
    d_n; the ordinary backward of the primal mean loss (run after the dual
    level is closed) gives the gradients. So one dual forward + one backward
    per batch. BN runs on batch statistics without touching the running
    buffers (track_running_stats off for the call: the model is left as it
    was, like sigeo_proxy_compute). ZiCo module-wise over every parameter of
    every Conv2d / BatchNorm2d / Linear (libsigeo's default param_kinds ALL),
    population std, the foreach float32 sums of SiGeo above."""

    def __init__(self, model):
        self.layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
        self.params = [[p for p in m.parameters(recurse=False)] for m in self.layers]
        self.flat = [p for ps in self.params for p in ps]
        self.named = dict(model.named_parameters())
        self.bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        self.s_abs = [torch.zeros_like(p) for p in self.flat]
        self.s1 = [torch.zeros_like(p) for p in self.flat]
        self.s2 = [torch.zeros_like(p) for p in self.flat]

    def __call__(self, model, batches, crit):
        from torch.autograd import forward_ad as fwad
        from torch.nn.utils import stateless
        for m in self.bns:
            m.track_running_stats = False
        for t in (self.s_abs, self.s1, self.s2):
            torch._foreach_zero_(t)
        fr_sum, n, losses = 0.0, 0, []
        try:
            for x, y in batches:
                model.zero_grad(set_to_none=True)
                with fwad.dual_level():
                    duals = {k: fwad.make_dual(p, p) for k, p in self.named.items()}
                    out = stateless.functional_call(model, duals, (x,))
                    primal, tangent = fwad.unpack_dual(nn.functional.cross_entropy(out, y, reduction="none"))
                loss = primal.mean()
                loss.backward()
                grads = [p.grad for p in self.flat]
                torch._foreach_add_(self.s1, grads)
                torch._foreach_addcmul_(self.s2, grads, grads)
                torch._foreach_add_(self.s_abs, torch._foreach_abs(grads))
                dn = tangent.detach().double()
                fr_sum += float((dn * dn).sum())
                n += y.shape[0]
                losses.append(float(loss))
        finally:
            for m in self.bns:
                m.track_running_stats = True
        k = len(batches)
        zico, i = 0.0, 0
        for ps in self.params:
            ratio = 0.0
            for _ in ps:
                mean = self.s1[i] / k
                sigma = (self.s2[i] / k - mean * mean).clamp_(min=0).sqrt_()
                nz = sigma > 0
                ratio += float(((self.s_abs[i] / k)[nz] / sigma[nz]).sum())
                i += 1
            if ratio > 0:
                zico += math.log(ratio)
        fr = fr_sum / n
        return zico + math.log(fr), zico, fr, sum(losses) / k


def check_exact_fr(model, batches):
    """Once per run: the forward-mode d_n against a central difference of
    l_n(a theta) in a (float64 copy), so a wrong tangent cannot go unseen."""
    import copy
    from torch.autograd import forward_ad as fwad
    from torch.nn.utils import stateless
    m = copy.deepcopy(model).double()
    for b in m.modules():
        if isinstance(b, nn.BatchNorm2d):
            b.track_running_stats = False
    named = dict(m.named_parameters())
    x, y = batches[0][0].double(), batches[0][1]
    with fwad.dual_level():
        out = stateless.functional_call(m, {k: fwad.make_dual(p, p) for k, p in named.items()}, (x,))
        tangent = fwad.unpack_dual(nn.functional.cross_entropy(out, y, reduction="none")).tangent.detach()

    def losses(a):
        with torch.no_grad():
            o = stateless.functional_call(m, {k: a * p for k, p in named.items()}, (x,))
            return nn.functional.cross_entropy(o, y, reduction="none")
    # A small step: Fashion-MNIST's blank borders put pre-activations of
    # ReLU within ~1e-6 of their kink, so larger steps cross kinks.
    h = 1e-7
    fd = (losses(1 + h) - losses(1 - h)) / (2 * h)
    err = float((fd - tangent).abs().max())
    say(f"  exact-FR check: forward-mode d_n vs central difference, max |diff| {err:.2e}"
        f" (max |d_n| {float(tangent.abs().max()):.3g})")
    if not err <= 1e-4 * max(1.0, float(tangent.abs().max())):
        raise SystemExit("torch_proxy: the forward-mode d_n disagree with the finite difference")


# -------------------------------------------------------------- timing

def plain(model, batches, crit):
    for x, y in batches:
        model.zero_grad(set_to_none=True)
        crit(model(x), y).backward()


class SiGeo:
    """SiGeo (zero-shot lambdas 1, 1, 0): module-wise ZiCo + log FR, k batches."""

    def __init__(self, model):
        self.layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.EmbeddingBag))]
        self.params = [[p for p in m.parameters(recurse=False)] for m in self.layers]
        self.flat = [p for ps in self.params for p in ps]
        # Accumulators allocated once (libsigeo also keeps its workspace across calls).
        self.s_abs = [torch.zeros_like(p) for p in self.flat]
        self.s1 = [torch.zeros_like(p) for p in self.flat]
        self.s2 = [torch.zeros_like(p) for p in self.flat]
        self.d = None

    def _forward_hook(self, mod, inp, out):
        def grad_hook(g, y=out):
            # dL/dy_n . y_n per sample, summed over layers.
            self.d.add_((g * y).sum(dim=1))
        out.register_hook(grad_hook)

    def __call__(self, model, batches, crit):
        handles = [m.register_forward_hook(self._forward_hook) for m in self.layers]
        torch._foreach_zero_(self.s_abs)
        torch._foreach_zero_(self.s1)
        torch._foreach_zero_(self.s2)
        fr_sum, n, losses = 0.0, 0, []
        try:
            for x, y in batches:
                b = y.shape[0]
                model.zero_grad(set_to_none=True)
                self.d = torch.zeros(b)
                loss = crit(model(x), y)
                loss.backward()
                grads = [p.grad for p in self.flat]
                torch._foreach_add_(self.s1, grads)
                torch._foreach_addcmul_(self.s2, grads, grads)
                torch._foreach_add_(self.s_abs, torch._foreach_abs(grads))
                dn = self.d.double() * b  # d_n = B * s_n for a mean loss
                fr_sum += float((dn * dn).sum())
                n += b
                losses.append(float(loss))
        finally:
            for h in handles:
                h.remove()
        k = len(batches)
        zico = 0.0
        i = 0
        for ps in self.params:
            ratio = 0.0
            for _ in ps:
                mu = self.s_abs[i] / k
                mean = self.s1[i] / k
                sigma = (self.s2[i] / k - mean * mean).clamp_(min=0).sqrt_()
                nz = sigma > 0
                ratio += float((mu[nz] / sigma[nz]).sum())
                i += 1
            if ratio > 0:
                zico += math.log(ratio)
        fr = fr_sum / n
        return zico + math.log(fr), zico, fr, sum(losses) / k


def run_case(name, reps_override, seed=1):
    what, default_reps = CASES[name]
    reps = reps_override or default_reps
    say(f"\n== {name}: {what}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    t0 = now_ms()
    model, batches, crit, note = make_case(name, gen)
    built = now_ms() - t0
    if name == "cell":
        check_exact_fr(model, batches)
        sigeo = SiGeoExact(model)
    else:
        sigeo = SiGeo(model)
    for _ in range(WARMUP):
        plain(model, batches, crit)
        sigeo(model, batches, crit)
    tp, ts, cp, cs = [], [], [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), now_ms()
        plain(model, batches, crit)
        tp.append(now_ms() - t0)
        cp.append(1e3 * (time.process_time() - c0))
        c0, t0 = time.process_time(), now_ms()
        score = sigeo(model, batches, crit)
        ts.append(now_ms() - t0)
        cs.append(1e3 * (time.process_time() - c0))
    mp, ms = statistics.median(tp), statistics.median(ts)
    say(f"  data: {note}; model built in {built:.0f} ms; {reps} reps (medians; the machine is shared)")
    say(f"  {'':26s} {'median ms':>10s} {'q1 ms':>10s} {'q3 ms':>10s} {'/ plain':>10s}")
    q1, q3 = quartiles(tp)
    say(f"  {'plain k=4 fwd+bwd':26s} {mp:10.3f} {q1:10.3f} {q3:10.3f} {1.0:10.3f}")
    q1, q3 = quartiles(ts)
    label = "sigeo (k=4, fwd-AD exact)" if name == "cell" else "sigeo (k=4, hooks+foreach)"
    say(f"  {label:26s} {ms:10.3f} {q1:10.3f} {q3:10.3f} {ms / mp:10.3f}")
    say(f"  score {score[0]:.4f} (zico {score[1]:.4f}, FR {score[2]:.4g}, loss {score[3]:.4f})")
    mcp, mcs = statistics.median(cp), statistics.median(cs)
    say(f"  process CPU time (median ms, all threads): plain {mcp:.3f}, sigeo {mcs:.3f}"
        " (a measure of work only with --threads 1)")
    emit(name, "torch_plain_ms", mp, "ms")
    emit(name, "torch_plain_step_ms", mp / K, "ms")
    emit(name, "torch_ms", ms, "ms")
    emit(name, "torch_overhead_ratio", ms / mp, "ratio")
    emit(name, "torch_plain_cpu_ms", mcp, "ms")
    emit(name, "torch_cpu_ms", mcs, "ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=0, help="timed repetitions (default 200/40/20/10 per case)")
    ap.add_argument("--quick", action="store_true", help="5 reps: a smoke run, not a measurement")
    ap.add_argument("--case", action="append", choices=list(CASES), help="run only this case (repeatable)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--budget", type=float, default=0.0, help="accepted for compare.sh; unused here")
    ap.add_argument("--sigeo-only", action="store_true", help="accepted for compare.sh; torch times SiGeo only anyway")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    say(f"torch_proxy: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average {load:.2f} at start"
        + (" (> 1: other processes are running, numbers will be noisy)" if load > 1.0 else ""))
    emit("machine", "loadavg_start", load, "load")
    for name in a.case or list(CASES):
        run_case(name, 5 if a.quick else a.reps)


if __name__ == "__main__":
    main()
