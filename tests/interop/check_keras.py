#!/usr/bin/env python3
"""Keras loads what `flatparams rebuild` writes (interop suite).

For each Keras file (the corpus's, the CNN models of testdata/keras/cnn, and
files Keras itself saves here in every form: full .h5, legacy weights-only .h5,
.keras, Keras 3 save_weights .weights.h5 with --arch from to_json()): flatten it, make a new vector
v = original * 1.5 + 0.25 in the file's dtype, rebuild the file with it, load the
result in Keras (load_model, or load_weights into the architecture), and check
that Keras' trainable weights, concatenated in Keras' order, equal v bit for bit
and that the non-trainable ones (BatchNorm statistics) are untouched. The
original file loaded by Keras must also equal our flatten output, so the order
is Keras' own.

Keras 3 cannot read Keras 2 configs (class "Model", a Sequential config that is
a list, layers with batch_input_shape), so those architectures are built here
layer by layer from the stored config and the file is read with load_weights;
files it can read (and everything it saved itself) go through load_model.

Usage: check_keras.py FLATPARAMS SOURCE_DIR WORK_DIR
Prints one line per check ("ok: ..." or "FAIL: ...") and ends with
"keras: P passed, F failed" (Keras version on the line before).
Exit 77 when Keras cannot be imported.
"""
import json
import os
import subprocess
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

try:
    import h5py
    import numpy as np
    import keras
    from keras.src.legacy.saving import legacy_h5_format
except Exception as e:  # noqa: BLE001 - any import failure means "skip"
    print(f"keras: skipped ({type(e).__name__}: {e})")
    sys.exit(77)

fp, src, work = sys.argv[1:4]
corpus = os.path.join(src, "testdata", "corpus", "keras")
passed = failed = 0


