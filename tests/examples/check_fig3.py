#!/usr/bin/env python3
"""Runs `sigeo-fig3 --quick` into a temporary directory and checks that every
output exists and parses: the JSON (keys, row set, raw values), the CSV and
the SVG plots (well-formed XML with one point per network and panel). Also
checks that bad usage exits with status 2. The numbers are not compared
with the paper's.

usage: check_fig3.py PATH/TO/sigeo-fig3
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

STATS = {"train_loss", "fisher_rao", "mean_abs_grad", "mean_abs_grad_per_param", "sigeo", "zico"}
TARGETS = {"test_loss", "train_loss"}
ROW_KEYS = {"warmup", "statistic", "target", "spearman", "kendall", "spearman_sd", "kendall_sd"}
QUICK_LEVELS = {0.0, 0.5}
QUICK_NETS = 4
SVG_NS = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def is_corr(v):
    return v is None or (isinstance(v, (int, float)) and -1.0 - 1e-9 <= v <= 1.0 + 1e-9)


def main():
    if len(sys.argv) != 2:
        fail(__doc__)
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="fig3-") as tmp:
        jpath = os.path.join(tmp, "fig3.json")
        cpath = os.path.join(tmp, "fig3.csv")
        sdir = os.path.join(tmp, "svg")
        p = subprocess.run([exe, "--quick", "--json", jpath, "--csv", cpath, "--svg", sdir],
                           capture_output=True, text=True, timeout=600 * T)
        check(p.returncode == 0, "exit status %d, stderr:\n%s" % (p.returncode, p.stderr))
        check("warm-up" in p.stdout and "test_loss" in p.stdout, "no table on stdout:\n" + p.stdout)

        # JSON
        with open(jpath) as f:
            doc = json.load(f)
        for key in ("rows", "raw", "config"):
            check(key in doc, "JSON lacks '%s'" % key)
        rows = doc["rows"]
        check(len(rows) == len(QUICK_LEVELS) * len(STATS) * len(TARGETS),
              "%d rows, expected %d" % (len(rows), len(QUICK_LEVELS) * len(STATS) * len(TARGETS)))
        seen = set()
        for r in rows:
            check(ROW_KEYS <= set(r), "row lacks keys %s: %s" % (ROW_KEYS - set(r), r))
            check(r["statistic"] in STATS, "unknown statistic %r" % r["statistic"])
            check(r["target"] in TARGETS, "unknown target %r" % r["target"])
            check(r["warmup"] in QUICK_LEVELS, "unexpected warm-up %r" % r["warmup"])
            check(is_corr(r["spearman"]) and is_corr(r["kendall"]), "correlation out of [-1, 1]: %s" % r)
            # one seed: the standard deviation over seeds is undefined
            check(r["spearman_sd"] is None and r["kendall_sd"] is None, "sd with one seed: %s" % r)
            seen.add((r["warmup"], r["statistic"], r["target"]))
        check(len(seen) == len(rows), "duplicate rows")
        raw = doc["raw"]
        check(len(raw) == 1 and len(raw[0]["networks"]) == QUICK_NETS, "raw: expected 1 seed x 4 networks")
        for net in raw[0]["networks"]:
            for k in ("hidden", "final_test_loss", "final_train_loss"):
                check(k in net, "raw network lacks '%s'" % k)
            check(math.isfinite(net["final_test_loss"]) and net["final_test_loss"] > 0, "bad final test loss")
            check(len(net["levels"]) == len(QUICK_LEVELS), "raw: levels per network")
            for lv in net["levels"]:
                for s in STATS:
                    check(s in lv and isinstance(lv[s], (int, float)), "raw level lacks '%s': %s" % (s, lv))
                check(lv["fisher_rao"] > 0 and lv["mean_abs_grad"] > 0, "non-positive FR or |g|: %s" % lv)

        # CSV
        with open(cpath, newline="") as f:
            table = list(csv.DictReader(f))
        check(len(table) == len(rows), "CSV has %d rows, JSON %d" % (len(table), len(rows)))
        check(ROW_KEYS <= set(table[0]), "CSV header lacks %s" % (ROW_KEYS - set(table[0])))
        for r in table:
            float(r["warmup"])
            if r["spearman"]:
                check(is_corr(float(r["spearman"])), "CSV spearman out of range")

        # SVG: one file per statistic, one point per network in each level's panel
        for s in STATS:
            path = os.path.join(sdir, "fig3_%s.svg" % s)
            check(os.path.isfile(path), "missing " + path)
            root = ET.parse(path).getroot()
            check(root.tag == SVG_NS + "svg", "%s: root is %s" % (path, root.tag))
            circles = root.findall(".//" + SVG_NS + "circle")
            check(len(circles) == QUICK_NETS * len(QUICK_LEVELS),
                  "%s: %d points, expected %d" % (path, len(circles), QUICK_NETS * len(QUICK_LEVELS)))
            texts = "".join("".join(t.itertext()) for t in root.iter(SVG_NS + "text"))
            check("final test loss" in texts and "warm-up" in texts, "%s: labels missing" % path)

    # bad usage: one line on stderr, exit status 2
    for args in (["--no-such-option"], ["--lr", "abc"], ["--levels", "0,200"], ["--hidden", "8"]):
        p = subprocess.run([exe] + args, capture_output=True, text=True, timeout=60 * T)
        check(p.returncode == 2, "%s: exit status %d, expected 2" % (args, p.returncode))
        check(p.stderr.count("\n") == 1 and p.stderr.startswith("sigeo-fig3: "),
              "%s: expected one error line, got %r" % (args, p.stderr))
    p = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60 * T)
    check(p.returncode == 0 and "--quick" in p.stdout, "--help")
    print("fig3_quick: ok")


if __name__ == "__main__":
    main()
