#!/usr/bin/env python3
"""Markdown tables of a sigeo-rank study, from its JSON alone.

docs/ranking.md quotes its tables from this script's output, so every figure
there can be traced to the study's JSON (docs/ranking/*.json) and checked
again (tests/docs/check_ranking_tables.py does: each table row of the page
must be a row this script prints for the JSON the page names).

usage: tables.py STUDY.json [--subset all|non-degenerate] [--stat spearman|kendall]
                            [--what archs|correlations|summary]
       tables.py STUDY.json --what paired [--subset S] --pair TERM,TERM [--pair ...]
  --what paired: the difference of two Spearman correlations measured on the
  same archs, with a paired percentile bootstrap 95 % interval (both
  correlations of one resample use the same archs, so what the two proxies
  share cancels; 1000 resamples, seeded, so the table is reproducible).
  TERM is PROXY or PROXY@PROTOCOL@LEVEL; a pair of two bare proxies gives one
  column per (protocol, level) of the study, a pair of full terms one value.
       tables.py --update PAGE
  --update re-renders, in place, every table of PAGE that follows a marker
  line `<!-- table: ARGS -->` (ARGS: this script's arguments, the JSON path
  relative to the repository root), e.g. after a study was extended.

Standard library only: the study's users run it where sigeo-rank ran.
"""
import argparse
import json
import math
import sys


def fmt(v, digits=2):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return "%.*f" % (digits, v)


def columns(doc):
    """(protocol, level) pairs in the order the study ran them."""
    protos = []
    for c in doc["correlations"]:
        if c["protocol"] not in protos:
            protos.append(c["protocol"])
    return [(p, lv) for p in protos for lv in doc["levels_percent"]]


def correlation_table(doc, subset, stat):
    cols = columns(doc)
    cell = {}
    for c in doc["correlations"]:
        if c["subset"] == subset:
            cell[(c["proxy"], c["protocol"], c["level"])] = c
    names = list(doc["proxies"]) + [e if isinstance(e, str) else e["name"] for e in doc.get("ensembles", [])]
    # ensembles appear in the correlations under their own names (one per aggregation)
    seen = set(names)
    for c in doc["correlations"]:
        if c["proxy"] not in seen:
            names.append(c["proxy"])
            seen.add(c["proxy"])
    out = ["| proxy | n | " + " | ".join("%s %g %%" % (p, lv) for p, lv in cols) + " |",
           "|---|---|" + "---|" * len(cols)]
    for name in names:
        row = [cell.get((name, p, lv)) for p, lv in cols]
        if not any(row):
            continue
        n = max(r["n"] for r in row if r)
        vals = []
        for r in row:
            if not r:
                vals.append("–")
                continue
            vals.append("%s [%s, %s]" % (fmt(r[stat]), fmt(r[stat + "_lo"]), fmt(r[stat + "_hi"])))
        out.append("| %s | %d | %s |" % (name, n, " | ".join(vals)))
    return out


def arch_table(doc):
    gt = doc["target"]
    out = ["| arch | degenerate | params | FLOPs | test acc % | test loss | seconds |",
           "|---|---|---|---|---|---|---|"]
    for a in doc["archs"]:
        out.append("| `%s` | %s | %d | %d | %s | %s | %s |" % (
            a.get("string", a["arch"]).replace("|", "\\|"), "yes" if a.get("degenerate") else "",
            a["params"], a["flops"], fmt(a.get("test_acc"), 2), fmt(a.get("test_loss"), 4),
            fmt(a.get("seconds"), 0)))
    return out, gt


def summary(doc):
    archs = [a for a in doc["archs"] if a.get("complete", True)]
    acc = sorted(a["test_acc"] for a in archs if a.get("test_acc") is not None)
    nondeg = sorted(a["test_acc"] for a in archs if not a.get("degenerate") and a.get("test_acc") is not None)
    secs = sorted(a["seconds"] for a in archs if a.get("seconds") is not None)

    def q(xs, f):
        return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else float("nan")

    def sd(xs):
        if len(xs) < 2:
            return float("nan")
        m = sum(xs) / len(xs)
        return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))

    lines = ["archs complete: %d of %d (degenerate: %d)" % (len(archs), len(doc["archs"]),
                                                            sum(1 for a in archs if a.get("degenerate"))),
             "test acc %%: min %s median %s max %s; non-degenerate: min %s median %s max %s sd %s" % (
                 fmt(q(acc, 0)), fmt(q(acc, 0.5)), fmt(q(acc, 1)), fmt(q(nondeg, 0)), fmt(q(nondeg, 0.5)),
                 fmt(q(nondeg, 1)), fmt(sd(nondeg))),
             "seconds per arch: min %s median %s max %s, sum %s" % (fmt(q(secs, 0), 0), fmt(q(secs, 0.5), 0),
                                                                    fmt(q(secs, 1), 0), fmt(sum(secs), 0))]
    return lines


