#!/bin/sh
# test.sh [--long] — build and run the unit and system suites twice, optimised and under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the concurrent parts a third time
# under ThreadSanitizer; then the libFuzzer targets (clang, ASan + UBSan), 60 seconds
# each. Ends with one line: `tests: N passed, N failed`, counting test cases. --long
# scales the randomised tests up (DW_TEST_SCALE, default 100) and fuzzes each target
# for DW_FUZZ_SECONDS (default 600).
set -u
cd "$(dirname "$0")/.."

scale=1
fuzz_seconds=45 # four targets: 3 minutes in all, as three targets of 60 s were
if [ "${1:-}" = "--long" ]; then
    scale=${DW_TEST_SCALE:-100}
    fuzz_seconds=${DW_FUZZ_SECONDS:-600}
fi
export DW_TEST_SCALE="$scale"
# A sanitizer report must fail the test that caused it.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

cc=${CC:-cc}
compiler=$(basename "${cc%% *}")
directories=""
build_failures=""
for variant in release asan tsan; do
    dir="build/$compiler/$variant"
    if ! scripts/build.sh "$variant"; then
        build_failures="$build_failures $variant"
        continue
    fi
    # The component tests (tests/unit, tests/sim) and the whole-engine ones (tests/system)
    # optimised and under ASan+UBSan; what runs threads under TSan.
    selection="--suite unit --suite system"
    multiplier=1
    case "$variant" in
    asan) multiplier=3 ;;
    tsan) selection="--suite concurrent"; multiplier=5 ;;
    esac
    echo "== $variant: meson test $selection"
    # shellcheck disable=SC2086 # the selection is meant to split into words
    meson test -C "$dir" $selection --print-errorlogs --timeout-multiplier "$multiplier" \
        >"$dir/test-output.log" 2>&1
    grep -E '^ *[0-9]+/[0-9]+ ' "$dir/test-output.log" || true
    directories="$directories $dir"
done

dir=build/clang/fuzz
if scripts/build.sh fuzz && meson configure "$dir" -Dfuzz_seconds="$fuzz_seconds" >/dev/null &&
    ninja -C "$dir" >/dev/null; then
    echo "== fuzz: meson test --suite fuzz (${fuzz_seconds}s a target)"
    meson test -C "$dir" --suite fuzz --print-errorlogs --num-processes 1 >"$dir/test-output.log" 2>&1
    grep -E '^ *[0-9]+/[0-9]+ ' "$dir/test-output.log" || true
    grep -h -E '^stat::number_of_executed_units' "$dir/meson-logs/testlog.txt" || true
    directories="$directories $dir"
else
    build_failures="$build_failures fuzz"
fi

# shellcheck disable=SC2086 # the list is meant to split into words
exec python3 scripts/test-summary.py --build-failures "$build_failures" $directories
