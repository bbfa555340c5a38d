#!/usr/bin/env bash
# pkgconfig_consumer: installs the build into a scratch DESTDIR
# (`meson install --no-rebuild --destdir`) and builds tests/abi/consumer.c the
# way a host would, with `pkg-config --cflags --libs sigeo` against that
# tree: once against libsigeo.so (run with LD_LIBRARY_PATH) and once
# statically against the installed libsigeo.a (`pkg-config --static`), and
# runs both. Also checks that every public header of the source tree is
# installed and that the installed headers compile together.
#
# usage: test-pkgconfig-consumer.sh SRCDIR BUILDDIR   (MESON: the meson to use)
# The build must be complete: `meson test` builds everything before running
# tests, and --no-rebuild keeps meson install from starting ninja again.
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
abi_need_tool pkg-config "apt-get install pkgconf"
read -r -a MESON_CMD <<<"${MESON:-meson}"
command -v "${MESON_CMD[0]}" >/dev/null 2>&1 || abi_skip "meson not found to run meson install"
command -v "${CC_CMD[0]}" >/dev/null 2>&1 || abi_skip "C compiler '${CC_CMD[0]}' not found"

DEST=$TMP/destdir
if ! "${MESON_CMD[@]}" install -C "$BUILD" --no-rebuild --quiet --destdir "$DEST" >"$TMP/install.log" 2>&1; then
    cat "$TMP/install.log"
    echo "FAIL: meson install -C $BUILD --destdir $DEST failed"
    exit 1
fi

pc=$(find "$DEST" -name sigeo.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "FAIL: meson install put no pkgconfig/sigeo.pc under $DEST"; find "$DEST" | sed 's/^/    /'; exit 1; }
# PKG_CONFIG_PATH (not _LIBDIR) keeps the system .pc files of the private
# requirements (openblas, zlib) reachable for --static; the sysroot maps the
# /usr/local paths of sigeo.pc into the scratch tree.
export PKG_CONFIG_PATH=${pc%/*}
export PKG_CONFIG_SYSROOT_DIR=$DEST
pkgc() { pkg-config "$@" sigeo; }
cflags=$(pkgc --cflags) && libs=$(pkgc --libs) && static_cflags=$(pkgc --cflags --static) &&
    static_libs=$(pkgc --libs --static) || { echo "FAIL: pkg-config cannot resolve sigeo from $pc"; exit 1; }
echo "pkg-config --cflags:        $cflags"
echo "pkg-config --libs:          $libs"
echo "pkg-config --static --libs: $static_libs"
read -r -a CFLAGS_PC <<<"$cflags"
read -r -a LIBS_PC <<<"$libs"
read -r -a SCFLAGS_PC <<<"$static_cflags"
read -r -a SLIBS_PC <<<"$static_libs"

# The private dependencies stay private for shared linking.
leak=$(grep -oE -- '-l(dnnl|openblas|cblas|blas|z)([[:space:]]|$)' <<<"$libs" || true)
[ -z "$leak" ] || abi_fail "pkg-config --libs sigeo (shared) links backend libraries directly:" $leak

libdir=$(pkgc --variable=libdir)
libdir=$DEST${libdir#"$DEST"}
for f in libsigeo.so libsigeo.so.1 libsigeo.a; do
    [ -e "$libdir/$f" ] || abi_fail "$f is not installed in ${libdir#"$DEST"}"
done

# Every public header of the source tree (and the generated version.h) is installed.
incdir=$(pkgc --variable=includedir)
incdir=$DEST${incdir#"$DEST"}
want=$(abi_headers | cut -f1 | sort)
# (sigeo/mpi.h is libsigeo-mpi's, compiled with `pkg-config --cflags sigeo-mpi`)
have=$(cd "$incdir" 2>/dev/null && ls sigeo/*.h 2>/dev/null | grep -vx 'sigeo/mpi.h' | sort)
notinst=$(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have"))
[ -z "$notinst" ] || abi_fail "public headers not installed (add them to include/sigeo/meson.build):" $notinst
{
    for h in $have; do printf '#include <%s>\n' "$h"; done
    printf 'int main(void) { return sigeo_version_number() == SIGEO_VERSION_NUMBER ? 0 : 1; }\n'
} >"$TMP/all_headers.c"
if ! out=$("${CC_CMD[@]}" -std=c11 -pedantic -Wall -Wextra -Werror "${CFLAGS_PC[@]}" -c -o "$TMP/all_headers.o" \
    "$TMP/all_headers.c" 2>&1); then
    abi_fail "the installed headers do not compile together with pkg-config --cflags:"
    printf '%s\n' "$out"
fi

CONSUMER=$SRC/tests/abi/consumer.c
WARN=(-std=c11 -pedantic -Wall -Wextra -Werror)

# Shared: the library comes from the scratch tree, found through LD_LIBRARY_PATH.
if ! out=$("${CC_CMD[@]}" "${WARN[@]}" "${CFLAGS_PC[@]}" -o "$TMP/consumer" "$CONSUMER" "${LIBS_PC[@]}" \
    "${LINK_EXTRA[@]}" 2>&1); then
    abi_fail "consumer.c does not build with pkg-config --cflags --libs sigeo:"
    printf '%s\n' "$out"
else
    if command -v ldd >/dev/null 2>&1; then
        where=$(LD_LIBRARY_PATH=$libdir ldd "$TMP/consumer" | grep 'libsigeo' || true)
        echo "shared consumer resolves: ${where:-?}"
        [[ $where == *"$libdir"/libsigeo.so.1* ]] || abi_fail "the shared consumer does not load the installed libsigeo.so.1: $where"
    fi
    LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$TMP/consumer" ||
        abi_fail "the consumer linked against the installed libsigeo.so failed"
fi

# Static: the same program against libsigeo.a. pkg-config --static adds the
# private libraries; -l:libsigeo.a picks the archive over the .so next to it.
SLIBS=()
for w in "${SLIBS_PC[@]}"; do
    if [ "$w" = "-lsigeo" ]; then SLIBS+=("-l:libsigeo.a"); else SLIBS+=("$w"); fi
done
if ! out=$("${CC_CMD[@]}" "${WARN[@]}" "${SCFLAGS_PC[@]}" -o "$TMP/consumer_static" "$CONSUMER" "${SLIBS[@]}" \
    "${LINK_EXTRA[@]}" 2>&1); then
    abi_fail "consumer.c does not link statically with pkg-config --static --libs sigeo (-lsigeo -> -l:libsigeo.a):"
    printf '%s\n' "$out"
else
    if command -v readelf >/dev/null 2>&1 && readelf -d "$TMP/consumer_static" | grep -q 'NEEDED.*libsigeo'; then
        abi_fail "the static consumer still needs libsigeo.so"
    fi
    env -u LD_LIBRARY_PATH "$TMP/consumer_static" || abi_fail "the consumer linked against libsigeo.a failed"
fi
abi_finish
