#!/bin/sh
# Builds and runs the C reference for the nested 4x4 walk. Usage: bench/c/run.sh [iterations]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/vtdsim_nested_walk
gcc -O2 -std=c11 -Wall -Wextra -o "$out" "$here/nested_walk.c"
exec "$out" "$@"
