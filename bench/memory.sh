#!/bin/sh
# The memory benchmark: peak RSS of sigeo-nas on 0.4 M and 4 M synthetic
# rows (the same tiny search, so only the data's footprint differs), and the
# ratio (target: 4 M within 1.2x of 0.4 M — a run's memory must not grow with
# the row count). Uses GNU time's %M (apt-get install -y time).
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
peak() {  # peak RSS in MiB of one run on $1 rows
    # shellcheck disable=SC2086
    /usr/bin/time -f '%M' -o "$tmp" "$nas" --preset tiny --rows "$1" --warmup 0.001 --top-k 1 --population 4 --sample 2 --children 2 --cycles 1 \
        --retrain-epochs 0.001 --quiet $extra >/dev/null 2>&1
    awk '{ printf "%.1f", $1 / 1024 }' "$tmp"
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
extra="$*"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(free -g | awk '/Mem:/ {print $2}') GiB"
small=$(peak 400000)
big=$(peak 4000000)
printf 'peak RSS 0.4 M rows: %s MiB\npeak RSS 4 M rows:   %s MiB\n' "$small" "$big"
echo "$big $small" | awk '{ r = $1 / $2; printf "ratio 4 M / 0.4 M = %.2f (target <= 1.2: %s)\n", r, r <= 1.2 ? "met" : "MISSED" }'
