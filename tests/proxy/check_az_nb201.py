#!/usr/bin/python3
"""AZ-NAS on nb201-fmnist against PyTorch and the official definition.

az_nb201_dump (the C half) builds an arch's standalone network, scores it
with libsigeo and writes its weights, the batch and the Rademacher signs
libsigeo drew. Here the network is rebuilt in PyTorch from
docs/cellspace.md §1 alone (functional ops on the saved weights, train-mode
batch norm), its features taken the way the official NB201 model's
extract_cell_features takes them (the stem's output, then every cell's and
every reduction block's), and the three measures computed the way the
official compute_az_nas_score does (covariance entropy per block; min step;
per pair g_in = autograd.grad(f_out, f_in, g_out), pixel-unshuffle,
M = g_in^T g_out / rows, largest singular value), in double after the
float32 forward, with libsigeo's signs as g_out.

usage: check_az_nb201.py AZ_NB201_DUMP     (exit 77: no torch, skipped)"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    print("skip: needs numpy and torch (/usr/bin/python3 with python3-torch)")
    sys.exit(77)

torch.set_num_threads(1)
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
SRC = [0, 0, 1, 0, 1, 2]  # edge e goes from node SRC[e] to node DST[e]
DST = [1, 2, 2, 3, 3, 3]


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[base + a:base + b], dtype=np.float32).copy()).reshape(t["shape"])
    return out


def parse_arch(text):
    ops = []
    for group in text.strip("|").split("|+|"):
        for edge in group.split("|"):
            ops.append(OPS.index(edge.split("~")[0]))
    return ops


def network_features(w, x, ops):
    """The six features of docs/cellspace.md §1's network, in depth order."""
    def bn(h, name):  # BatchNorm2d in train mode: batch mean, biased variance
        return F.batch_norm(h, None, None, w[name + ".weight"], w[name + ".bias"], training=True, eps=1e-5)

    def rcb(h, name, stride, pad):  # ReLU-Conv-BN, bias-free conv
        return bn(F.conv2d(F.relu(h), w[name + ".conv.weight"], stride=stride, padding=pad), name + ".bn")

    def edge(h, op, prefix):
        if op == 0:
            return h * 0.0
        if op == 1:
            return h
        if op == 2:
            return rcb(h, prefix + ".conv1x1", 1, 0)
        if op == 3:
            return rcb(h, prefix + ".conv3x3", 1, 1)
        return F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)

    def cell(h, k):
        nodes = [h, None, None, None]
        for t in (1, 2, 3):
            nodes[t] = sum(edge(nodes[SRC[e]], ops[e], "cell%d.e%d" % (k, e)) for e in range(6) if DST[e] == t)
        return nodes[3]

    def reduction(h, k):
        a = rcb(h, "res%d.a" % k, 2, 1)
        b = rcb(a, "res%d.b" % k, 1, 1)
        s = F.conv2d(F.avg_pool2d(h, 2, stride=2), w["res%d.short.conv.weight" % k])
        return s + b

    h = bn(F.conv2d(x, w["stem.conv.weight"], padding=1), "stem.bn")
    feats = [h]
    for k in (1, 2, 3):
        h = cell(h, k)
        feats.append(h)
        if k < 3:
            h = reduction(h, k)
            feats.append(h)
    return feats


def entropy(f):
    b, c, hh, ww = f.shape
    rows = f.detach().double().permute(0, 2, 3, 1).reshape(b * hh * ww, c)
    rows = rows - rows.mean(dim=0, keepdim=True)
    s = torch.linalg.eigvalsh(rows.t() @ rows / rows.shape[0])
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def trainability(feats, signs):
    terms, at = [], 0
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        n = f_out.numel()
        g_out = signs[at:at + n].reshape(f_out.shape)
        at += n
        (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True)
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            terms.append(-math.inf)
            continue
        if g_in.shape[2] != g_out.shape[2]:
            g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
        bo, co, ho, wo = g_out.shape
        go = g_out.double().permute(0, 2, 3, 1).reshape(bo * ho * wo, co)
        gi = g_in.double().permute(0, 2, 3, 1).reshape(bo * ho * wo, g_in.shape[1])
        sigma = float(torch.linalg.svdvals(gi.t() @ go / (bo * ho * wo)).max())
        terms.append(-sigma - 1.0 / (sigma + 1e-6) + 2.0)
    assert at == signs.numel(), "signs: %d drawn, %d used" % (signs.numel(), at)
    return float(np.mean(terms))


def close(got, want, tol):
    if math.isinf(want) or math.isinf(got):
        return got == want
    return abs(got - want) <= tol * (1.0 + abs(want))


ARCHS = [
    # the study's arch with a none first edge (-inf before blocks were marked)
    "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    # an identity cell (only skip 0->3): a pure pass, trainability -inf as officially
    "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
]

dump = sys.argv[1]
failures = []
for seed, arch in enumerate(ARCHS, start=3):
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([dump, d, arch, str(seed)], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append("%s: dump failed: %s" % (arch, r.stderr.strip()))
            continue
        got = json.loads(r.stdout)
        w = read_safetensors(os.path.join(d, "w.safetensors"))
        for v in w.values():
            v.requires_grad_(True)  # as the official model's parameters: features carry a graph
        B = got["batch"]
        x = torch.from_numpy(np.fromfile(os.path.join(d, "x.f32"), dtype=np.float32).reshape(B, 1, 28, 28))
        signs = torch.from_numpy(np.fromfile(os.path.join(d, "signs.f32"), dtype=np.float32))
    feats = network_features(w, x, parse_arch(arch))
    e = [entropy(f) for f in feats]
    want = {
        "az_expressivity": sum(e),
        "az_progressivity": min(b - a for a, b in zip(e, e[1:])),
        "az_trainability": trainability(feats, signs),
    }
    if got["blocks"] != len(feats):
        failures.append("%s: %d blocks, want %d" % (arch, got["blocks"], len(feats)))
    for k, wv in want.items():
        gv = got[k]
        gv = float(gv) if not isinstance(gv, str) else {"-inf": -math.inf, "inf": math.inf}.get(gv, math.nan)
        ok = close(gv, wv, 1e-5)
        print("%s %-16s libsigeo %.9g  torch %.9g %s" % ("ok  " if ok else "FAIL", k, gv, wv, arch))
        if not ok:
            failures.append("%s %s: %r vs %r" % (arch, k, gv, wv))
    if "skip_connect~0|none~1|none~2" in arch and "|none~0|+|none~0|none~1|" in arch:
        if not math.isinf(want["az_trainability"]):
            failures.append("the identity cell should give -inf trainability")
    elif not all(math.isfinite(v) for v in want.values()):
        failures.append("%s: non-finite reference %r" % (arch, want))
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok: %d archs, libsigeo's AZ-NAS measures equal the PyTorch reference" % len(ARCHS))
