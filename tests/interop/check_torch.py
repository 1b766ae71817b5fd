#!/usr/bin/env python3
"""PyTorch through scripts/from_torch.py (interop suite). Exit 77 without torch.

* save_flatparams: flatten equals parameters_to_vector exactly; predict, the mse
  gradient and Hessian rows agree with torch, for every module and setting it
  carries (one small model per module); every setting it cannot carry raises
  a ValueError naming the module and the setting.
* save_safetensors: flatten equals parameters_to_vector exactly (Sequentials
  past 10 modules, children registered out of name order, tied weights), and
  rebuild + load_state_dict round-trips the vector.

Usage: check_torch.py FLATPARAMS SOURCE_DIR WORK_DIR
"""
import json
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
from from_torch import ORDER_KEY, save_flatparams, save_safetensors  # noqa: E402

nn = torch.nn
torch.manual_seed(0)
rng = np.random.default_rng(1)


def run(*args):
    return subprocess.run([exe, *map(str, args)], check=True, capture_output=True, text=True).stdout


def file(name):
    return os.path.join(work, name)


def parameters_to_vector(model):
    return nn.utils.parameters_to_vector(model.parameters()).detach().numpy()


def loss_of_flat(model, x, y):
    """The mse loss as a function of the flat vector (float64), for torch's Hessian."""
    double = model.double()
    names = [n for n, _ in double.named_parameters()]
    shapes = [p.shape for p in double.parameters()]

    def loss(v):
        chunks, at = [], 0
        for s in shapes:
            n = int(np.prod(s))
            chunks.append(v[at:at + n].reshape(s))
            at += n
        out = torch.func.functional_call(double, dict(zip(names, chunks)), (torch.tensor(x).double(),))
        return nn.functional.mse_loss(out, torch.tensor(y).double())
    return loss


def check_json_model(model, name, n_in, n_out, hessian_rows=0):
    """save_flatparams' model computes as torch: flatten, predict, gradient, Hessian rows."""
    path = file(f"{name}.json")
    save_flatparams(model, path)
    x = rng.standard_normal((7, n_in)).astype(np.float32)
    y = rng.standard_normal((7, n_out)).astype(np.float32)
    np.save(file("x.npy"), x)
    np.save(file("y.npy"), y)
    run("flatten", path, "-o", file("v.npy"))
    assert np.array_equal(np.load(file("v.npy")), parameters_to_vector(model)), f"{name}: flatten"
    run("predict", path, "-x", file("x.npy"), "-o", file("p.npy"))
    dtype = next(model.parameters()).dtype
    want = model(torch.tensor(x, dtype=dtype)).detach().numpy()
    error = np.abs(np.load(file("p.npy")) - want).max()
    assert error <= 1e-5 * max(1, np.abs(want).max()), f"{name}: predict is off by {error}"
    run("gradient", path, "-x", file("x.npy"), "-y", file("y.npy"), "-q", "-o", file("g.npy"))
    model.zero_grad()
    nn.functional.mse_loss(model(torch.tensor(x, dtype=dtype)), torch.tensor(y, dtype=dtype)).backward()
    g = torch.cat([p.grad.flatten() for p in model.parameters()]).numpy()
    error = np.abs(np.load(file("g.npy")) - g).max()
    assert error <= 1e-5 * np.abs(g).max(), f"{name}: gradient is off by {error}"
    if hessian_rows:
        run("hessian", path, "-x", file("x.npy"), "-y", file("y.npy"), "--precision", "f64",
            "--rows", f"0:{hessian_rows}", "-o", file("h.npy"))
        flat = torch.cat([p.detach().double().flatten() for p in model.parameters()])
        H = torch.autograd.functional.hessian(loss_of_flat(model, x, y), flat).numpy()
        error = np.abs(np.load(file("h.npy")) - H[:hessian_rows]).max()
        assert error <= 1e-10 * np.abs(H).max(), f"{name}: Hessian rows are off by {error}"


# ---- save_flatparams: the model the suite always had
model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.LayerNorm(8), nn.Linear(8, 6),
                      nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3), nn.GELU(),
                      nn.Linear(3, 2)).eval()
with torch.no_grad():
    model[4].running_mean.uniform_()
    model[4].running_var.uniform_(0.5, 2)
check_json_model(model, "torch", 5, 2, hessian_rows=16)

