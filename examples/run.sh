#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (as root) or a developer's:
# installs what is missing, builds sigeo-nas (and only it), and runs it with
# the arguments given (bash examples/run.sh --help).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(meson ninja-build pkg-config gcc g++ libdnnl-dev libopenblas-dev check zlib1g-dev dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ -z "${SIGEO_SKIP_INSTALL:-}" ]; then
    echo "== installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Its own build directory with only the library and the programs (no
# tests, benches or fuzz replays), and only the target it runs: the first run
# compiles the library and sigeo-nas, nothing else. build/ stays the
# developers' and tests/run.sh's.
dir=build-run
if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dtests=disabled -Dbench=false -Dexamples=true -Dabi_check=disabled -Ddocs=disabled >&2
fi
ninja -C "$dir" examples/sigeo-nas >&2
exec "$dir/examples/sigeo-nas" "$@"
