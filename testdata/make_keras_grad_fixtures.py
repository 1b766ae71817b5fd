#!/usr/bin/env python3
"""Gradients and Hessians of Keras models from PyTorch, for tests/test_keras_compute.c.

For each Keras model the compute core handles (KERAS_3layer weights + architecture,
keras_3layer_batch_norm.h5 and the same network as weights + architecture,
testdata/keras/synthetic_k3.h5 in Keras 3's layout), it reads the weights with
h5py the way Keras loads them (layer_names x weight_names), builds the same
network in PyTorch in float64 (Dense, BatchNormalization with the moving
statistics, Activation), and differentiates the loss with respect to the flat
vector of trainable weights in Keras' order (make_keras_fixtures.py's order:
no moving_mean/moving_variance, no layer with "trainable": false), the float32
weights widened exactly. No TensorFlow, no flatparams.

Losses are Flux's (make_compute_fixtures.LOSSES): mse for all; crossentropy where
the model ends in softmax, logitcrossentropy where its output is linear.

Writes testdata/keras/grad/:
  cases.txt             NAME MODEL ARCH X Y LOSS ROWS LOSS_VALUE per line (ARCH "-"
                        when the file has its config; ROWS: the --rows blocks,
                        A:B[,A:B...], "all" for the full matrix, "-" for none)
  x16.npy, x4.npy       inputs (6 samples; 16 or 4 features)
  NAME.y.npy            targets: real values for mse, one-hot for crossentropies
  NAME.grad.npy         the gradient (n)
  NAME.hess.npy         rows of the Hessian: the ROWS blocks stacked (k x n); for
                        mse, and for every loss of the small synthetic_k3
  PREFIX.v.npy          a fixed random vector v per model (PREFIX: NAME before its first ".")
  NAME.hvp.npy          H v, from the full H

The full Hessian is torch.autograd.functional.hessian's (n up to 4,655); only the
row blocks and H v are stored, to keep the fixtures small.

Usage: python3 testdata/make_keras_grad_fixtures.py   (needs numpy, h5py, torch)
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_compute_fixtures as mcf  # noqa: E402  (Flux's losses, in torch)
import make_keras_fixtures as mkf  # noqa: E402  (names_attr, frozen_layers)

CORPUS = os.path.join(HERE, "corpus", "keras")
OUT = os.path.join(HERE, "keras", "grad")
STATISTICS = ("moving_mean", "moving_variance")

ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "softmax": lambda z: F.softmax(z, dim=-1),
}


def weight_key(layer, weight):
    """Keras 2 names "<layer>/<w>:0", Keras 3's "<model>/<layer>/<w>"."""
    if weight.startswith(layer + "/"):
        key = weight[len(layer) + 1:]
    elif "/%s/" % layer in weight:
        key = weight.split("/%s/" % layer, 1)[1]
    else:
        key = weight
    return key[:-2] if key.endswith(":0") else key


def read_model(path, arch):
    """(layers, theta0, slots): the chain's layer configs with their weights as
    float64 tensors, the trainable ones also as slices of the flat vector."""
    with h5py.File(path, "r") as f:
        if arch:
            with open(arch) as a:
                config = json.load(a)
        else:
            config = json.loads(mkf.text(f.attrs["model_config"]))
        group = f if "layer_names" in f.attrs else f["model_weights"]
        stored = {}
        for layer in mkf.names_attr(group, "layer_names"):
            stored[layer] = [(weight_key(layer, w), np.asarray(group[layer][w], dtype=np.float64))
                             for w in mkf.names_attr(group[layer], "weight_names")]
    frozen = mkf.frozen_layers(config)
    body = config["config"]
    layers = body if isinstance(body, list) else body["layers"]
    flat, slots, offset = [], {}, 0
    # Flat order: layer_names order, weight_names order (Keras' trainable_weights).
    for layer, weights in stored.items():
        for key, value in weights:
            if layer in frozen or key in STATISTICS:
                continue
            slots[(layer, key)] = (offset, value.shape)
            offset += value.size
            flat.append(value.ravel())
    chain = []
    for layer in layers:
        cfg = layer["config"]
        chain.append((layer["class_name"], cfg, dict(stored.get(cfg["name"], []))))
    return chain, np.concatenate(flat), slots


