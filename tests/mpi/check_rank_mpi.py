#!/usr/bin/env python3
"""`mpirun -np 2 sigeo-rank` just works (issue 17), on a quick nb201-fmnist
study of 3 archs, both protocols, under tests/mpi/mpirun.sh (loopback,
oversubscribed, a timeout so that a hang fails):

 1. np 2 gives the single-process run's JSON: every per-arch value
    (accuracies, losses, every proxy at every level and protocol) and every
    correlation, equal exactly (timings aside); rank 0 alone prints the table;
    rank 0's progress line covers every rank's archs: it shows rank 1's arch
    steps and counts 3/3 archs done (rank 0's own share is 1 of the 3).
 2. Resume under MPI: the np 2 run again on its own cache computes nothing
    (every arch from the cache) and gives the same JSON.
 3. A rank that fails (MPMD: rank 1 gets a --data-dir that does not exist)
    ends the job at once: non-zero exit, one message on rank 0 naming
    rank 1 and the directory, no hang. A rank that dies mid-study (SIGKILL
    to rank 1 once rank 0 shows its steps) ends the job too: rank 0 waits
    for rank 1's reports in blocking receives, and must not hang there.
 4. Interrupts (Open MPI 4.1's mpirun: SIGINT/SIGTERM become SIGTERM to every
    rank, SIGKILL a second later (odls_base_sigkill_timeout), exit 1;
    SIGUSR1 is forwarded as is):
    - SIGINT to mpirun mid-study: mpirun ends within seconds; the
      pre-existing --json is byte for byte untouched or replaced by valid
      JSON marked "interrupted": true (atomic writes: never a prefix);
    - SIGUSR1 to mpirun: every rank stops at its next step, rank 0 writes
      the complete archs ("interrupted": true, "signal": "SIGUSR1"), exit 130.
 (sigeo-nas under mpirun, SIGINT to mpirun during the search, is checked
 by tests/mpi/sigeo-nas-np.sh on its killed-and-resumed job: one job less.)

usage: check_rank_mpi.py MPIRUN_SH SIGEO_RANK [SIGEO_NAS (unused)]
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

mpirun_sh, rank = (os.path.abspath(a) for a in sys.argv[1:3])
if not any(os.path.exists(os.path.join(d, f)) for d in [os.environ.get("SIGEO_DATA_DIR", ""),
                                                         "/usr/share/datasets/fashion-mnist"] if d
           for f in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
    print("SKIP: Fashion-MNIST is not installed (apt-get install -y dataset-fashion-mnist)")
    sys.exit(77)
fails = []
# Deadlines bound a broken run, never a wait (every wait ends on an event);
# they scale like meson's --timeout-multiplier (tests/meson.build: tests/run.sh
# exports SIGEO_TEST_TIME_SCALE per step; mpirun.sh scales its own limit).
T = max(1.0, float(os.environ.get("SIGEO_TEST_TIME_SCALE") or 1))
ARCHS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "10020", "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_1x1~2|"]
QUICK = ["--quick", "--train-rows", "256", "--test-rows", "100", "--levels", "0,50", "--resamples", "50",
         "--proxies", "nwot,zico,synflow,neg-loss", "--threads", "1"]


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if "second" not in k and k not in ("argv", "jobs", "threads")}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def reading(q):
    """Collects q's stderr lines on a thread; returns (lines, event set on each line)."""
    lines, got = [], threading.Event()

    def reader():
        for line in q.stderr:
            lines.append(line)
            got.set()
        got.set()

    q.reader = threading.Thread(target=reader, daemon=True)
    q.reader.start()
    return lines, got


def wait_line(q, lines, got, pattern, seconds):
    """Waits until a stderr line matches (True), the process ends or the deadline passes (False)."""
    rx, end = re.compile(pattern), time.time() + seconds * T
    while time.time() < end:
        if any(rx.search(x) for x in list(lines)):
            return True
        if q.poll() is not None and not q.reader.is_alive():
            return False
        got.clear()
        got.wait(1.0)
    return False


