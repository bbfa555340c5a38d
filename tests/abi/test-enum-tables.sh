#!/usr/bin/env bash
# enum_tables_are_complete: the library's per-kind tables (layer kind ->
# op in lib/nn/ops.c, proxy kind -> entry in lib/proxy/proxy.c) cannot
# silently miss a kind. Public enums carry no COUNT sentinel (sigeo.h), so
# the count is derived here from the header itself: for each enum, its
# enumerators must number 0..N-1 with no gap, the table's source must compile
# against the header as it is, and must FAIL to compile against a copy of
# the header with one more enumerator (N) appended and no table line for it.
# A table whose size check is pinned to the last enumerator compiles in the
# second case; that is the bug this test catches.
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
command -v "${CC_CMD[0]}" >/dev/null 2>&1 || abi_skip "C compiler '${CC_CMD[0]}' not found"

CFLAGS=(-std=c11 -D_POSIX_C_SOURCE=200809L -DSIGEO_BUILDING -fsyntax-only)

# enum  header  source  (enum tag as in "typedef enum TAG { ... } TAG_t;")
checks=(
    "sigeo_layer_kind model.h lib/nn/ops.c"
    "sigeo_proxy_kind proxy.h lib/proxy/proxy.c"
)

for c in "${checks[@]}"; do
    read -r tag header source <<<"$c"
    hdr="$SRC/include/sigeo/$header"
    # The enum's body: from "typedef enum TAG {" to "} TAG_t;".
    body=$(sed -n "/^typedef enum $tag {/,/^} ${tag}_t;/p" "$hdr")
    [ -n "$body" ] || { abi_fail "$header: enum $tag not found"; continue; }
    mapfile -t values < <(printf '%s\n' "$body" | sed -nE 's/^ *(SIGEO_[A-Z0-9_]+) = ([0-9]+),?.*/\2/p')
    n=${#values[@]}
    [ "$n" -gt 0 ] || { abi_fail "$header: enum $tag has no numbered enumerator"; continue; }
    for ((i = 0; i < n; i++)); do
        [ "${values[$i]}" = "$i" ] || abi_fail "$header: enum $tag enumerator $i is numbered ${values[$i]} (want 0..N-1)"
    done

    inc=(-I"$SRC/include" -I"$BUILD/include" -I"$SRC/lib")
    if ! out=$("${CC_CMD[@]}" "${CFLAGS[@]}" "${inc[@]}" "$SRC/$source" 2>&1); then
        abi_fail "$source does not compile against $header as it is:"
        printf '%s\n' "$out"
        continue
    fi

    # The same header with enumerator N appended (a kind added, its table line forgotten).
    mkdir -p "$TMP/$tag/sigeo"
    cp "$SRC"/include/sigeo/*.h "$TMP/$tag/sigeo/"
    probe=SIGEO_ABI_PROBE_KIND_$n
    awk -v tag="$tag" -v probe="$probe" -v n="$n" '
        $0 ~ "^} " tag "_t;" { print "    , " probe " = " n }
        { print }' "$hdr" >"$TMP/$tag/sigeo/$header"
    grep -q "$probe" "$TMP/$tag/sigeo/$header" || { abi_fail "could not append an enumerator to $tag"; continue; }
    inc=(-I"$TMP/$tag" -I"$BUILD/include" -I"$SRC/lib")
    if out=$("${CC_CMD[@]}" "${CFLAGS[@]}" "${inc[@]}" "$SRC/$source" 2>&1); then
        abi_fail "$source compiles with a $tag enumerator ($probe = $n) that has no table entry"
        continue
    fi
    if ! printf '%s\n' "$out" | grep -q "$probe"; then
        abi_fail "$source fails with the extra enumerator, but not naming it:"
        printf '%s\n' "$out"
        continue
    fi
    echo "ok   $tag: $n kinds (0..$((n - 1))) in $header; $source refuses kind $n without an entry"
done
abi_finish
