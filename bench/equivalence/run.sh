#!/bin/sh
# Checks that the working tree's translation path behaves exactly like a baseline commit's: builds the equivalence
# harness against both, runs the same seeded worlds, and compares the outputs byte for byte.
# Usage: bench/equivalence/run.sh [baseline-rev (default HEAD)] [worlds (default 1000)]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rev=${1:-HEAD}
worlds=${2:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/baseline/bench"
git -C "$repo" archive "$rev" src Directory.Build.props Directory.Packages.props | tar -x -C "$work/baseline"
cp -r "$here" "$work/baseline/bench/equivalence"
rm -rf "$work/baseline/bench/equivalence/bin" "$work/baseline/bench/equivalence/obj"
dotnet build -c Release -v q -o "$work/baseline-out" "$work/baseline/bench/equivalence/Equivalence.csproj" >/dev/null
dotnet build -c Release -v q -o "$work/current-out" "$here/Equivalence.csproj" >/dev/null
dotnet "$work/baseline-out/Equivalence.dll" "$worlds" > "$work/baseline.txt"
dotnet "$work/current-out/Equivalence.dll" "$worlds" > "$work/current.txt"
lines=$(wc -l < "$work/current.txt")
refs=$(grep -c '    ref ' "$work/current.txt" || true)
faults=$(grep -c 'FAULT' "$work/current.txt" || true)
if cmp -s "$work/baseline.txt" "$work/current.txt"; then
    echo "equivalent to $rev: $worlds worlds, $lines lines, $refs traced references, $faults faults"
else
    echo "DIFFERENT from $rev; first differences:"
    diff "$work/baseline.txt" "$work/current.txt" | head -40
    exit 1
fi
