#!/bin/sh
# The load benchmark (issue: speed that holds under load): the tiny-preset
# sigeo-nas run, with and without one competing busy process, default
# threads against --threads 1. Prints wall seconds of each of the four runs
# and the ratio default / --threads 1 under load (target <= 1.25).
#
#   bench/load.sh [extra sigeo-nas flags]
#
# $SIGEO_BUILD_DIR picks the build directory (default build-bench next to
# this folder). The competitor is a shell busy loop pinned to nothing; it is
# killed on exit whatever happens.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${SIGEO_BUILD_DIR:-$here/../build-bench}
nas=$build/examples/sigeo-nas
if [ ! -x "$nas" ]; then
    echo "load.sh: $nas not found; build first: meson setup build-bench && ninja -C build-bench" >&2
    exit 2
fi
args="--preset tiny --rows 4000 --top-k 2 --batch 64 --quiet $*"
busy=""
cleanup() { [ -n "$busy" ] && kill "$busy" 2>/dev/null; true; }
trap cleanup EXIT INT TERM

wall() {  # wall seconds of one sigeo-nas run
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$nas" $args "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average at start: $(cut -d' ' -f1 /proc/loadavg)"
idle_default=$(wall)
idle_one=$(wall --threads 1)
( while :; do :; done ) &
busy=$!
busy_default=$(wall)
busy_one=$(wall --threads 1)
kill "$busy" 2>/dev/null; busy=""
printf '%-28s %8s\n' "run" "seconds"
printf '%-28s %8s\n' "idle, default threads" "$idle_default"
printf '%-28s %8s\n' "idle, --threads 1" "$idle_one"
printf '%-28s %8s\n' "1 busy process, default" "$busy_default"
printf '%-28s %8s\n' "1 busy process, --threads 1" "$busy_one"
echo "$busy_default $busy_one" | awk '{ r = $1 / $2; printf "under load: default / --threads 1 = %.2f (target <= 1.25: %s)\n", r, r <= 1.25 ? "met" : "MISSED" }'
