#!/usr/bin/env python3
"""Seed noise of a sigeo-rank ground truth: the same archs trained twice,
once with --gt-seed 0 and once with --gt-seed K (other initial weights, same
data order), compared arch by arch.

Prints, for the test log loss and the test AUC: the per-run seed standard
deviation (rms of the two runs' difference / sqrt 2), the spread over archs
(sample sd of the first run), their ratio (how many seed-noise units the
archs differ by) and the Spearman correlation of the two runs' orderings
(the agreement a perfect proxy could reach against one run).

usage: seed_noise.py RUN_A.json RUN_B.json   (standard library only)
"""
import json
import math
import sys


def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(order):  # ties share their mean rank
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(x, y):
    rx, ry = ranks(x), ranks(y)
    n = len(x)
    mx, my = sum(rx) / n, sum(ry) / n
    num = sum((p - mx) * (q - my) for p, q in zip(rx, ry))
    den = math.sqrt(sum((p - mx) ** 2 for p in rx) * sum((q - my) ** 2 for q in ry))
    return num / den if den else float("nan")


def main(a_path, b_path):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    by_arch = {r["arch"]: r for r in b["archs"] if r.get("complete", True)}
    pairs = [(r, by_arch[r["arch"]]) for r in a["archs"] if r.get("complete", True) and r["arch"] in by_arch]
    if len(pairs) < 3:
        sys.exit("seed_noise.py: fewer than 3 archs in both runs")
    print("archs %d, gt_seed %s vs %s, %d training rows x %d epochs" % (
        len(pairs), a.get("gt_seed"), b.get("gt_seed"), a["train_rows"], a["epochs"]))
    for key in ("test_loss", "test_auc"):
        x = [p[key] for p, _ in pairs]
        y = [q[key] for _, q in pairs]
        n = len(x)
        noise = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y)) / n / 2)
        m = sum(x) / n
        spread = math.sqrt(sum((v - m) ** 2 for v in x) / (n - 1))
        print("%-9s seed sd %.4f  spread sd %.4f  spread/noise %.2f  Spearman between seeds %.2f" % (
            key, noise, spread, spread / noise if noise else float("inf"), spearman(x, y)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
