#!/usr/bin/env bash
# exports_match_map (docs/style.md §7): the dynamic symbols libsigeo.so defines
# are exactly the globals of lib/libsigeo.map, each carrying the version of
# the node that lists it (SIGEO_x.y, each node inheriting the previous one);
# the SONAME is libsigeo.so.1; and the SIGEO_API declarations of the public
# headers are exactly the map's globals (every function a header declares
# carries SIGEO_API).
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
[ -n "$LIB" ] || { echo "usage: $0 SRCDIR BUILDDIR LIBSIGEO_SO" >&2; exit 2; }
abi_need_tool nm "apt-get install binutils"
abi_need_tool readelf "apt-get install binutils"

MAP=$SRC/lib/libsigeo.map
SONAME=libsigeo.so.1
mapfile -t hdrs < <(abi_headers | cut -f2)

# ---------------------------------------------------------------- the map
abi_map_symbols "$MAP" >"$TMP/map.all"
grep -v '^#' "$TMP/map.all" | sort >"$TMP/map.syms"       # NODE<TAB>symbol
cut -f2 "$TMP/map.syms" | sort >"$TMP/map.names"
grep '^#node' "$TMP/map.all" | cut -f2,3 >"$TMP/map.nodes"  # NODE<TAB>PARENT, in file order
[ -s "$TMP/map.nodes" ] || abi_fail "no version node found in $MAP"
prev=
while IFS=$'\t' read -r node parent; do
    [[ $node =~ ^SIGEO_[0-9]+\.[0-9]+$ ]] || abi_fail "map node '$node' is not named SIGEO_<major>.<minor>"
    [ "$parent" = "$prev" ] || abi_fail "map node $node inherits '${parent:-nothing}', expected '${prev:-nothing}' (one node per release, each inheriting the last)"
    prev=$node
done <"$TMP/map.nodes"
dups=$(uniq -d "$TMP/map.names")
[ -z "$dups" ] || abi_fail "listed more than once in the map: $dups"
bad=$(grep -vE '^sigeo_[a-z0-9]+(_[a-z0-9]+)*$' "$TMP/map.names" | grep -v '^\*$' || true)
[ -z "$bad" ] || abi_fail "map globals not named sigeo_<noun>_<verb> (or wildcards): $bad"
grep -qE '(^|[^A-Za-z])local[[:space:]]*:[[:space:]]*\*' <(abi_strip "$MAP") ||
    abi_fail "the map has no 'local: *;' (everything not listed would be exported)"

# --------------------------------------------------------- the library
nm -D --defined-only --with-symbol-versions "$LIB" >"$TMP/nm.out" 2>"$TMP/nm.err" ||
    nm -D --defined-only "$LIB" >"$TMP/nm.out" 2>"$TMP/nm.err" || {
    abi_fail "nm -D $LIB failed: $(cat "$TMP/nm.err")"
    abi_finish
}
# Version-node definitions show up as absolute symbols named after the node.
awk '$2 == "A" { sub(/@.*/, "", $3); print $3 }' "$TMP/nm.out" | sort -u >"$TMP/lib.nodes"
awk '$2 != "A" { print $3 }' "$TMP/nm.out" | sort >"$TMP/lib.versioned"  # name@@NODE
sed -E 's/@.*$//' "$TMP/lib.versioned" | sort -u >"$TMP/lib.names"

extra=$(comm -23 "$TMP/lib.names" "$TMP/map.names")
missing=$(comm -13 "$TMP/lib.names" "$TMP/map.names")
[ -z "$extra" ] || abi_fail "exported by $(basename "$LIB") but not in the map:" $extra
[ -z "$missing" ] || abi_fail "in the map but not exported (defined without SIGEO_API, or not built?):" $missing

unversioned=$(grep -v '@' "$TMP/lib.versioned" || true)
[ -z "$unversioned" ] || abi_fail "exported without a symbol version:" $unversioned
while IFS= read -r sv; do
    [[ $sv == *@* ]] || continue
    name=${sv%%@*}
    ver=${sv##*@}
    [[ $ver =~ ^SIGEO_[0-9]+\.[0-9]+$ ]] || { abi_fail "$name has version '$ver', not SIGEO_x.y"; continue; }
    want=$(awk -F'\t' -v s="$name" '$2 == s { print $1 }' "$TMP/map.syms")
    [ -z "$want" ] || [ "$want" = "$ver" ] || abi_fail "$name is exported as $ver but the map lists it in $want"
done <"$TMP/lib.versioned"
cut -f1 "$TMP/map.nodes" | sort -u | comm -3 - "$TMP/lib.nodes" | grep -q . &&
    abi_fail "version nodes differ: map has $(cut -f1 "$TMP/map.nodes" | tr '\n' ' '), library defines $(tr '\n' ' ' <"$TMP/lib.nodes")"

soname=$(readelf -d "$LIB" | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')
[ "$soname" = "$SONAME" ] || abi_fail "SONAME is '${soname:-none}', expected $SONAME"

# ----------------------------------------------------------- the headers
abi_api_names "${hdrs[@]}" >"$TMP/api.names"
abi_declared_functions "${hdrs[@]}" >"$TMP/decl.names"
noapi=$(comm -23 "$TMP/decl.names" "$TMP/api.names")
[ -z "$noapi" ] || abi_fail "declared in a public header without SIGEO_API:" $noapi
hdr_only=$(comm -23 "$TMP/api.names" "$TMP/map.names")
map_only=$(comm -13 "$TMP/api.names" "$TMP/map.names")
[ -z "$hdr_only" ] || abi_fail "declared SIGEO_API in a header but missing from lib/libsigeo.map:" $hdr_only
[ -z "$map_only" ] || abi_fail "listed in lib/libsigeo.map but declared SIGEO_API in no public header:" $map_only

echo "$(wc -l <"$TMP/lib.names") exported symbols, $(wc -l <"$TMP/map.names") map globals in" \
    "$(tr '\n' ' ' <"$TMP/lib.nodes"); $(wc -l <"$TMP/api.names") SIGEO_API declarations; SONAME $soname"
abi_finish
