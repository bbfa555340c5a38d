#!/bin/sh
# check-seeds.sh GENERATOR CORPUS_DIR
# Runs a seed generator into a scratch directory and checks that every file
# it writes is committed in CORPUS_DIR with the same bytes, so the committed
# seeds stay what the code in the repo generates. (The corpus may hold more:
# regression inputs from fuzzing, named crash-*, and minimised finds.)
set -eu
gen=$1
corpus=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp"
n=0
for f in "$tmp"/*; do
    name=$(basename "$f")
    if ! cmp -s "$f" "$corpus/$name"; then
        echo "seed '$name' differs from $corpus/$name (or is missing): regenerate with $gen $corpus" >&2
        exit 1
    fi
    n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "generator wrote nothing" >&2; exit 1; }
echo "$n seeds match"