def rank_pid(launcher, r):
    """The pid of MPI rank r among the launcher's descendants (OMPI_COMM_WORLD_RANK in its environment)."""
    todo, seen = [launcher], set()
    while todo:
        pid = todo.pop()
        seen.add(pid)
        try:
            kids = [int(k) for t in os.listdir("/proc/%d/task" % pid)
                    for k in open("/proc/%d/task/%s/children" % (pid, t)).read().split()]
        except OSError:
            continue
        for k in kids:
            try:
                env = open("/proc/%d/environ" % k, "rb").read().split(b"\0")
            except OSError:
                continue
            if ("OMPI_COMM_WORLD_RANK=%d" % r).encode() in env and b"sigeo-rank" in open("/proc/%d/cmdline" % k, "rb").read():
                return k
            if k not in seen:
                todo.append(k)
    return None


def mpirun(np, args, timeout=300, env=None):
    return subprocess.run([mpirun_sh, str(np), str(timeout), rank] + args, capture_output=True, text=True,
                          env=env)


with tempfile.TemporaryDirectory(prefix="rank-mpi-") as tmp:
    archs = os.path.join(tmp, "archs.txt")
    open(archs, "w").write("\n".join(ARCHS) + "\n")
    base = QUICK + ["--archs", archs]
    one = subprocess.run([rank] + base + ["--cache", tmp + "/c1", "--json", tmp + "/one.json", "--quiet"],
                         capture_output=True, text=True, timeout=600 * T)
    check(one.returncode == 0, "single process: rc %d\n%s" % (one.returncode, one.stderr))
    # every progress update a line: rank 1's last report (its share's end) is always among them
    two = mpirun(2, base + ["--cache", tmp + "/c2", "--json", tmp + "/two.json"],
                 env=dict(os.environ, SIGEO_PROGRESS_INTERVAL="0"))
    check(two.returncode == 0, "np 2: rc %d\n%s%s" % (two.returncode, two.stdout, two.stderr))
    if not fails:
        a, b = json.load(open(tmp + "/one.json")), json.load(open(tmp + "/two.json"))
        for key in ("archs", "correlations", "ensembles"):
            check(strip(a[key]) == strip(b[key]), "np 2 differs from one process in '%s'" % key)
        n_tables = two.stdout.count("rank correlation with test accuracy")
        check(n_tables == 4, "np 2 printed %d tables (rank 0 alone: 4)" % n_tables)
        check("2 MPI ranks" in two.stderr, "np 2: no '2 MPI ranks' note:\n" + two.stderr)
        # rank 0's line covers rank 1's archs (2 of the 3: sigeo_mpi_map's blocks)
        check(re.search(r"archs done; rank 1: arch \S+ (step \d+/\d+|done)", two.stderr),
              "np 2: rank 0's progress never showed rank 1's archs:\n" + two.stderr)
        check("3/3 archs done" in two.stderr, "np 2: rank 0's progress never counted every rank's archs:\n"
              + two.stderr)
        # 2. resume: everything from the cache
        again = mpirun(2, base + ["--cache", tmp + "/c2", "--json", tmp + "/again.json"])
        check(again.returncode == 0, "np 2 resumed: rc %d\n%s" % (again.returncode, again.stderr))
        check("3 archs from the cache" in again.stderr, "np 2 resumed: not from the cache:\n" + again.stderr)
        if again.returncode == 0:
            c = json.load(open(tmp + "/again.json"))
            check(strip(c["archs"]) == strip(b["archs"]) and strip(c["correlations"]) == strip(b["correlations"]),
                  "np 2 resumed differs")
    # 3. one rank cannot read its data: MPMD, rank 1 with a bad --data-dir
    t0 = time.time()
    env = dict(os.environ)
    p = subprocess.run([mpirun_sh, "1", "120", rank] + base + ["--cache", tmp + "/c3", "--quiet", ":", "-np", "1",
                        rank] + base + ["--cache", tmp + "/c3", "--quiet", "--data-dir", "/nonexistent/fmnist"],
                       capture_output=True, text=True)
    check(p.returncode not in (0, 124, 137), "failing rank: rc %d (want a failure, no timeout)" % p.returncode)
    msgs = [x for x in p.stderr.splitlines() if "rank 1" in x and "/nonexistent/fmnist" in x]
    check(len(msgs) == 1, "failing rank: want one message naming rank 1 and the directory:\n" + p.stderr)
    check(time.time() - t0 < 60 * T, "failing rank: took %.0f s" % (time.time() - t0))

    # 4. interrupts under mpirun: a longer study (the signal lands mid-run;
    # 12 archs keep a fast machine busy, the signal cuts the study short)
    LONG = ["--quick", "--train-rows", "1024", "--test-rows", "100", "--epochs", "2", "--levels", "0",
            "--protocol", "per-arch", "--proxies", "nwot", "--sample", "12", "--resamples", "20", "--threads", "1"]

    # a rank that dies mid-study: SIGKILL to rank 1 once rank 0's line shows its steps
    q = subprocess.Popen([mpirun_sh, "2", "300", rank] + LONG + ["--cache", tmp + "/c-dies"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=dict(os.environ, SIGEO_PROGRESS_INTERVAL="0"))
    lines, got = reading(q)
    if check(wait_line(q, lines, got, r"rank 1: arch \S+ step [1-9]", 200), "dying rank: rank 1's steps never shown:\n"
             + "".join(lines[-20:])):
        victim = rank_pid(q.pid, 1)
        if check(victim is not None, "dying rank: rank 1's process not found"):
            t0 = time.time()
            os.kill(victim, signal.SIGKILL)
            try:
                q.wait(timeout=60 * T)
                check(q.returncode != 0, "dying rank: rc 0")  # (137: mpirun reports the SIGKILL; a hang fails the wait)
                print("rank 1 killed: the job ended after %.1f s, exit %d" % (time.time() - t0, q.returncode))
            except subprocess.TimeoutExpired:
                check(False, "dying rank: the job still runs %d s after rank 1 died" % (60 * T))
    if q.poll() is None:
        q.kill()
        q.wait()
    for sig in (signal.SIGINT, signal.SIGUSR1):
        out = os.path.join(tmp, "int.json")
        old = "{ the previous results " * 500
        open(out, "w").write(old)
        q = subprocess.Popen([mpirun_sh, "2", "300", rank] + LONG + ["--cache", tmp + "/c4-%d" % sig, "--json", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, SIGEO_PROGRESS_INTERVAL="0.2"))
        # wait for the first arch to be done (rank 0's line counts every rank's), then signal mpirun
        lines, got = reading(q)
        if not check(wait_line(q, lines, got, r"[1-9]\d*/12 archs done", 200) and q.poll() is None,
                     "%s: no arch done in a running study:\n%s" % (sig.name, "".join(lines[-20:]))):
            q.kill()
            q.wait()
            continue
        t0 = time.time()
        # mpirun.sh execs timeout, which passes SIGINT on but not SIGUSR1: signal mpirun itself
        target = q.pid
        try:
            kids = open("/proc/%d/task/%d/children" % (q.pid, q.pid)).read().split()
            target = int(kids[0]) if kids else q.pid
        except OSError:
            pass
        os.kill(target, sig)
        try:
            q.wait(timeout=60 * T)
            q.reader.join(60 * T)
            se = "".join(lines)
        except subprocess.TimeoutExpired:
            q.kill()
            q.wait()
            check(False, "%s: mpirun still running %d s after the signal" % (sig.name, 60 * T))
            continue
        took = time.time() - t0
        text = open(out).read()
        if sig == signal.SIGUSR1:
            check(q.returncode == 130, "SIGUSR1: rc %d (want 130)\n%s" % (q.returncode, se))
            try:
                doc = json.loads(text)
                check(doc.get("interrupted") is True and doc.get("signal") == "SIGUSR1",
                      "SIGUSR1: interrupted %r signal %r" % (doc.get("interrupted"), doc.get("signal")))
                done = [a for a in doc["archs"] if a["complete"]]
                check(1 <= len(done) < 12, "SIGUSR1: %d complete archs (want some, not all)" % len(done))
            except ValueError:
                check(False, "SIGUSR1: --json not valid JSON")
        else:
            check(q.returncode != 0, "SIGINT: rc 0")
            if text != old:
                try:
                    check(json.loads(text).get("interrupted") is True, "SIGINT: the new --json is not 'interrupted'")
                except ValueError:
                    check(False, "SIGINT: --json neither untouched nor valid JSON")
        print("%s to mpirun: exit %d after %.1f s, --json %s" % (sig.name, q.returncode, took,
                                                                 "untouched" if text == old else "rewritten"))

for f in fails:
    print("FAIL:", f)
print("%d checks failed" % len(fails))
sys.exit(1 if fails else 0)
