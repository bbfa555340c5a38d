#!/bin/sh
# Runs bench-proxy and the PyTorch script on the same four cases (case by
# case, the two back to back) and prints torch_ms / sigeo_ms per case against
# the targets (>= 3 on mlp-small, >= 1.5 on mlp-large, dlrm and cell), and
# the plain-step ratio (PyTorch's plain fwd+bwd time over libsigeo's).
#
#   bench/compare.sh [--reps N | --quick] [--budget S] [--threads N] [--case NAME]... [--isa avx2]
#
# --isa avx2 runs both sides on AVX2 code on an AVX-512 CPU (an AVX2-only
# machine's instruction sets, not its microarchitecture): oneDNN on both
# sides held to AVX2 (ONEDNN_MAX_CPU_ISA), PyTorch's own kernels to AVX2
# (ATEN_CPU_CAPABILITY), OpenBLAS to Haswell kernels (OPENBLAS_CORETYPE),
# and the libsigeo build must be configured with -Dmax_isa=avx2 (checked).
#
# --case picks cases (default all four); --threads N (default 2) runs both
# sides on N threads (the libsigeo context's thread count, torch.set_num_threads);
# the other arguments go to both programs. With --threads 1 the table also
# compares process CPU time, which, unlike wall time, hardly depends on what
# else runs on a shared machine. The build directory is
# $SIGEO_BUILD_DIR, default build-bench next to this folder. PyTorch is
# Debian's python3-torch, run with /usr/bin/python3 (not a pyenv python3 that
# may come first on PATH); without it the libsigeo numbers are still printed
# and the script says why there is no comparison. With $COMPARE_OUT set to a
# directory, the raw JSON lines of both programs are kept there
# (sigeo.jsonl, torch.jsonl). Exit status 0 unless a program fails (a missed
# target is a finding, not an error).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${SIGEO_BUILD_DIR:-$here/../build-bench}
proxy=$build/bench/bench-proxy
py=${COMPARE_PYTHON:-/usr/bin/python3}  # override only to test the no-torch path

if [ ! -x "$proxy" ]; then
    echo "compare.sh: $proxy not found. Build it first:" >&2
    echo "  meson setup build-bench -Dbench=true && ninja -C build-bench" >&2
    exit 2
fi

if [ -n "${COMPARE_OUT:-}" ]; then
    mkdir -p "$COMPARE_OUT"
    tmp=$COMPARE_OUT
else
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
fi

have_torch=no
if [ ! -x "$py" ]; then
    why="$py does not exist (install Debian's python3 and python3-torch)"
elif ! "$py" -c 'import torch' >/dev/null 2>&1; then
    why="PyTorch is not installed for $py (apt-get install -y python3-torch)"
else
    have_torch=yes
fi
if [ "$have_torch" = no ]; then
    echo "compare.sh: TORCH MISSING: $why." >&2
    echo "compare.sh: running libsigeo only; no torch_ms / sigeo_ms ratios." >&2
fi

# Split the arguments: --case values pick the cases, the rest goes to both.
cases=""
rest=""
threads=2
while [ $# -gt 0 ]; do
    case "$1" in
    --case) cases="$cases $2"; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --isa)
        [ $# -ge 2 ] && [ "$2" = avx2 ] || { echo "compare.sh: --isa takes avx2, got '${2:-nothing}'" >&2; exit 2; }
        opts=$build/meson-info/intro-buildoptions.json
        # meson's introspection file lists every option as {"name": ..., "value": ...}
        if ! grep -q '"name": "max_isa", "value": "avx2"' "$opts" 2>/dev/null; then
            echo "compare.sh: --isa avx2 needs a build configured with -Dmax_isa=avx2; $build is not" >&2
            echo "  meson setup build-bench-avx2 -Dbench=true -Dmax_isa=avx2 && ninja -C build-bench-avx2" >&2
            echo "  SIGEO_BUILD_DIR=build-bench-avx2 bench/compare.sh --isa avx2" >&2
            exit 2
        fi
        export ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell
        echo "compare.sh: AVX2 code on both sides (ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2," \
            "OPENBLAS_CORETYPE=Haswell, libsigeo -Dmax_isa=avx2)" >&2
        shift 2 ;;
    *) rest="$rest $1"; shift ;;
    esac
