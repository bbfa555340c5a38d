#!/usr/bin/env bash
# Runs a libsigeo-mpi test under mpirun on this machine only: NP ranks on
# the loopback (shared memory + self; the isolated launcher, no ssh),
# oversubscribed (the CI machine has 2 cores), as root where CI runs, and
# under a timeout so that a hang fails instead of blocking the suite.
#   mpirun.sh NP SECONDS PROGRAM [ARGS...]
set -u
np=$1 limit=$2
shift 2
# the limit bounds a hang; it scales like meson's timeouts (tests/meson.build)
limit=$(awk -v l="$limit" -v s="${SIGEO_TEST_TIME_SCALE:-1}" 'BEGIN { s = s < 1 ? 1 : s; printf "%d", l * s }')
if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP: mpirun not found (apt-get install openmpi-bin)"
    exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none   # no CMA/ptrace needed inside containers
export OMPI_MCA_pml=ob1 OMPI_MCA_osc=^ucx OMPI_MCA_mtl=^ofi
# the sanitizer settings of an ASan run reach every rank; full unwinding so
# that Open MPI's own allocations (from components it unloads at exit) are
# matched by tests/lsan.supp through the MPI_Init frames below them
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
fwd=()
for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
    [ -n "${!v:-}" ] && fwd+=(-x "$v")
done
exec timeout -k 5 "$limit" mpirun --allow-run-as-root --oversubscribe "${fwd[@]}" -np "$np" "$@"
