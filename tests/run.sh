#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root) or a
# developer's: installs what is missing, builds, and runs every suite twice —
# plain, and under AddressSanitizer + UndefinedBehaviorSanitizer — plus the
# bindings, the numeric suites on AVX2 code (build-avx2/) and a valgrind
# memcheck of the suites that do not JIT.
#   bash tests/run.sh            everything
#   SIGEO_SKIP_INSTALL=1 ...     do not touch apt (packages already there)
#   SIGEO_NO_SANITIZE=1 ...      plain build only
#   SIGEO_NO_VALGRIND=1 ...      skip the valgrind memcheck step
#   SIGEO_NO_AVX2=1 ...          skip the AVX2-capped build (build-avx2/)
#   SIGEO_TIMEOUT_MULTIPLIER=N   scale every test timeout by N (default 2; the
#                                valgrind step uses 4 N, the sanitizer step 3 N;
#                                the tests' own deadlines follow through
#                                SIGEO_TEST_TIME_SCALE, see tests/meson.build)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(meson ninja-build pkg-config gcc g++ libdnnl-dev libopenblas-dev check zlib1g-dev
          abigail-tools dataset-fashion-mnist valgrind python3 chromium
          python3-numpy python3-pytest python3-torch python3-setuptools python3-pip golang-go doxygen
          groff-base man-db libopenmpi-dev openmpi-bin)
if [ -z "${SIGEO_SKIP_INSTALL:-}" ]; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

jobs=$(nproc)
# Every limit scales with this (meson's per-test timeouts are the only clock,
# see tests/meson.build): raise it on a slow or shared machine.
mult=${SIGEO_TIMEOUT_MULTIPLIER:-2}

# Configures DIR with the CI options whether or not it exists already (a
# build/ left by examples/run.sh or by hand may lack -Dwerror_ci or the
# tests): `meson setup --reconfigure` applies the options to an existing
# directory, a plain setup creates one.
setup() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@"
    fi
}

echo "== plain build (build/)"
setup build -Dwerror_ci=true -Dtests=enabled -Dexamples=true -Dbench=true
ninja -C build -j "$jobs"
SIGEO_TEST_TIME_SCALE=$mult \
    meson test -C build --print-errorlogs --num-processes "$jobs" --timeout-multiplier "$mult"

# Python (pytest), Rust (cargo test) and Go (go test) packages against the
# library installed to a staging prefix; about a minute.
bash tests/bindings/run-bindings.sh build

# The code an AVX2-only CPU (Zen 3) runs, on whatever CPU this is:
# libsigeo's own SIMD copies capped at AVX2 (meson option max_isa) and
# oneDNN (and OpenBLAS) held to AVX2, over the suites with numeric kernels.
# About a minute.
if [ -z "${SIGEO_NO_AVX2:-}" ]; then
    echo "== AVX2 build (build-avx2/)"
    setup build-avx2 -Dmax_isa=avx2 -Dwerror_ci=true -Dtests=enabled -Dexamples=false -Dbench=false -Dmpi=disabled \
        -Ddocs=disabled -Dabi_check=disabled
    ninja -C build-avx2 -j "$jobs"
    ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell SIGEO_TEST_TIME_SCALE=$mult \
        meson test -C build-avx2 --suite stats --suite nn --suite proxy --print-errorlogs --num-processes "$jobs" \
            --timeout-multiplier "$mult"
fi

if [ -z "${SIGEO_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then
    # Memcheck over the suites that do not lean on oneDNN's JIT (its
    # generated code and OpenMP runtime only make valgrind slow and noisy):
    # core, stats, io, the search test and the fuzz-corpus replays of the
    # pure parsers. valgrind does not know AVX-512: oneDNN is held to AVX2.
    # About 2 minutes on 2 cores.
    echo "== valgrind memcheck (build/)"
    vg='valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite'
    export ONEDNN_MAX_CPU_ISA=AVX2 SIGEO_TEST_TIME_SCALE=$((4 * mult))
    meson test -C build --suite core --suite stats --suite io --wrapper "$vg" \
        --print-errorlogs --num-processes "$jobs" --timeout-multiplier $((4 * mult))
    meson test -C build search replay-safetensors replay-idx replay-criteo replay-arch --wrapper "$vg" \
        --print-errorlogs --num-processes "$jobs" --timeout-multiplier $((4 * mult))
    unset ONEDNN_MAX_CPU_ISA SIGEO_TEST_TIME_SCALE
fi

if [ -z "${SIGEO_NO_SANITIZE:-}" ]; then
    echo "== ASan + UBSan build (build-asan/)"
    setup build-asan -Db_sanitize=address,undefined -Dbuildtype=debug -Dwerror_ci=true -Dbench=false \
        -Dtests=enabled -Dexamples=true
    ninja -C build-asan -j "$jobs"
    # oneDNN and OpenMP keep process-lifetime caches that LeakSanitizer would
    # report; the suppressions name only those libraries, never libsigeo.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 SIGEO_TEST_TIME_SCALE=$((3 * mult)) \
        meson test -C build-asan --print-errorlogs --num-processes "$jobs" --no-suite abi \
            --timeout-multiplier $((3 * mult))
fi
echo "== all suites passed"
