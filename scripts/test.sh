#!/usr/bin/env bash
# Quick start, part 2: build (if needed) and run the whole test suite.
# Prints meson's summary and the Check totals as "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
[ -d build ] || meson setup build --buildtype=release || exit 1
ninja -C build || exit 1
meson test -C build --print-errorlogs "$@"
status=$?
# Every Check suite prints "NN%: Checks: C, Failures: F, Errors: E".
grep -ho 'Checks: [0-9]*, Failures: [0-9]*, Errors: [0-9]*' build/meson-logs/testlog.txt |
    awk -F'[:,] *' '{c += $2; f += $4 + $6} END {printf "checks: %d passed, %d failed\n", c - f, f}'
exit $status
