#!/usr/bin/env python3
"""PyTorch through scripts/from_torch.py (interop suite): flatten equals
parameters_to_vector exactly; predict, the mse gradient and Hessian-vector rows
agree with torch. Exit 77 without torch.

Usage: check_torch.py FLATPARAMS SOURCE_DIR WORK_DIR
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"torch: skipped ({e})")
    sys.exit(77)

exe, src, work = sys.argv[1:4]
sys.path.insert(0, os.path.join(src, "scripts"))
from from_torch import save_flatparams  # noqa: E402

torch.manual_seed(0)
nn = torch.nn
model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.LayerNorm(8), nn.Linear(8, 6),
                      nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3), nn.GELU(),
                      nn.Linear(3, 2)).eval()
with torch.no_grad():
    model[4].running_mean.uniform_()
    model[4].running_var.uniform_(0.5, 2)
path = os.path.join(work, "torch.json")
save_flatparams(model, path)
rng = np.random.default_rng(1)
x, y = (rng.standard_normal(s).astype(np.float32) for s in ((7, 5), (7, 2)))
files = {n: os.path.join(work, f"torch_{n}.npy") for n in ("x", "y", "v", "p", "g", "h")}
np.save(files["x"], x)
np.save(files["y"], y)


def run(*args):
    subprocess.run([exe, *args], check=True)


run("flatten", path, "-o", files["v"])
assert np.array_equal(np.load(files["v"]),
                      nn.utils.parameters_to_vector(model.parameters()).detach().numpy())
run("predict", path, "-x", files["x"], "-o", files["p"])
assert np.abs(np.load(files["p"]) - model(torch.tensor(x)).detach().numpy()).max() < 1e-5
run("gradient", path, "-x", files["x"], "-y", files["y"], "-q", "-o", files["g"])
nn.functional.mse_loss(model(torch.tensor(x)), torch.tensor(y)).backward()
g = torch.cat([p.grad.flatten() for p in model.parameters()]).numpy()
assert np.abs(np.load(files["g"]) - g).max() <= 1e-5 * np.abs(g).max()
# Hessian rows in f64 against torch.autograd.functional.hessian of the same loss
run("hessian", path, "-x", files["x"], "-y", files["y"], "--precision", "f64", "--rows", "0:16",
    "-o", files["h"])
params = [p.detach().double() for p in model.parameters()]
shapes = [p.shape for p in params]
flat = torch.cat([p.flatten() for p in params])
double = model.double()


def loss(v):
    chunks, at = [], 0
    for s in shapes:
        n = int(np.prod(s))
        chunks.append(v[at:at + n].reshape(s))
        at += n
    names = [n for n, _ in double.named_parameters()]
    out = torch.func.functional_call(double, dict(zip(names, chunks)), (torch.tensor(x).double(),))
    return nn.functional.mse_loss(out, torch.tensor(y).double())


H = torch.autograd.functional.hessian(loss, flat).numpy()
got = np.load(files["h"])
assert np.abs(got - H[:16]).max() <= 1e-10 * np.abs(H).max(), np.abs(got - H[:16]).max()
print("torch: flatten, predict, gradient and Hessian rows agree")
