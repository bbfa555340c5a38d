#!/usr/bin/env bash
# headers_c11_pedantic: every public header, alone in its own translation
# unit, compiles as strict C11 with warnings as errors; and a TU using every
# SIGEO_*_INIT macro of that header compiles with -Wmissing-field-initializers
# (a field appended without extending its _INIT macro fails here) and
# -Wpadded (docs/style.md §4: public structs carry no padding a field could hide
# in).
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
command -v "${CC_CMD[0]}" >/dev/null 2>&1 || abi_skip "C compiler '${CC_CMD[0]}' not found"

CFLAGS=(-std=c11 -pedantic -Wall -Wextra -Werror -Wmissing-field-initializers
    -Wstrict-prototypes -Wold-style-definition -Wundef -Wshadow -Wconversion -Wsign-conversion)

n=0
while IFS=$'\t' read -r rel path; do
    n=$((n + 1))
    base=${rel#sigeo/}
    base=${base%.h}

    # Alone, and twice (the include guard must hold). The typedef keeps a
    # macro-only header (version.h) from being an empty TU, which -pedantic rejects.
    printf '#include "%s"\n#include "%s"\ntypedef int sigeo_abi_not_empty;\n' "$rel" "$rel" >"$TMP/alone_$base.c"
    if ! out=$("${CC_CMD[@]}" "${CFLAGS[@]}" "${INC_ARGS[@]}" -fsyntax-only "$TMP/alone_$base.c" 2>&1); then
        abi_fail "$rel does not compile alone as C11 (-pedantic -Werror):"
        printf '%s\n' "$out"
        continue
    fi

    # Every _INIT macro, expanded where a host would use it.
    {
        printf '#include "%s"\n' "$rel"
        printf 'int sigeo_abi_use_inits(void);\nint sigeo_abi_use_inits(void)\n{\n    int n = 0;\n'
        while IFS=$'\t' read -r macro type; do
            printf '    { %s v = %s; n += (int)v.struct_size; }\n' "$type" "$macro"
            printf '    { static const %s s = %s; n += (int)s.struct_size; }\n' "$type" "$macro"
        done < <(abi_init_macros "$path")
        printf '    return n;\n}\n'
    } >"$TMP/inits_$base.c"
    if ! out=$("${CC_CMD[@]}" "${CFLAGS[@]}" -Wpadded "${INC_ARGS[@]}" -c -o "$TMP/inits_$base.o" \
        "$TMP/inits_$base.c" 2>&1); then
        abi_fail "$rel: its _INIT macros (or its structs under -Wpadded) do not compile cleanly as C11:"
        printf '%s\n' "$out"
        sed 's/^/    | /' "$TMP/inits_$base.c"
        continue
    fi
    echo "ok   $rel  ($(abi_init_macros "$path" | wc -l) _INIT macros)"
done < <(abi_headers)

[ "$n" -gt 0 ] || abi_fail "no public header found under $SRC/include/sigeo"
abi_finish
