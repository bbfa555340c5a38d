#!/usr/bin/env python3
"""Runs `sigeo-rank --quick` on four nb201-fmnist archs and checks:
- the study's Spearman / Kendall-b (all archs and non-degenerate ones) equal
  a computation HERE from its own per-arch values in the JSON (average ranks,
  tau-b by pair counting; a non-finite proxy value ranks lowest);
- every interval brackets its correlation; CSV and SVG outputs parse;
- resuming from a cache gives the same result as one run, and a cache
  filled with fewer proxies is completed without training again
  (incremental): the first two archs run alone into a fresh cache with one
  proxy (nwot), then all four with every proxy into that cache; the two
  cached archs keep their training (their seconds and accuracies stay),
  only the missing proxies are computed, and every per-arch value and
  correlation equals the one-shot run exactly. (One run pair for both
  checks: before, the incremental check trained all four archs again in a
  cache of its own, 6 arch trainings more, the test's largest share.)
- a run whose cache holds every arch complete (the --ground-truth FILE run
  on the one-shot run's cache) takes all four from it;
- --ground-truth FILE with the run's own accuracies gives its correlations;
- the ensemble rows (zico+nwot+synflow by log-rank, mean rank, z-score):
  every per-arch value equals an aggregate computed HERE from the JSON's
  per-arch member values, and their correlations are checked as above;
- bad input (unknown space, malformed NB201 string, out-of-range id, an
  accuracy file missing an arch) exits with status 2 and one error line.

usage: check_rank.py PATH/TO/sigeo-rank
"""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

