#!/usr/bin/env python3
"""Writes the JSON model fixtures the json suite (tests/test_json.c) reads.

    seed.json    Flux's Chain(Dense(2 => 1, tanh), Dense(1 => 1)), float32
                 (the contract's example, with zero biases): 5 parameters.
    mlp_bn.json  Chain(Chain(Dense(784 => 64), BatchNorm(64, relu)), Dense(64 => 10)),
                 float32: 7 modules, 51018 trainable parameters and 128 non-trainable
                 (BatchNorm's mean and var).

Values come from numpy's default_rng(0), rounded to 3 decimals so the file stays
small; run it from anywhere: python3 testdata/make_json_fixtures.py
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def tensor(values, shape=None):
    values = np.asarray(values, dtype=np.float64)
    return {"dtype": "float32", "shape": list(shape or values.shape),
            "data": [round(float(v), 3) + 0.0 for v in values.ravel()]}


def dense(rng, n_in, n_out, activation=None):
    layer = {"type": "Dense",
             "weight": tensor(rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in))),
             "bias": tensor(rng.normal(0, 0.1, n_out))}
    if activation:
        layer["activation"] = activation
    return layer


def batchnorm(rng, n, activation):
    return {"type": "BatchNorm",
            "gamma": tensor(rng.uniform(0.5, 1.5, n)),
            "beta": tensor(rng.normal(0, 0.1, n)),
            "mean": tensor(rng.normal(0, 0.5, n)),
            "var": tensor(rng.uniform(0.5, 2.0, n)),
            "eps": 1e-5,
            "activation": activation}


def write(name, model):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(model, f, separators=(",", ":"))
        f.write("\n")


def main():
    seed = {"type": "Chain", "layers": [
        {"type": "Dense",
         "weight": {"dtype": "float32", "shape": [1, 2], "data": [0.863101, 1.2454957]},
         "bias": {"dtype": "float32", "shape": [1], "data": [0]},
         "activation": "tanh"},
        {"type": "Dense",
         "weight": {"dtype": "float32", "shape": [1, 1], "data": [-1.6345707]},
         "bias": {"dtype": "float32", "shape": [1], "data": [0]}}]}
    write("seed.json", seed)

    rng = np.random.default_rng(0)
    mlp_bn = {"type": "Chain", "layers": [
        {"type": "Chain", "layers": [dense(rng, 784, 64), batchnorm(rng, 64, "relu")]},
        dense(rng, 64, 10)]}
    write("mlp_bn.json", mlp_bn)


if __name__ == "__main__":
    main()
