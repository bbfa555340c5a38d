#!/usr/bin/env python3
"""Rebuilds a sigeo-rank cache directory from a finished study's JSON.

A study's cache (one file per arch and protocol, format `sigeo-rank-cache 1`,
examples/rank.c) is what lets a later run add or recompute proxies without
training the ground truth again. The JSON holds every value the cache held
(to 10 significant digits), so the cache can be rebuilt from it on a machine
that never ran the study:

    docs/ranking/json_to_cache.py docs/ranking/nb201-100.json CACHE \
        --hash 5ae1fe1f7ddfd756 --drop 'az_*'
    sigeo-rank <the JSON's command> --cache CACHE --json new.json ...

`--drop GLOB` (repeatable) leaves those proxies out, so the rerun computes
them with the library it runs on (per-arch protocol: the arch's own run
retrained only up to the last level that misses one: the first steps of a
run are the same bits whatever its length). `--hash` is the study settings'
hash, the 16 hex digits in the name of any cache file that sigeo-rank writes
with the same space, data sizes, batch and epochs (a two-arch
`--ground-truth none --protocol supernet --levels 0 --proxies params` run
writes one in a second).
"""
import argparse
import fnmatch
import json
import math
import os
import sys
import tempfile


def number(v):
    """A JSON value as the cache writes it (%.17g; inf/nan spelt as C's)."""
    if v is None:
        return "nan"
    if isinstance(v, str):
        return {"-inf": "-inf", "inf": "inf", "+inf": "inf", "nan": "nan"}[v.lower()]
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%.17g" % v


def level_text(lv):
    """The level as the cache names it (%g of the percentage)."""
    f = float(lv)
    return "%d" % f if f == int(f) else repr(f)


def write_atomic(path, text):
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", help="a sigeo-rank --json file")
    ap.add_argument("cache", help="the cache directory to write (created if missing)")
    ap.add_argument("--hash", required=True, help="the settings hash (16 hex digits, see --help)")
    ap.add_argument("--drop", action="append", default=[], metavar="GLOB",
                    help="leave out the proxies matching GLOB (repeatable)")
    a = ap.parse_args()
    if len(a.hash) != 16 or any(c not in "0123456789abcdef" for c in a.hash):
        sys.exit("json_to_cache: --hash %r: need 16 lower-case hex digits" % a.hash)
    with open(a.json) as f:
        d = json.load(f)
    # (the first studies' JSON has no schema, only "program")
    if not str(d.get("schema", {}).get("name", d.get("program", ""))).startswith("sigeo-rank"):
        sys.exit("json_to_cache: %s: not a sigeo-rank JSON (schema %r)" % (a.json, d.get("schema")))
    os.makedirs(a.cache, exist_ok=True)
    space = d["space"]
    written = 0
    for arch in d["archs"]:
        if not arch.get("complete", True):
            continue
        for proto, what in (("per-arch", "run"), ("supernet", "super")):
            levels = arch.get("proxies", {}).get(proto)
            if not levels:
                continue
            lines = ["sigeo-rank-cache 1", "space " + space, "arch " + arch["arch"], "label " + arch.get("string", arch["arch"])]
            if what == "run" and arch.get("test_acc") is not None:
                for key in ("test_acc", "test_loss", "test_auc", "train_loss"):
                    lines.append("%s %s" % (key, number(arch.get(key))))
                lines.append("seconds %.3f" % (arch.get("seconds") or 0.0))
            for lv, values in levels.items():
                for name, v in values.items():
                    if any(fnmatch.fnmatchcase(name, g) for g in a.drop):
                        continue
                    lines.append("proxy %s %s %s" % (level_text(lv), name, number(v)))
            path = os.path.join(a.cache, "%s-%s-%s-%s.txt" % (space, a.hash, what, arch["arch"].replace(",", "_")))
            write_atomic(path, "\n".join(lines) + "\n")
            written += 1
    print("json_to_cache: %d cache files in %s" % (written, a.cache))


if __name__ == "__main__":
    main()
