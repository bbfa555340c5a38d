#!/usr/bin/env python3
"""End-to-end check of sigeo-nas on its tiny preset: warm-up, search,
retrain and report on synthetic data; the results file has every key the
README promises and the numbers are sane (not asserted to match the paper).
Also checks sigeo-score's JSON and the programs' bad-input handling."""
import json
import os
import subprocess
import sys
import tempfile

# Deadlines bound a broken run, never a wait (every wait ends on an event);
# they scale like meson's --timeout-multiplier (tests/meson.build: tests/run.sh
# exports SIGEO_TEST_TIME_SCALE per step).
T = max(1.0, float(os.environ.get("SIGEO_TEST_TIME_SCALE") or 1))

nas, score = sys.argv[1], sys.argv[2]
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)


with tempfile.TemporaryDirectory() as tmp:
    out, plot = os.path.join(tmp, "r.json"), os.path.join(tmp, "s.svg")
    cmd = [nas, "--preset", "tiny", "--rows", "4000", "--warmup", "0.1", "--population", "6", "--sample", "3",
           "--children", "2", "--cycles", "3", "--top-k", "2", "--batch", "64", "--threads", "1", "--quiet",
           "--out", out, "--plot", plot]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=500 * T)
    check(r.returncode == 0, "sigeo-nas failed: %s" % r.stderr)
    check("best architecture" in r.stdout and "test AUC" in r.stdout, "report missing: %r" % r.stdout)
    if r.returncode == 0:
        d = json.load(open(out))
        for k in ("arch", "test_logloss", "test_auc", "params", "flops"):
            check(k in d["best"], "best.%s missing" % k)
        for p in ("warmup", "search", "retrain"):
            check(d["phases"][p]["seconds"] >= 0, "phases.%s.seconds" % p)
        ev = d["evaluations"]
        check(len(ev) == 6 + 3 * 2, "evaluations: %d, want 12" % len(ev))
        check(all(e["status"] == "ok" and "zico" in e and "log_fr" in e for e in ev), "evaluation records")
        check(0.3 < d["best"]["test_auc"] <= 1.0, "test AUC %r" % d["best"]["test_auc"])
        check(0.0 < d["best"]["test_logloss"] < 2.0, "test log loss %r" % d["best"]["test_logloss"])
        check(len(d["cycles"]) == 4, "cycles: %d" % len(d["cycles"]))
        check(open(plot).read().startswith("<svg"), "plot is not SVG")
    # --compare on the same tiny budget
    cmpout = os.path.join(tmp, "c.json")
    r = subprocess.run(cmd[:-4] + ["--compare", "--out", cmpout], capture_output=True, text=True, timeout=500 * T)
    check(r.returncode == 0, "sigeo-nas --compare failed: %s" % r.stderr)
    if r.returncode == 0:
        rows = json.load(open(cmpout))["compare"]
        check([x["method"] for x in rows] == ["random", "zico-0", "zico-1", "sigeo-0", "sigeo-1", "one-shot"],
              "compare methods")
        check(all("test_logloss" in x and "search_seconds" in x and "evaluations" in x for x in rows),
              "compare keys")
    # bad input: one clear line, non-zero exit
    for bad in (["--space", "resnet"], ["--warmup", "2"], ["--proxy", "nope", "--preset", "tiny", "--rows", "2000"],
                ["--data", "criteo:/nonexistent.tsv"], ["--bogus"]):
        r = subprocess.run([nas, "--quiet"] + bad, capture_output=True, text=True, timeout=120 * T)
        check(r.returncode != 0 and r.stderr.strip() != "" and "\n" not in r.stderr.strip(),
              "bad input %s: rc %d, stderr %r" % (bad, r.returncode, r.stderr))
    r = subprocess.run([nas, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--warmup" in r.stdout, "--help")
    # sigeo-score on synthetic data (no Fashion-MNIST needed)
    r = subprocess.run([score, "--mlp", "13,16,1", "--data", "synthetic", "--json", "--threads", "1"],
                       capture_output=True, text=True, timeout=120 * T)
    check(r.returncode == 0, "sigeo-score failed: %s" % r.stderr)
    if r.returncode == 0:
        d = json.loads(r.stdout)
        for k in ("score", "zico", "fr", "log_fr", "loss", "n_samples", "k", "n_modules", "seconds"):
            check(k in d, "sigeo-score key %s" % k)
        check(d["n_samples"] == 512 and d["k"] == 4, "sigeo-score sizes")
    r = subprocess.run([score, "--mlp", "13,16,2", "--data", "synthetic"], capture_output=True, text=True)
    check(r.returncode != 0 and "last --mlp width must be 1" in r.stderr, "sigeo-score bad width")

for f in fails:
    print("FAIL:", f)
print("%d passed, %d failed" % (1 if not fails else 0, 1 if fails else 0))
sys.exit(1 if fails else 0)
