#!/usr/bin/env bash
# The libFuzzer harnesses (fuzz/) build with clang and pass over their seed
# corpora: no fuzzing, seconds of running, so a parser change that breaks a
# harness shows in CI. Fuzzing itself is fuzz/run.sh (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null || ! compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-rt-dev
fi
# Only the harnesses' own build: no CUDA backend (nvcc's objects do not link with clang's sanitizers).
options=(-Dfuzz=true -Dtests=disabled -Dbuildtype=debug)
grep -q "option('cuda'" meson_options.txt && options+=(-Dcuda=disabled)
[ -d build-fuzz ] || CC=clang meson setup build-fuzz "${options[@]}"
ninja -C build-fuzz
for target in json npy vectext safetensors keras; do
    build-fuzz/fuzz/fuzz_$target -runs=0 "fuzz/corpus/$target" 2>&1 | grep -E '^#[0-9]+[[:space:]]+DONE' |
        sed "s/^/fuzz_$target: /"
done