def check(what, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok: {what}")
    except Exception:  # noqa: BLE001 - report and go on with the next file
        failed += 1
        print(f"FAIL: {what}")
        print("  " + traceback.format_exc().strip().replace("\n", "\n  ")[:3000])


def run_fp(*args):
    r = subprocess.run([fp, *args], capture_output=True, text=True)
    assert r.returncode == 0, f"flatparams {' '.join(args)}: {r.stderr.strip()}"


# --- Keras 2 configs, rebuilt as Keras 3 models ------------------------------

SKIP_KEYS = {"batch_input_shape", "input_shape", "input_dim", "batch_size", "time_major", "implementation"}


def layer_from(cls, cfg):
    # Initializers, regularizers and constraints do not touch stored weights,
    # and their Keras 2 configs do not deserialize in Keras 3.
    cfg = {k: v for k, v in cfg.items()
           if k not in SKIP_KEYS and not k.endswith(("_initializer", "_regularizer", "_constraint"))}
    if cls == "Bidirectional":
        cfg["layer"] = layer_from(cfg["layer"]["class_name"], cfg["layer"]["config"])
    return getattr(keras.layers, cls)(**cfg)


def model_from_keras2(config):
    cls, body = config["class_name"], config["config"]
    if cls == "Sequential":
        layers = body if isinstance(body, list) else body["layers"]
        shape = layers[0]["config"]["batch_input_shape"][1:]
        return keras.Sequential([keras.Input(shape=tuple(shape))] +
                                [layer_from(l["class_name"], l["config"])
                                 for l in layers if l["class_name"] != "InputLayer"])
    tensors = {}
    for l in body["layers"]:
        name = l.get("name", l["config"]["name"])
        if l["class_name"] == "InputLayer":
            tensors[name] = keras.Input(shape=tuple(l["config"]["batch_input_shape"][1:]), name=name)
            continue
        layer = layer_from(l["class_name"], l["config"])
        ins = [tensors[node[0]] for node in l["inbound_nodes"][0]]
        # A recurrent layer with more than one input takes the rest as its initial state.
        tensors[name] = layer(ins[0]) if len(ins) == 1 else layer(ins[0], initial_state=ins[1:])
    return keras.Model([tensors[n[0]] for n in body["input_layers"]],
                       [tensors[n[0]] for n in body["output_layers"]])


# qkeras is not installed: its layers, as far as weights go, are Dense and Activation
# under the same class names (Keras 3 names a layer's weights group after its class),
# registered under the names the config gives ("qkeras>QDense"). The quantizers,
# initializers and constraints in the config do not touch stored weights.
@keras.saving.register_keras_serializable(package="qkeras", name="QDense")
class QDense(keras.layers.Dense):
    def __init__(self, units, use_bias=True, name=None, trainable=True, **_):
        super().__init__(units, use_bias=use_bias, name=name, trainable=trainable)


@keras.saving.register_keras_serializable(package="qkeras", name="QActivation")
class QActivation(keras.layers.Activation):
    def __init__(self, activation=None, name=None, trainable=True, **_):
        super().__init__("linear", name=name, trainable=trainable)


def weights(model, trainable):
    ws = model.trainable_weights if trainable else model.non_trainable_weights
    return np.concatenate([np.asarray(w.numpy()).ravel() for w in ws]) if ws else np.zeros(0)


def check_rebuild(name, path, load, out_ext, extra=()):
    """flatten, Keras agrees; rebuild with a new vector, Keras reads exactly it.
    extra: more flatparams options (--arch for a Keras 3 weights file)."""
    base = os.path.join(work, name)
    orig_npy, new_npy, out = base + ".orig.npy", base + ".new.npy", base + ".rebuilt" + out_ext

    def flatten_order():
        run_fp("flatten", path, *extra, "-o", orig_npy)
        ours = np.load(orig_npy)
        theirs = weights(load(path), True)
        assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
        assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
        assert np.array_equal(ours, theirs), "flatten differs from Keras' trainable weights"

    def rebuilt_loads():
        orig = np.load(orig_npy)
        new = orig * orig.dtype.type(1.5) + orig.dtype.type(0.25)
        assert new.dtype == orig.dtype and not np.array_equal(new, orig)
        np.save(new_npy, new)
        run_fp("rebuild", path, new_npy, *extra, "-o", out)
        before, after = load(path), load(out)
        got = weights(after, True)
        assert got.dtype == new.dtype, (got.dtype, new.dtype)
        assert np.array_equal(got, new), \
            f"{np.sum(got != new)} of {new.size} trainable values differ from the vector given"
        assert np.array_equal(weights(after, False), weights(before, False)), \
            "non-trainable weights changed"

    check(f"{name}: flatten order is Keras' trainable_weights", flatten_order)
    check(f"{name}: Keras loads the rebuilt file with the new vector", rebuilt_loads)


def full_h5(path):
    try:
        return keras.models.load_model(path, compile=False)
    except Exception:  # noqa: BLE001 - a Keras 2 config Keras 3 cannot read
        with h5py.File(path, "r") as f:
            model = model_from_keras2(json.loads(f.attrs["model_config"]))
        model.load_weights(path)
        return model


def weights_h5(arch_json):
    def load(path):
        with open(arch_json) as f:
            model = model_from_keras2(json.load(f))
        model.load_weights(path)
        return model
    return load


def keras3(path):
    return keras.models.load_model(path, compile=False)


def keras_made_models():
    """Models saved by this Keras in each of its forms, with every layer flatparams
    computes on and some it only carries (Conv1D, Embedding)."""
    rng = np.random.default_rng(5)
    seq = keras.Sequential([
        keras.Input(shape=(6,)),
        keras.layers.Dense(8, activation="relu", name="d1"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dense(4, use_bias=False, name="d2"),
        keras.layers.LayerNormalization(name="ln"),
        keras.layers.Dropout(0.1, name="drop"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ])
    frozen = seq.get_layer("d2")
    frozen.trainable = False
    inp = keras.Input(shape=(5, 3))
    h = keras.layers.Conv1D(4, 2, name="conv")(inp)
    h = keras.layers.Flatten(name="flat")(h)
    fn = keras.Model(inp, keras.layers.Dense(2, name="head")(h), name="functional")
    for m in (seq, fn):
        m.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in m.get_weights()])
    files = []
    for m, stem in ((seq, "k3_seq"), (fn, "k3_fn")):
        for ext in (".h5", ".keras"):
            p = os.path.join(work, stem + ext)
            m.save(p)
            files.append((stem + ext, p, full_h5 if ext == ".h5" else keras3, ext))
        # A weights-only file has no config to say a layer is frozen: all trainable.
        for layer in m.layers:
            layer.trainable = True
        p = os.path.join(work, stem + "_weights.h5")
        with h5py.File(p, "w") as f:   # Keras 3 writes legacy weights-only HDF5 only this way
            legacy_h5_format.save_weights_to_hdf5_group(f, m)

        def load_into(path, m=m):
            clone = keras.models.clone_model(m)
            clone.load_weights(path)   # legacy .h5 weights: layer by layer, in order
            return clone
        files.append((stem + "_weights.h5", p, load_into, ".h5"))
        # Keras 3's own weights-only form and its architecture: read with --arch
        p, arch = os.path.join(work, stem + ".weights.h5"), os.path.join(work, stem + ".json")
        m.save_weights(p)
        with open(arch, "w") as f:
            f.write(m.to_json())

        def from_arch(path, arch=arch):
            with open(arch) as f:
                model = keras.models.model_from_json(f.read())
            model.load_weights(path)
            return model
        files.append((stem + ".weights.h5", p, from_arch, ".weights.h5", ("--arch", arch)))
    return [f if len(f) == 5 else f + ((),) for f in files]


print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
cases = [
    ("keras_3layer_batch_norm.h5", full_h5, ".h5", None),
    ("keras_conv2d_model.h5", full_h5, ".h5", None),
    ("lstm_bidirectional.h5", full_h5, ".h5", None),
    ("KERAS_3layer_weights.h5", None, ".h5", "KERAS_3layer.json"),
    ("KERAS_3layer_batch_norm_weights.h5", None, ".h5", "KERAS_3layer_batch_norm.json"),
    ("KERAS_conv2d_model_weights.h5", None, ".h5", "KERAS_conv2d_model.json"),
    ("qkeras-v3_3layer.keras", keras3, ".keras", None),
]
for name, load, ext, arch in cases:
    if arch:
        load = weights_h5(os.path.join(corpus, arch))
    check_rebuild(name, os.path.join(corpus, name), load, ext)
try:
    made = keras_made_models()
except Exception:  # noqa: BLE001
    made = []
    check("Keras saves its own models", lambda: (_ for _ in ()).throw(RuntimeError(traceback.format_exc())))
for name, path, load, ext, extra in made:
    check_rebuild(name, path, load, ext, extra)


def keras_cnn_files():
    """The CNN models Keras saved (testdata/keras/cnn, make_keras_cnn_fixtures.py):
    flatten and rebuild as above for each form (.keras, model.save .h5, legacy
    save_weights with --arch); and Keras, loading each committed file, still
    predicts what the fixtures say, so the compute tests' numbers belong to
    these files."""
    cnn = os.path.join(src, "testdata", "keras", "cnn")
    with open(os.path.join(cnn, "cases.txt")) as f:
        rows = [line.split() for line in f if line.startswith("file ")]
    for _, name, model, arch in rows:
        path = os.path.join(cnn, model)
        if arch != "-":
            def load(p, arch=os.path.join(cnn, arch)):
                with open(arch) as f:
                    model = keras.models.model_from_json(f.read())
                model.load_weights(p)   # a legacy weights-only .h5: layer by layer
                return model
            extra = ("--arch", os.path.join(cnn, arch))
        else:
            load, extra = (keras3 if model.endswith(".keras") else full_h5), ()
        check_rebuild("cnn_" + model, path, load, os.path.splitext(model)[1], extra)

        def predicts_fixture(path=path, load=load, name=name):
            x = np.load(os.path.join(cnn, name + ".x.npy"))
            want = np.load(os.path.join(cnn, name + ".predict.npy"))
            got = load(path).predict(x, verbose=0)
            assert got.shape == want.shape, (got.shape, want.shape)
            assert np.allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max()), \
                f"Keras predicts {got.ravel()[:4]}..., the fixture says {want.ravel()[:4]}..."
        check(f"cnn_{model}: Keras predicts what {name}.predict.npy says", predicts_fixture)


