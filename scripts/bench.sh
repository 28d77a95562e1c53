#!/bin/sh
# bench.sh — run every benchmark this build has, on the optimised build, and print the
# results. Benchmarks never run inside `make test`: tests do not measure speed.
set -eu
cd "$(dirname "$0")/.."
cc=${CC:-cc}
compiler=$(basename "${cc%% *}")
dw="build/$compiler/release/src/cli/dw"
[ -x "$dw" ] || { echo "bench.sh: $dw is not built; run 'make build'" >&2; exit 1; }

# Each line: a name and the dw command that runs it. Later work adds pool, I/O, EDF and
# the peer comparisons (fio, LMDB, SQLite, RocksDB).
benchmarks=""
if [ -z "$benchmarks" ]; then
    echo "bench.sh: no benchmarks in this build yet"
    exit 0
fi