# ---- each carried module and setting, between two Linear layers
carried = {
    "gelu_tanh": nn.GELU(approximate="tanh"), "gelu": nn.GELU(), "leakyrelu": nn.LeakyReLU(),
    "leakyrelu_0.01": nn.LeakyReLU(0.01, inplace=True), "elu": nn.ELU(alpha=1.0), "selu": nn.SELU(),
    "softplus": nn.Softplus(), "softplus_30": nn.Softplus(beta=1, threshold=30), "silu": nn.SiLU(),
    "sigmoid": nn.Sigmoid(), "softmax": nn.Softmax(dim=-1), "softmax_1": nn.Softmax(dim=1),
    "logsoftmax": nn.LogSoftmax(dim=1), "identity": nn.Identity(), "dropout": nn.Dropout(0.3),
    "alphadropout": nn.AlphaDropout(0.2), "flatten": nn.Flatten(), "flatten_-1": nn.Flatten(-1),
    "layernorm_plain": nn.LayerNorm(6, elementwise_affine=False),
    "layernorm_nobias": nn.LayerNorm(6, bias=False), "batchnorm_plain": nn.BatchNorm1d(6, affine=False),
    "nested": nn.Sequential(nn.Linear(6, 6), nn.Tanh()),
}
for name, module in carried.items():
    model = nn.Sequential(nn.Linear(5, 6), module, nn.Linear(6, 3)).eval()
    for buffer_name, buffer in module.named_buffers():
        if buffer_name == "running_var":
            buffer.data.uniform_(0.5, 2)
        elif buffer_name == "running_mean":
            buffer.data.uniform_()
    check_json_model(model, name, 5, 3, hessian_rows=12 if name in ("gelu_tanh", "softplus") else 0)
model = nn.Sequential(nn.Linear(4, 3), nn.GELU(approximate="tanh"), nn.Linear(3, 2)).double().eval()
check_json_model(model, "float64", 4, 2)
assert json.load(open(file("float64.json")))["layers"][0]["weight"]["dtype"] == "float64"

# ---- each setting flatparams cannot compute raises, naming the module and the setting
refused = [
    (nn.ELU(alpha=0.5), "ELU(alpha=0.5)"),
    (nn.Softplus(beta=2), "Softplus(beta=2"),
    (nn.Softplus(threshold=10), "Softplus(threshold=10"),
    (nn.LeakyReLU(0.2), "LeakyReLU(negative_slope=0.2)"),
    (nn.Softmax(dim=0), "Softmax(dim=0)"),
    (nn.LogSoftmax(dim=0), "LogSoftmax(dim=0)"),
    (nn.Flatten(0), "Flatten(start_dim=0, end_dim=-1)"),
    (nn.LayerNorm((2, 3)), "LayerNorm(normalized_shape=(2, 3))"),
    (nn.BatchNorm1d(6, track_running_stats=False), "BatchNorm1d(track_running_stats=False)"),
]
for module, setting in refused:
    try:
        save_flatparams(nn.Sequential(nn.Linear(5, 6), module), file("refused.json"))
    except ValueError as e:
        assert f"module '1' {setting}" in str(e), f"{setting}: {e}"
    else:
        raise AssertionError(f"{setting} was written, not refused")
try:
    save_flatparams(nn.Sequential(nn.Conv1d(1, 1, 1)), file("refused.json"))
except TypeError as e:
    assert "module '0' Conv1d" in str(e), e
else:
    raise AssertionError("Conv1d was written, not refused")

# ---- save_safetensors: the order recorded, so flatten is parameters_to_vector


class OutOfNameOrder(nn.Module):
    """Children registered as zeta, alpha, "1", "0": torch's order is that one."""

    def __init__(self):
        super().__init__()
        self.zeta = nn.Linear(3, 2)
        self.alpha = nn.BatchNorm1d(2)
        self.add_module("1", nn.Linear(2, 2))
        self.add_module("0", nn.Linear(2, 1))


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 3, bias=False)
        self.mid = nn.Linear(3, 3)
        self.out = nn.Linear(3, 3, bias=False)
        self.out.weight = self.embed.weight


from safetensors.torch import load_file, load_model  # noqa: E402

for name, model in {
    "sequential": nn.Sequential(*[m for i in range(6) for m in (nn.Linear(3, 3), nn.BatchNorm1d(3))]),
    "out_of_name_order": OutOfNameOrder(),
    "tied": Tied(),
}.items():
    path = file(f"{name}.safetensors")
    save_safetensors(model, path)
    run("flatten", path, "-o", file("v.npy"))
    v = np.load(file("v.npy"))
    assert np.array_equal(v, parameters_to_vector(model)), f"{name}: flatten is not parameters_to_vector"
    listed = [p["path"] for p in json.loads(run("params", path, "--json"))["params"]]
    assert listed == ["/" + n.replace(".", "/") for n, _ in model.named_parameters()], listed
    every = [t.flatten() for t in model.state_dict().values() if t.is_floating_point()]
    if name != "tied":   # (--all: state_dict()'s order; a tied weight's second name is not written)
        run("flatten", path, "--all", "-o", file("all.npy"))
        assert np.array_equal(np.load(file("all.npy")), torch.cat(every).detach().numpy()), name
    np.save(file("v2.npy"), 2 * v + 1)
    run("rebuild", path, file("v2.npy"), "-o", file("v2.safetensors"))
    with open(file("v2.safetensors"), "rb") as f:   # the order stays in the header
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert json.loads(header["__metadata__"][ORDER_KEY])[0] == next(model.named_parameters())[0]
    if name == "tied":
        load_model(model, file("v2.safetensors"))
    else:
        model.load_state_dict(load_file(file("v2.safetensors")))
    assert np.array_equal(parameters_to_vector(model), 2 * v + 1), f"{name}: round trip"
print("torch: flatten, predict, gradient and Hessian rows agree for every carried module; "
      "every uncarried setting raises; safetensors flatten to parameters_to_vector")
