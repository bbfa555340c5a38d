#!/usr/bin/env python3
"""docs/ranking.md's tables are the study's data: every table that follows a
marker line `<!-- table: ARGS -->` must consist of rows that
docs/ranking/tables.py prints for ARGS (a JSON under docs/ranking/ and its
options), so no figure on the page can drift from the committed JSON.
The header and every row are compared as text; a marker with no table after
it, a missing JSON or a row the script does not print fails.

usage: check_ranking_tables.py SOURCE_ROOT
"""
import os
import shlex
import subprocess
import sys

root = sys.argv[1]
page = os.path.join(root, "docs/ranking.md")
script = os.path.join(root, "docs", "ranking", "tables.py")
lines = open(page, encoding="utf-8").read().split("\n")
fails, checked = [], 0
i = 0
while i < len(lines):
    line = lines[i].strip()
    i += 1
    if not (line.startswith("<!-- table:") and line.endswith("-->")):
        continue
    args = shlex.split(line[len("<!-- table:"):-3])
    args = [os.path.join(root, a) if a.endswith(".json") else a for a in args]
    while i < len(lines) and not lines[i].strip():
        i += 1
    table = []
    while i < len(lines) and lines[i].startswith("|"):
        table.append(lines[i].rstrip())
        i += 1
    if not table:
        fails.append("%s: a marker with no table after it" % line)
        continue
    r = subprocess.run([sys.executable, script] + args, capture_output=True, text=True)
    if r.returncode != 0:
        fails.append("%s: tables.py failed: %s" % (line, r.stderr.strip()))
        continue
    printed = set(l.rstrip() for l in r.stdout.split("\n"))
    for row in table:
        checked += 1
        if row not in printed:
            fails.append("%s: row not in tables.py's output:\n    %s" % (line, row))
for f in fails:
    print("FAIL:", f)
print("%d table rows checked, %d failed" % (checked, len(fails)))
if checked == 0:
    print("FAIL: no marked table found in docs/ranking.md")
    sys.exit(1)
sys.exit(1 if fails else 0)
