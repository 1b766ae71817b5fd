#!/usr/bin/env bash
# Quick start, part 1: install what is missing (Debian 12), build, and run
# flatten and rebuild on the bundled example. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages="meson ninja-build pkg-config gcc g++ libhdf5-dev libcjson-dev libopenblas-dev libcairo2-dev check libzip-dev valgrind python3 groff-base"
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $packages 2>/dev/null | grep -v 'install ok installed' | cut -d' ' -f1 || true)
for p in $packages; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "${missing// /}" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi

# CUDA's compiler where the toolkit puts it: meson builds the GPU backend when it
# finds nvcc (and skips it, silently, when not).
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="$PATH:/usr/local/cuda/bin"
[ -d build ] || meson setup build --buildtype=release
ninja -C build

echo "== flatparams flatten testdata/seed.json"
./build/cmd/flatparams flatten testdata/seed.json | tee build/seed-theta.txt
echo "== flatparams rebuild testdata/seed.json (zeros) -o build/seed-zero.json"
printf '0\n0\n0\n0\n0\n' | ./build/cmd/flatparams rebuild testdata/seed.json - -o build/seed-zero.json
./build/cmd/flatparams summary build/seed-zero.json