keras_cnn_files()


def run_fp_status(*args):
    r = subprocess.run([fp, *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def check_mixups():
    """Files Keras writes, given to flatparams the wrong way round: each is
    refused (or warned about) with one line, never a silent wrong vector."""
    rng = np.random.default_rng(7)
    m = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(5, name="d"),
                          keras.layers.BatchNormalization(name="bn"),
                          keras.layers.Dense(2, name="out")])
    m.compile(optimizer="adam", loss="mse")
    m.fit(rng.standard_normal((8, 4)), rng.standard_normal((8, 2)), epochs=1, verbose=0)
    weights, arch = os.path.join(work, "mix.weights.h5"), os.path.join(work, "mix.json")
    zipped = os.path.join(work, "mix.keras")
    m.save_weights(weights)   # with the optimizer's state: Adam's moments
    m.save(zipped)
    with open(arch, "w") as f:
        f.write(m.to_json())
    n_trainable = sum(int(np.prod(w.shape)) for w in m.trainable_weights)
    n_statistics = sum(int(np.prod(w.shape)) for w in m.non_trainable_weights)

    def weights_without_arch():
        with h5py.File(weights, "r") as f:
            assert "optimizer" in f, list(f)   # what a plain HDF5 read would flatten
        code, out, err = run_fp_status("flatten", weights)
        assert code == 1 and out == "" and err.count("\n") == 1, (code, err)
        assert "a Keras 3 save_weights file" in err and "--arch" in err, err
        run_fp("flatten", weights, "--arch", arch, "-o", os.path.join(work, "mix.npy"))
        assert np.load(os.path.join(work, "mix.npy")).size == n_trainable

    def arch_as_model():
        code, out, err = run_fp_status("flatten", arch)
        assert code == 1 and out == "", (code, out, err)
        assert "a Keras architecture (model.to_json()) without weights" in err, err

    def rebuild_keeps_keras_format():
        vec = os.path.join(work, "mix.zip.npy")
        run_fp("flatten", zipped, "-o", vec)
        out = os.path.join(work, "mix.rebuilt.h5")
        code, _, err = run_fp_status("rebuild", zipped, vec, "-o", out)
        assert code == 1 and "only as .keras" in err and not os.path.exists(out), (code, err)

    def convert_warns():
        out = os.path.join(work, "mix.safetensors")
        code, _, err = run_fp_status("convert", zipped, "-o", out)
        assert code == 0, err
        want = f"its flat vector has {n_trainable + n_statistics} values where"
        assert want in err and f"{n_statistics} values kept out" in err, err

    check("a Keras 3 save_weights file without --arch is refused", weights_without_arch)
    check("model.to_json() given as the model is refused", arch_as_model)
    check("rebuild of a .keras into .h5 is refused", rebuild_keeps_keras_format)
    check("convert to safetensors warns of trainable BatchNorm statistics", convert_warns)


check_mixups()
print(f"keras: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
