#!/usr/bin/env bash
# The Python, Rust and Go packages against libsigeo installed to a staging
# prefix (meson install --destdir), as a user would build them. Called by
# tests/run.sh after the plain build; a missing toolchain is skipped with a
# message saying what to install.
#   bash tests/bindings/run-bindings.sh [BUILDDIR]      (default build/)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$(cd "${1:-build}" && pwd)
stage="$build/bindings-stage"
rm -rf "$stage"
meson install -C "$build" --destdir "$stage" --quiet >/dev/null
so=$(find "$stage" -name libsigeo.so.1 | head -1)
[ -n "$so" ] || { echo "FAIL: meson install put no libsigeo.so.1 under $stage"; exit 1; }
libdir=$(dirname "$so")
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" LD_LIBRARY_PATH="$libdir"
echo "== bindings against $libdir"
skipped=()

# A stats-only host (tests/bindings/stats_host.c) built with pkg-config sigeo-stats alone runs
# without oneDNN and OpenBLAS loaded.
echo "== C: a stats-only host against pkg-config sigeo-stats"
host="$build/bindings-stats-host"
${CC:-cc} -std=c11 -O1 -o "$host" tests/bindings/stats_host.c $(pkg-config --cflags --libs sigeo-stats) -lm
if ldd "$host" | grep -Eq 'libdnnl|libopenblas|libsigeo\.so'; then
    echo "FAIL: a sigeo-stats host loads:"; ldd "$host"; exit 1
fi
"$host" >/dev/null
echo "ok: ran, loading $(ldd "$host" | grep -o 'libsigeo[^ ]*' | head -1) and no backend"

py=/usr/bin/python3   # Debian's, where python3-torch / -numpy / -pytest install
if [ -x "$py" ] && "$py" -c "import numpy, pytest" 2>/dev/null; then
    "$py" -c "import torch" 2>/dev/null || echo "note: python3-torch missing: the sigeo.torch tests skip"
    echo "== python: pytest examples/python/tests"
    (cd examples/python && SIGEO_LIB="$so" "$py" -m pytest -q -p no:cacheprovider tests)
else
    skipped+=("python (apt-get install python3-numpy python3-pytest python3-torch)")
fi

if command -v cargo >/dev/null; then
    echo "== rust: cargo test --offline (examples/rust)"
    (cd examples/rust && CARGO_TARGET_DIR="$build/cargo-target" cargo test --offline -q)
else
    skipped+=("rust (cargo not found)")
fi

if command -v go >/dev/null; then
    echo "== go: go test (examples/go), cgocheck=2"
    export GOCACHE="${GOCACHE:-$build/go-cache}" GOPATH="${GOPATH:-$build/go-path}"
    (cd examples/go && GOFLAGS=-mod=mod GOPROXY=off GODEBUG=cgocheck=2 go test -count=1 ./...)
else
    skipped+=("go (apt-get install golang-go)")
fi

for s in "${skipped[@]}"; do
    echo "SKIPPED: $s"
done
echo "== bindings done"
