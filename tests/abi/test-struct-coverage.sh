#!/usr/bin/env bash
# struct_layout_covers_all_structs: every struct with a body in a public
# header (globbed at run time, so a new header is covered) has its pins in
# test_struct_layout.c, and that file pins no struct that no longer exists.
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
[ -n "$LIB" ] || { echo "usage: $0 SRCDIR BUILDDIR TEST_STRUCT_LAYOUT_EXE" >&2; exit 2; }
mapfile -t hdrs < <(abi_headers | cut -f2)
abi_public_structs "${hdrs[@]}" >"$TMP/public"
"$LIB" --list | sort -u >"$TMP/pinned" || { echo "FAIL: $LIB --list failed"; exit 1; }
unpinned=$(comm -23 "$TMP/public" "$TMP/pinned")
stale=$(comm -13 "$TMP/public" "$TMP/pinned")
[ -z "$unpinned" ] || abi_fail "public structs without sizeof/offsetof pins: add a LAYOUT() for each to tests/abi/test_struct_layout.c:" $unpinned
[ -z "$stale" ] || abi_fail "pinned in test_struct_layout.c but defined in no public header:" $stale
echo "$(wc -l <"$TMP/public") public structs, $(wc -l <"$TMP/pinned") pinned"
abi_finish
