#!/usr/bin/env bash
# meson install puts the binary, the shared library, the header, flatparams.pc
# and the man page in place; a program built with `pkg-config flatparams` against
# the installed copy links, runs and flattens the seed to its five numbers.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
    "import json,sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name']=='prefix'))")
root="$dest$prefix"
for f in bin/flatparams include/flatparams.h share/man/man1/flatparams.1; do
    [ -f "$root/$f" ] || { echo "missing $f"; exit 1; }
done
pc=$(find "$root" -name flatparams.pc | head -n 1)
lib=$(find "$root" -name 'libflatparams.so' | head -n 1)
[ -n "$pc" ] && [ -n "$lib" ] || { echo "missing flatparams.pc or libflatparams.so"; exit 1; }
grep -q "^flatten MODEL" <(man -l "$root/share/man/man1/flatparams.1" 2>/dev/null | sed 's/^ *//') ||
    grep -q 'flatten MODEL' "$root/share/man/man1/flatparams.1" || { echo "man page lacks flatten"; exit 1; }
cat > "$dest/seed.c" <<'C'
#include <flatparams.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    fp_error err;
    fp_tree tree;
    fp_layout layout;
    if (argc < 2 || fp_tree_open(argv[1], &tree, &err) < 0 || fp_layout_build(tree.root, NULL, &layout, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < layout.n_params; i++) {
        float v[2];
        fp_array_read(layout.params[i].node, v, FP_F32, &err);
        for (uint64_t k = 0; k < layout.params[i].n_elems; k++)
            printf("%.9g\n", (double)v[k]);
    }
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    return 0;
}
C
# The .pc names the installed prefix; point it at the staged copy.
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --cflags --libs flatparams)
cc -o "$dest/seed" "$dest/seed.c" $flags
out=$(LD_LIBRARY_PATH=$(dirname "$lib") "$dest/seed" "$src/testdata/seed.json")
expect=$(printf '0.863101006\n1.24549568\n0\n-1.63457072\n0')
[ "$out" = "$expect" ] || { echo "library flatten gave: $out"; exit 1; }
echo "install: binary, library, header, flatparams.pc and man page in place; pkg-config build runs"