# one Spearman for the docs' scripts (ties share their mean rank)
from seed_noise import spearman  # noqa: E402  (same folder; standard library only)


def term_values(doc, archs, term):
    """Per-arch values of PROXY@PROTOCOL@LEVEL; a non-finite one ranks lowest,
    as in sigeo-rank's correlations."""
    name, proto, level = term
    out = []
    for a in archs:
        key = "%g" % level
        v = a.get("proxies", {}).get(proto, {}).get(key, {}).get(name)
        if v is None:
            v = a.get("ensembles", {}).get(proto, {}).get(key, {}).get(name)
        v = float(v) if v is not None else float("nan")
        out.append(v if math.isfinite(v) or v == float("inf") else float("-inf"))
    return out


def paired_table(doc, subset, pairs):
    import random
    archs = [a for a in doc["archs"] if a.get("complete", True) and a.get("test_acc") is not None and
             (subset == "all" or not a.get("degenerate"))]
    ctr = str(doc.get("target", "")).startswith("-")  # minus the test log loss (CTR)
    y = [-a["test_loss"] if ctr else a["test_acc"] for a in archs]
    n = len(archs)
    rng = random.Random(1)
    draws = [[rng.randrange(n) for _ in range(n)] for _ in range(1000)]

    def diff(ta, tb):
        xa, xb = term_values(doc, archs, ta), term_values(doc, archs, tb)
        point = spearman(xa, y) - spearman(xb, y)
        ds = []
        for d in draws:
            yy = [y[i] for i in d]
            v = spearman([xa[i] for i in d], yy) - spearman([xb[i] for i in d], yy)
            if not math.isnan(v):
                ds.append(v)
        ds.sort()
        if not ds or math.isnan(point):
            return "nan"
        lo, hi = ds[int(0.025 * len(ds))], ds[min(len(ds) - 1, int(0.975 * len(ds)))]
        mark = " *" if lo > 0 or hi < 0 else ""
        return "%+.2f [%+.2f, %+.2f]%s" % (point, lo, hi, mark)

    def parse(t):
        parts = t.split("@")
        return (parts[0], parts[1], float(parts[2])) if len(parts) == 3 else (parts[0], None, None)

    cols = columns(doc)
    bare = [(a, b) for a, b in pairs if parse(a)[1] is None]
    full = [(a, b) for a, b in pairs if parse(a)[1] is not None]
    out = []
    if bare:
        out += ["| difference (n = %d) | " % n + " | ".join("%s %g %%" % c for c in cols) + " |",
                "|---|" + "---|" * len(cols)]
        for a, b in bare:
            out.append("| %s − %s | %s |" % (a, b, " | ".join(diff((a, p, lv), (b, p, lv)) for p, lv in cols)))
    if full:
        if out:
            out.append("")
        out += ["| difference (n = %d) | Spearman difference [95 %% paired bootstrap] |" % n, "|---|---|"]
        for a, b in full:
            ta, tb = parse(a), parse(b)
            fmt_lv = lambda t: "%s@%s@%g" % (t[0], t[1], t[2])
            out.append("| %s − %s | %s |" % (fmt_lv(ta), fmt_lv(tb), diff(ta, tb)))
    return out


def render(args):
    """The table lines for one marker's arguments."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("--subset", default="all", choices=["all", "non-degenerate"])
    ap.add_argument("--stat", default="spearman", choices=["spearman", "kendall"])
    ap.add_argument("--what", default="correlations", choices=["archs", "correlations", "summary", "paired"])
    ap.add_argument("--pair", action="append", default=[], metavar="TERM,TERM")
    a = ap.parse_args(args)
    with open(a.json) as f:
        doc = json.load(f)
    if a.what == "archs":
        return arch_table(doc)[0]
    if a.what == "summary":
        return summary(doc)
    if a.what == "paired":
        pairs = [tuple(p.split(",")) for p in a.pair]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise SystemExit("tables.py: --what paired needs --pair TERM,TERM")
        return paired_table(doc, a.subset, pairs)
    return correlation_table(doc, a.subset, a.stat)


def update(page, root):
    """Re-render every marked table of `page` (atomically: temp + rename)."""
    import os
    import shlex
    lines = open(page, encoding="utf-8").read().split("\n")
    out, i, n = [], 0, 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        s = line.strip()
        if not (s.startswith("<!-- table:") and s.endswith("-->")):
            continue
        args = [os.path.join(root, x) if x.endswith(".json") else x for x in shlex.split(s[len("<!-- table:"):-3])]
        while i < len(lines) and not lines[i].strip():
            out.append(lines[i])
            i += 1
        while i < len(lines) and lines[i].startswith("|"):
            i += 1
        out.extend(render(args))
        n += 1
    tmp = page + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    os.replace(tmp, page)
    return n


def main(argv):
    if len(argv) == 2 and argv[0] == "--update":
        import os
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        print("%d tables re-rendered" % update(argv[1], root))
        return 0
    sys.stdout.write("\n".join(render(argv)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
