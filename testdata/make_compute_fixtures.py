#!/usr/bin/env python3
"""Fixtures for tests/test_compute_fixtures.c: small f64 models, inputs, targets,
and PyTorch's outputs and gradients (torch.autograd.grad) for each case.

Writes testdata/compute/:
  cases.txt              one case per line: NAME X Y LOSS ALL TRAIN LOSS_VALUE
                         (Y is - for none; ALL: gradient over --all; TRAIN: --train-mode)
  NAME.json              the model, in flatparams' JSON form (bare f64 arrays)
  NAME.out.npy           m(X), float64
  NAME.grad.npy          the gradient in flat order (depth-first, shared arrays once)
  x.npy, y*.npy          inputs and targets shared by the cases

Losses follow Flux.Losses (src/losses/functions.jl): crossentropy is
sum(-xlogy(y, ŷ + eps)) / batch with eps = eps(Float64), logit losses as Flux
writes them, every other loss averages over all elements. Layers follow
flatparams' conventions: X is batch x features, a Dense weight is out x in.

Usage: python3 testdata/make_compute_fixtures.py   (needs numpy and torch)
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compute")
EPS = float(np.finfo(np.float64).eps)
BATCH, FEATURES = 5, 4

ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": F.relu,
    "leakyrelu": lambda z: F.leaky_relu(z, 0.01),
    "elu": lambda z: F.elu(z, 1.0),
    "selu": F.selu,
    "gelu": F.gelu,                       # the exact erf form
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,               # inputs stay far below its threshold of 20
    "swish": F.silu,
    "softmax": lambda z: F.softmax(z, dim=-1),
    "logsoftmax": lambda z: F.log_softmax(z, dim=-1),
}

LOSSES = {
    "sumsq": lambda p, y: (p ** 2).sum(),
    "mse": lambda p, y: ((p - y) ** 2).mean(),
    "sse": lambda p, y: ((p - y) ** 2).sum(),
    "mae": lambda p, y: (p - y).abs().mean(),
    "huber": lambda p, y: F.huber_loss(p, y, delta=1.0),
    "crossentropy": lambda p, y: -torch.xlogy(y, p + EPS).sum(dim=1).mean(),
    "logitcrossentropy": lambda p, y: -(y * F.log_softmax(p, dim=1)).sum(dim=1).mean(),
    "binarycrossentropy": lambda p, y: (-torch.xlogy(y, p + EPS) - torch.xlogy(1 - y, 1 - p + EPS)).mean(),
    "logitbinarycrossentropy": lambda p, y: ((1 - y) * p - F.logsigmoid(p)).mean(),
}

rng = np.random.default_rng(20240611)


def rand(*shape, scale=1.0, low=None):
    if low is not None:
        return rng.uniform(low, low + scale, size=shape)
    return rng.uniform(-scale, scale, size=shape)


class Model:
    """Layers as dicts of numpy arrays, in JSON document order; shared arrays by identity."""

    def __init__(self):
        self.layers = []

    def dense(self, n_in, n_out, act=None, bias=True, weight=None, nested=None):
        layer = {"type": "Dense", "weight": weight if weight is not None else rand(n_out, n_in, scale=0.8)}
        if bias:
            layer["bias"] = rand(n_out, scale=0.3)
        if act:
            layer["activation"] = act
        (nested if nested is not None else self.layers).append(layer)
        return layer

    def batchnorm(self, n, act=None):
        self.layers.append({"type": "BatchNorm", "gamma": rand(n, low=0.5), "beta": rand(n, scale=0.3),
                            "mean": rand(n, scale=0.2), "var": rand(n, low=0.5), "eps": 1e-5,
                            **({"activation": act} if act else {})})

    def layernorm(self, n, act=None):
        self.layers.append({"type": "LayerNorm", "gamma": rand(n, low=0.5), "beta": rand(n, scale=0.3),
                            "eps": 1e-5, **({"activation": act} if act else {})})

    def plain(self, kind, act=None):
        self.layers.append({"type": kind, **({"activation": act} if act else {})})


def to_json(model):
    """The JSON document, with a $ref for every array met a second time."""
    seen = {}

    def conv(node, path):
        if isinstance(node, np.ndarray):
            if id(node) in seen:
                return {"$ref": seen[id(node)]}
            seen[id(node)] = path
            return node.tolist()
        if isinstance(node, dict):
            return {k: conv(v, f"{path}/{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [conv(v, f"{path}/{i}") for i, v in enumerate(node)]
        return node

    return {"type": "Chain", "layers": conv(model.layers, "/layers")}


def flat_params(model, with_all):
    """The tensors in flat order (depth-first, shared arrays once) and by array id."""
    out, tensors = [], {}

    def walk(node, layer_type=None, key=None):
        if isinstance(node, np.ndarray):
            if id(node) in tensors:
                return
            tensors[id(node)] = torch.tensor(node, requires_grad=True)
            if with_all or not (layer_type == "BatchNorm" and key in ("mean", "var")):
                out.append(tensors[id(node)])
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, node.get("type"), k)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(model.layers)
    return out, tensors


def forward(model, tensors, x, train):
    def t(a):
        return tensors[id(a)]

    def run(layers, h):
        for layer in layers:
            kind = layer["type"]
            if kind == "Chain":
                h = run(layer["layers"], h)
                continue
            if kind == "Dense":
                h = h @ t(layer["weight"]).T + (t(layer["bias"]) if "bias" in layer else 0)
            elif kind == "BatchNorm":
                if train:
                    mean, var = h.mean(0), h.var(0, unbiased=False)
                else:
                    mean, var = t(layer["mean"]), t(layer["var"])
                h = (h - mean) / torch.sqrt(var + layer["eps"]) * t(layer["gamma"]) + t(layer["beta"])
            elif kind == "LayerNorm":
                h = F.layer_norm(h, (h.shape[1],), t(layer["gamma"]), t(layer["beta"]), layer["eps"])
            h = ACTIVATIONS[layer.get("activation", "identity")](h)
        return h

    return run(model.layers, x)


def save(name, array):
    np.save(os.path.join(HERE, name), array)


def case(lines, name, model, x_name, x, y_name, y, loss, with_all=False, train=False, labels=None):
    params, tensors = flat_params(model, with_all)
    out = forward(model, tensors, torch.tensor(x), train)
    target = None
    if y is not None:
        target = torch.tensor(y)
        if labels is not None:
            target = F.one_hot(torch.tensor(y), out.shape[1]).to(torch.float64)
    value = LOSSES[loss](out, target)
    grads = torch.autograd.grad(value, params)
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(to_json(model), f)
    save(name + ".out.npy", out.detach().numpy())
    save(name + ".grad.npy", np.concatenate([g.reshape(-1).numpy() for g in grads]))
    lines.append(f"{name} {x_name} {y_name or '-'} {loss} {int(with_all)} {int(train)} {value.item()!r}")


def main():
    os.makedirs(HERE, exist_ok=True)
    for old in os.listdir(HERE):
        os.remove(os.path.join(HERE, old))
    lines = []
    x = rand(BATCH, FEATURES, scale=1.5)
    save("x.npy", x)

    for act in ACTIVATIONS:
        m = Model()
        m.dense(FEATURES, 5, act)
        m.dense(5, 3)
        case(lines, "act_" + act, m, "x.npy", x, None, None, "sumsq")

    m = Model()
    m.dense(FEATURES, 3, "tanh", bias=False)
    m.dense(3, 2)
    case(lines, "layer_dense_nobias", m, "x.npy", x, None, None, "sumsq")
    for name, with_all, train in (("layer_batchnorm", False, False), ("layer_batchnorm_all", True, False),
                                  ("layer_batchnorm_train", False, True)):
        m = Model()
        m.dense(FEATURES, 5)
        m.batchnorm(5, "relu" if not train else "tanh")
        m.dense(5, 3)
        case(lines, name, m, "x.npy", x, None, None, "sumsq", with_all, train)
    m = Model()
    m.dense(FEATURES, 5)
    m.layernorm(5, "gelu")
    m.dense(5, 3)
    case(lines, "layer_layernorm", m, "x.npy", x, None, None, "sumsq")
    m = Model()
    m.dense(FEATURES, 5)
    m.plain("Dropout")
    m.plain("Flatten")
    m.plain("Activation", "tanh")
    m.dense(5, 3)
    case(lines, "layer_dropout_flatten_activation", m, "x.npy", x, None, None, "sumsq")
    m = Model()                            # nested Chain and a weight used twice
    inner = {"type": "Chain", "layers": []}
    first = m.dense(FEATURES, 4, "tanh", nested=inner["layers"])
    m.layers.append(inner)
    m.dense(4, 4, "tanh", weight=first["weight"])
    m.dense(4, 3)
    case(lines, "layer_chain_shared", m, "x.npy", x, None, None, "sumsq")

    classes = 3
    y_real = rand(BATCH, classes, scale=2.0)           # |error| on both sides of huber's δ
    labels = rng.integers(0, classes, size=BATCH)
    y_onehot = np.eye(classes)[labels]
    y_prob = rand(BATCH, classes, scale=1.0, low=0.0)
    y_prob[0, 0], y_prob[1, 1] = 0.0, 1.0               # xlogy's zero branches
    save("y_real.npy", y_real)
    save("y_onehot.npy", y_onehot)
    save("y_labels.npy", labels.astype(np.int64))
    save("y_prob.npy", y_prob)
    for loss, final, y_name, y, lab in (
            ("sumsq", None, None, None, None),
            ("mse", None, "y_real.npy", y_real, None),
            ("sse", None, "y_real.npy", y_real, None),
            ("mae", None, "y_real.npy", y_real, None),
            ("huber", None, "y_real.npy", y_real, None),
            ("crossentropy", "softmax", "y_onehot.npy", y_onehot, None),
            ("crossentropy", "softmax", "y_labels.npy", labels, True),
            ("logitcrossentropy", None, "y_onehot.npy", y_onehot, None),
            ("logitcrossentropy", None, "y_labels.npy", labels, True),
            ("binarycrossentropy", "sigmoid", "y_prob.npy", y_prob, None),
            ("logitbinarycrossentropy", None, "y_prob.npy", y_prob, None)):
        m = Model()
        m.dense(FEATURES, 6, "tanh")
        m.dense(6, classes, final)
        name = "loss_" + loss + ("_labels" if lab else "")
        case(lines, name, m, "x.npy", x, y_name, y, loss, labels=lab)

    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        f.write("# made by testdata/make_compute_fixtures.py: NAME X Y LOSS ALL TRAIN LOSS_VALUE\n")
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} cases in {HERE}")


if __name__ == "__main__":
    main()
