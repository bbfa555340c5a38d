# Helpers shared by the tests/abi scripts (sourced, not run).
#
# Every script is called as   SCRIPT SRCDIR BUILDDIR [LIBSIGEO_SO]
# and reads the compilers meson uses from SIGEO_CC / SIGEO_CXX (words split
# on blanks, so "ccache cc" works). The public headers are globbed at run
# time, so a header added to include/sigeo/ is covered without touching
# tests/abi.

set -u
set -o pipefail
export LC_ALL=C  # one collation for sort and comm

ABI_SKIP=77

abi_init() {
    if [ $# -lt 2 ]; then
        echo "usage: $0 SRCDIR BUILDDIR [LIBSIGEO_SO]" >&2
        exit 2
    fi
    SRC=$(cd "$1" && pwd) || exit 2
    BUILD=$(cd "$2" && pwd) || exit 2
    LIB=${3:-}
    read -r -a CC_CMD <<<"${SIGEO_CC:-cc}"
    read -r -a CXX_CMD <<<"${SIGEO_CXX:-g++}"
    LINK_EXTRA=()
    abi_sanitizer_flags
    INC_ARGS=(-I"$SRC/include" -I"$BUILD/include")
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/sigeo-abi.XXXXXX") || exit 2
    trap 'rm -rf "$TMP"' EXIT
    FAILS=0
}

# A library built with -Db_sanitize=... needs the same -fsanitize= in the
# programs the tests link against it (the runtime must come first). Read it
# from the library's DT_NEEDED rather than from meson options, so the
# scripts work the same when run by hand.
abi_sanitizer_flags() {
    local so=${LIB:-$BUILD/lib/libsigeo.so} list=
    [ -e "$so" ] || so=$BUILD/lib/libsigeo.so
    [ -e "$so" ] && command -v readelf >/dev/null 2>&1 || return 0
    local needed
    needed=$(readelf -d "$so" 2>/dev/null | sed -nE 's/.*\(NEEDED\).*\[lib(asan|ubsan|tsan|lsan)\.so.*/\1/p')
    for n in $needed; do
        case $n in
        asan) list+=${list:+,}address ;;
        ubsan) list+=${list:+,}undefined ;;
        tsan) list+=${list:+,}thread ;;
        lsan) list+=${list:+,}leak ;;
        esac
    done
    [ -z "$list" ] || LINK_EXTRA=(-fsanitize="$list")
}

abi_skip() {
    echo "SKIP: $*"
    exit "$ABI_SKIP"
}

# abi_need_tool TOOL HINT...: skip the test when TOOL is not on PATH.
abi_need_tool() {
    local tool=$1
    shift
    command -v "$tool" >/dev/null 2>&1 || abi_skip "'$tool' not found ($*)"
}

abi_fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

abi_finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS failure(s)"
        exit 1
    fi
    echo "OK"
    exit 0
}

# Public headers: the source ones plus those generated into the build tree
# (sigeo/version.h). Printed as "sigeo/NAME.h<TAB>/full/path", sorted.
abi_headers() {
    local f
    for f in "$SRC"/include/sigeo/*.h "$BUILD"/include/sigeo/*.h; do
        [ -f "$f" ] || continue
        # libsigeo-mpi's header (lib/mpi): includes <mpi.h>, not libsigeo's ABI
        [ "${f##*/}" = mpi.h ] && continue
        printf 'sigeo/%s\t%s\n' "${f##*/}" "$f"
    done | sort -s -u -k1,1
}

# Header text without comments, with backslash-continued lines joined.
# String literals in public headers are limited to extern "C", so a plain
# regex strip is safe here.
abi_strip() {
    perl -0777 -pe 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{\\\n}{ }g' "$@"
}

# C declarations only: comments and preprocessor lines removed, one
# ';'-terminated statement per line, blanks collapsed.
abi_statements() {
    abi_strip "$@" | grep -v '^[[:space:]]*#' | tr '\n\t' '  ' | tr ';' '\n' | sed -E 's/ +/ /g; s/^ //'
}

# Names declared with SIGEO_API (functions, and variables should any appear).
abi_api_names() {
    abi_statements "$@" | grep -E '(^|[^A-Za-z0-9_])SIGEO_API([^A-Za-z0-9_]|$)' | while IFS= read -r st; do
        if [[ $st == *"("* ]]; then
            sed -E 's/^[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*) ?\(.*$/\1/' <<<"$st"
        else
            sed -E 's/^.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)( ?\[[^]]*\])* ?$/\1/' <<<"$st"
        fi
    done | sort -u
}

