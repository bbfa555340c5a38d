#!/bin/sh
# The memory benchmark: peak RSS of sigeo-nas on 0.4 M and 4 M synthetic
# rows (the same tiny search, so only the data's footprint differs), and the
# ratio (target: 4 M within 1.2x of 0.4 M — a run's memory must not grow with
# the row count). Uses GNU time's %M (apt-get install -y time).
#
# The data goes through the on-disk dataset cache (sigeo-nas --cache): a
# first, unmeasured run per row count writes the cache (generating the rows
# in memory once), the measured run maps it read-only. Set MEMORY_NO_CACHE=1
# to measure the in-memory path instead (what it was before the cache).
# MEMORY_DIR picks the folder for the cache files (default: a temporary
# folder, removed at exit; 4 M rows take ~0.7 GB).
#
#   bench/memory.sh [extra sigeo-nas flags]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${SIGEO_BUILD_DIR:-$here/../build-bench}
nas=$build/examples/sigeo-nas
if [ ! -x "$nas" ]; then
    echo "memory.sh: $nas not found; build first: meson setup build-bench && ninja -C build-bench" >&2
    exit 2
fi
if [ ! -x /usr/bin/time ]; then
    echo "memory.sh: /usr/bin/time not found (apt-get install -y time)" >&2
    exit 2
fi
run() {  # one run on $1 rows, extra flags after it
    rows=$1
    shift
    # shellcheck disable=SC2086
    "$@" "$nas" --preset tiny --rows "$rows" --warmup 0.001 --top-k 1 --population 4 --sample 2 --children 2 --cycles 1 \
        --retrain-epochs 0.001 --quiet $extra >/dev/null 2>&1
}
peak() {  # peak RSS in MiB of one run on $1 rows, into $result (not run in
          # a $(...) subshell: dash would run the EXIT trap there)
    if [ -z "${MEMORY_NO_CACHE:-}" ]; then
        cache="$dir/rows-$1.cache"
        extra="$user_extra --cache $cache"
        [ -f "$cache" ] || run "$1" env || true
        [ -f "$cache" ] || { echo "memory.sh: writing $cache failed" >&2; exit 1; }
    fi
    run "$1" /usr/bin/time -f '%M' -o "$tmp"
    result=$(awk '{ printf "%.1f", $1 / 1024 }' "$tmp")
}
tmp=$(mktemp)
dir=${MEMORY_DIR:-$(mktemp -d)}
cleanup() { rm -f "$tmp"; [ -n "${MEMORY_DIR:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT
user_extra="$*"
extra="$user_extra"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(free -g | awk '/Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1 /proc/loadavg); data path: $([ -n "${MEMORY_NO_CACHE:-}" ] && echo in-memory || echo "cache (mapped)")"
peak 400000
small=$result
peak 4000000
big=$result
printf 'peak RSS 0.4 M rows: %s MiB\npeak RSS 4 M rows:   %s MiB\n' "$small" "$big"
echo "$big $small" | awk '{ r = $1 / $2; printf "ratio 4 M / 0.4 M = %.2f (target <= 1.2: %s)\n", r, r <= 1.2 ? "met" : "MISSED" }'
