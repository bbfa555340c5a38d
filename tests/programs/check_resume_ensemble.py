#!/usr/bin/env python3
"""sigeo-nas --resume with an ensemble --proxy A+B+C (issue 13): the search
checkpoint carries the members' score log, so a resumed run ends with the
uninterrupted run's every evaluation (member scores and provisional
aggregates included), top-k and best, bit for bit (timings aside).

 1. A: the run, no checkpoint.
 2. B: the same with --resume DIR (nothing there yet): it checkpoints every
    5 cycles and completes; 12 cycles leave the checkpoint of cycle 10.
 3. C: --resume DIR again: it continues from that checkpoint (no warm-up)
    through cycles 11-12 and the retrain.
A, B and C must agree. Also: every ensemble record has its member scores
and aggregate_over = the successful evaluations up to it.

usage: check_resume_ensemble.py PATH/TO/sigeo-nas
"""
import json
import os
import subprocess
import sys
import tempfile

exe = sys.argv[1]
fails = []
ARGS = ["--preset", "tiny", "--rows", "4000", "--warmup", "0.1", "--population", "6", "--sample", "3",
        "--children", "2", "--cycles", "12", "--top-k", "2", "--retrain-epochs", "0.2", "--batch", "64",
        "--threads", "1", "--proxy", "grad_norm+l2_norm+params", "--quiet"]


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def run(out, extra):
    p = subprocess.run([exe] + ARGS + ["--out", out] + extra, capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, "%s: rc %d\n%s" % (" ".join(extra), p.returncode, p.stderr[-2000:]))
    with open(out) as f:
        return json.load(f)


def untimed(x):
    """The document without what depends on the clock."""
    if isinstance(x, dict):
        return {k: untimed(v) for k, v in x.items() if k not in ("seconds",)}
    if isinstance(x, list):
        return [untimed(v) for v in x]
    return x


with tempfile.TemporaryDirectory(prefix="resume-ens-") as tmp:
    d = os.path.join(tmp, "ckpt")
    a = run(os.path.join(tmp, "a.json"), [])
    b = run(os.path.join(tmp, "b.json"), ["--resume", d])
    check(os.path.exists(os.path.join(d, "search.ckpt")), "B left no search checkpoint")
    c = run(os.path.join(tmp, "c.json"), ["--resume", d])
    ev = a.get("evaluations", [])
    check(len(ev) == 6 + 12 * 2, "A: %d evaluations" % len(ev))
    ok = 0
    for e in ev:
        ok += e.get("status") == "ok"
        check(len(e.get("members", [])) == 3 and e.get("aggregate_over") == ok,
              "A: record %s members %r over %r" % (e.get("index"), e.get("members"), e.get("aggregate_over")))
    for name, doc in (("B", b), ("C", c)):
        for key in ("evaluations", "top_k", "best"):
            check(untimed(doc.get(key)) == untimed(a.get(key)),
                  "%s: %s differs from the uninterrupted run's" % (name, key))
    # C did resume from cycle 10's checkpoint: it reports only cycles 11 and 12, as A did
    cyc = c.get("cycles", [])
    check([x.get("cycle") for x in cyc] == [11, 12] and cyc == a.get("cycles", [])[-2:],
          "C: cycles %r (not resumed from the checkpoint of cycle 10?)" % [x.get("cycle") for x in cyc])

if fails:
    print("\n".join(fails))
    sys.exit(1)
print("ok: an ensemble sigeo-nas run resumed from its checkpoint equals the uninterrupted run")
