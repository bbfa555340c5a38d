#!/usr/bin/env bash
# init_macros_match_functions (docs/style.md §10, docs/design.md §3): every public
# struct has a SIGEO_*_INIT macro and a SIGEO_API sigeo_*_init() function,
# and the two produce identical bytes (Rust and Go hosts call the function,
# C hosts expand the macro; both must get the same defaults).
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
[ -n "$LIB" ] || { echo "usage: $0 SRCDIR BUILDDIR LIBSIGEO_SO" >&2; exit 2; }
command -v "${CC_CMD[0]}" >/dev/null 2>&1 || abi_skip "C compiler '${CC_CMD[0]}' not found"
mapfile -t hdrs < <(abi_headers | cut -f2)

abi_init_macros "${hdrs[@]}" >"$TMP/macros"      # MACRO<TAB>type_t
abi_api_names "${hdrs[@]}" >"$TMP/api"
abi_public_structs "${hdrs[@]}" >"$TMP/structs"
nomacro=$(comm -23 "$TMP/structs" <(cut -f2 "$TMP/macros" | sort -u))
[ -z "$nomacro" ] || abi_fail "public structs without a SIGEO_<NAME>_INIT macro named after the type:" $nomacro

# Pairs whose function the library does not export are reported here (and by
# exports_match_map) instead of as a link error that would hide the others.
exported=
if command -v nm >/dev/null 2>&1; then
    exported=$(nm -D --defined-only "$LIB" | awk '{ sub(/@.*/, "", $3); print $3 }')
fi

{
    while IFS=$'\t' read -r rel _; do printf '#include "%s"\n' "$rel"; done < <(abi_headers)
    printf '#include <stdio.h>\n#include <string.h>\n\nint main(void)\n{\n    int bad = 0;\n'
    while IFS=$'\t' read -r macro type; do
        fn=${type%_t}_init
        if ! grep -qx "$fn" "$TMP/api"; then
            abi_fail "$macro has no SIGEO_API $fn() for hosts that cannot expand macros" >&2
            continue
        fi
        if [ -n "$exported" ] && ! grep -qx "$fn" <<<"$exported"; then
            abi_fail "$fn() is declared but $(basename "$LIB") does not export it (not built yet, or missing from lib/libsigeo.map)" >&2
            continue
        fi
        cat <<C
    {
        $type m = $macro;
        $type f;
        memset(&f, 0xA5, sizeof f);
        sigeo_status_t st = $fn(&f, (uint32_t)sizeof f);
        if (st != SIGEO_OK) {
            printf("FAIL $fn(&x, sizeof x) returned %d: %s\\n", (int)st, sigeo_last_error());
            bad++;
        } else if (m.struct_size != sizeof m || memcmp(&m, &f, sizeof m) != 0) {
            printf("FAIL $macro and $fn() differ:\\n  macro:");
            for (size_t i = 0; i < sizeof m; i++) printf(" %02x", ((const unsigned char *)&m)[i]);
            printf("\\n  init():");
            for (size_t i = 0; i < sizeof f; i++) printf(" %02x", ((const unsigned char *)&f)[i]);
            printf("\\n");
            bad++;
        } else {
            printf("ok   %-32s == %s()\\n", "$macro", "$fn");
        }
    }
C
    done <"$TMP/macros"
    printf '    return bad ? 1 : 0;\n}\n'
} >"$TMP/inits.c"

libdir=$(cd "$(dirname "$LIB")" && pwd)
if ! out=$("${CC_CMD[@]}" -std=c11 -Wall -Wextra -Werror "${INC_ARGS[@]}" -o "$TMP/inits" "$TMP/inits.c" "$LIB" \
    -Wl,-rpath,"$libdir" "${LINK_EXTRA[@]}" 2>&1); then
    abi_fail "the _INIT/_init() comparison program does not build:"
    printf '%s\n' "$out"
elif ! "$TMP/inits"; then
    abi_fail "an _INIT macro and its _init() function disagree"
fi
abi_finish
