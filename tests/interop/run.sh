#!/usr/bin/env bash
# Interop (suite 'interop'): files flatparams writes, read by the tools users
# would pick, and theirs read by flatparams. Needs Python with numpy, h5py and
# safetensors (pip install numpy h5py safetensors); skips (77) without them.
# The Keras checks (check_keras.py) also need Keras 3 with a backend
# (pip install tensorflow); without them only those are skipped.
# Usage: run.sh FLATPARAMS SOURCE_DIR
set -uo pipefail
bin=$1 src=$2
python3 -c "import numpy, h5py, safetensors" 2>/dev/null ||
    { echo "numpy, h5py or safetensors missing: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0 ran=0
step() {   # step DESCRIPTION COMMAND...
    local what=$1; shift
    ran=$((ran + 1))
    if ! "$@" > "$work/out" 2>&1; then
        echo "FAIL: $what"; sed 's/^/  /' "$work/out" | head -20
        failed=$((failed + 1))
    fi
}
st="$src/testdata/safetensors/mixed.safetensors"
# ours -> the reference package: convert and rebuild outputs validate and hold the vector
step "convert to safetensors" "$bin" convert "$src/testdata/mlp_bn.json" -o "$work/mlp.safetensors"
step "flatten --all" "$bin" flatten "$src/testdata/mlp_bn.json" --all --dtype f64 -o "$work/mlp.npy"
step "safetensors reads our convert output" python3 "$src/tests/interop/check_safetensors.py" \
    "$work/mlp.safetensors" "$work/mlp.npy" --all
# a weight name holding '/' (nest/inner/kernel) and a UTF-8 layer name (dënse)
step "convert Keras names to safetensors" "$bin" convert "$src/testdata/keras/synthetic.h5" \
    -o "$work/syn.safetensors"
step "flatten --all Keras" "$bin" flatten "$src/testdata/keras/synthetic.h5" --all --dtype f64 \
    -o "$work/syn.npy"
step "safetensors reads our convert of Keras names" python3 \
    "$src/tests/interop/check_safetensors.py" "$work/syn.safetensors" "$work/syn.npy" --all
step "flatten reference file" "$bin" flatten "$st" -o "$work/st.npy"
step "scale the vector" python3 -c "import numpy as n; v = n.load('$work/st.npy'); n.save('$work/st2.npy', 2 * v)"
step "rebuild reference file" "$bin" rebuild "$st" "$work/st2.npy" -o "$work/st2.safetensors"
step "safetensors reads our rebuild output" python3 "$src/tests/interop/check_safetensors.py" \
    "$work/st2.safetensors" "$work/st2.npy"
# ours -> h5py and NumPy: a converted HDF5 model and the vector files
step "convert to HDF5" "$bin" convert "$src/testdata/seed.json" -o "$work/seed.h5"
step "h5py reads our HDF5 model in creation order" python3 -c "
import h5py, numpy as np
f = h5py.File('$work/seed.h5', 'r')
assert list(f['layers']) == ['0', '1'], list(f['layers'])
assert f['layers/0'].attrs['activation'] == 'tanh'
w = f['layers/0/weight'][()]
assert w.dtype == np.float32 and w.shape == (1, 2) and w[0, 1] == np.float32(1.2454957), w
"
for ext in npy h5 json txt; do
    step "flatten to .$ext" "$bin" flatten "$src/testdata/seed.json" -o "$work/v.$ext"
done
step "NumPy and h5py read our vector files" python3 -c "
import h5py, json, numpy as np
want = np.array([0.863101, 1.2454957, 0, -1.6345707, 0], dtype=np.float32)
assert np.array_equal(np.load('$work/v.npy'), want)
assert np.array_equal(h5py.File('$work/v.h5', 'r')['data'][()], want)
assert np.array_equal(np.array(json.load(open('$work/v.json')), dtype=np.float32), want)
assert np.array_equal(np.loadtxt('$work/v.txt', dtype=np.float32), want)
"
# theirs -> ours: np.save with a big-endian float64 vector rebuilds exactly
step "np.save big-endian vector" python3 -c "
import numpy as np; np.save('$work/be.npy', np.array([1.5, -2, 0.25, 8, 1e-3], dtype='>f8'))"
step "rebuild from NumPy's vector" "$bin" rebuild "$src/testdata/seed.json" "$work/be.npy" -o "$work/be.json"
step "the rebuilt model holds it" sh -c "'$bin' flatten '$work/be.json' | tr '\n' ' ' | grep -qx '1.5 -2 0.25 8 0.001 '"
# ours -> PyTorch: scripts/from_torch.py's JSON flattens as parameters_to_vector and
# computes as torch does for every module setting it carries, refuses the others, and
# its safetensors files flatten as parameters_to_vector and load back into torch
# (skipped without torch, which CI does not install)
python3 "$src/tests/interop/check_torch.py" "$bin" "$src" "$work" > "$work/torch.out" 2>&1
torch_status=$?
if [ "$torch_status" = 77 ]; then
    echo "PyTorch checks skipped: $(tail -1 "$work/torch.out")"
else
    ran=$((ran + 1))
    if [ "$torch_status" != 0 ]; then
        echo "FAIL: PyTorch checks"; tail -20 "$work/torch.out" | sed 's/^/  /'
        failed=$((failed + 1))
    fi
fi
# ours -> Keras: every Keras file we rebuild loads in Keras and holds the vector given
# (one Python process for all files: TensorFlow takes seconds to import).
TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES="" \
    python3 "$src/tests/interop/check_keras.py" "$bin" "$src" "$work" > "$work/keras.out" 2> "$work/keras.err"
keras_status=$?
if [ "$keras_status" = 77 ]; then
    echo "Keras checks skipped: $(tail -1 "$work/keras.out")"
else
    grep -v '^ok: ' "$work/keras.out"
    counts=$(grep -oE '^keras: [0-9]+ passed, [0-9]+ failed' "$work/keras.out")
    if [ -n "$counts" ]; then
        set -- $counts
        ran=$((ran + $2 + $4)) failed=$((failed + $4))
    else   # died before its summary: count it as one failure, show why
        echo "FAIL: Keras checks (exit $keras_status)"; tail -20 "$work/keras.err" | sed 's/^/  /'
        ran=$((ran + 1)) failed=$((failed + 1))
    fi
fi
echo "interop: $((ran - failed)) passed, $failed failed"
[ "$failed" = 0 ]
