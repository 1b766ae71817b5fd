#!/usr/bin/env python3
"""Expected predictions of two corpus Keras models, from an independent NumPy
forward pass over the weights as h5py reads them (no TensorFlow, no flatparams).

Writes testdata/keras/predict/{x.npy, KERAS_3layer.y.npy, keras_3layer_batch_norm.y.npy}.
Run from the project root: python3 testdata/make_keras_compute_fixtures.py
"""
import json
import os

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "corpus", "keras")
out = os.path.join(here, "keras", "predict")
os.makedirs(out, exist_ok=True)


def act(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    assert name == "linear", name
    return z


def forward(config, weights_group, x):
    """Sequential evaluation of a Keras config (chain graphs only)."""
    for layer in config["config"]["layers"]:
        cls, cfg = layer["class_name"], layer["config"]
        g = weights_group[cfg["name"]] if cfg["name"] in weights_group else None
        w = {}
        if g is not None:
            for wn in g.attrs.get("weight_names", []):
                wn = wn.decode() if isinstance(wn, bytes) else wn
                w[wn.split("/")[-1].split(":")[0]] = g[wn][()].astype(np.float64)
        if cls == "Dense":
            x = act(cfg["activation"], x @ w["kernel"] + w["bias"])
        elif cls == "BatchNormalization":
            x = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"]) * w["gamma"] + w["beta"]
        elif cls == "Activation":
            x = act(cfg["activation"], x)
        else:
            assert cls == "InputLayer", cls
    return x


rng = np.random.default_rng(7)
x = rng.standard_normal((6, 16))
np.save(os.path.join(out, "x.npy"), x)
with h5py.File(os.path.join(corpus, "keras_3layer_batch_norm.h5"), "r") as f:
    config = json.loads(f.attrs["model_config"])
    np.save(os.path.join(out, "keras_3layer_batch_norm.y.npy"), forward(config, f["model_weights"], x))
with open(os.path.join(corpus, "KERAS_3layer.json")) as arch, \
        h5py.File(os.path.join(corpus, "KERAS_3layer_weights.h5"), "r") as f:
    np.save(os.path.join(out, "KERAS_3layer.y.npy"), forward(json.load(arch), f, x))
