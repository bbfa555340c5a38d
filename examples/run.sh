#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (as root) or a developer's:
# installs what is missing, builds, and runs the current main program.
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
[ -f build/build.ninja ] || meson setup build >&2
ninja -C build >&2
exec build/examples/sigeo-nas "$@"
