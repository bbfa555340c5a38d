#!/usr/bin/env python3
"""The conventions every program follows (issue 15), checked by running them.

usage: check_conventions.py NAME=PATH ...

For every program given: --version (program and libsigeo versions), --help
in the common layout (Usage, options, Examples, Exit status), an unknown
option exits 2 with one line (one line only: no progress line came first,
so nothing had started). For the programs this test knows
(sigeo-fig3, sigeo-score, stats_from_gradients, sigeo-nas, sigeo-rank): usage errors that exit 2
before any work is done and leave no file behind, the JSON schema and
provenance keys, --out replacing a previous file completely, and progress
lines (not a terminal: whole lines, no carriage returns) in a log.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

# Deadlines bound a broken run, never a wait (every wait ends on an event);
# they scale like meson's --timeout-multiplier (tests/meson.build: tests/run.sh
# exports SIGEO_TEST_TIME_SCALE per step).
T = max(1.0, float(os.environ.get("SIGEO_TEST_TIME_SCALE") or 1))

fails = []
progs = dict(a.split("=", 1) for a in sys.argv[1:])
VERSION_RE = re.compile(r"^\S+ (\d+\.\d+\.\d+)\nlibsigeo (\d+\.\d+\.\d+)\n")
MISSING = "/nonexistent-sigeo-dir"
# Fashion-MNIST may be absent on a developer's machine: the runs that need
# it are then skipped (the usage checks do not read data).
FMNIST = any(os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")) or
             os.path.exists(os.path.join(d, "train-images-idx3-ubyte"))
             for d in [os.environ.get("SIGEO_DATA_DIR", ""), "/usr/share/datasets/fashion-mnist"] if d)


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def run(argv, timeout=300 * T, env=None, cwd=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd)


def check_provenance(doc, name, what):
    check(isinstance(doc.get("schema"), dict) and isinstance(doc["schema"].get("name"), str)
          and isinstance(doc["schema"].get("version"), int) and doc["schema"]["version"] >= 1,
          "%s: schema {name, version} missing: %r" % (what, doc.get("schema")))
    check(doc.get("program") == name, "%s: program %r" % (what, doc.get("program")))
    for k in ("program_version", "libsigeo_version"):
        check(isinstance(doc.get(k), str) and re.match(r"^\d+\.\d+\.\d+$", doc[k] or ""), "%s: %s %r" % (what, k, doc.get(k)))
    check(doc.get("interrupted") is False, "%s: interrupted %r" % (what, doc.get("interrupted")))
    check(isinstance(doc.get("command"), list) and doc["command"][1:] != [], "%s: command %r" % (what, doc.get("command")))


# ------------------------------------------------------------ every program
for name, exe in progs.items():
    r = run([exe, "--version"])
    m = VERSION_RE.match(r.stdout)
    check(r.returncode == 0 and m, "%s --version: rc %d, %r" % (name, r.returncode, r.stdout))
    if m:
        check(r.stdout.startswith(name + " "), "%s --version names %r" % (name, r.stdout.split()[0]))
    r = run([exe, "--help"])
    check(r.returncode == 0, "%s --help rc %d" % (name, r.returncode))
    h = r.stdout
    check(h.startswith("Usage: " + name), "%s --help does not start with 'Usage: %s'" % (name, name))
    pos = [h.find(s) for s in ("Usage:", "--version", "Examples:", "Exit status:")]
    check(all(p >= 0 for p in pos) and pos == sorted(pos), "%s --help layout (Usage, options, Examples, "
          "Exit status): positions %r" % (name, pos))
    for code in ("0 ", "1 ", "2 "):
        check(re.search(r"^  %s" % code, h, re.M), "%s --help: exit status %s undocumented" % (name, code))
    r = run([exe, "--no-such-option"])
    check(r.returncode == 2 and r.stderr.startswith(name + ": ") and r.stderr.count("\n") == 1,
          "%s --no-such-option: rc %d, stderr %r" % (name, r.returncode, r.stderr))

# ------------------------------------------- usage errors exit 2, no work done
bad = {
    "sigeo-fig3": [
        ["--json", MISSING + "/r.json"], ["--csv", MISSING + "/r.csv"], ["--svg", MISSING + "/a/plots"],
        ["--json", "/"], ["--data-dir", "/nonexistent"], ["--train-rows", "100"], ["--hidden", "4"],
        ["--levels", "0,0"], ["--lr", "x"], ["--seeds", "0"], ["--quick", "--bogus"],
    ],
    "sigeo-score": [
        ["--proxy", "foo"], ["--proxy", "sigeo+meco"], ["--out", MISSING + "/s.json"], ["--data-dir", "/nonexistent"],
        ["--data", "fashion-mnist:/nonexistent"], ["--k", "1"], ["--data", "bogus"],
        ["--data", "criteo:/nonexistent.tsv"], ["--weights", "/nonexistent.safetensors"], ["--mlp", "5"],
    ],
    "stats_from_gradients": [
        ["--out", MISSING + "/s.json"], ["--k", "1"], ["--batch", "0"], ["--k", "x"], ["--seed", "-1"],
    ],
    # every one would otherwise generate 200 000 rows first (or fail only after the search)
    "sigeo-nas": [
        ["--space", "foo"], ["--proxy", "foo"], ["--k", "1"], ["--k", "1", "--proxy", "zico"], ["--k", "1", "--compare"],
        ["--rows", "1000"], ["--rows", "300", "--proxy", "random"], ["--out", MISSING + "/r.json"],
        ["--plot", MISSING + "/s.svg"], ["--save", MISSING + "/m.safetensors"], ["--out", "/"],
        ["--data", "fashion-mnist:/nonexistent"], ["--data", "criteo:/nonexistent.tsv"], ["--data", "bogus"],
        ["--space", "mlp"], ["--data", "fashion-mnist", "--space", "nasrec-small"], ["--finetune", "5"],
        ["--compare", "--save", "m.safetensors"], ["--sample", "40"], ["--warmup", "2"], ["--preset", "huge"],
        ["--batch", "1", "--proxy", "jacov"], ["--resume", MISSING + "/a/ckpt"], ["--resume", "ckpt", "--compare"],
        ["--resume", "ckpt", "--rows", "1000"], ["--cache", MISSING + "/c.sgc"],
        ["--proxy", "grad_norm+foo"], ["--aggregate", "z-score"], ["--aggregate", "median", "--proxy", "snip+params"],
    ],
    # each would otherwise load the data and build the space first (or fail after the study)
    "sigeo-rank": [
        ["--space", "foo"], ["--json", MISSING + "/r.json"], ["--csv", MISSING + "/r.csv"],
        ["--plot", MISSING + "/r.svg"], ["--json", "/"], ["--cache", MISSING + "/a/cache"],
        ["--data-dir", "/nonexistent"], ["--archs", MISSING + "/archs.txt"], ["--ground-truth", MISSING + "/gt.csv"],
        ["--protocol", "both-ish"], ["--proxies", "foo"], ["--sample", "1"], ["--levels", "101"], ["--jobs", "0"],
        ["--quick", "--bogus"],
    ],
}
with tempfile.TemporaryDirectory(prefix="conventions-") as tmp:
    for name, cases in bad.items():
        if name not in progs:
            continue
        for args in cases:
            r = run([progs[name]] + args, timeout=120 * T, cwd=tmp)
            line = r.stderr.strip()
            check(r.returncode == 2, "%s %s: rc %d (want 2), stderr %r" % (name, args, r.returncode, r.stderr))
            check(line.startswith(name + ": ") and "\n" not in line,
                  "%s %s: want one line 'NAME: ...', got %r" % (name, args, r.stderr))
            check(r.stdout == "", "%s %s: stdout %r" % (name, args, r.stdout))
        check(os.listdir(tmp) == [], "%s: usage errors left files: %r" % (name, os.listdir(tmp)))

    # ---------------------------------------------------- JSON, --out, atomic
    if "stats_from_gradients" in progs:
        exe = progs["stats_from_gradients"]
        out = os.path.join(tmp, "s.json")
        with open(out, "w") as f:
            f.write("x" * 100000)  # a previous, longer file: replaced, not overwritten in place
        r = run([exe, "--json", "--k", "3", "--out", out])
        check(r.returncode == 0, "stats_from_gradients --json: rc %d %s" % (r.returncode, r.stderr))
        if r.returncode == 0:
            doc = json.loads(r.stdout)
            check_provenance(doc, "stats_from_gradients", "stats_from_gradients --json")
            cands = doc.get("candidates", [])
            check([c.get("hidden") for c in cands] == [8, 64], "stats_from_gradients candidates")
            for c in cands:
                for k in ("score", "zico", "fr", "log_fr", "loss", "lambdas", "zico_variant", "fr_estimator",
                          "k", "n_samples", "n_modules", "flags"):
                    check(k in c, "stats_from_gradients candidate lacks %s" % k)
                check(c.get("k") == 3 and c.get("n_samples") == 3 * 64, "stats_from_gradients k/n_samples %r" % c)
            with open(out) as f:
                check(json.load(f) == doc, "stats_from_gradients --out differs from --json")
            check(sorted(os.listdir(tmp)) == ["s.json"], "stats_from_gradients left %r" % os.listdir(tmp))

    if "sigeo-score" in progs:
        exe = progs["sigeo-score"]
        out = os.path.join(tmp, "score.json")
        # --data synthetic with the default --mlp (13,48,1 on CTR data)
        r = run([exe, "--data", "synthetic", "--proxy", "all", "--json", "--threads", "1", "--out", out])
        check(r.returncode == 0, "sigeo-score --data synthetic: rc %d %s" % (r.returncode, r.stderr))
        if r.returncode == 0:
            doc = json.loads(r.stdout)
            check_provenance(doc, "sigeo-score", "sigeo-score --json")
            check(doc.get("threads") == 1 and doc.get("seeds") == [0], "sigeo-score threads/seeds %r" % doc)
            res = doc.get("results", [])
            check(len(res) >= 10 and res[0].get("proxy") == "sigeo", "sigeo-score results: %d" % len(res))
            for k in ("lambdas", "zico_variant", "fr_estimator", "loss_term", "std_ddof", "seed", "threads",
                      "flags", "k", "n_samples", "batch_size"):
                check(k in res[0], "sigeo-score result lacks %s" % k)
            check(res[0].get("lambdas") == [1, 1, 0] and res[0].get("fr_estimator") == "exact",
                  "sigeo-score provenance %r" % res[0])
            check(doc.get("score") == res[0].get("score"), "sigeo-score top-level score is SiGeo's")
            with open(out) as f:
                check(json.load(f)["results"] == res, "sigeo-score --out differs from --json")

    # ------------------------------- fig3: progress lines in a log, JSON keys
    if "sigeo-fig3" in progs and FMNIST:
        exe = progs["sigeo-fig3"]
        out = os.path.join(tmp, "fig3.json")
        with open(out, "w") as f:
            f.write("{ old and long " * 10000)
        # interval 0: every update is a line (the rate limit has its own test in programs-common)
        r = run([exe, "--quick", "--hidden", "2,6,12", "--train-rows", "768", "--json", out],
                env={"SIGEO_PROGRESS_INTERVAL": "0"}, timeout=500 * T)
        check(r.returncode == 0, "sigeo-fig3 --quick: rc %d %s" % (r.returncode, r.stderr))
        err = r.stderr
        check("\r" not in err, "sigeo-fig3: carriage returns in a non-terminal log")
        lines = err.splitlines()
        step = re.compile(r"^sigeo-fig3: training (\d+)/(\d+) \((\d+\.\d) %\), elapsed [0-9.]+ (s|min)(.*), ETA ")
        updates = [m for m in map(step.match, lines) if m]
        # 3 networks x 6 steps, plus the measurement and end-of-network updates
        check(len(updates) >= 18, "sigeo-fig3: %d progress update lines in %r" % (len(updates), err))
        check([int(m.group(1)) for m in updates] == sorted(int(m.group(1)) for m in updates),
              "sigeo-fig3: steps go backwards")
        check(all(int(m.group(2)) == 3 * 6 for m in updates), "sigeo-fig3: total steps (3 networks x 6) %r" % lines)
        check(all(abs(100.0 * int(m.group(1)) / int(m.group(2)) - float(m.group(3))) < 0.06 for m in updates),
              "sigeo-fig3: percentages")
        check(any(l.startswith("sigeo-fig3: training done in ") for l in lines), "sigeo-fig3: no end-of-phase line")
        check(all(l.startswith("sigeo-fig3: ") for l in lines), "sigeo-fig3: stray stderr lines %r" % lines)
        if r.returncode == 0:
            with open(out) as f:
                doc = json.load(f)  # the old content is gone entirely
            check_provenance(doc, "sigeo-fig3", "sigeo-fig3 --json")
            check(doc.get("seeds") == [0] and doc.get("threads") == 0, "sigeo-fig3 seeds/threads")
            check(doc.get("completed") == {"networks": 3, "of_networks": 3, "seeds": 1}, "sigeo-fig3 completed")
            check(not [x for x in os.listdir(tmp) if x.startswith(".")], "sigeo-fig3 left temporaries %r"
                  % os.listdir(tmp))
        q = run([exe, "--quick", "--hidden", "2,6", "--train-rows", "512", "--quiet"], timeout=500 * T)
        check(q.returncode == 0 and q.stderr == "" and q.stdout == "", "sigeo-fig3 --quiet: rc %d, stderr %r"
              % (q.returncode, q.stderr))
    elif "sigeo-fig3" in progs:
        print("note: Fashion-MNIST absent: the sigeo-fig3 runs are skipped")

# ---------------- sigeo-nas: progress lines in a log, JSON keys, --out replaced
if "sigeo-nas" in progs:
    exe = progs["sigeo-nas"]
    P, C, G, TOP = 6, 2, 3, 2
    tiny = ["--preset", "tiny", "--rows", "4000", "--warmup", "0.1", "--population", str(P), "--sample", "3",
            "--children", str(C), "--cycles", str(G), "--top-k", str(TOP), "--batch", "64", "--threads", "1"]
    with tempfile.TemporaryDirectory(prefix="conventions-nas-") as tmp:
        out = os.path.join(tmp, "r.json")
        with open(out, "w") as f:
            f.write("{ old and long " * 10000)
        r = run([exe] + tiny + ["--out", out], env={"SIGEO_PROGRESS_INTERVAL": "0"}, timeout=500 * T)
        check(r.returncode == 0, "sigeo-nas tiny: rc %d %s" % (r.returncode, r.stderr))
        err, lines = r.stderr, r.stderr.splitlines()
        check("\r" not in err, "sigeo-nas: carriage returns in a non-terminal log")
        check(all(l.startswith("sigeo-nas: ") for l in lines), "sigeo-nas: stray stderr lines %r" % lines)
        for phase in ("data", "warm-up", "search", "retrain"):
            check(any(l.startswith("sigeo-nas: %s done in " % phase) for l in lines),
                  "sigeo-nas: no end-of-phase line for %s in %r" % (phase, lines))
        step = re.compile(r"^sigeo-nas: search (\d+)/(\d+) \((\d+\.\d) %\), elapsed [0-9.]+ (s|min).*, ETA ")
        updates = [m for m in map(step.match, lines) if m]
        # one report before each evaluation (interval 0: every one is a line)
        check(len(updates) >= P + G * C - 1, "sigeo-nas: %d search progress lines" % len(updates))
        check(all(int(m.group(2)) == P + G * C for m in updates), "sigeo-nas: search total (P + G x C) %r" % lines)
        check([int(m.group(1)) for m in updates] == sorted(int(m.group(1)) for m in updates),
              "sigeo-nas: search steps go backwards")
        check("best architecture" in r.stdout, "sigeo-nas: no report on stdout")
        if r.returncode == 0:
            with open(out) as f:
                doc = json.load(f)  # the old content is gone entirely
            check_provenance(doc, "sigeo-nas", "sigeo-nas --out")
            check(doc.get("schema") == {"name": "sigeo-nas.result", "version": 1}, "sigeo-nas schema %r"
                  % doc.get("schema"))
            check(doc.get("seeds") == [1] and doc.get("threads") == 1, "sigeo-nas seeds/threads %r"
                  % [doc.get("seeds"), doc.get("threads")])
            check(doc.get("complete") is True and doc.get("completed") == {"methods": 1, "of_methods": 1},
                  "sigeo-nas complete/completed %r" % [doc.get("complete"), doc.get("completed")])
            pl = doc.get("pipeline", {})
            check(pl.get("scorer") == "proxy" and pl.get("k") == 4 and pl.get("lambda_preset") == "recsys"
                  and pl.get("threads") == 1 and pl.get("seed") == 1, "sigeo-nas pipeline provenance %r" % pl)
            px = pl.get("proxy", {})
            # warmed up: the RecSys lambdas; the paper's exact Fisher-Rao estimator
            check(px.get("proxy") == "sigeo" and px.get("lambdas") == [1, 1, 1] and px.get("fr_estimator") == "exact"
                  and px.get("k") == 4 and px.get("n_samples") == 4 * 64 and "flags" in px,
                  "sigeo-nas proxy provenance %r" % px)
            ev = doc.get("evaluations", [])
            check(len(ev) == P + G * C, "sigeo-nas evaluations: %d" % len(ev))
            top = doc.get("top_k", [])
            check(len(top) == TOP and all(t.get("retrained") is True for t in top), "sigeo-nas top_k %r" % top)
            for t in top:
                for k in ("arch", "score", "status", "val_logloss", "test_logloss", "test_auc", "params", "flops",
                          "seconds", "selected"):
                    check(k in t, "sigeo-nas top_k entry lacks %s" % k)
            # the top-k are the best-scored distinct evaluations, best first
            best_scores = sorted({e["arch"]: e["score"] for e in ev if e["status"] == "ok"}.values(), reverse=True)
            check([t.get("score") for t in top] == best_scores[:TOP], "sigeo-nas top_k scores %r vs %r"
                  % ([t.get("score") for t in top], best_scores[:TOP]))
            sel = [t for t in top if t.get("selected")]
            check(len(sel) == 1 and sel[0]["arch"] == doc.get("best", {}).get("arch")
                  and sel[0]["val_logloss"] == min(t["val_logloss"] for t in top),
                  "sigeo-nas: the selected candidate is the best by validation and is 'best'")
            check([c.get("cycle") for c in doc.get("cycles", [])] == list(range(G + 1)), "sigeo-nas cycles %r"
                  % doc.get("cycles"))
            check(sorted(os.listdir(tmp)) == ["r.json"], "sigeo-nas left %r" % os.listdir(tmp))
        # k = 1 is what Fisher-Rao (and the one-batch baselines) accept: only ZiCo's std needs two
        q = run([exe] + tiny[:6] + ["--population", "4", "--sample", "2", "--cycles", "0", "--top-k", "1",
                                      "--batch", "64", "--threads", "1", "--k", "1", "--proxy", "fisher-rao",
                                      "--quiet"], timeout=500 * T)
        check(q.returncode == 0 and q.stderr == "", "sigeo-nas --k 1 --proxy fisher-rao --quiet: rc %d, stderr %r"
              % (q.returncode, q.stderr))
        # an ensemble search from the command line
        q = run([exe] + tiny[:6] + ["--population", "4", "--sample", "2", "--cycles", "1", "--top-k", "1",
                                      "--batch", "64", "--threads", "1", "--k", "1", "--proxy",
                                      "grad_norm+l2_norm+params", "--aggregate", "mean-rank", "--quiet"], timeout=500 * T)
        check(q.returncode == 0 and q.stderr == "", "sigeo-nas --proxy grad_norm+l2_norm+params: rc %d, stderr %r"
              % (q.returncode, q.stderr))

# --------- sigeo-rank: a malformed --archs line, an incomplete --ground-truth file:
# exit 2 before any data is loaded (the --data-dir given does not exist: a
# program that loaded first would complain about it instead)
if "sigeo-rank" in progs:
    exe = progs["sigeo-rank"]
    with tempfile.TemporaryDirectory(prefix="conventions-rank-early-") as tmp:
        archs, bad, gt = (os.path.join(tmp, f) for f in ("archs.txt", "bad.txt", "gt.csv"))
        with open(archs, "w") as f:
            f.write("10\n20\n30\n")
        with open(bad, "w") as f:
            f.write("10\n|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|\n")
        with open(gt, "w") as f:
            f.write("id,test_acc\n10,50\n20,60\n")
        for args, says in ((["--archs", bad], bad + " line 2"), (["--archs", archs, "--ground-truth", gt],
                                                                     "has no test_acc for arch")):
            t0 = time.time()
            r = run([exe, "--data-dir", "/nonexistent-data", "--cache", os.path.join(tmp, "c")] + args, timeout=120 * T,
                    cwd=tmp)
            check(r.returncode == 2 and says in r.stderr and "/nonexistent-data" not in r.stderr
                  and r.stderr.count("\n") == 1,
                  "sigeo-rank %s: want exit 2 and one line naming '%s' before the data, got rc %d %r"
                  % (args, says, r.returncode, r.stderr))
            check(time.time() - t0 < 30 * T, "sigeo-rank %s: %.0f s before the usage error" % (args, time.time() - t0))
            check(not os.path.exists(os.path.join(tmp, "c")), "sigeo-rank %s: the cache was created" % args)

# --------- sigeo-rank: progress lines in a log, JSON keys, --json replaced, --quiet
if "sigeo-rank" in progs:
    exe = progs["sigeo-rank"]
    # synthetic CTR data: no data set needed
    tiny = ["--space", "nasrec-small", "--quick", "--sample", "3", "--levels", "0", "--protocol", "per-arch",
            "--proxies", "params,zico", "--resamples", "20", "--threads", "1"]
    with tempfile.TemporaryDirectory(prefix="conventions-rank-") as tmp:
        out = os.path.join(tmp, "r.json")
        with open(out, "w") as f:
            f.write("{ old and long " * 10000)
        r = run([exe] + tiny + ["--cache", os.path.join(tmp, "c"), "--json", out],
                env={"SIGEO_PROGRESS_INTERVAL": "0"}, timeout=300 * T)
        check(r.returncode == 0, "sigeo-rank tiny: rc %d %s" % (r.returncode, r.stderr))
        lines = r.stderr.splitlines()
        check("\r" not in r.stderr and all(l.startswith("sigeo-rank: ") for l in lines),
              "sigeo-rank: not whole 'sigeo-rank: ...' lines in a log %r" % lines)
        check(any(re.match(r"^sigeo-rank: ground truth \+ per-arch proxies done in ", l) for l in lines),
              "sigeo-rank: no end-of-phase line in %r" % lines)
        if r.returncode == 0:
            with open(out) as f:
                doc = json.load(f)  # the old content is gone entirely
            check_provenance(doc, "sigeo-rank", "sigeo-rank --json")
            check(doc.get("schema") == {"name": "sigeo-rank.result", "version": 1}, "sigeo-rank schema %r"
                  % doc.get("schema"))
            check(doc.get("seeds") == [1] and doc.get("threads") == 1, "sigeo-rank seeds/threads %r"
                  % [doc.get("seeds"), doc.get("threads")])
            check(doc.get("completed") == {"archs": 3, "of_archs": 3}, "sigeo-rank completed %r" % doc.get("completed"))
            check(sorted(os.listdir(tmp)) == ["c", "r.json"], "sigeo-rank left %r" % os.listdir(tmp))
        q = run([exe] + tiny + ["--cache", os.path.join(tmp, "c"), "--quiet"], timeout=300 * T)
        check(q.returncode == 0 and q.stderr == "", "sigeo-rank --quiet: rc %d, stderr %r" % (q.returncode, q.stderr))

for f in fails:
    print("FAIL:", f)
print("%d checks failed" % len(fails))
sys.exit(1 if fails else 0)
