#!/usr/bin/env bash
# headers_cxx: every public header, alone, compiles as C++11 (-pedantic
# -Werror -Wall -Wextra) in a TU that also expands its _INIT macros and takes
# the address of each of its SIGEO_API functions; the object file must then
# reference those functions by their plain C names (a header without
# extern "C" shows up as a mangled _Z... reference). Finally a small C++
# program links against libsigeo and calls sigeo_version().
. "$(dirname "$0")/abi-lib.sh"
abi_init "$@"
command -v "${CXX_CMD[0]}" >/dev/null 2>&1 || abi_skip "C++ compiler '${CXX_CMD[0]}' not found (apt-get install g++)"
[ -n "$LIB" ] || { echo "usage: $0 SRCDIR BUILDDIR LIBSIGEO_SO" >&2; exit 2; }
have_nm=1
command -v nm >/dev/null 2>&1 || { have_nm=0; echo "note: nm not found, C-linkage check of each header skipped"; }

CXXFLAGS=(-std=c++11 -pedantic -Werror -Wall -Wextra -Wmissing-field-initializers)

while IFS=$'\t' read -r rel path; do
    base=${rel#sigeo/}
    base=${base%.h}
    mapfile -t fns < <(abi_api_names "$path")
    {
        printf '#include "%s"\n#include "%s"\n' "$rel" "$rel"
        printf 'int sigeo_abi_use_inits();\nint sigeo_abi_use_inits()\n{\n    int n = 0;\n'
        while IFS=$'\t' read -r macro type; do
            printf '    { %s v = %s; n += static_cast<int>(v.struct_size); }\n' "$type" "$macro"
            printf '    { static const %s s = %s; n += static_cast<int>(s.struct_size); }\n' "$type" "$macro"
        done < <(abi_init_macros "$path")
        printf '    return n;\n}\n'
        if [ ${#fns[@]} -gt 0 ]; then
            printf 'typedef void (*sigeo_abi_fn)();\n'
            printf 'extern const sigeo_abi_fn sigeo_abi_fns[];\nconst sigeo_abi_fn sigeo_abi_fns[] = {\n'
            printf '    reinterpret_cast<sigeo_abi_fn>(&%s),\n' "${fns[@]}"
            printf '};\n'
        fi
    } >"$TMP/cxx_$base.cpp"
    if ! out=$("${CXX_CMD[@]}" "${CXXFLAGS[@]}" "${INC_ARGS[@]}" -c -o "$TMP/cxx_$base.o" "$TMP/cxx_$base.cpp" 2>&1); then
        abi_fail "$rel does not compile alone as C++11 (with its _INIT macros):"
        printf '%s\n' "$out"
        continue
    fi
    if [ "$have_nm" = 1 ] && [ ${#fns[@]} -gt 0 ]; then
        undef=$(nm -u "$TMP/cxx_$base.o" | awk '{print $NF}')
        mangled=$(grep -E '^_Z.*sigeo_' <<<"$undef" || true)
        if [ -n "$mangled" ]; then
            abi_fail "$rel: functions get C++ linkage (missing extern \"C\" block?):"
            printf '    %s\n' $mangled
            continue
        fi
        missing=$(comm -23 <(printf '%s\n' "${fns[@]}" | sort) <(sort -u <<<"$undef"))
        if [ -n "$missing" ]; then
            abi_fail "$rel: the C++ object does not reference these by their C names: $missing"
            continue
        fi
    fi
    echo "ok   $rel  (C++11; ${#fns[@]} functions with C linkage)"
done < <(abi_headers)

# Link and run: a C++ host calling into the shared library.
{
    while IFS=$'\t' read -r rel _; do printf '#include "%s"\n' "$rel"; done < <(abi_headers)
    cat <<'EOF'
#include <cstdio>
#include <cstring>

int main()
{
    const char *v = sigeo_version();
    if (std::strcmp(v, SIGEO_VERSION_STRING) != 0 || sigeo_version_number() != SIGEO_VERSION_NUMBER) {
        std::printf("library %s (%u) does not match headers %s (%u)\n", v, (unsigned)sigeo_version_number(),
                    SIGEO_VERSION_STRING, (unsigned)SIGEO_VERSION_NUMBER);
        return 1;
    }
    std::printf("C++ host linked against libsigeo %s\n", v);
    return 0;
}
EOF
} >"$TMP/host.cpp"
libdir=$(cd "$(dirname "$LIB")" && pwd)
if ! out=$("${CXX_CMD[@]}" "${CXXFLAGS[@]}" "${INC_ARGS[@]}" -o "$TMP/host" "$TMP/host.cpp" "$LIB" \
    -Wl,-rpath,"$libdir" "${LINK_EXTRA[@]}" 2>&1); then
    abi_fail "a C++ program calling sigeo_version() does not link against $LIB:"
    printf '%s\n' "$out"
elif ! "$TMP/host"; then
    abi_fail "the C++ host program failed"
fi
abi_finish
