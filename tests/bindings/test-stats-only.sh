#!/usr/bin/env bash
# stats_only_has_no_backends: libsigeo-stats.so (and a program linked with
# it) needs neither oneDNN nor OpenBLAS, and exports the statistics API.
# usage: test-stats-only.sh LIBSIGEO_STATS_SO PROGRAM
set -euo pipefail
lib=$1 prog=$2
command -v readelf >/dev/null || { echo "SKIP: readelf missing (apt-get install binutils)"; exit 77; }
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "libsigeo-stats NEEDED: $(echo $needed)"
if echo "$needed" | grep -Eq 'dnnl|openblas|blas|libz\.|libsigeo\.'; then
    echo "FAIL: libsigeo-stats depends on a backend"; exit 1
fi
loaded=$(ldd "$prog")
if echo "$loaded" | grep -Eq 'libdnnl|libopenblas|libsigeo\.so'; then
    echo "FAIL: a stats-only program loads:"; echo "$loaded" | grep -E 'dnnl|openblas|libsigeo\.so'; exit 1
fi
syms=$(readelf --dyn-syms -W "$lib")
for s in sigeo_stats_add_batch sigeo_stats_add_flat_batch sigeo_struct_size sigeo_stats_spearman sigeo_context_create; do
    echo "$syms" | grep -q " $s@@SIGEO_1" || { echo "FAIL: $s not exported with a SIGEO_1.x version"; exit 1; }
done
if echo "$syms" | grep -Eq ' sigeo_(model|proxy|train|search)_'; then
    echo "FAIL: engine symbols in libsigeo-stats"; exit 1
fi
echo "ok: no oneDNN/OpenBLAS, statistics API exported"
