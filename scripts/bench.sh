#!/bin/sh
# bench.sh — run every benchmark this build has, on the optimised build, print the tables
# and keep the JSON in build/bench/. Benchmarks never run inside `make test`: tests do not
# measure speed. The figures in docs/BENCHMARKS.md come from this script's output.
set -eu
cd "$(dirname "$0")/.."
cc=${CC:-cc}
compiler=$(basename "${cc%% *}")
dir="build/$compiler/release"
bench="$dir/bench/dw-bench"
[ -x "$bench" ] || { echo "bench.sh: $bench is not built; run 'make build'" >&2; exit 1; }
# A build configured before libck-dev was installed has no ck_ring to compare against:
# Meson looks for optional dependencies only when it configures.
if pkg-config --exists ck &&
    ! python3 -c 'import json, sys; sys.exit(0 if any(d["name"] == "ck" for d in json.load(open(sys.argv[1]))) else 1)' \
        "$dir/meson-info/intro-dependencies.json"; then
    echo "bench.sh: libck-dev is installed but $dir was configured without it: reconfiguring" >&2
    meson setup --reconfigure "$dir" >/dev/null
    ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { cat "$dir/ninja.log" >&2; exit 1; }
fi
# dw-kv-bench is built only where the peers' -dev packages are installed; a build
# configured before they were has none.
if [ ! -x "$dir/bench/dw-kv-bench" ]; then
    echo "bench.sh: $dir has no dw-kv-bench (configured before the peers were installed): reconfiguring" >&2
    meson configure "$dir" -Dbench=enabled >/dev/null
    ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { cat "$dir/ninja.log" >&2; exit 1; }
fi
results="build/bench"
mkdir -p "$results"
started=$(date +%s)

echo "== machine"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r), $("${cc%% *}" --version | head -n 1)"

echo "== dw-bench pool (buffer pool against malloc/free)"
"$bench" pool
"$bench" pool --json >"$results/pool.json"
echo "(JSON in $results/pool.json)"

echo "== dw-bench io against fio (same file, alternating rounds)"
# A file on the file system the build lives on, filled once and kept between runs.
python3 scripts/bench_io.py "$bench" "$results/io.data" "${DW_BENCH_IO_SIZE:-1GiB}" \
    "${DW_BENCH_IO_SECONDS:-5}" "${DW_BENCH_IO_ROUNDS:-3}" "$results/io.json"
echo "(JSON in $results/io.json)"

echo "== dw-bench edf (EDF against FIFO: sim disk, then the same file)"
"$bench" edf --file "$results/io.data" --size "${DW_BENCH_IO_SIZE:-1GiB}" --seconds "${DW_BENCH_EDF_SECONDS:-5}"
"$bench" edf --file "$results/io.data" --size "${DW_BENCH_IO_SIZE:-1GiB}" \
    --seconds "${DW_BENCH_EDF_SECONDS:-5}" --json >"$results/edf.json"
echo "(JSON in $results/edf.json)"

echo "== dw-bench rings (the CPU scheduler's queues against Concurrency Kit's ck_ring)"
"$bench" rings --json >"$results/rings.json"
python3 - "$results/rings.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{'mode':14} {'ring':13} {'ns/op':>9} {'ticks/op':>9}")
for x in r["results"]:
    print(f"{x['mode']:14} {x['ring']:13} {x['ns_per_operation']:9.2f} {x['ticks_per_operation']:9.2f}")
print("ck_ring / dwvd:", ", ".join(f"{k} {v:.2f}x" if v else f"{k} n/a" for k, v in r["ratios_ck_over_dwvd"].items()))
PY
echo "(JSON in $results/rings.json)"

echo "== dw-bench wcet --probe (budgets against this machine's file)"
"$bench" wcet --probe "$results/io.data" --size "${DW_BENCH_IO_SIZE:-1GiB}" || true

echo "== dw-kv-bench: dwvd against LMDB, SQLite and RocksDB (tables into docs/BENCHMARKS.md)"
python3 scripts/bench_kv.py "$dir/bench/dw-kv-bench" "$results"
echo "(JSON in $results/kv.json)"
echo "bench: done in $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"
