#!/usr/bin/env bash
# abidiff_baseline: the public ABI of the freshly built libsigeo.so against
# the committed baseline tests/abi/libsigeo.abi.
#
#  - abidiff bit 8 (ABIDIFF_ABI_INCOMPATIBLE_CHANGE: a removed function, a
#    changed SONAME, a changed enumerator value, ...) fails;
#  - bit 4 (ABIDIFF_ABI_CHANGE) passes and prints the report only when every
#    change is known to be compatible: added functions, variables, types and
#    enumerators, and data members appended after the old end of a struct
#    (the struct_size protocol, docs/style.md §4). abidiff reports a reordered,
#    inserted, resized, retyped or removed member, or a changed parameter or
#    return type, with bit 4 only, so those fail here;
#  - a function of the baseline missing from the library fails whatever the
#    exit status says.
# When the API grew by additions only, refresh the baseline with
# tests/abi/update-baseline.sh and commit it with the change.
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
[ -n "$LIB" ] || { echo "usage: $0 SRCDIR BUILDDIR LIBSIGEO_SO" >&2; exit 2; }
abi_need_tool abidw "apt-get install abigail-tools"
abi_need_tool abidiff "apt-get install abigail-tools"
abi_need_tool readelf "apt-get install binutils"

BASELINE=$SRC/tests/abi/libsigeo.abi
readelf -h "$LIB" | grep -q 'Machine:.*X86-64' ||
    abi_skip "the baseline describes the x86_64 ABI; this library is built for another machine"
readelf -S -W "$LIB" | grep -q '\.debug_info' ||
    abi_skip "libsigeo.so has no DWARF (build type without -g); abidw needs debug info (use debugoptimized or debug)"
[ -f "$BASELINE" ] || {
    echo "FAIL: no baseline $BASELINE: create it with tests/abi/update-baseline.sh BUILDDIR"
    exit 1
}

status=0
abi_dump "$LIB" "$TMP/new.abi" || { echo "FAIL: abidw could not read $LIB"; exit 1; }
abidiff --non-reachable-types "$BASELINE" "$TMP/new.abi" >"$TMP/report" 2>&1 || status=$?
abi_verdict "$status" "$TMP/report" "$BASELINE" "$TMP/new.abi"
