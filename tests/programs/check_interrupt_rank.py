#!/usr/bin/env python3
"""Ctrl-C loses nothing in sigeo-rank (issue 15), whose work runs in forked
worker processes (space mlp, per-arch protocol, a few seconds per arch):

 1. SIGINT to the process group (what a terminal's Ctrl-C does) once an
    arch is complete: the workers finish the arch in progress and stop; exit
    130; --json valid, "interrupted": true, "signal": "SIGINT", the complete
    archs (at least one, fewer than all) counted in "completed" and marked
    "complete"; --csv written; no temporary file left; no worker left.
 2. SIGTERM to the parent alone (kill PID): the same, "signal": "SIGTERM"
    (the parent passes it on to its workers).
 2b. SIGTERM to the whole group (`timeout`, `kill -TERM -PGID`, a batch
    system): the same as 2 — the workers count the group's SIGTERM and the
    parent's relay as one stop, not as a second signal that quits at once
    (which left no --json at all before).
 In both, the "stopping at the next safe point" notice is printed once (by
 the parent, not once more per worker), and the log shows the workers'
 per-step progress ("arch A step s/T", forwarded through a pipe) before the
 first arch is complete.
 3. SIGINT then SIGTERM right away: exit 130 at once, a pre-existing --json
    byte for byte unchanged, and the workers gone with the parent.

usage: check_interrupt_rank.py PATH/TO/sigeo-rank
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

exe = os.path.abspath(sys.argv[1])  # (the runs have their own working directory)
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
N = 12
ARGS = ["--space", "mlp", "--sample", str(N), "--train-rows", "25600", "--test-rows", "500", "--epochs", "2",
        "--levels", "0", "--protocol", "per-arch", "--proxies", "zico,params", "--resamples", "20", "--jobs", "2"]
DONE = re.compile(r"([1-9]\d*)/%d archs done" % N)
STEP = re.compile(r"0/%d archs done; worker \d: arch [0-9,]+ step \d+/\d+" % N)


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def start(tmp, extra):
    env = dict(os.environ, SIGEO_PROGRESS_INTERVAL="0.01")  # an arch can take 0.1 s (Zen 5)
    # a session of its own: killpg reaches the parent and its workers, as a terminal's Ctrl-C does
    return subprocess.Popen([exe] + ARGS + ["--cache", os.path.join(tmp, "cache")] + extra, cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def wait_for(p, pattern, timeout=300):
    """Reads stderr until a line matches (or end of file); p.reader keeps
    collecting afterwards and ends at end of file."""
    lines, found = [], threading.Event()

    def reader():
        for line in p.stderr:
            lines.append(line)
            if pattern.search(line):
                found.set()
        found.set()

    p.reader = threading.Thread(target=reader, daemon=True)
    p.reader.start()
    found.wait(timeout * T)
    return lines


def killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:  # the whole group has ended already
        pass


def seen(lines, pattern):
    return any(pattern.search(x) for x in list(lines))


def group_gone(pgid, timeout=10):
    """No process of the run's group is left (the workers were reaped or died)."""
    end = time.time() + timeout * T
    while time.time() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def temporaries(tmp):
    return [os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs if f.startswith(".")]


for how in ("SIGINT to the group", "SIGTERM to the parent", "SIGTERM to the group"):
    with tempfile.TemporaryDirectory(prefix="interrupt-rank-") as tmp:
        out, csv_out = os.path.join(tmp, "r.json"), os.path.join(tmp, "r.csv")
        p = start(tmp, ["--json", out, "--csv", csv_out])
        lines = wait_for(p, DONE)
        if not check(seen(lines, DONE) and p.poll() is None, "%s: no arch done in a running study:\n%s"
                     % (how, "".join(lines))):
            killpg(p.pid, signal.SIGKILL)
            p.wait()
            continue
        if how.startswith("SIGINT"):
            os.killpg(p.pid, signal.SIGINT)
        elif how.endswith("group"):
            os.killpg(p.pid, signal.SIGTERM)
        else:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=120 * T)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            check(False, "%s: no exit within %d s" % (how, 120 * T))
            continue
        p.reader.join(60 * T)  # its last lines (end of file once the workers are gone too)
        check(p.returncode == 130, "%s: rc %d, stderr %s" % (how, p.returncode, "".join(lines)))
        notices = [x for x in lines if "stopping at the next safe point" in x]
        check(len(notices) == 1, "%s: the interrupt notice printed %d times" % (how, len(notices)))
        check(any(STEP.search(x) for x in lines), "%s: no per-step progress line before the first arch was done:\n%s"
              % (how, "".join(lines)))
        check(group_gone(p.pid), "%s: worker processes left" % how)
        try:
            doc = json.load(open(out))
        except (OSError, ValueError) as e:
            check(False, "%s: --json not valid: %s" % (how, e))
            continue
        sig = "SIGINT" if how.startswith("SIGINT") else "SIGTERM"
        check(doc.get("interrupted") is True and doc.get("signal") == sig, "%s: interrupted %r signal %r"
              % (how, doc.get("interrupted"), doc.get("signal")))
        done = [a for a in doc.get("archs", []) if a.get("complete")]
        check(1 <= len(done) < N and doc.get("completed") == {"archs": len(done), "of_archs": N},
              "%s: completed %r, %d archs complete" % (how, doc.get("completed"), len(done)))
        check(all("test_acc" in a for a in done), "%s: a complete arch lacks its accuracy" % how)
        check(all(c["n"] <= len(done) for c in doc.get("correlations", [])), "%s: correlations over incomplete archs"
              % how)
        check(os.path.exists(csv_out), "%s: no --csv" % how)
        check(temporaries(tmp) == [], "%s: temporary files left %r" % (how, temporaries(tmp)))

with tempfile.TemporaryDirectory(prefix="interrupt-rank-") as tmp:
    out = os.path.join(tmp, "r.json")
    old = "{ the previous results " * 1000
    with open(out, "w") as f:
        f.write(old)
    p = start(tmp, ["--json", out])
    lines = wait_for(p, DONE)
    check(seen(lines, DONE) and p.poll() is None, "second signal: no arch done in a running study")
    killpg(p.pid, signal.SIGINT)
    time.sleep(0.05)  # (only orders the two signals; any delay gives the same result)
    killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=10 * T)
        check(p.returncode == 130, "second signal: rc %d" % p.returncode)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        check(False, "second signal: still running after %d s" % (10 * T))
    check(group_gone(p.pid), "second signal: worker processes left")
    check(open(out).read() == old, "second signal: the previous --json was touched")

for f in fails:
    print("FAIL:", f)
print("%d checks failed" % len(fails))
sys.exit(1 if fails else 0)