# Every sigeo_* name that is followed by '(' outside macros: the functions a
# header declares, with or without SIGEO_API.
abi_declared_functions() {
    # typedefs of callback types ("typedef sigeo_status_t (*sigeo_score_fn)(...)") declare no function
    abi_statements "$@" | grep -vE '(^|[^A-Za-z0-9_])typedef[^A-Za-z0-9_]' | grep -oE '(^|[^A-Za-z0-9_])sigeo_[A-Za-z0-9_]* ?\(' |
        sed -E 's/^[^s]*//; s/ ?\($//' | sort -u
}

# Object-like macros named SIGEO_*_INIT, as "MACRO<TAB>type_t" where the
# type follows the naming rule SIGEO_FOO_BAR_INIT -> sigeo_foo_bar_t.
abi_init_macros() {
    abi_strip "$@" | grep -oE '^[[:space:]]*#[[:space:]]*define[[:space:]]+SIGEO_[A-Z0-9_]+_INIT([[:space:]]|$)' |
        sed -E 's/^[[:space:]]*#[[:space:]]*define[[:space:]]+//; s/[[:space:]]+$//' | sort -u |
        while read -r m; do
            t=${m%_INIT}
            printf '%s\t%s_t\n' "$m" "$(tr 'A-Z' 'a-z' <<<"$t")"
        done
}

# Typedef names of the structs with a body in the headers (opaque handles,
# which have no body, are not listed).
abi_public_structs() {
    abi_strip "$@" | grep -v '^[[:space:]]*#' | tr '\n\t' '  ' |
        grep -oE 'typedef struct [A-Za-z0-9_]* ?\{[^}]*\} ?[A-Za-z0-9_]+ ?;' |
        sed -E 's/^.*\} ?([A-Za-z0-9_]+) ?;$/\1/' | sort -u
}

