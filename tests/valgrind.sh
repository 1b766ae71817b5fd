#!/usr/bin/env bash
# Every command on small inputs under valgrind: zero errors and zero definitely
# lost bytes (valgrind exits 99 on either). Expected failures (bad input) must
# still exit 1 and be clean. Skips (77) where valgrind is not installed.
# Usage: valgrind.sh FLATPARAMS TESTDATA_DIR CORPUS_DIR
set -uo pipefail
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 77; }
bin=$1 data=$2 corpus=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '0.5 -1\n1 2\n' > "$work/x.txt"
printf '1\n0\n' > "$work/y.txt"
printf '1\n2\n3\n' > "$work/short.txt"
failed=0 ran=0
check() {   # check EXPECTED_STATUS ARGS...
    local want=$1; shift
    ran=$((ran + 1))
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite "$bin" "$@" > /dev/null 2> "$work/err"
    local got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL (exit $got, want $want): flatparams $*"
        grep -v '^flatparams: error' "$work/err" | head -20
        failed=$((failed + 1))
    fi
}
check 0 convert "$data/seed.json" -o "$work/seed.h5"
check 0 flatten "$data/seed.json"
check 0 flatten "$work/seed.h5" -o "$work/v.npy"
check 0 rebuild "$work/seed.h5" "$work/v.npy" -o "$work/new.h5"
check 0 rebuild "$data/seed.json" "$work/v.npy" -o "$work/new.json"
check 0 modules "$data/mlp_bn.json" --json
check 0 params "$data/mlp_bn.json" --json --all
check 0 params "$data/hdf5/shared.h5"
check 0 flatten "$data/mlp_bn.json" -o "$work/mlp.npy" --index "$work/mlp.index.json"
check 0 flatten "$data/safetensors/torch_order.safetensors" --index "$work/torch.index.txt"
check 1 params "$corpus/hdf5/notahdf5file.h5"
check 0 summary "$work/seed.h5"
check 0 convert "$work/seed.h5" -o "$work/back.json"
check 0 predict "$data/seed.json" -x "$work/x.txt"
check 0 gradient "$work/seed.h5" -x "$work/x.txt" -y "$work/y.txt" --loss mse --nested -o "$work/g.h5"
check 0 gradient "$data/seed.json" -x "$work/x.txt" -o "$work/g.npy"
check 0 flatten "$data/safetensors/mixed.safetensors" -o "$work/s.npy"
check 0 rebuild "$data/safetensors/mixed.safetensors" "$work/s.npy" -o "$work/s.safetensors"
check 0 flatten "$corpus/keras/keras_3layer_batch_norm.h5" -o "$work/k.npy"
check 0 rebuild "$corpus/keras/keras_3layer_batch_norm.h5" "$work/k.npy" -o "$work/k.h5"
check 0 flatten "$corpus/keras/qkeras-v3_3layer.keras" -o "$work/q.npy"
check 0 rebuild "$corpus/keras/qkeras-v3_3layer.keras" "$work/q.npy" -o "$work/q.keras"
# deflated data, read by the file's reader child (rebuild's too, before it writes)
check 0 flatten "$data/hostile/base.h5" --all -o "$work/b.npy"
check 0 rebuild "$data/hostile/base.h5" "$work/b.npy" --all -o "$work/b.h5"
check 0 hessian "$data/seed.json" -x "$work/x.txt" -o "$work/h.npy"
check 0 hessian "$data/seed.json" -x "$work/x.txt" --eigs 2
check 2 hessian "$data/seed.json" -x "$work/x.txt" --rows 4:2   # wrong usage: the first row after the end
check 1 hessian "$data/seed.json" -x "$work/x.txt" --rows 0:9   # past the 5 x 5 Hessian
check 1 rebuild "$data/seed.json" "$work/short.txt" -o "$work/bad.json"
check 1 flatten "$corpus/hdf5/notahdf5file.h5"
check 1 flatten "$corpus/hdf5/tall.h5"
check 1 predict "$data/seed.json" -x "$work/short.txt"
check 2 flatten --no-such-option
# Keras files taken for others: refused, or shown with a warning; convert's
# read-back of what it wrote; progress lines to a pipe
check 1 flatten "$data/keras/synthetic3.weights.h5"
check 0 modules "$data/keras/synthetic3.weights.h5"
check 1 flatten "$data/keras/synthetic3.arch.json"
check 1 rebuild "$data/keras/synthetic3.keras" "$work/v.npy" -o "$work/k.h5"
check 0 convert "$data/mlp_bn.json" -o "$work/mlp_bn.safetensors"
FLATPARAMS_PROGRESS_SECONDS=0 check 0 hessian "$data/seed.json" -x "$work/x.txt" --eigs 2 --progress
# the curvature estimators, eigenvectors, landscapes and their plots (cairo's module)
check 0 hessian "$data/seed.json" -x "$work/x.txt" --eigs 2 --which BE --eigvecs "$work/vecs.npy"
check 0 hessian "$data/seed.json" -x "$work/x.txt" --hutchpp 6 --progress
check 0 hessian "$data/seed.json" -x "$work/x.txt" --density --probes 2 --steps 4 --points 50 -o "$work/d.png"
check 0 landscape "$data/seed.json" -x "$work/x.txt" --points 5 -o "$work/l.svg"
check 0 landscape "$data/seed.json" -x "$work/x.txt" --dims 1 --directions eigen --points 5
check 1 landscape "$data/seed.json" -x "$work/x.txt" --directions "$work/short.txt"
echo "valgrind: $((ran - failed)) passed, $failed failed"
[ "$failed" = 0 ]
