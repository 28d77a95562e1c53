#!/bin/sh
# deps.sh — install the Debian packages a dwvd job needs, only those that are missing.
#
# Usage: scripts/deps.sh PROFILE...
#   build   compiler, Meson, Ninja and the libraries libdwvd links (every job)
#   clang   clang and its sanitizer and libFuzzer runtimes (when CC is clang, and for
#           the fuzz targets make test runs)
#   lint    clang-tidy and cppcheck
#   bench   the peers the benchmarks compare against (fio, Concurrency Kit, LMDB,
#           SQLite, RocksDB) and gnuplot for the plots
#
# Does nothing when everything is present. Uses apt-get, through sudo only when not
# running as root. Exits non-zero, saying what to install by hand, when it cannot.
set -eu

packages_for() {
    case "$1" in
    build) echo "gcc libc6-dev make pkg-config meson ninja-build python3 libxxhash-dev libinih-dev libcmocka-dev liburing-dev libssl-dev" ;;
    clang) echo "clang libclang-rt-dev" ;;
    lint) echo "clang clang-tidy cppcheck" ;;
    bench) echo "fio libck-dev liblmdb-dev libsqlite3-dev librocksdb-dev gnuplot-nox" ;;
    *) echo "deps.sh: unknown profile '$1' (build, clang, lint, bench)" >&2; exit 2 ;;
    esac
}

missing=""
for profile in "$@"; do
    for package in $(packages_for "$profile"); do
        status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
        case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $package" ;;
        esac
    done
done

[ -z "$missing" ] && exit 0

echo "deps.sh: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    run_as_root=""
elif command -v sudo >/dev/null 2>&1; then
    run_as_root="sudo"
else
    echo "deps.sh: not root and no sudo; install them by hand: apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be empty or stale: refresh them first.
$run_as_root apt-get update -qq
# shellcheck disable=SC2086 # the list is meant to split into words
$run_as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps.sh: installed:$missing" >&2
