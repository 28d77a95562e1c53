#!/bin/sh
# bench.sh — run every benchmark this build has, on the optimised build, print the tables
# and keep the JSON in build/bench/. Benchmarks never run inside `make test`: tests do not
# measure speed. The figures in docs/BENCHMARKS.md come from this script's output.
set -eu
cd "$(dirname "$0")/.."
cc=${CC:-cc}
compiler=$(basename "${cc%% *}")
dw="build/$compiler/release/src/cli/dw"
[ -x "$dw" ] || { echo "bench.sh: $dw is not built; run 'make build'" >&2; exit 1; }
results="build/bench"
mkdir -p "$results"

echo "== machine"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r), $("${cc%% *}" --version | head -n 1)"

echo "== dw bench pool (buffer pool against malloc/free)"
"$dw" bench pool
"$dw" bench pool --json >"$results/pool.json"
echo "(JSON in $results/pool.json)"

echo "== dw bench io against fio (same file, alternating rounds)"
# A file on the file system the build lives on, filled once and kept between runs.
python3 scripts/bench_io.py "$dw" "$results/io.data" "${DW_BENCH_IO_SIZE:-1GiB}" \
    "${DW_BENCH_IO_SECONDS:-5}" "${DW_BENCH_IO_ROUNDS:-3}" "$results/io.json"
echo "(JSON in $results/io.json)"

echo "== dw bench edf (EDF against FIFO: sim disk, then the same file)"
"$dw" bench edf --file "$results/io.data" --size "${DW_BENCH_IO_SIZE:-1GiB}" --seconds "${DW_BENCH_EDF_SECONDS:-5}"
"$dw" bench edf --file "$results/io.data" --size "${DW_BENCH_IO_SIZE:-1GiB}" \
    --seconds "${DW_BENCH_EDF_SECONDS:-5}" --json >"$results/edf.json"
echo "(JSON in $results/edf.json)"

echo "== dw wcet --probe (budgets against this machine's file)"
"$dw" wcet --probe "$results/io.data" --size "${DW_BENCH_IO_SIZE:-1GiB}" || true
