#!/usr/bin/env python3
"""bench/keras: flatten and rebuild a Keras legacy HDF5 model of at least 500 MB.

Keras itself writes the model (model.save("model.h5"): a Sequential of big Dense
layers with a BatchNormalization after every other one, so the file has
non-trainable statistics flatparams and the others must skip). Then, in one run
on the same file:
  flatten  (every trainable weight, in Keras' order, into one float32 .npy)
  * flatparams flatten model.h5 -o v.npy
  * h5py + NumPy: layer_names x weight_names, skipping moving_mean/variance,
    np.concatenate, np.save
  * Keras: load_model, the trainable weights' values, np.concatenate, np.save
  rebuild  (a new vector v2 = v * 1.5 + 0.25 back into a copy of the model)
  * flatparams rebuild model.h5 v2.npy -o new.h5
  * h5py + NumPy: copy the file, np.load(v2), write each trainable dataset in place
  * Keras: load_model, np.load(v2), layer.set_weights for every layer (trainable
    slices from v2, statistics kept), model.save
Each command runs as its own process, timed with its peak RSS by GNU time
(/usr/bin/time -f "%e %M"); the Keras rows include importing TensorFlow, shown
alone as its own row. Median of REPEATS runs. Every flatten output must equal
flatparams', and every rebuilt file must hold v2 exactly (read back by h5py).

Usage: python3 bench/keras.py [BUILD_DIR] [--layers 8] [--width 4096] [--repeats 3]
Needs numpy, h5py and Keras 3 with a backend (pip install h5py tensorflow).
Disk: about 8 times the model's size under $BENCH_DIR (default /tmp), removed at exit.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import h5py
import numpy as np

KERAS_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}

MAKE_MODEL = r"""
import sys, numpy as np, keras
layers, width, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
model = keras.Sequential([keras.Input(shape=(width,))])
for i in range(layers):
    model.add(keras.layers.Dense(width, activation="relu", name=f"dense_{i}"))
    if i % 2 == 1:
        model.add(keras.layers.BatchNormalization(name=f"bn_{i}"))
rng = np.random.default_rng(0)
for layer in model.layers:   # BatchNorm statistics too, so nothing is at its default
    layer.set_weights([rng.standard_normal(w.shape, dtype=np.float32) * 0.01 + (w.name == "moving_variance")
                       for w in layer.weights])
model.save(path)
"""

STATISTICS = ("moving_mean", "moving_variance")

# The legacy layout as Keras' own loader walks it: model_weights/<layer> in layer_names
# order, each layer's datasets in weight_names order.
H5PY_COMMON = r"""
import sys, h5py, numpy as np
def names(group, attr):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs[attr]]
def trainable(f):
    g = f["model_weights"]
    for layer in names(g, "layer_names"):
        for w in names(g[layer], "weight_names"):
            if not w.split("/")[-1].split(":")[0] in ("moving_mean", "moving_variance"):
                yield g[layer][w]
"""

H5PY_FLATTEN = H5PY_COMMON + r"""
with h5py.File(sys.argv[1], "r") as f:
    np.save(sys.argv[2], np.concatenate([d[()].ravel() for d in trainable(f)]))
"""

H5PY_REBUILD = H5PY_COMMON + r"""
import shutil
shutil.copyfile(sys.argv[1], sys.argv[3])
v = np.load(sys.argv[2])
offset = 0
with h5py.File(sys.argv[3], "r+") as f:
    for d in trainable(f):
        d[...] = v[offset:offset + d.size].reshape(d.shape)
        offset += d.size
assert offset == v.size
"""

KERAS_IMPORT = "import keras"

KERAS_FLATTEN = r"""
import sys, numpy as np, keras
model = keras.models.load_model(sys.argv[1], compile=False)
np.save(sys.argv[2], np.concatenate([np.asarray(w.numpy()).ravel() for w in model.trainable_weights]))
"""

KERAS_REBUILD = r"""
import sys, numpy as np, keras
model = keras.models.load_model(sys.argv[1], compile=False)
v = np.load(sys.argv[2])
offset = 0
for layer in model.layers:
    values = []
    for w in layer.weights:
        if w.trainable:
            size = int(np.prod(w.shape))
            values.append(v[offset:offset + size].reshape(w.shape))
            offset += size
        else:
            values.append(w.numpy())
    layer.set_weights(values)
