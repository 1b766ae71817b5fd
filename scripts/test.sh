#!/usr/bin/env bash
# Quick start, part 2: build (if needed) and run the whole test suite, twice:
# the release build, then a build with AddressSanitizer and UBSan, where any
# report fails the run (and where the cuda suite runs on the CPU emulation). Prints meson's summaries and the Check totals of both
# as "checks: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="$PATH:/usr/local/cuda/bin"
[ -d build ] || meson setup build --buildtype=release || exit 1
ninja -C build || exit 1
meson test -C build --print-errorlogs "$@" || status=1

# The sanitizer build has no nvcc CUDA backend; it builds the backend's CPU
# emulation instead (emulate_cuda), so the cuda suite runs every CUDA kernel
# there, thread by thread, under ASan and UBSan.
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Dbuildtype=debug \
    -Demulate_cuda=true || exit 1
ninja -C build-asan || exit 1
# libhdf5 itself crashes on one corpus file (in a child process we watch): let
# that child die by its signal instead of ASan's report.
ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_sigfpe=0:detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --timeout-multiplier 4 "$@" || status=1

# Every Check suite prints "NN%: Checks: C, Failures: F, Errors: E"; the
# valgrind and interop scripts print "NAME: P passed, F failed".
cat build/meson-logs/testlog.txt build-asan/meson-logs/testlog.txt |
    grep -hoE 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+|^(valgrind|interop|standalone|readme): [0-9]+ passed, [0-9]+ failed' |
    awk -F'[:,] *' '/^Checks/ {c += $2; f += $4 + $6}
                    /^(valgrind|interop|standalone|readme)/ {split($0, w, " "); c += w[2] + w[4]; f += w[4]}
                    END {printf "checks: %d passed, %d failed\n", c - f, f}'
exit $status
