#!/usr/bin/env bash
# Every public struct of libsigeo's core headers has an id for
# sigeo_struct_size() (sigeo.h's sigeo_struct_id_t, whose comments name the
# typedef). A struct added without one would leave hand-written bindings
# unable to check it; this fails then, naming it. sigeo/mpi.h belongs to
# libsigeo-mpi and is not covered.
set -u
src=${1:?usage: test-struct-ids.sh SRCDIR}
fail=0
enum=$(sed -n '/typedef enum sigeo_struct_id/,/} sigeo_struct_id_t;/p' "$src/include/sigeo/sigeo.h")
[ -n "$enum" ] || { echo "FAIL: sigeo_struct_id_t not found in sigeo.h"; exit 1; }
for h in "$src"/include/sigeo/*.h; do
    [ "$(basename "$h")" = mpi.h ] && continue
    for s in $(sed -n 's/^typedef struct \(sigeo_[a-z0-9_]*\) {.*/\1/p' "$h"); do
        if ! grep -q "/\* ${s}_t\b" <<<"$enum"; then
            echo "FAIL: ${s}_t ($(basename "$h")) has no SIGEO_STRUCT_ id in sigeo_struct_id_t"
            fail=1
        fi
    done
done
[ $fail -eq 0 ] && echo "every public struct has a sigeo_struct_size id"
exit $fail
