#!/usr/bin/env bash
# Runs fuzz targets one after another, each for SECONDS (default 600), with the
# seed corpus in fuzz/corpus/TARGET, the dictionary fuzz/TARGET.dict when there
# is one, and new inputs and crashes under WORK (default /tmp/fpfuzz/TARGET).
# Usage: fuzz/run.sh BUILD_DIR SECONDS TARGET...   e.g. fuzz/run.sh build-fuzz 600 json npy
set -uo pipefail
build=$1 seconds=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-/tmp/fpfuzz}
for target in "$@"; do
    mkdir -p "$work/$target"
    dict=()
    [ -f "$src/$target.dict" ] && dict=(-dict="$src/$target.dict")
    # -rss_limit_mb: a declared size the file cannot hold must be refused, not allocated.
    "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$work/$target/" "${dict[@]}" \
        "$work/$target" "$src/corpus/$target" > "$work/$target.log" 2>&1
    echo "$target: exit $? $(grep -E '^#[0-9]+.*(DONE|cov)' "$work/$target.log" | tail -1)"
done
