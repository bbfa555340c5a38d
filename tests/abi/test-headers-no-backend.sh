#!/usr/bin/env bash
# headers_no_backend_types (docs/style.md §6): public headers include only
# <stddef.h>, <stdint.h>, <stdbool.h> and sigeo/ headers that exist, name
# nothing from oneDNN or BLAS outside comments, and pull in no backend header
# even transitively.
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"

ALLOWED_SYSTEM='^<(stddef|stdint|stdbool)\.h>$'
# oneDNN (dnnl_*, DNNL_*, the old mkldnn names, oneapi/ paths) and BLAS/LAPACK
# (cblas_*, CBLAS_*, openblas_*, blasint, lapack*) identifiers or paths.
BACKEND='(^|[^A-Za-z0-9_])(dnnl|DNNL|mkldnn|MKLDNN|oneapi|onednn|oneDNN|cblas|CBLAS|openblas|OPENBLAS|OpenBLAS|blasint|lapack|LAPACK|lapacke|LAPACKE)([^A-Za-z0-9]|_|$)'

mapfile -t headers < <(abi_headers)
declare -A known
for h in "${headers[@]}"; do known[${h%%$'\t'*}]=1; done

for h in "${headers[@]}"; do
    rel=${h%%$'\t'*}
    path=${h#*$'\t'}
    bad=0
    # Direct includes (comments stripped, so a commented-out include is fine).
    while read -r inc; do
        target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*//; s/[[:space:]]+$//' <<<"$inc")
        if [[ $target =~ $ALLOWED_SYSTEM ]]; then
            continue
        elif [[ $target =~ ^[\"\<](sigeo/[A-Za-z0-9_]+\.h)[\"\>]$ ]]; then
            [ -n "${known[${BASH_REMATCH[1]}]:-}" ] && continue
            abi_fail "$rel includes $target, which is not a public header"
        else
            abi_fail "$rel includes $target: public headers may include only <stddef.h>, <stdint.h>, <stdbool.h> and sigeo/*.h"
        fi
        bad=1
    done < <(abi_strip "$path" | grep -E '^[[:space:]]*#[[:space:]]*include')

    # Backend names in code or macros (comments may mention the backends).
    hits=$(abi_strip "$path" | grep -nE "$BACKEND" || true)
    if [ -n "$hits" ]; then
        abi_fail "$rel names a oneDNN/BLAS identifier outside comments:"
        printf '    %s\n' "$hits"
        bad=1
    fi

    # Transitive: what the preprocessor actually opens.
    if command -v "${CC_CMD[0]}" >/dev/null 2>&1; then
        opened=$(printf '#include "%s"\n' "$rel" | "${CC_CMD[@]}" -std=c11 "${INC_ARGS[@]}" -H -E -x c - -o /dev/null 2>&1 |
            grep -E '^\.+ ' | sed -E 's/^\.+ //' || true)
        leaks=$(grep -E '(dnnl|mkldnn|oneapi|cblas|openblas|lapack)' <<<"$opened" || true)
        if [ -n "$leaks" ]; then
            abi_fail "$rel pulls in backend headers:"
            printf '    %s\n' "$leaks"
            bad=1
        fi
    fi
    [ "$bad" = 0 ] && echo "ok   $rel"
done
[ ${#headers[@]} -gt 0 ] || abi_fail "no public header found under $SRC/include/sigeo"
abi_finish
