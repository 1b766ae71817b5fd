#!/usr/bin/env python3
"""Fixtures for tests/test_hessian_cli.c: PyTorch's exact Hessians
(torch.autograd.functional.hessian, float64) with respect to the flat vector.

Reads the cases of testdata/compute/ (cases.txt, NAME.json, x.npy, y*.npy, made
by make_compute_fixtures.py: every activation, every loss, BatchNorm inference,
--all and --train-mode, LayerNorm, Dropout/Flatten/Activation, a nested Chain
with a shared weight) and writes testdata/hessian/:
  NAME.hess.npy     n x n, flat order (depth-first, shared arrays once)
  seed_x.npy        three inputs for testdata/seed.json (Chain(Dense(2=>1, tanh), Dense(1=>1)))
  seed.hess.npy     the 5 x 5 Hessian of sum(abs2, m(x)) for it, in float64
                    (its float32 weights widened exactly)
  seed.eigs.npy     that matrix's eigenvalues (numpy.linalg.eigvalsh, increasing)

Usage: python3 testdata/make_hessian_fixtures.py   (needs numpy and torch)
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_compute_fixtures as mcf  # noqa: E402  (the same models, layers and losses)

TESTDATA = os.path.dirname(os.path.abspath(__file__))
COMPUTE = os.path.join(TESTDATA, "compute")
HERE = os.path.join(TESTDATA, "hessian")


def load_model(path):
    """A make_compute_fixtures Model from its JSON: arrays as numpy, $ref as the same object."""
    by_path = {}

    def numeric(node):
        return isinstance(node, list) and (not node or not isinstance(node[0], dict))

    def conv(node, at):
        if isinstance(node, dict) and "$ref" in node:
            return by_path[node["$ref"]]
        if isinstance(node, dict) and "dtype" in node and "data" in node:   # a tensor object
            stored = np.array(node["data"], dtype=node["dtype"])   # float32 rounds here
            by_path[at] = stored.astype(np.float64).reshape(node["shape"])
            return by_path[at]
        if isinstance(node, dict):
            return {k: conv(v, f"{at}/{k}") for k, v in node.items()}
        if numeric(node):
            by_path[at] = np.array(node, dtype=np.float64)
            return by_path[at]
        if isinstance(node, list):
            return [conv(v, f"{at}/{i}") for i, v in enumerate(node)]
        return node

    with open(path) as f:
        doc = json.load(f)
    model = mcf.Model()
    model.layers = conv(doc["layers"], "/layers")
    return model


def hessian(model, x, target, loss, with_all, train):
    params, tensors = mcf.flat_params(model, with_all)
    by_tensor = {id(t): key for key, t in tensors.items()}
    keys = [by_tensor[id(p)] for p in params]
    shapes = [p.shape for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def f(v):
        current = {k: t.detach() for k, t in tensors.items()}
        at = 0
        for key, shape in zip(keys, shapes):
            size = int(np.prod(shape)) if len(shape) else 1
            current[key] = v[at:at + size].reshape(shape)
            at += size
        out = mcf.forward(model, current, x, train)
        return mcf.LOSSES[loss](out, target)

    return torch.autograd.functional.hessian(f, flat).numpy()


def main():
    os.makedirs(HERE, exist_ok=True)
    count = 0
    with open(os.path.join(COMPUTE, "cases.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, x_name, y_name, loss, with_all, train = line.split()[:6]
            model = load_model(os.path.join(COMPUTE, name + ".json"))
            x = torch.tensor(np.load(os.path.join(COMPUTE, x_name)))
            target = None
            if y_name != "-":
                y = np.load(os.path.join(COMPUTE, y_name))
                target = torch.tensor(y)
                if y.dtype.kind == "i":   # class labels, 0-based
                    classes = np.load(os.path.join(COMPUTE, name + ".out.npy")).shape[1]
                    target = F.one_hot(target, classes).to(torch.float64)
            h = hessian(model, x, target, loss, with_all == "1", train == "1")
            np.save(os.path.join(HERE, name + ".hess.npy"), h)
            count += 1

    seed = load_model(os.path.join(TESTDATA, "seed.json"))   # float32 values, widened exactly
    x = np.array([[0.5, -1.2], [1.5, 0.3], [-0.7, 0.9]])
    np.save(os.path.join(HERE, "seed_x.npy"), x)
    h = hessian(seed, torch.tensor(x), None, "sumsq", False, False)
    np.save(os.path.join(HERE, "seed.hess.npy"), h)
    np.save(os.path.join(HERE, "seed.eigs.npy"), np.linalg.eigvalsh((h + h.T) / 2))
    print(f"{count} cases and the seed in {HERE}")


if __name__ == "__main__":
    main()
