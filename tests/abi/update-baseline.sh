#!/usr/bin/env bash
# Regenerates tests/abi/libsigeo.abi, the ABI baseline the abidiff_baseline
# test compares every build against.
#
# RUN THIS ONLY WHEN THE API GREW BY ADDITIONS: new functions (each listed in
# a new or the newest node of lib/libsigeo.map), new enumerators, new public
# types, fields appended at the end of a struct_size struct. Commit the new
# baseline in the same change as those additions.
#
# Never run it to make a failing abidiff_baseline pass: a removed function, a
# reordered/inserted/retyped field or a changed signature breaks every host
# binary built against libsigeo.so.1. Add a _v2 sibling instead (docs/style.md §7).
# The script refuses to record an incompatible change unless given
# --break-abi, which is only for a deliberate SONAME bump.
#
# usage: tests/abi/update-baseline.sh [--break-abi] BUILDDIR
#   BUILDDIR: a configured and built meson build dir with debug info
#   (buildtype debugoptimized or debug), e.g. build-abi.
set -u
force=0
if [ "${1:-}" = "--break-abi" ]; then
    force=1
    shift
fi
[ $# -eq 1 ] || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/abi-lib.sh"
abi_init "$here/../.." "$1"
for t in abidw abidiff readelf; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not found: apt-get install abigail-tools binutils"; exit 1; }
done

LIB=$BUILD/lib/libsigeo.so
BASELINE=$SRC/tests/abi/libsigeo.abi
[ -e "$LIB" ] || { echo "$LIB not found: run ninja -C $BUILD first"; exit 1; }
readelf -S -W "$LIB" | grep -q '\.debug_info' || { echo "$LIB has no debug info: use buildtype debugoptimized"; exit 1; }

abi_dump "$LIB" "$TMP/new.abi" || { echo "abidw failed"; exit 1; }
if [ -f "$BASELINE" ]; then
    status=0
    abidiff --non-reachable-types "$BASELINE" "$TMP/new.abi" >"$TMP/report" 2>&1 || status=$?
    if ! abi_verdict "$status" "$TMP/report" "$BASELINE" "$TMP/new.abi"; then
        if [ "$force" = 0 ]; then
            echo "refusing to record an incompatible ABI as the baseline (see above)."
            echo "Only for a deliberate break that also bumps soversion: $0 --break-abi $1"
            exit 1
        fi
        echo "--break-abi: recording an incompatible baseline; bump soversion in lib/meson.build too."
    fi
fi
cp "$TMP/new.abi" "$BASELINE"
echo "wrote $BASELINE; commit it together with the API additions"
