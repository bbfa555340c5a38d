#!/usr/bin/env bash
# man_pages: every installed program (examples/meson.build, install: true)
# has a page in docs/man; every page formats without a warning (groff -ww,
# man --warnings); and every --option a built program's --help lists is in
# its page (a new option without documentation fails here).
# usage: test-man-pages.sh SRCDIR BUILDDIR
set -euo pipefail
src=$1 build=$2
command -v groff >/dev/null || { echo "SKIP: groff missing (apt-get install groff-base)"; exit 77; }
fail=0
progs=$(tr '\n' ' ' <"$src/examples/meson.build" | grep -oE "executable\('sigeo-[a-z0-9-]+'[^)]*install: true" |
        grep -oE "sigeo-[a-z0-9-]+" | sort -u)
for p in $progs; do
    [ -f "$src/docs/man/$p.1" ] || { echo "FAIL: $p is installed but has no docs/man/$p.1"; fail=1; }
done
for page in "$src"/docs/man/*.1; do
    out=$(LC_ALL=C.UTF-8 groff -man -ww -z "$page" 2>&1)
    [ -z "$out" ] || { echo "FAIL: groff warns on $(basename "$page"):"; echo "$out"; fail=1; }
    if command -v man >/dev/null; then
        out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
        [ -z "$out" ] || { echo "FAIL: man warns on $(basename "$page"):"; echo "$out"; fail=1; }
    fi
    prog=$(basename "$page" .1)
    exe="$build/examples/$prog"
    if [ -x "$exe" ]; then
        # the OPTIONS section only (an example elsewhere does not document an option)
        text=$( (LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$page" 2>/dev/null || groff -man -Tutf8 "$page") |
               sed 's/\x08.//g' | awk '/^OPTIONS/{on=1; next} /^[A-Z][A-Z ]+$/{on=0} on')
        for opt in $("$exe" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
            grep -qe "$opt" <<<"$text" || { echo "FAIL: $prog --help lists $opt, its man page does not in OPTIONS"; fail=1; }
        done
    else
        echo "note: $prog not built here: its options are not cross-checked"
    fi
done
[ $fail -eq 0 ] && echo "ok: $(ls "$src"/docs/man/*.1 | wc -l) pages, programs: $progs"
exit $fail