# Deadlines bound a broken run, never a wait (every wait ends on an event);
# they scale like meson's --timeout-multiplier (tests/meson.build: tests/run.sh
# exports SIGEO_TEST_TIME_SCALE per step).
T = max(1.0, float(os.environ.get("SIGEO_TEST_TIME_SCALE") or 1))

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "10020",
    "|none~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|none~2|",  # degenerate
    "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_1x1~2|",
]
QUICK = ["--quick", "--train-rows", "512", "--test-rows", "200", "--levels", "0,50", "--resamples", "50",
         "--proxies", "nwot,params,flops,zico,sigeo-zs-exact,neg-loss,synflow", "--no-progress"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(prog, args, expect=0):
    p = subprocess.run([prog] + args, capture_output=True, text=True, timeout=900 * T)
    if p.returncode != expect:
        fail("%s exited %d (want %d)\nstdout:\n%s\nstderr:\n%s" % (args, p.returncode, expect, p.stdout, p.stderr))
    return p


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0 + 1
        i = j + 1
    return r


def spearman(x, y):
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def kendall(x, y):
    c = d = tx = ty = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            a, b = x[i] - x[j] if x[i] != x[j] else 0, y[i] - y[j] if y[i] != y[j] else 0
            if a == 0 and b == 0:
                continue
            if a == 0:
                tx += 1
            elif b == 0:
                ty += 1
            elif (a > 0) == (b > 0):
                c += 1
            else:
                d += 1
    n1, n2 = c + d + tx, c + d + ty
    return None if n1 == 0 or n2 == 0 else (c - d) / math.sqrt(n1 * n2)


def value(v):
    if isinstance(v, str):  # "nan", "inf", "-inf": non-finite ranks lowest
        return float("-inf")
    return v if math.isfinite(v) else float("-inf")


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9


def ens_value(v):
    if isinstance(v, str):
        return float("inf") if v == "inf" else float("-inf")
    return v


def aggregate(cols, method):
    """cols[p][c]: proxy p's score of candidate c; the reference of sigeo_stats_aggregate."""
    n = len(cols[0])
    if method == "z-score":
        if not all(math.isfinite(v) for col in cols for v in col):
            return None
        out = [0.0] * n
        for col in cols:
            m = sum(col) / n
            sd = math.sqrt(sum((v - m) ** 2 for v in col) / n)
            for c in range(n):
                out[c] += (col[c] - m) / sd if sd > 0 else 0.0
        return out
    rk = [ranks(col) for col in cols]
    if method == "log-rank":
        return [sum(math.log(r[c] / n) for r in rk) for c in range(n)]
    return [sum(r[c] for r in rk) / len(rk) for c in range(n)]


def check_ensembles(d):
    names = {e["name"]: e for e in d["ensembles"]}
    check(set(names) == {"zico+nwot+synflow/" + m for m in ("log-rank", "mean-rank", "z-score")},
          "ensemble rows %r" % sorted(names))
    checked = 0
    for e in d["ensembles"]:
        for proto in ("per-arch", "supernet"):
            for lv in ("0", "50"):
                cols = [[ens_value(a["proxies"][proto][lv][m]) for a in d["archs"]] for m in e["members"]]
                want = aggregate(cols, e["method"])
                got = [a["ensembles"][proto][lv].get(e["name"]) for a in d["archs"]]
                if want is None:
                    check(all(g is None for g in got), "%s %s@%s: values for non-finite members" % (e["name"], proto, lv))
                    continue
                check(all(close(g, w) for g, w in zip(got, want)), "%s %s@%s: study %r, reference %r"
                      % (e["name"], proto, lv, got, want))
                checked += 1
    check(checked >= 6, "ensemble values checked: %d" % checked)


def row_of(a, proto, lv, name):
    if "/" in name:  # an ensemble row
        v = a["ensembles"][proto][lv].get(name)
        return float("-inf") if v is None else v
    return value(a["proxies"][proto][lv][name])


def check_correlations(d):
    check(len(d["archs"]) == 4, "4 archs in the JSON")
    check(sum(a["degenerate"] for a in d["archs"]) == 1, "one degenerate arch flagged")
    seen = 0
    for c in d["correlations"]:
        lv = "%g" % c["level"]
        archs = [a for a in d["archs"] if c["subset"] == "all" or not a["degenerate"]]
        x = [row_of(a, c["protocol"], lv, c["proxy"]) for a in archs]
        y = [a["test_acc"] for a in archs]
        check(c["n"] == len(archs), "n of %s" % c)
        for key, want in (("spearman", spearman(x, y)), ("kendall", kendall(x, y))):
            check(close(c[key], want), "%s %s@%s %s (%s): study %r, reference %r" %
                  (key, c["protocol"], lv, c["proxy"], c["subset"], c[key], want))
            if c[key] is not None and c[key + "_lo"] is not None:
                check(c[key + "_lo"] - 1e-12 <= c[key] <= c[key + "_hi"] + 1e-12, "interval of %s" % c)
        seen += 1
    check(seen == 2 * 2 * (7 + 3) * 2, "every protocol x level x (proxy + ensemble) x subset correlated (%d)" % seen)
    check(any(c["spearman"] is not None for c in d["correlations"]), "some correlation is defined")


def per_arch_values(d):
    return {a["arch"]: (a["test_acc"], a["proxies"]) for a in d["archs"]}


def main():
    prog = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        archs = os.path.join(tmp, "archs.txt")
        with open(archs, "w") as f:
            f.write("# four archs, strings and an id\n" + "\n".join(ARCHS) + "\n")
        first = os.path.join(tmp, "first.txt")
        with open(first, "w") as f:
            f.write("\n".join(ARCHS[:2]) + "\n")
        j1, j2 = os.path.join(tmp, "one.json"), os.path.join(tmp, "resumed.json")
        csv1, svg1 = os.path.join(tmp, "one.csv"), os.path.join(tmp, "one.svg")
        run(prog, QUICK + ["--archs", archs, "--cache", os.path.join(tmp, "c1"), "--json", j1, "--csv", csv1,
                           "--plot", svg1])
        d1 = json.load(open(j1))
        check_correlations(d1)
        check_ensembles(d1)
        check(d1.get("schema") == {"name": "sigeo-rank.result", "version": 1} and d1.get("program") == "sigeo-rank"
              and d1.get("interrupted") is False and d1.get("completed") == {"archs": 4, "of_archs": 4}
              and all(a.get("complete") is True for a in d1["archs"]), "JSON provenance block: %r"
              % {k: d1.get(k) for k in ("schema", "program", "interrupted", "completed")})
        rows = list(csv.DictReader(open(csv1)))
        check(len(rows) == 4 and "supernet@50:nwot" in rows[0], "CSV rows and columns")
        # the ensembles' columns: each value the JSON's (empty where the arch is not in the set)
        by_arch = {a["arch"]: a for a in d1["archs"]}
        n_ens = 0
        for e in d1["ensembles"]:
            for proto in ("per-arch", "supernet"):
                for lv in ("0", "50"):
                    col = "%s@%s:%s" % (proto, lv, e["name"])
                    check(col in rows[0], "CSV column %s missing" % col)  # fails (exits) if not
                    for r in rows:
                        want = by_arch[r["arch"]]["ensembles"][proto][lv].get(e["name"])
                        got = float(r[col]) if r[col] not in ("", "nan", "NaN") else None
                        check((want is None and got is None) or (want is not None and got is not None
                              and close(got, want)), "CSV %s of %s: %r, JSON %r" % (col, r["arch"], r[col], want))
                    n_ens += 1
        check(n_ens == 3 * 2 * 2, "CSV ensemble columns checked: %d" % n_ens)
        for path in (svg1, svg1[:-4] + "-scatter.svg"):
            ET.parse(path)
        # the scatter's colour bar marks degenerate archs: only when some are plotted
        texts = [el.text or "" for el in ET.parse(svg1[:-4] + "-scatter.svg").iter("{http://www.w3.org/2000/svg}text")]
        shown_degenerate = any(a["degenerate"] for a in d1["archs"]) and not any("non-degenerate" in t for t in texts)
        check(("degenerate (1)" in texts) == shown_degenerate,
              "scatter: colour bar %s, degenerate archs plotted: %s" % ("degenerate (1)" in texts, shown_degenerate))
        # the correlation plot has a bar group per ensemble row, labelled by its name
        labels = [el.text for el in ET.parse(svg1).iter("{http://www.w3.org/2000/svg}text")
                  if "ensemble" in (el.get("class") or "").split()]
        for e in d1["ensembles"]:
            check(labels.count(e["name"]) == 2, "plot: %d bar groups named %s (want one per protocol panel)"
                  % (labels.count(e["name"]), e["name"]))

        # resume + incremental: two archs with nwot alone, then all four with every proxy into that cache
        c2 = os.path.join(tmp, "c2")
        only = QUICK[:QUICK.index("--proxies")] + ["--proxies", "nwot"] + QUICK[QUICK.index("--proxies") + 2:]
        ji1 = os.path.join(tmp, "inc1.json")
        run(prog, only + ["--archs", first, "--cache", c2, "--json", ji1])
        # with progress (not a terminal: whole lines, each "sigeo-rank: ...")
        p = run(prog, [a for a in QUICK if a != "--no-progress"] + ["--archs", archs, "--cache", c2, "--json", j2])
        check("sigeo-rank: 2 cached archs lack some proxies" in p.stderr,
              "the resumed run did not complete the 2 cached archs:\n" + p.stderr)
        check("\r" not in p.stderr and all(l.startswith("sigeo-rank: ") for l in p.stderr.splitlines()),
              "progress in a log: whole lines 'sigeo-rank: ...':\n" + p.stderr)
        d2 = json.load(open(j2))
        check(per_arch_values(d1) == per_arch_values(d2), "resumed per-arch values equal one run's")
        check(d1["correlations"] == d2["correlations"], "resumed correlations equal one run's")
        i1 = json.load(open(ji1))
        check(len(i1["archs"]) == 2, "the first run has the first two archs")
        for a1, a2, a0 in zip(i1["archs"], d2["archs"], d1["archs"]):
            check(a2["arch"] == a1["arch"] and a2["seconds"] == a1["seconds"] and
                  a2["test_acc"] == a1["test_acc"] == a0["test_acc"],
                  "incremental: arch %s trained again (seconds %r then %r)" % (a1["arch"], a1["seconds"], a2["seconds"]))

        # accuracies from a file (ids for nb201 archs)
        acc = os.path.join(tmp, "acc.csv")
        with open(acc, "w") as f:
            f.write("id,test_acc\n")
            for a in d1["archs"]:
                f.write("%d,%.17g\n" % (a["id"], a["test_acc"]))
        j3 = os.path.join(tmp, "file.json")
        p = run(prog, [a for a in QUICK if a != "--no-progress"] + ["--archs", archs, "--cache", os.path.join(tmp, "c1"),
                                                                    "--ground-truth", acc, "--json", j3])
        check("sigeo-rank: 4 archs from the cache" in p.stderr, "a complete cache: not every arch from it:\n"
              + p.stderr)
        d3 = json.load(open(j3))
        check([c["spearman"] for c in d3["correlations"]] == [c["spearman"] for c in d1["correlations"]],
              "--ground-truth FILE reproduces the correlations")

        # bad input: exit 2, one line naming the problem
        bad_acc = os.path.join(tmp, "missing.csv")
        with open(bad_acc, "w") as f:
            f.write("id,test_acc\n%d,50\n" % d1["archs"][0]["id"])
        bad_string = os.path.join(tmp, "bad_string.txt")
        with open(bad_string, "w") as f:
            f.write("|nor_conv_3x3~0|+|conv~0|none~1|+|none~0|none~1|none~2|\n10\n")
        bad_id = os.path.join(tmp, "bad_id.txt")
        with open(bad_id, "w") as f:
            f.write("15625\n10\n")
        cases = [
            (["--space", "nb202"], "unknown space 'nb202'"),
            (["--archs", bad_string], "unknown op at offset 18"),
            (["--archs", bad_id], "15625 outside 0..15624"),
            (["--archs", archs, "--ground-truth", bad_acc], "has no test_acc for arch"),
        ]
        for args, says in cases:
            p = run(prog, QUICK + ["--cache", os.path.join(tmp, "c1")] + args, expect=2)
            lines = [l for l in p.stderr.splitlines() if l.strip()]
            check(len(lines) == 1 and says in lines[0], "%s: want one line saying '%s', got:\n%s" %
                  (args, says, p.stderr))
    print("ok")


if __name__ == "__main__":
    main()