def forward(chain, slots, theta, x):
    def w(name, key, constants):
        if (name, key) in slots:
            offset, shape = slots[(name, key)]
            return theta[offset:offset + int(np.prod(shape))].reshape(shape)
        return torch.tensor(constants[key])
    for cls, cfg, constants in chain:
        name = cfg["name"]
        if cls == "Dense":
            x = x @ w(name, "kernel", constants)
            if cfg.get("use_bias", True):
                x = x + w(name, "bias", constants)
            x = ACTIVATIONS[cfg.get("activation", "linear")](x)
        elif cls == "BatchNormalization":
            x = (x - w(name, "moving_mean", constants)) / torch.sqrt(
                w(name, "moving_variance", constants) + cfg["epsilon"])
            if cfg.get("scale", True):
                x = x * w(name, "gamma", constants)
            if cfg.get("center", True):
                x = x + w(name, "beta", constants)
        elif cls == "Activation":
            x = ACTIVATIONS[cfg["activation"]](x)
        else:
            assert cls in ("InputLayer", "Dropout"), cls
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)
    inputs = {"x16.npy": rng.standard_normal((6, 16)), "x4.npy": rng.standard_normal((6, 4))}
    for name, x in inputs.items():
        np.save(os.path.join(OUT, name), x)
    labels = np.array([0, 3, 1, 4, 2, 1])
    models = [
        # NAME prefix, model (corpus or testdata), arch, input, losses, row blocks
        ("keras_3layer", "corpus:KERAS_3layer_weights.h5", "corpus:KERAS_3layer.json", "x16.npy",
         ("mse", "crossentropy"), None),
        ("keras_3layer_bn", "corpus:keras_3layer_batch_norm.h5", "-", "x16.npy",
         ("mse", "crossentropy"), None),
        ("keras_3layer_bn_arch", "corpus:KERAS_3layer_batch_norm_weights.h5",
         "corpus:KERAS_3layer_batch_norm.json", "x16.npy", ("mse",), None),
        ("synthetic_k3", "testdata:keras/synthetic_k3.h5", "-", "x4.npy",
         ("mse", "logitcrossentropy"), "all"),
    ]
    lines = ["# made by testdata/make_keras_grad_fixtures.py: NAME MODEL ARCH X Y LOSS ROWS LOSS_VALUE"]

    def resolve(ref):
        if ref == "-":
            return None
        where, rel = ref.split(":", 1)
        return os.path.join(CORPUS, rel) if where == "corpus" else os.path.join(HERE, rel)

    for prefix, model, arch, xname, losses, rows in models:
        chain, theta0, slots = read_model(resolve(model), resolve(arch))
        n = theta0.size
        x = torch.tensor(inputs[xname])
        n_out = forward(chain, slots, torch.tensor(theta0), x).shape[1]
        if rows is None:
            # Rows of the first Dense kernel, of the second layer's first array (BatchNorm
            # gamma, or the next Dense kernel), and the last parameter.
            second = sorted(offset for offset, _ in slots.values())[2]
            rows = "0:1,%d:%d,%d:%d" % (second, second + 2, n - 1, n)
        blocks = [tuple(map(int, b.split(":"))) for b in rows.split(",")] if rows != "all" else [(0, n)]
        v = rng.standard_normal(n)
        np.save(os.path.join(OUT, prefix + ".v.npy"), v)
        for loss in losses:
            name = "%s.%s" % (prefix, loss)
            if loss == "mse":
                y = rng.standard_normal((6, n_out))
            else:
                y = np.eye(n_out)[labels % n_out]
            np.save(os.path.join(OUT, name + ".y.npy"), y)
            yt = torch.tensor(y)

            def f(theta):
                return mcf.LOSSES[loss](forward(chain, slots, theta, x), yt)
            theta = torch.tensor(theta0, requires_grad=True)
            value = f(theta)
            grad, = torch.autograd.grad(value, theta)
            hess = torch.autograd.functional.hessian(f, torch.tensor(theta0), vectorize=True).numpy()
            np.save(os.path.join(OUT, name + ".grad.npy"), grad.numpy())
            # Row blocks for mse (and the full matrix when small); H v for every loss.
            if loss == "mse" or rows == "all":
                np.save(os.path.join(OUT, name + ".hess.npy"), np.concatenate([hess[a:b] for a, b in blocks]))
            np.save(os.path.join(OUT, name + ".hvp.npy"), hess @ v)
            lines.append("%s %s %s %s %s %s %s %.17g" % (name, model, arch, xname, name + ".y.npy", loss,
                                                      rows if loss == "mse" or rows == "all" else "-",
                                                      value.item()))
            print("%-36s n = %5d  loss = %.6g  |g| = %.3g  |H| = %.3g" % (
                name, n, value.item(), grad.norm().item(), np.linalg.norm(hess)))
    with open(os.path.join(OUT, "cases.txt"), "w") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