done
[ -n "$cases" ] || cases="mlp-small mlp-large dlrm cell"

# Case by case, the two programs back to back: on a shared machine the load
# drifts, and this keeps both sides of each ratio under similar conditions.
: >"$tmp/sigeo.jsonl"
: >"$tmp/torch.jsonl"
for c in $cases; do
    echo "== libsigeo (bench-proxy --case $c)" >&2
    # shellcheck disable=SC2086
    "$proxy" --case "$c" --threads "$threads" $rest >>"$tmp/sigeo.jsonl"
    if [ "$have_torch" = yes ]; then
        echo "" >&2
        echo "== PyTorch (torch_proxy.py --case $c)" >&2
        # shellcheck disable=SC2086
        "$py" "$here/torch_proxy.py" --case "$c" --threads "$threads" $rest >>"$tmp/torch.jsonl"
    fi
    echo "" >&2
done

echo ""
if [ -x "$py" ]; then
    "$py" - "$tmp/sigeo.jsonl" "$tmp/torch.jsonl" "$have_torch" "$threads" <<'EOF'
import json, sys
def load(path):
    d = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            o = json.loads(line)
            d[(o["case"], o["metric"])] = o["value"]
    return d
s, t, have, threads = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3] == "yes", int(sys.argv[4])
print(f"{threads} thread(s) per side; wall time")
targets = {"mlp-small": 3.0, "mlp-large": 1.5, "dlrm": 1.5, "cell": 1.5}
print(f"{'case':10s} {'sigeo_ms':>10s} {'torch_ms':>10s} {'torch/sigeo':>12s} {'target':>7s}  {'verdict':15s}"
      f"| {'plain: sigeo':>12s} {'torch':>9s} {'torch/sigeo':>11s}")
for case, target in targets.items():
    sm, tm = s.get((case, "sigeo_ms")), t.get((case, "torch_ms"))
    sp, tp = s.get((case, "plain_ms")), t.get((case, "torch_plain_ms"))
    if sm is None:
        continue
    if have and tm is not None:
        r = tm / sm
        verdict = "met" if r >= target else f"MISSED by {100 * (1 - r / target):.1f}%"
        rp = f"{tp / sp:11.2f}" if (tp and sp) else "          -"
        print(f"{case:10s} {sm:10.3f} {tm:10.3f} {r:12.3f} {'>=' + str(target):>7s}  {verdict:15s}"
              f"| {sp:12.3f} {tp:9.3f} {rp}")
    else:
        print(f"{case:10s} {sm:10.3f} {'-':>10s} {'-':>12s} {'>=' + str(target):>7s}  no torch       "
              f"| {sp:12.3f} {'-':>9s} {'-':>6s}")
if not have:
    print("TORCH MISSING: no comparison was possible (see the message above).")
if have and threads == 1:
    print("\nprocess CPU time, 1 thread (robust to other load on the machine):")
    print(f"{'case':10s} {'sigeo_cpu':>10s} {'torch_cpu':>10s} {'torch/sigeo':>12s} {'target':>7s}  {'verdict':15s}"
          f"| {'plain cpu: sigeo':>16s} {'torch':>9s} {'torch/sigeo':>11s}")
    for case, target in targets.items():
        sc, tc = s.get((case, "sigeo_cpu_ms")), t.get((case, "torch_cpu_ms"))
        spc, tpc = s.get((case, "plain_cpu_ms")), t.get((case, "torch_plain_cpu_ms"))
        if sc and tc:
            r = tc / sc
            verdict = "met" if r >= target else f"MISSED by {100 * (1 - r / target):.1f}%"
            rp = f"{tpc / spc:11.2f}" if (tpc and spc) else "          -"
            print(f"{case:10s} {sc:10.3f} {tc:10.3f} {r:12.3f} {'>=' + str(target):>7s}  {verdict:15s}"
                  f"| {spc or 0:16.3f} {tpc or 0:9.3f} {rp}")
print("(medians over the reps of each program; all times are for k = 4 batches; the machine is shared,")
print(" so rerun when the load average is near 0 before quoting a number)")
EOF
else
    cat "$tmp/sigeo.jsonl"
fi
