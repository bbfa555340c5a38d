#!/usr/bin/env python3
"""Ctrl-C loses nothing (issue 15), checked on sigeo-fig3's full protocol
(each run is stopped after a few seconds, so its length does not matter):

 1. SIGINT once progress shows the second network: exit 130 at the next
    safe point; --json is valid JSON marked "interrupted": true with the
    completed networks; --csv and --svg written; no temporary file left.
 2. SIGTERM behaves the same ("signal": "SIGTERM").
 3. A second signal right after the first (SIGINT then SIGTERM: two
    different signals, which the kernel does not merge) exits 130 at once:
    a pre-existing --json keeps its old content byte for byte, no
    temporary file is left.

usage: check_interrupt.py PATH/TO/sigeo-fig3
"""
import csv
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
# Deadlines bound a broken run, never a wait (every wait ends on an event);
# they scale like meson's --timeout-multiplier (tests/meson.build: tests/run.sh
# exports SIGEO_TEST_TIME_SCALE per step).
T = max(1.0, float(os.environ.get("SIGEO_TEST_TIME_SCALE") or 1))
if not any(os.path.exists(os.path.join(d, f)) for d in [os.environ.get("SIGEO_DATA_DIR", ""),
                                                         "/usr/share/datasets/fashion-mnist"] if d
           for f in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
    print("SKIP: Fashion-MNIST is not installed (apt-get install -y dataset-fashion-mnist)")
    sys.exit(77)


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def start(args):
    env = dict(os.environ, SIGEO_PROGRESS_INTERVAL="0.1")
    # a cut-down protocol (100 SGD steps per network, 24 networks): stopped long before its end
    cut = ["--seeds", "1", "--threads", "1", "--epochs", "3", "--train-rows", "12800"]
    return subprocess.Popen([exe] + cut + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(p, needle, timeout=300):
    """Reads stderr lines until one contains needle; returns (found, lines so far).
    A reader thread keeps collecting afterwards, so the pipe never fills."""
    lines, found = [], threading.Event()
    timeout *= T

    def hit(line):  # needle: a string, or a compiled pattern
        return needle.search(line) is not None if hasattr(needle, "search") else needle in line

    def reader():
        for line in p.stderr:
            lines.append(line)
            if hit(line):
                found.set()
        found.set()

    p.reader = threading.Thread(target=reader, daemon=True)
    p.reader.start()
    found.wait(timeout)
    return any(hit(l) for l in lines), lines


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
    p.reader.join(timeout)
    return rc


def temporaries(d):
    return [x for x in os.listdir(d) if x.startswith(".")]


with tempfile.TemporaryDirectory(prefix="interrupt-") as tmp:
    for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
        d = os.path.join(tmp, name)
        os.mkdir(d)
        js, cs, sv = os.path.join(d, "r.json"), os.path.join(d, "r.csv"), os.path.join(d, "svg")
        with open(js, "w") as f:
            f.write("previous results\n")
        p = start(["--json", js, "--csv", cs, "--svg", sv])
        ok, lines = wait_for(p, re.compile(r"network ([2-9]|1[0-9]|2[0-4]) of"))
        if not check(ok and p.poll() is None, "%s: progress never reached network 2 in a running process: %r"
                     % (name, "".join(lines))):
            p.kill()
            finish(p)
            continue
        p.send_signal(sig)
        rc = finish(p)
        err = "".join(lines)
        check(rc == 130, "%s: exit status %d, want 130; stderr %r" % (name, rc, err[-2000:]))
        check("stopping at the next safe point" in err, "%s: no notice on stderr" % name)
        try:
            with open(js) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            check(False, "%s: --json unreadable after the signal: %s" % (name, e))
            continue
        check(doc.get("interrupted") is True and doc.get("signal") == name,
              "%s: interrupted %r signal %r" % (name, doc.get("interrupted"), doc.get("signal")))
        done = doc.get("completed", {}).get("networks", -1)
        check(1 <= done < 24, "%s: completed networks %r" % (name, done))
        raw = doc.get("raw", [])
        check(len(raw) == 1 and len(raw[0].get("networks", [])) == done,
              "%s: raw holds %r networks, completed says %d" % (name, [len(r.get("networks", [])) for r in raw], done))
        check(all(n.get("final_test_loss") is not None for r in raw for n in r.get("networks", [])),
              "%s: an incomplete network was written" % name)
        check(doc.get("completed", {}).get("seeds") == 0 and all(r["n_seeds"] == 0 for r in doc.get("rows", [])),
              "%s: correlations from an incomplete seed" % name)
        with open(cs) as f:
            rows = list(csv.reader(f))
        check(rows and rows[0][:3] == ["warmup", "statistic", "target"], "%s: CSV header %r" % (name, rows[:1]))
        svgs = sorted(os.listdir(sv)) if os.path.isdir(sv) else []
        check(len(svgs) == 6, "%s: SVGs %r" % (name, svgs))
        for s in svgs:
            with open(os.path.join(sv, s)) as f:
                text = f.read()
            check(text.rstrip().endswith("</svg>") and "interrupted: %d of 24 networks" % done in text,
                  "%s: %s is incomplete or does not say it was interrupted" % (name, s))
        check(temporaries(d) == [] and temporaries(sv) == [] if os.path.isdir(sv) else True,
              "%s: temporary files left: %r" % (name, temporaries(d)))

    # a second signal: quit at once, outputs untouched
    d = os.path.join(tmp, "twice")
    os.mkdir(d)
    js = os.path.join(d, "r.json")
    previous = "previous results, kept byte for byte\n" * 1000
    with open(js, "w") as f:
        f.write(previous)
    p = start(["--json", js])
    ok, lines = wait_for(p, "training 1")
    check(ok and p.poll() is None, "twice: progress never started: %r" % "".join(lines))
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGTERM)
    rc = finish(p)
    err = "".join(lines)
    check(rc == 130, "twice: exit status %d, want 130; stderr %r" % (rc, err[-2000:]))
    check("quitting without writing" in err, "twice: no notice of the immediate exit: %r" % err[-500:])
    with open(js) as f:
        check(f.read() == previous, "twice: the pre-existing --json was changed")
    check(temporaries(d) == [], "twice: temporary files left: %r" % temporaries(d))

for f in fails:
    print("FAIL:", f)
print("%d checks failed" % len(fails))
sys.exit(1 if fails else 0)
