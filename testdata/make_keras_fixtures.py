#!/usr/bin/env python3
"""Writes the Keras fixtures the keras suite (tests/test_keras.c) reads, into
testdata/keras/. Needs only `pip install h5py numpy` (no TensorFlow, no Keras).
Run from anywhere:

    python3 testdata/make_keras_fixtures.py

For every Keras file of testdata/corpus/keras (the .h5 ones and the .keras
one) and for the synthetic files below, it walks the file the way Keras
loads it and writes

    NAME.flat.npy    the trainable weights in Keras' order (model.trainable_weights:
                     layers in layer_names order, each layer's weights in its
                     weight_names order; Keras 3: config.json's layer order,
                     vars/0, vars/1, ...), concatenated, in the file's dtype
    NAME.paths.txt   one path per trainable weight, in that order:
                     /<layer>/<weight name without "<layer>/" and ":0">, or for
                     Keras 3 /<layer>/<kernel|bias|gamma|...> for Dense and
                     BatchNormalization and /<layer>/<index> otherwise

Trainable means: not moving_mean / moving_variance, not in a layer whose config
says "trainable": false.

Synthetic files (written here, then walked like the corpus):
    synthetic.h5     a model.save()-style file: model_config (variable-length
                     UTF-8 string), model_weights whose layer_names is split
                     into layer_names0 / layer_names1 (h5py's 64 KiB header
                     workaround, as Keras writes it), weight_names as
                     variable-length UTF-8 strings and fixed-length bytes, a
                     layer without weights (empty float64 weight_names), a
                     frozen Dense ("trainable": false), a BatchNormalization,
                     a layer with a UTF-8 name, and a weight stored in
                     sub-groups whose name keeps a slash (inner/kernel).
    synthetic_k3.h5  a model.save("m.h5") file as Keras 3 writes it: weight
                     names are variable paths, "<model>/<layer>/<weight>"
                     (sequential/bn/moving_mean, stored in those sub-groups),
                     a config without "module" keys, a frozen Dense, a
                     BatchNormalization, and the top_level_model_weights group
                     that layer_names does not list.
    synthetic3.keras a Keras 3 zip without the vars "name" attribute (older
                     Keras 3), so layers find their groups by snake_case class
                     name and count: Dense d1 (layers/dense), BatchNormalization
                     bn, Dense d2 without bias (layers/dense_1), an unknown class
                     Custom (index keys), and optimizer state (not parameters).
    synthetic3.weights.h5, synthetic3.arch.json
                     the zip's model.weights.h5 and config.json as files, as
                     Keras 3's save_weights and to_json() write them (read with
                     --arch, they must give synthetic3.keras's vector).
"""
import io
import json
import os
import re
import zipfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras")
CORPUS = os.path.join(HERE, "corpus", "keras")
STATISTICS = ("moving_mean", "moving_variance")


def text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def names_attr(group, name):
    """Keras' load_attributes_from_hdf5_group: name, else name0, name1, ..."""
    if name in group.attrs:
        return [text(v) for v in group.attrs[name]]
    names, chunk = [], 0
    while "%s%d" % (name, chunk) in group.attrs:
        names.extend(text(v) for v in group.attrs["%s%d" % (name, chunk)])
        chunk += 1
    return names


def frozen_layers(config):
    if config is None:
        return set()
    layers = config["config"] if isinstance(config["config"], list) else config["config"].get("layers", [])
    frozen = set()
    for layer in layers:
        cfg = layer.get("config", {})
        if cfg.get("trainable") is False:
            frozen.add(cfg.get("name", layer.get("name")))
    return frozen


def walk_legacy(path):
    """layer_names x weight_names, the way Keras' load_weights reads them."""
    with h5py.File(path, "r") as f:
        config = f.attrs.get("model_config")
        config = json.loads(text(config)) if config is not None else None
        group = f["model_weights"] if "layer_names" not in f.attrs and "layer_names0" not in f.attrs else f
        frozen = frozen_layers(config)
        arrays, paths = [], []
        for layer in names_attr(group, "layer_names"):
            g = group[layer]
            for weight in names_attr(g, "weight_names"):
                if weight.startswith(layer + "/"):
                    key = weight[len(layer) + 1:]
                elif "/%s/" % layer in weight:   # Keras 3: <model>/<layer>/<weight>
                    key = weight.split("/%s/" % layer, 1)[1]
                else:
                    key = weight
                key = key[:-2] if key.endswith(":0") else key
                if layer in frozen or key in STATISTICS:
                    continue
                arrays.append(np.asarray(g[weight]))
                paths.append("/%s/%s" % (layer, key))
    return arrays, paths


def snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def var_names(layer, n):
    cls, cfg = layer["class_name"], layer.get("config", {})
    if cls == "Dense":
        names = ["kernel"] + (["bias"] if cfg.get("use_bias", True) else [])
    elif cls == "BatchNormalization":
        names = (["gamma"] if cfg.get("scale", True) else []) + \
                (["beta"] if cfg.get("center", True) else []) + list(STATISTICS)
    else:
        return [str(i) for i in range(n)]
    return names if len(names) == n else [str(i) for i in range(n)]


def walk_keras3(path):
    """config.json's layers, each with its layers/<group>/vars/0.. in order."""
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    groups = weights["layers"]
    owners = {g: text(groups[g]["vars"].attrs["name"]) for g in groups
              if "vars" in groups[g] and "name" in groups[g]["vars"].attrs}
    arrays, paths, seen = [], [], {}
    for layer in config["config"]["layers"]:
        name = layer["config"]["name"]
        snake = snake_case(layer["class_name"])
        count = seen.get(snake, 0)
        seen[snake] = count + 1
        group = next((g for g, owner in owners.items() if owner == name), None)
        if group is None:
            guess = snake if count == 0 else "%s_%d" % (snake, count)
            group = guess if guess in groups and guess not in owners else None
        if group is None or layer.get("config", {}).get("trainable") is False:
            continue
        variables = groups[group]["vars"]
        order = sorted(variables, key=int)
        for key, index in zip(var_names(layer, len(order)), order):
            if key not in STATISTICS:
                arrays.append(np.asarray(variables[index]))
                paths.append("/%s/%s" % (name, key))
    weights.close()
    return arrays, paths


def write_expected(name, arrays, paths):
    dtype = np.result_type(np.float32, *[a.dtype for a in arrays]) if arrays else np.float32
    flat = np.concatenate([a.ravel().astype(dtype) for a in arrays]) if arrays else np.zeros(0, dtype)
    np.save(os.path.join(OUT, name + ".flat.npy"), flat)
    with open(os.path.join(OUT, name + ".paths.txt"), "w", encoding="utf8") as out:
        out.write("".join(p + "\n" for p in paths))
    print("%-40s %6d weights %7d elements" % (name, len(paths), flat.size))


def values(rng, shape):
    return np.round(rng.standard_normal(shape), 3).astype(np.float32)


def make_synthetic_h5(path):
    rng = np.random.default_rng(5)
    vlen = h5py.string_dtype("utf-8")
    layers = [
        {"class_name": "InputLayer", "name": "in", "config": {"name": "in", "dtype": "float32"}},
        {"class_name": "Dense", "name": "frozen", "config": {"name": "frozen", "units": 3,
                                                             "trainable": False, "activation": "relu"}},
        {"class_name": "BatchNormalization", "name": "bn",
         "config": {"name": "bn", "epsilon": 0.001, "center": True, "scale": True}},
        {"class_name": "Dense", "name": "dënse", "config": {"name": "dënse", "units": 2,
                                                            "activation": "softmax", "use_bias": True}},
        {"class_name": "Wrapper", "name": "nest", "config": {"name": "nest"}},
    ]
    config = {"class_name": "Functional", "config": {"name": "synthetic", "layers": layers}}
    weights = {
        "in": [],
        "frozen": [("frozen/kernel:0", (4, 3)), ("frozen/bias:0", (3,))],
        "bn": [("bn/gamma:0", (3,)), ("bn/beta:0", (3,)), ("bn/moving_mean:0", (3,)),
               ("bn/moving_variance:0", (3,))],
        "dënse": [("dënse/kernel:0", (3, 2)), ("dënse/bias:0", (2,))],
        "nest": [("nest/inner/kernel:0", (2, 2))],
    }
    with h5py.File(path, "w") as f:
        f.attrs.create("model_config", json.dumps(config), dtype=vlen)
        f.attrs["keras_version"] = "2.3.1"
        mw = f.create_group("model_weights")
        names = list(weights)
        mw.attrs.create("layer_names0", names[:2], dtype=vlen)
        mw.attrs.create("layer_names1", names[2:], dtype=vlen)
        for layer, ws in weights.items():
            g = mw.create_group(layer)
            if not ws:
                g.attrs["weight_names"] = np.zeros(0, np.float64)
            elif layer == "bn":
                g.attrs["weight_names"] = np.array([w.encode() for w, _ in ws])   # fixed-length
            else:
                g.attrs.create("weight_names", [w for w, _ in ws], dtype=vlen)
            for w, shape in ws:
                g.create_dataset(w, data=values(rng, shape))


