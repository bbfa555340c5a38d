#!/usr/bin/env python3
"""Ctrl-C loses nothing (issue 15), checked on sigeo-nas (tiny preset, 4000
synthetic rows; each run is far longer than the test and is stopped early):

 The searches are 20000 cycles (40006 evaluations) and the retraining
 3 x 100 epochs so that even a fast machine is still in them when the
 signal comes; it cuts them short, so the length costs nothing.

 1. SIGINT once the search has scored a few candidates: exit 130 at the next
    safe point; --out (which held older results) is valid JSON marked
    "interrupted": true, "complete": false, "stopped_in": "search", with
    every evaluation so far and the top-k so far (the best distinct scored
    architectures, derived here from the evaluations, not retrained); --plot
    written and titled as interrupted; no temporary file left.
 2. SIGTERM in the retraining: the same, "signal": "SIGTERM", "stopped_in":
    "retrain", the search's evaluations all there.
 3. A second signal right after the first (SIGINT then SIGTERM): exit 130 at
    once, the pre-existing --out byte for byte as it was, no temporary file.

usage: check_interrupt_nas.py PATH/TO/sigeo-nas
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

exe = sys.argv[1]
fails = []
P, C, TOP = 6, 2, 3
# Deadlines bound a broken run, never a wait (every wait ends on an event);
# they scale like meson's --timeout-multiplier (tests/meson.build: tests/run.sh
# exports SIGEO_TEST_TIME_SCALE per step).
T = max(1.0, float(os.environ.get("SIGEO_TEST_TIME_SCALE") or 1))


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def start(args):
    env = dict(os.environ, SIGEO_PROGRESS_INTERVAL="0")
    tiny = ["--preset", "tiny", "--rows", "4000", "--warmup", "0.1", "--population", str(P), "--sample", "3",
            "--children", str(C), "--top-k", str(TOP), "--batch", "64", "--threads", "1"]
    return subprocess.Popen([exe] + tiny + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(p, pattern, timeout=300):
    """Reads stderr lines until one matches; returns (found, lines so far).
    A reader thread keeps collecting afterwards, so the pipe never fills."""
    lines, found, rx = [], threading.Event(), re.compile(pattern)
    timeout *= T

    def reader():
        for line in p.stderr:
            lines.append(line)
            if rx.search(line):
                found.set()
        found.set()

    p.reader = threading.Thread(target=reader, daemon=True)
    p.reader.start()
    found.wait(timeout)
    return any(rx.search(l) for l in lines), lines


def finish(p, timeout=120):
    """Waits for the exit, then for the reader thread to take the last lines
    (it ends at end of file: no fixed sleep)."""
    timeout *= T
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        fails.append("did not stop within %d s of the signal" % timeout)
    p.stdout.read()
    p.reader.join(timeout)
    return rc


def temporaries(d):
    return [x for x in os.listdir(d) if x.startswith(".")]


def check_partial(name, doc, phase):
    check(doc.get("interrupted") is True and doc.get("signal") == name,
          "%s: interrupted %r signal %r" % (name, doc.get("interrupted"), doc.get("signal")))
    check(doc.get("complete") is False and doc.get("stopped_in") == phase,
          "%s: complete %r stopped_in %r" % (name, doc.get("complete"), doc.get("stopped_in")))
    check(doc.get("completed") == {"methods": 0, "of_methods": 1}, "%s: completed %r" % (name, doc.get("completed")))
    check(doc.get("schema", {}).get("name") == "sigeo-nas.result", "%s: schema %r" % (name, doc.get("schema")))
    check("best" not in doc, "%s: a 'best' without a retrained candidate" % name)
    ev = doc.get("evaluations", [])
    check(len(ev) >= 1 and [e.get("index") for e in ev] == list(range(len(ev))),
          "%s: evaluations %r" % (name, [e.get("index") for e in ev]))
    top = doc.get("top_k", [])
    # the top-k so far, derived from the evaluations: best distinct scores first
    scored = {}
    for e in ev:
        if e.get("status") == "ok":
            scored.setdefault(e["arch"], e["score"])
    want = sorted(scored.items(), key=lambda a: -a[1])[:TOP]
    check([t.get("score") for t in top] == [s for _, s in want] and
          sorted(t.get("arch") for t in top) == sorted(a for a, _ in want),
          "%s: top_k %r, want %r" % (name, top, want))
    check(all(t.get("retrained") is False for t in top), "%s: top_k claims retraining" % name)
    return ev


with tempfile.TemporaryDirectory(prefix="interrupt-nas-") as tmp:
    cases = (
        # a search of 40006 evaluations, stopped after its first cycles (the plot has points)
        (signal.SIGINT, "SIGINT", ["--cycles", "20000"], r"search (1[2-9]|[2-9]\d|\d{3,})/", "search"),
        # 3 cycles, then a retraining of 3 x 100 epochs, stopped in its first candidate
        (signal.SIGTERM, "SIGTERM", ["--cycles", "3", "--retrain-epochs", "100"], r"retrain \d+/\d+ ", "retrain"),
    )
    for sig, name, args, needle, phase in cases:
        d = os.path.join(tmp, name)
        os.mkdir(d)
        out, plot = os.path.join(d, "r.json"), os.path.join(d, "s.svg")
        with open(out, "w") as f:
            f.write("previous results\n")
        p = start(args + ["--out", out, "--plot", plot])
        ok, lines = wait_for(p, needle)
        if not check(ok and p.poll() is None, "%s: progress never reached %r in a running process: %r"
                     % (name, needle, "".join(lines)[-2000:])):
            p.kill()
            finish(p)
            continue
        p.send_signal(sig)
        rc = finish(p)
        err = "".join(lines)
        check(rc == 130, "%s: exit status %d, want 130; stderr %r" % (name, rc, err[-2000:]))
        check("stopping at the next safe point" in err, "%s: no notice on stderr" % name)
        check("interrupted in the %s" % phase in err, "%s: no 'interrupted in the %s' line" % (name, phase))
        try:
            with open(out) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            check(False, "%s: --out unreadable after the signal: %s" % (name, e))
            continue
        ev = check_partial(name, doc, phase)
        if phase == "retrain":
            check(len(ev) == P + 3 * C, "%s: %d evaluations, want the whole search's %d" % (name, len(ev), P + 3 * C))
        try:
            with open(plot) as f:
                svg = f.read()
            check(svg.rstrip().endswith("</svg>") and "(interrupted)" in svg, "%s: --plot incomplete or not marked" % name)
        except OSError as e:
            check(False, "%s: --plot not written: %s" % (name, e))
        check(temporaries(d) == [], "%s: temporary files left: %r" % (name, temporaries(d)))

    # a second signal: quit at once, outputs untouched
    d = os.path.join(tmp, "twice")
    os.mkdir(d)
    out = os.path.join(d, "r.json")
    previous = "previous results, kept byte for byte\n" * 1000
    with open(out, "w") as f:
        f.write(previous)
    p = start(["--cycles", "20000", "--out", out])
    ok, lines = wait_for(p, r"search \d+/")
    check(ok and p.poll() is None, "twice: progress never reached the search: %r" % "".join(lines)[-2000:])
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGTERM)
    rc = finish(p)
    err = "".join(lines)
    check(rc == 130, "twice: exit status %d, want 130; stderr %r" % (rc, err[-2000:]))
    check("quitting without writing" in err, "twice: no notice of the immediate exit: %r" % err[-500:])
    with open(out) as f:
        check(f.read() == previous, "twice: the pre-existing --out was changed")
    check(temporaries(d) == [], "twice: temporary files left: %r" % temporaries(d))

for f in fails:
    print("FAIL:", f)
print("%d checks failed" % len(fails))
sys.exit(1 if fails else 0)
