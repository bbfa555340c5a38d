#!/usr/bin/env bash
# `mpirun -np N sigeo-nas` just works: rank 0 prints and writes --out, the
# other ranks are silent, and np 1, 2 and 4 give the same evaluation
# records, top-k retrain results and best architecture (timings aside).
# np 2 is the job killed part-way and resumed below: its records and result
# must equal np 1's as well (the killed part's records come back from the
# checkpoint, the rest and the retrain run on 2 ranks), so it checks np 2
# and resume in one run pair (a separate uninterrupted np 2 run was a
# quarter of this test's time).
# Then a job whose data cannot be read ends at once on every rank, with one
# message from rank 0 and a non-zero exit (under a timeout: no hang).
#   sigeo-nas-np.sh SIGEO_NAS [NP...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
# deadlines scale like meson's timeouts (tests/meson.build)
scale=$(awk -v s="${SIGEO_TEST_TIME_SCALE:-1}" 'BEGIN { s = int(s + 0.5); print (s < 1 ? 1 : s) }')
nas=$1
shift
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# enough search after the first checkpoint for the kill below to land in
# it (~3 s for mpirun's SIGTERM): 2000 cycles plain (500 gave ~6.5 s of
# search on Zen 4 but 1.5 s on Zen 5, where the job ended before the kill;
# 60 were enough until the token-mixing layers became one GEMM each and
# a cycle 6x faster, 13 ms); under
# valgrind or ASan (scale > 2) every cycle is 5-10x slower and 150 do
cycles=2000
[ "$scale" -gt 2 ] && cycles=150
args=(--rows 6000 --preset tiny --population 8 --sample 4 --children 3 --cycles "$cycles" --top-k 3 --batch 64
      --warmup 0.1 --retrain-epochs 0.2 --threads 1 --quiet)
for np in "$@"; do
    "$here/mpirun.sh" "$np" 240 "$nas" "${args[@]}" --out "$tmp/np$np.json" >"$tmp/np$np.txt" 2>&1 ||
        { echo "FAIL: np $np exited $?"; cat "$tmp/np$np.txt"; exit 1; }
    n=$(grep -c '^best architecture' "$tmp/np$np.txt")
    [ "$n" = 1 ] || { echo "FAIL: np $np printed the result $n times (rank 0 only expected)"; exit 1; }
done
python3 - "$tmp" "$@" <<'PY' || exit 1
import json, sys
d, nps = sys.argv[1], sys.argv[2:]
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if 'second' not in k}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
ref = json.load(open(f"{d}/np{nps[0]}.json"))
for np in nps[1:]:
    got = json.load(open(f"{d}/np{np}.json"))
    for key in ("evaluations", "top_k", "best"):
        if strip(got[key]) != strip(ref[key]):
            print(f"FAIL: np {np} differs from np {nps[0]} in '{key}'")
            sys.exit(1)
print(f"np {' '.join(nps)}: {len(ref['evaluations'])} evaluations, top-k and best identical")
PY
# a 2-rank job killed part-way and started again with the same --resume DIR
# ends with the uninterrupted records and result. The kill comes once the
# search has written its first checkpoint (the warmed supernet and the
# search at cycle 0), an event seen in DIR: a fixed 5 s kill (before)
# landed after the end on a fast machine and before the warm-up's end under
# ASan, so neither resumed from a search checkpoint. (Waiting for the
# cycle-5 checkpoint left too little of the run: it often ended first; so
# did 8 cycles after the first checkpoint, 0.7 s of search against the ~3 s
# mpirun takes to deliver the SIGTERM: `cycles` above keeps ~6 s after it.)
# The wait is bounded only.
old="{ the previous results, to be kept or replaced whole"
printf '%s' "$old" >"$tmp/killed.json"
"$here/mpirun.sh" 2 240 "$nas" "${args[@]}" --resume "$tmp/ck" --out "$tmp/killed.json" >"$tmp/killed.txt" 2>&1 &
job=$!
seen=
deadline=$(( $(date +%s) + 240 * scale ))
while kill -0 "$job" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
    [ -e "$tmp/ck/search.ckpt" ] && { seen=1; break; }
    sleep 0.05
done
# SIGINT, as a terminal's Ctrl-C: timeout passes it to mpirun, which
# SIGTERMs every rank (SIGKILL a second later) and exits non-zero
t0=$(date +%s)
kill -INT "$job" 2>/dev/null
wait "$job"
rc=$? took=$(( $(date +%s) - t0 ))
[ -n "$seen" ] || { echo "FAIL: the job never wrote its first search checkpoint"; cat "$tmp/killed.txt"; exit 1; }
[ $rc -ne 0 ] && [ $took -lt $((60 * scale)) ] ||
    { echo "FAIL: SIGINT to mpirun: exit $rc after $took s"; cat "$tmp/killed.txt"; exit 1; }
# the pre-existing --out: untouched, or what was complete, marked
# interrupted (atomic: never a prefix; an uninterrupted result would mean
# the signal came after the end and the resume continued nothing)
python3 -c 'import json, sys
text = open(sys.argv[1]).read()
if text == sys.argv[2]:
    print("SIGINT to mpirun: exit %s after %s s, --out untouched" % (sys.argv[3], sys.argv[4])); sys.exit(0)
d = json.loads(text)
print("SIGINT to mpirun: exit %s after %s s, --out interrupted %s" % (sys.argv[3], sys.argv[4], d.get("interrupted")))
sys.exit(0 if d.get("interrupted") is True else 1)' "$tmp/killed.json" "$old" "$rc" "$took" ||
    { echo "FAIL: the killed job's --out is neither untouched nor an interrupted result"; exit 1; }
"$here/mpirun.sh" 2 240 "$nas" "${args[@]}" --resume "$tmp/ck" --out "$tmp/resumed.json" >"$tmp/resumed.txt" 2>&1 ||
    { echo "FAIL: the resumed job exited $?"; cat "$tmp/resumed.txt"; exit 1; }
n=$(grep -c '^best architecture' "$tmp/resumed.txt")
[ "$n" = 1 ] || { echo "FAIL: np 2 (resumed) printed the result $n times (rank 0 only expected)"; exit 1; }
python3 - "$tmp" "$1" <<'PY' || exit 1
import json, sys
d, np0 = sys.argv[1], sys.argv[2]
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if 'second' not in k}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
ref, got = json.load(open(f"{d}/np{np0}.json")), json.load(open(f"{d}/resumed.json"))
for key in ("evaluations", "top_k", "best"):
    if strip(got[key]) != strip(ref[key]):
        print(f"FAIL: the resumed job differs from the uninterrupted one in '{key}'")
        sys.exit(1)
print(f"killed and resumed (np 2): identical to the uninterrupted np {np0} run")
PY
# every rank fails to read: one message (rank 0), non-zero exit, no hang
"$here/mpirun.sh" 2 60 "$nas" --data criteo:/nonexistent/sigeo-mpi.tsv --quiet >"$tmp/fail.txt" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ] || { echo "FAIL: a job with unreadable data exited $rc"; cat "$tmp/fail.txt"; exit 1; }
n=$(grep -c 'sigeo-mpi.tsv' "$tmp/fail.txt")
[ "$n" -ge 1 ] || { echo "FAIL: no message naming the file"; cat "$tmp/fail.txt"; exit 1; }
echo "unreadable data: exit $rc, message: $(grep -m1 'sigeo-mpi.tsv' "$tmp/fail.txt")"
echo "1 passed, 0 failed"
