#!/bin/sh
# build.sh VARIANT — configure (the first time) and compile one build of dwvd.
#
#   release   optimised, hardened, assertions on (what `make run` and `make bench` use)
#   asan      AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan      ThreadSanitizer
#   fuzz      the libFuzzer targets (tests/fuzz), always with clang, ASan + UBSan
#
# Each compiler ($CC, default cc) and variant gets its own directory, build/COMPILER/VARIANT,
# so `make test` and `CC=clang make test` never step on each other.
set -eu
variant=${1:?usage: scripts/build.sh release|asan|tsan|fuzz}
cc=${CC:-cc}
if [ "$variant" = fuzz ]; then
    cc=clang # libFuzzer is clang's
fi
compiler=$(basename "${cc%% *}")
dir="build/$compiler/$variant"

case "$variant" in
release) options="--buildtype=release" ;;
asan) options="--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false" ;;
tsan) options="--buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false" ;;
fuzz) options="--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false -Dtests=false -Dfuzz=true" ;;
*) echo "build.sh: unknown variant '$variant' (release, asan, tsan, fuzz)" >&2; exit 2 ;;
esac

if [ ! -f "$dir/build.ninja" ]; then
    setup_log=$(mktemp)
    # shellcheck disable=SC2086 # options are meant to split into words
    if ! CC="$cc" meson setup "$dir" $options >"$setup_log" 2>&1; then
        cat "$setup_log" >&2
        rm -rf "$dir" "$setup_log"
        echo "build.sh: configuring $dir failed (see above)" >&2
        exit 1
    fi
    rm -f "$setup_log"
fi
ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { cat "$dir/ninja.log" >&2; echo "build.sh: building $dir failed" >&2; exit 1; }
echo "built $dir"