# Global symbols of a GNU ld version script, as "NODE<TAB>symbol", plus the
# node order and inheritance as "#node<TAB>NODE<TAB>PARENT" lines.
abi_map_symbols() {
    abi_strip "$1" | perl -ne 's/#.*//; print' | tr '\n\t' '  ' | perl -ne '
        my $text = $_;
        while ($text =~ /([A-Za-z0-9_.]+)\s*\{(.*?)\}\s*([A-Za-z0-9_.]*)\s*;/gs) {
            my ($node, $body, $parent) = ($1, $2, $3);
            print "#node\t$node\t$parent\n";
            my $mode = "global";
            for my $tok (split /;/, $body) {
                $tok =~ s/^\s+|\s+$//g;
                next if $tok eq "";
                if ($tok =~ s/^(global|local)\s*:\s*//) { $mode = $1; }
                next if $tok eq "";
                print "$node\t$tok\n" if $mode eq "global";
            }
        }'
}

# abidw of the public ABI: --headers-dir + --drop-private-types make every
# type defined outside include/sigeo/ private (internal structs and the
# bodies of opaque handles are never compared); --load-all-types keeps public
# types no function reaches (enums that only appear as int32_t fields), so
# abidiff --non-reachable-types flags a changed enumerator value; abidw.supp
# trims backend noise; no build paths; hash type ids keep a regenerated
# baseline's diff small.
abi_dump() {
    local so=$1 out=$2
    abidw --headers-dir "$SRC/include/sigeo" --headers-dir "$BUILD/include/sigeo" \
        --drop-private-types --load-all-types --suppressions "$SRC/tests/abi/abidw.supp" \
        --no-corpus-path --no-comp-dir-path --no-elf-needed --short-locs \
        --type-id-style hash --out-file "$out" "$so"
}

# abi_classify REPORT: reads an abidiff report whose exit status had only
# ABIDIFF_ABI_CHANGE (4) set and prints every line that is not known to be a
# compatible change. Known compatible: added functions/variables/types,
# enumerators added, data members appended after the old end of a struct
# (the struct_size protocol), a pointer member whose pointee grew so.
# Everything else (offset or type changes,
# removed members, changed parameter or return types, ...) is printed.
abi_classify() {
    awk '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    BEGIN { old = -1 }
    {
        l = trim($0)
        if (l == "") next
        if (l ~ /^(Functions|Variables|Function symbols|Variable symbols|Unreachable types) changes? summary:/) next
        if (l ~ /^Unreachable types summary:/) next
        if (l ~ /^[0-9]+ Added (function|variable|function symbol|variable symbol)s?( not referenced by debug info)?:$/) next
        if (l ~ /^[0-9]+ added types? unreachable from any public interface:$/) next
        if (l ~ /^\[A\] /) next
        if (l ~ /^[0-9]+ functions? with some indirect sub-type changes?:$/) next
        if (l ~ /^[0-9]+ variables? with some indirect sub-type changes?:$/) next
        if (l ~ /^[0-9]+ changed types? unreachable from any public interface:$/) next
        if (l ~ /^\[C\] .* has some indirect sub-type changes:$/) next
        if (l ~ /^\[C\] .(struct|union|enum|typedef) [^ ]+. changed:$/) next
        if (l ~ /^parameter [0-9]+ of type .* has sub-type changes:$/) next
        if (l ~ /^in (pointed to|unqualified underlying|referenced|array element|element) type .*:$/) next
        if (l ~ /^underlying type .(struct|union) [^ ]+.( at [^ ]+)? changed:$/) next
        if (l ~ /^type of variable changed:$/) next
        if (l ~ /^return type changed:$/) next
        if (l ~ /^details were reported earlier$/) next
        if (l ~ /^type size hasn.t changed$/) { old = -1; next }
        if (l ~ /^type size changed from [0-9]+ to [0-9]+ \(in bits\)$/) {
            split(l, w, " "); from = w[5] + 0; to = w[7] + 0
            if (to > from) { old = from; next }
        }
        if (l ~ /^[0-9]+ data member insertions?:$/) next
        # A pointer member whose pointee changed: the pointee change itself
        # is judged by the lines that follow (a grown struct_size struct is
        # compatible, anything else prints).
        if (l ~ /^[0-9]+ data member changes?:$/) next
        # filtered by abidiff itself: a member renamed in place (reserved0 -> a field)
        if (l ~ /^no data member changes? \([0-9]+ filtered\);$/) next
        if (l ~ /^type of .[^\047]*\* ?[A-Za-z0-9_]+. changed:$/) next
        if (l ~ /^[0-9]+ enumerator insertions?:$/) next
        if (l ~ /^.[^ ]+::[A-Za-z0-9_]+. value .-?[0-9]+.( at .*)?$/) next
        if (l ~ /^.[^,]*., at offset [0-9]+ \(in bits\)( at .*)?$/) {
            s = l; sub(/^.*, at offset /, "", s); off = s + 0
            if (old >= 0 && off >= old) next
        }
        print l
    }' "$1"
}

# "name@version" of every ELF symbol an abixml file records.
abi_xml_symbols() {
    grep -oE "<elf-symbol name='[^']*'( version='[^']*')?" "$1" |
        sed -E "s/<elf-symbol name='([^']*)'( version='([^']*)')?/\1@\3/" | sort -u
}

# abi_verdict STATUS REPORT BASELINE NEW: judges an abidiff run (see
# test-abidiff.sh); prints the report and returns 0 (compatible) or 1.
abi_verdict() {
    local status=$1 report=$2 base=$3 new=$4 bad=0 removed unknown
    if [ $((status & 3)) -ne 0 ]; then
        cat "$report"
        echo "FAIL: abidiff itself failed (exit status $status)"
        return 1
    fi
    removed=$(comm -23 <(abi_xml_symbols "$base") <(abi_xml_symbols "$new"))
    if [ "$status" -eq 0 ] && [ -z "$removed" ]; then
        echo "no ABI change against $(basename "$base")"
        return 0
    fi
    echo "---------------------------------------------------------------- abidiff report"
    cat "$report"
    echo "--------------------------------------------------------------------------------"
    if [ -n "$removed" ]; then
        echo "FAIL: symbols of the baseline are gone (or moved to another version node):"
        printf '    %s\n' $removed
        bad=1
    fi
    if [ $((status & 8)) -ne 0 ]; then
        echo "FAIL: abidiff exit status $status: ABIDIFF_ABI_INCOMPATIBLE_CHANGE (see the report above)"
        bad=1
    elif [ $((status & 4)) -ne 0 ]; then
        unknown=$(abi_classify "$report")
        if [ -n "$unknown" ]; then
            echo "FAIL: abidiff exit status $status (ABIDIFF_ABI_CHANGE) with changes that break old binaries"
            echo "      (only additions, new enumerators and members appended at a struct's end are compatible):"
            printf '%s\n' "$unknown" | sed 's/^/    /'
            bad=1
        else
            echo "compatible ABI change (additions only): consider refreshing the baseline with tests/abi/update-baseline.sh"
        fi
    fi
    return $bad
}
