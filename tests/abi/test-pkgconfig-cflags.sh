#!/usr/bin/env bash
# pkgconfig_cflags_free_of_backends: `pkg-config --cflags sigeo` must not put
# oneDNN or OpenBLAS include directories on a host's include path (docs/style.md
# §6: cblas.h clashes with the BLAS headers hosts already use). Reads the
# sigeo.pc meson generated for installation (BUILDDIR/meson-private).
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
abi_need_tool pkg-config "apt-get install pkgconf"
[ -f "$BUILD/meson-private/sigeo.pc" ] || { echo "FAIL: $BUILD/meson-private/sigeo.pc not generated"; exit 1; }
for mode in "" "--static"; do
    cflags=$(PKG_CONFIG_PATH=$BUILD/meson-private pkg-config --cflags $mode sigeo) ||
        { abi_fail "pkg-config --cflags $mode sigeo failed"; continue; }
    echo "pkg-config --cflags $mode sigeo: $cflags"
    leak=$(tr ' ' '\n' <<<"$cflags" | grep -iE 'dnnl|oneapi|openblas|cblas|blas|lapack' || true)
    [ -z "$leak" ] || abi_fail "pkg-config --cflags $mode sigeo adds backend include paths:" $leak
done
grep -E '^Requires' "$BUILD/meson-private/sigeo.pc" || true
abi_finish
