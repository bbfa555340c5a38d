#!/usr/bin/env python3
"""sigeo-score reaches every option of sigeo_proxy_options_t (issue 13): each
flag is checked to arrive (the value it must change changes, the quantity it
names is reported), --k 1 skips what needs two batches with a note, per-proxy
K x B, the selection modes, --per-layer, and one-line errors for bad values.
Synthetic CTR data: no data set needed."""
import json
import subprocess
import sys

score = sys.argv[1]
base = [score, "--mlp", "13,16,8,1", "--data", "synthetic", "--threads", "1"]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def run(*args, rc=0):
    r = subprocess.run(base + list(args), capture_output=True, text=True)
    check(r.returncode == rc, "%s: exit %d, want %d (%s)" % (" ".join(args), r.returncode, rc, r.stderr.strip()))
    return r


def js(*args):
    r = run("--json", *args)
    try:
        return json.loads(r.stdout)
    except ValueError:
        check(False, "%s: not JSON: %r" % (" ".join(args), r.stdout))
        return {}


d0 = js()
# --k 1: fisher-rao runs, zico and sigeo (lambda1 = 1) are skipped with a note
r = run("--proxy", "all", "--k", "1")
check("note: zico skipped" in r.stderr and "note: sigeo skipped" in r.stderr, "--k 1 notes: " + r.stderr)
check("fisher-rao" in r.stdout, "--k 1 runs fisher-rao")
d = js("--proxy", "all", "--k", "1")
check(d.get("skipped") == ["sigeo", "zico"], "--k 1 skipped list %r" % d.get("skipped"))
d = js("--proxy", "sigeo", "--k", "1", "--lambdas", "0,1,1")
check(d.get("k") == 1 and abs(d["score"] - (d["log_fr"] - d["loss"])) < 1e-9, "sigeo with lambda1 = 0 on one batch")
# options arrive
d = js("--loss", "last")
check(d["loss"] == d["loss_last"] and d["loss_mean"] == d0["loss"], "--loss last")
check(js("--std-ddof", "1")["zico"] != d0["zico"], "--std-ddof 1 changes zico")
check(js("--zico", "neuron")["zico"] != d0["zico"], "--zico neuron changes zico")
check(js("--zico", "reference-recsys")["zico"] != d0["zico"], "--zico reference-recsys changes zico")
check(js("--param-kinds", "weight")["zico"] != d0["zico"], "--param-kinds weight changes zico")
check(js("--param-kinds", "weight,bias")["zico"] == d0["zico"], "--param-kinds weight,bias = all on an MLP")
check(js("--scope", "head")["n_modules"] == 1, "--scope head: one module")
check(js("--fr", "reference-recsys")["fr"] != d0["fr"], "--fr reference-recsys changes fr")
g_exact = js("--proxy", "grasp")["score"]
g_fd = js("--proxy", "grasp", "--hvp", "fd:0.1")["score"]
check(g_exact != g_fd, "--hvp fd:0.1 is the finite difference (%r vs %r)" % (g_exact, g_fd))
d = js("--procedure", "sgd", "--fr", "reference-cv", "--param-kinds", "weight", "--loss", "last", "--preset", "vision")
check(d["score"] != js("--fr", "reference-cv", "--param-kinds", "weight", "--loss", "last", "--preset", "vision")["score"],
      "--procedure sgd steps between the batches")
check(js("--procedure", "sgd:0.5")["score"] != js("--procedure", "sgd")["score"], "--procedure sgd:LR")
z = js("--proxy", "zen")["score"]
check(js("--proxy", "zen", "--zen-repeat", "2")["score"] != z, "--zen-repeat 2")
check(js("--proxy", "zen", "--zen-mixup", "0.1")["score"] != z, "--zen-mixup 0.1")
sw = js("--proxy", "swap")["score"]
check(0 < js("--proxy", "swap", "--swap-reg", "0,1")["score"] < sw, "--swap-reg shrinks swap")
# per-proxy K x B
d = js("--proxy", "all", "--batches", "baselines=1x32,zico=2x64,sigeo=3x16")
check(d.get("k") == 3 and d.get("n_samples") == 48, "--batches sigeo=3x16: k %r n %r" % (d.get("k"), d.get("n_samples")))
check(js("--proxy", "snip", "--batches", "snip=1x32")["n_samples"] == 32, "--batches snip=1x32")
# selection modes: other rows than file order, deterministic in their seed
a = js("--select", "shuffle", "--data-seed", "1")["score"]
check(a == js("--select", "shuffle", "--data-seed", "1")["score"], "--select shuffle is deterministic")
check(a != js("--select", "shuffle", "--data-seed", "2")["score"], "--select shuffle depends on its seed")
for mode in ("shuffle", "balanced", "random-inputs", "random-labels"):
    check(js("--select", mode, "--data-seed", "1")["score"] != d0["score"], "--select %s differs from file order" % mode)
# per-layer values sum to the score of a sum-over-layers proxy
d = js("--proxy", "all", "--per-layer")
pl = d.get("per_layer", {})
check(set(pl) >= {"sigeo", "zico", "grad_norm", "snip", "grasp", "synflow"}, "per_layer keys %r" % sorted(pl))
for name in ("grad_norm", "snip", "grasp", "l2_norm", "plain", "fisher"):
    s = sum(l["value"] for l in pl.get(name, []))
    check(abs(s - d[name]) <= 1e-9 * abs(d[name]) + 1e-12, "per_layer %s sums to %r, score %r" % (name, s, d.get(name)))
check(len(pl.get("zico", [])) == 3 and all("zico_term" in l for l in pl["zico"]), "zico per layer")
# bad values: one line, exit 2
for args, needle in ((["--hvp", "fd:0"], "--hvp"), (["--zico", "x"], "--zico"), (["--loss", "x"], "--loss"),
                     (["--std-ddof", "2"], "--std-ddof"), (["--param-kinds", "bias"], "--param-kinds"),
                     (["--scope", "x"], "--scope"), (["--select", "x"], "--select"),
                     (["--batches", "zico=2"], "--batches"), (["--batches", "nope=1x2"], "nope"),
                     (["--per-layer"], "--json"), (["--procedure", "sgd:0"], "--procedure"), (["--swap-reg", "1"], "--swap-reg")):
    r = run(*args, rc=2)
    check(needle in r.stderr and r.stderr.count("\n") == 1, "%s: message %r" % (args, r.stderr))

if failures:
    sys.exit(1)
print("sigeo-score options: all checks passed")
