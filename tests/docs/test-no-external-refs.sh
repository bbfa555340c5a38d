#!/usr/bin/env bash
# docs_stand_alone: the repository's text refers to no document outside it.
#
#   test-no-external-refs.sh SRCDIR
#
# A clone has only what is tracked, so every tracked text file must
#  1. not point outside the repository to design notes (a parent "shared"
#     folder, an absolute path to one);
#  2. name only Markdown files that exist: a name ending in the Markdown
#     extension resolves against the repository root or the referring
#     file's own folder (so a bare page name in lib/ does not resolve: write
#     the docs/ prefix);
#  3. cite only sections that exist: a page name followed by "§N", "§M",
#     "D7" ... needs each §N as a heading of that page ("## N." / "### N.M"
#     / "### 4.3a") and each Dn as an item "Dn." there; ranges (§2-3,
#     §1.4-1.6) check both ends.
# The patterns below are split so this script does not match itself.
set -u
src=${1:?usage: test-no-external-refs.sh SRCDIR}
cd "$src" || exit 1

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files)
else
    # an unpacked tarball: every file except build trees
    mapfile -t files < <(find . -type f ! -path './build*' ! -path './.git/*' -printf '%P\n')
fi
[ "${#files[@]}" -gt 0 ] || { echo "FAIL: no files found under $src"; exit 1; }

fail=0
outside='\.\./'"shared"'|/work/'"shared"'|'"shared"'/docs'
while IFS= read -r hit; do
    echo "FAIL outside reference: $hit"
    fail=1
done < <(grep -nIE -- "$outside" "${files[@]}" 2>/dev/null)

# heading_exists DOC SECTION: "## 4." "### 4.3a" "## §4" ...
heading_exists() {
    local doc=$1 sec=$2 re
    re=${sec//./\\.}
    grep -qE "^#+ (§)?${re}([. :]|\$)" "$doc"
}

checked=0
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    grep -qI . "$f" 2>/dev/null || continue      # binary or empty
    dir=$(dirname "$f")
    while IFS=: read -r line tok; do
        case $tok in //*) continue ;; esac       # the tail of a URL
        t=${tok#./}
        if [ ! -f "$t" ] && [ ! -f "$dir/$t" ]; then
            echo "FAIL $f:$line: refers to '$tok', which is not a file of this repository"
            fail=1
        fi
    done < <(grep -onIE '[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md' "$f")

    # section references: a page name followed by §N / Dn items
    while IFS=: read -r line ref; do
        doc=${ref%%.md*}.md
        doc=${doc#./}
        [ -f "$doc" ] || doc=$dir/$doc
        [ -f "$doc" ] || continue                # reported above
        rest=${ref#*.md}
        for item in $(grep -oE '§[0-9]+(\.[0-9]+)?[a-z]?(-[0-9]+(\.[0-9]+)?[a-z]?)?|D[0-9]+' <<<"$rest"); do
            checked=$((checked + 1))
            case $item in
            D*)
                if ! grep -qE "^${item}\. " "$doc"; then
                    echo "FAIL $f:$line: $doc has no item $item"
                    fail=1
                fi
                ;;
            *)
                item=${item#§}
                ends=("${item%%-*}")
                [ "${item##*-}" = "${ends[0]}" ] || ends+=("${item##*-}")
                for end in "${ends[@]}"; do
                    if ! heading_exists "$doc" "$end"; then
                        echo "FAIL $f:$line: $doc has no section §$end"
                        fail=1
                    fi
                done
                ;;
            esac
        done
    done < <(grep -onIE '[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md( (§[0-9]+(\.[0-9]+)?[a-z]?(-[0-9]+(\.[0-9]+)?[a-z]?)?|D[0-9]+)(,|, and| and)?)+' "$f")
done

if [ "$fail" -ne 0 ]; then
    echo "(add the page or the section under docs/, or fix the reference; docs/README.md lists the pages)"
    exit 1
fi
echo "ok: ${#files[@]} files, no reference outside the repository, $checked section references resolve"
