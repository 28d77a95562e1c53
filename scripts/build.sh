#!/bin/sh
# build.sh VARIANT — configure (the first time) and compile one build of dwvd.
#
#   release   optimised, hardened, assertions on (what `make run` and `make bench` use)
#   asan      AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan      ThreadSanitizer
#
# Each compiler ($CC, default cc) and variant gets its own directory, build/COMPILER/VARIANT,
# so `make test` and `CC=clang make test` never step on each other.
set -eu
variant=${1:?usage: scripts/build.sh release|asan|tsan}
cc=${CC:-cc}
compiler=$(basename "${cc%% *}")
dir="build/$compiler/$variant"

case "$variant" in
release) options="--buildtype=release" ;;
asan) options="--buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false" ;;
tsan) options="--buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false" ;;
*) echo "build.sh: unknown variant '$variant' (release, asan, tsan)" >&2; exit 2 ;;
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