assert offset == v.size
model.save(sys.argv[3])
"""


def run(cmd, env=None):
    """Wall time (s) and peak RSS (MiB) of one command, by GNU time."""
    with tempfile.NamedTemporaryFile("r") as report:
        proc = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%e %M"] + cmd,
                              env=dict(os.environ, **(env or {})))
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}")
        seconds, kib = report.read().split()[-2:]
        return float(seconds), int(kib) / 1024


def trainable_of(path):
    """The trainable weights of a legacy .h5 file, as the h5py script walks them."""
    scope = {}
    exec(H5PY_COMMON, scope)
    with h5py.File(path, "r") as f:
        return np.concatenate([d[()].ravel() for d in scope["trainable"](f)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    exe = os.path.abspath(os.path.join(args.build, "cmd", "flatparams"))
    work = tempfile.mkdtemp(prefix="fp-bench-keras-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    try:
        scripts = {}
        for name, text in [("make", MAKE_MODEL), ("h5py_flatten", H5PY_FLATTEN), ("h5py_rebuild", H5PY_REBUILD),
                           ("keras_flatten", KERAS_FLATTEN), ("keras_rebuild", KERAS_REBUILD)]:
            scripts[name] = os.path.join(work, name + ".py")
            with open(scripts[name], "w") as f:
                f.write(text)
        model = os.path.join(work, "model.h5")
        py = sys.executable
        make_t, _ = run([py, scripts["make"], str(args.layers), str(args.width), model], KERAS_ENV)
        size = os.path.getsize(model)

        def out(name):
            return os.path.join(work, name)

        # v2 from flatparams' vector (checked below against h5py's and Keras' own).
        subprocess.run([exe, "flatten", model, "-o", out("v.npy")], check=True)
        v = np.load(out("v.npy"))
        v2 = v * np.float32(1.5) + np.float32(0.25)
        np.save(out("v2.npy"), v2)
        del v
        cases = [
            ("flatten", "flatparams flatten -o v.npy", [exe, "flatten", model, "-o", out("v.npy")], None),
            ("flatten", "h5py + NumPy (np.save)", [py, scripts["h5py_flatten"], model, out("v_h5py.npy")], None),
            ("flatten", "Keras load_model + weights + np.save",
             [py, scripts["keras_flatten"], model, out("v_keras.npy")], KERAS_ENV),
            ("rebuild", "flatparams rebuild -o new.h5",
             [exe, "rebuild", model, out("v2.npy"), "-o", out("new_fp.h5")], None),
            ("rebuild", "h5py + NumPy (copy, write in place)",
             [py, scripts["h5py_rebuild"], model, out("v2.npy"), out("new_h5py.h5")], None),
            ("rebuild", "Keras load_model + set_weights + save",
             [py, scripts["keras_rebuild"], model, out("v2.npy"), out("new_keras.h5")], KERAS_ENV),
            ("", "(python3 -c 'import keras' alone)", [py, "-c", KERAS_IMPORT], KERAS_ENV),
        ]
        subprocess.run(f"cat {model} > /dev/null", shell=True)  # warm the page cache
        results = {}
        for _ in range(args.repeats):
            for _, name, cmd, env in cases:
                subprocess.run(["sync"])
                results.setdefault(name, []).append(run(cmd, env))
        # Everyone produced the same thing.
        v = np.load(out("v.npy"))
        for other in ("v_h5py.npy", "v_keras.npy"):
            w = np.load(out(other))
            assert w.dtype == v.dtype and np.array_equal(w, v), f"{other} differs from flatparams' vector"
        for rebuilt in ("new_fp.h5", "new_h5py.h5", "new_keras.h5"):
            assert np.array_equal(trainable_of(out(rebuilt)), v2), f"{rebuilt} does not hold v2"
        with h5py.File(model, "r") as f:
            n_layers = len(f["model_weights"].attrs["layer_names"])
        print(f"model: Keras {args.layers} x Dense({args.width}) + {args.layers // 2} BatchNormalization, "
              f"{size / 1e6:.0f} MB ({size / 2**20:.0f} MiB) legacy HDF5, {n_layers} layers, "
              f"{v.size:,} trainable float32 parameters; written by Keras in {make_t:.1f} s, in {work}")
        print(f"median of {args.repeats} runs; flatten outputs equal, every rebuilt file holds v2 exactly\n")
        print(f"| {'job':7} | {'command':38} | {'time (s)':>8} | {'vs flatparams':>13} | {'peak RSS (MiB)':>14} |")
        print(f"|{'-' * 9}|{'-' * 40}|{'-' * 10}|{'-' * 15}|{'-' * 16}|")
        base = {}
        for job, name, _, _ in cases:
            t = statistics.median(x for x, _ in results[name])
            rss = max(r for _, r in results[name])
            base.setdefault(job, t)
            ratio = f"{t / base[job]:12.1f}x" if job else ""
            print(f"| {job:7} | {name:38} | {t:8.2f} | {ratio:>13} | {rss:14.1f} |")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
