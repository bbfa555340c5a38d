#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for include/sigeo/*.h: the headers document every
declaration in plain C comments (docs/style.md), which doxygen ignores; this
filter turns them into doxygen comments on the fly, without changing the
headers:
  - the file's first comment            -> /** @file ... */
  - a comment on its own line(s)        -> /** ... */ for the declaration below;
    when several declarations follow it with no blank line between, they
    form a member group sharing that text (DISTRIBUTE_GROUP_DOC)
  - a comment after code on its line    -> /**< ... */ for that member
  - section rules (/* ---- name */, /* ==== name */) stay plain comments
  - _INIT macros, _init() functions and opaque handle typedefs without a
    comment of their own get the one-line description every one of them
    shares (the convention is in sigeo.h).
Line numbers are preserved so doxygen's warnings point at the real lines.
"""
import re
import sys

DECL = re.compile(r"(SIGEO_API |#define |typedef )")


def is_rule(text):
    return re.match(r"/\*\s*[-=]{4,}", text) is not None


INIT_MACRO = "C initialiser of the struct above: struct_size and every default (non-C callers: its _init())."
INIT_FN = ("Sets struct_size and every default of the _INIT macro, zeroing the rest: for callers that cannot use "
           "the macro. Errors: SIGEO_ERR_INVALID_ARG (NULL, struct_size too small).")


def main(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = list(lines)
    text = "\n".join(lines)
    groups, documented = [], set()  # (comment end line, last declaration line); lines with a doc
    i, first = 0, True
    while i < len(lines):
        line = lines[i]
        s = line.lstrip()
        if s.startswith("/*") and not s.startswith("/**"):
            j = i
            while "*/" not in lines[j]:
                j += 1
            if first:  # "@file" with no name (at the end) documents this file
                out[i] = line.replace("/*", "/**", 1)
                out[j] = lines[j].replace("*/", " @file */", 1) if i != j else out[i].replace("*/", " @file */", 1)
                first = False
            elif not is_rule(s) or (j + 1 < len(lines) and DECL.match(lines[j + 1])):
                # (a section comment directly above a declaration documents it)
                out[i] = line.replace("/*", "/**", 1)
                k, decls = j + 1, []
                while k < len(lines) and lines[k].strip() and not lines[k].lstrip().startswith("/*"):
                    if re.match(r"(SIGEO_API|#define |typedef )", lines[k]):
                        decls.append(k)
                    k += 1
                if j + 1 < len(lines):
                    documented.add(j + 1)
                if len(decls) > 1:
                    groups.append((j, k - 1))
            i = j + 1
            continue
        m = re.search(r"(/\*)(?!\*)", line)
        if m and line[:m.start(1)].strip() and not s.startswith("*"):
            out[i] = line[:m.start(1)] + "/**<" + line[m.end(1):]
            documented.add(i)
        i += 1
    for n, line in enumerate(lines):
        if n in documented:
            continue
        if re.match(r"#define SIGEO_\w+_INIT\b", line):
            e = n
            while lines[e].rstrip().endswith("\\"):
                e += 1
            out[e] += f" /**< {INIT_MACRO} */"
        elif re.match(r"SIGEO_API sigeo_status_t sigeo_\w+_init\(.*\);$", line):
            out[n] += f" /**< {INIT_FN} */"
        else:
            m = re.match(r"typedef struct sigeo_(\w+) sigeo_\w+_t;$", line)
            if m:
                make, kill = f"sigeo_{m.group(1)}_create", f"sigeo_{m.group(1)}_destroy"
                how = f" Created by {make}(), released by {kill}()." if make in text and kill in text else ""
                out[n] += f" /**< Opaque handle.{how} */"
    for j, k in groups:  # a member group: the first member's text is shared (DISTRIBUTE_GROUP_DOC)
        out[j] = out[j].replace("*/", "@{ */", 1) if "*/" in out[j] else out[j]
        out[k + 1] = "/** @} */ " + out[k + 1]  # the blank line (or comment) after the block
    # "#word" is a doxygen link request; in this prose it is a count ("#params")
    # and "<word" an HTML tag; in this prose it is math ("<v_f, v_g>")
    out = [ln if ln.lstrip().startswith("#") else
           re.sub(r"(?<=[^\w\\*/])_", r"\\_",  # "x'_j": not markdown emphasis
                  re.sub(r"(?<![*\\])<(?=[A-Za-z])", r"\\<", re.sub(r"(?<![\w&\\])#(?=[A-Za-z_])", r"\\#", ln)))
           for ln in out]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