def make_synthetic_k3_h5(path):
    rng = np.random.default_rng(7)
    vlen = h5py.string_dtype("utf-8")
    layers = [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "dtype": "float32",
                                                "name": "input_layer"}},
        {"class_name": "Dense", "config": {"name": "d1", "trainable": True, "units": 5,
                                           "activation": "tanh", "use_bias": True}},
        {"class_name": "BatchNormalization", "config": {"name": "bn", "trainable": True, "axis": -1,
                                                        "epsilon": 0.001, "center": True, "scale": True}},
        {"class_name": "Dense", "config": {"name": "frozen", "trainable": False, "units": 3,
                                           "activation": "relu", "use_bias": True}},
        {"class_name": "Dense", "config": {"name": "out", "trainable": True, "units": 2,
                                           "activation": "linear", "use_bias": True}},
    ]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "trainable": True,
                                                     "layers": layers}}
    weights = {
        "d1": [("kernel", (4, 5)), ("bias", (5,))],
        "bn": [("gamma", (5,)), ("beta", (5,)), ("moving_mean", (5,)), ("moving_variance", (5,))],
        "frozen": [("kernel", (5, 3)), ("bias", (3,))],
        "out": [("kernel", (3, 2)), ("bias", (2,))],
    }
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = "3.15.1"
        mw.attrs.create("layer_names", list(weights), dtype=vlen)
        for layer, ws in weights.items():
            g = mw.create_group(layer)
            paths = ["sequential/%s/%s" % (layer, w) for w, _ in ws]
            g.attrs.create("weight_names", paths, dtype=vlen)
            for p, (w, shape) in zip(paths, ws):
                data = values(rng, shape)
                if w == "moving_variance":
                    data = np.abs(data) + np.float32(0.5)
                g.create_dataset(p, data=data)
        mw.create_group("top_level_model_weights").attrs["weight_names"] = np.zeros(0, np.float64)


def make_synthetic_keras(path):
    rng = np.random.default_rng(6)
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, 4], "name": "input_layer"}},
        {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "d1", "units": 3, "activation": "relu", "use_bias": True}},
        {"module": "keras.layers", "class_name": "BatchNormalization",
         "config": {"name": "bn", "epsilon": 0.001, "center": True, "scale": True}},
        {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "d2", "units": 2, "use_bias": False}},
        {"module": "custom", "class_name": "Custom", "config": {"name": "c"}},
    ]
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "sequential", "layers": layers}}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for group, shapes in [("dense", [(4, 3), (3,)]), ("batch_normalization", [(3,)] * 4),
                              ("dense_1", [(3, 2)]), ("custom", [(2,), (2, 2)])]:
            v = f.create_group("layers/%s/vars" % group)
            for i, shape in enumerate(shapes):
                v.create_dataset(str(i), data=values(rng, shape))
        f.create_group("vars")
        f.create_dataset("optimizer/vars/0", data=np.ones(3, np.float32))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue())
    # the same model as save_weights("m.weights.h5") and to_json() write it
    stem = path[:-len(".keras")]
    with open(stem + ".weights.h5", "wb") as f:
        f.write(buf.getvalue())
    with open(stem + ".arch.json", "w") as f:
        json.dump(config, f)


def main():
    os.makedirs(OUT, exist_ok=True)
    make_synthetic_h5(os.path.join(OUT, "synthetic.h5"))
    make_synthetic_k3_h5(os.path.join(OUT, "synthetic_k3.h5"))
    make_synthetic_keras(os.path.join(OUT, "synthetic3.keras"))
    files = [os.path.join(CORPUS, n) for n in sorted(os.listdir(CORPUS))
             if n.endswith(".h5") or n.endswith(".keras")]
    files += [os.path.join(OUT, n) for n in ("synthetic.h5", "synthetic_k3.h5", "synthetic3.keras")]
    for path in files:
        walk = walk_keras3 if path.endswith(".keras") else walk_legacy
        write_expected(os.path.basename(path), *walk(path))


if __name__ == "__main__":
    main()
