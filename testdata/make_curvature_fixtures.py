"""Makes testdata/curvature/: a small trained classifier for the spectral
density and loss landscape examples (README, doc/*.png, the curvature suite).

    python3 testdata/make_curvature_fixtures.py      (needs torch and numpy)

spiral.json: Chain(Dense(2 => 32, tanh), Dense(32 => 32, tanh), Dense(32 => 3)),
float32, 1,251 parameters, trained briefly (150 Adam steps, learning rate 0.005) on three interleaved spirals;
spiral_x.npy (256 x 2, float32) and spiral_y.npy (256 integer labels, 0-based)
are the data, for --loss logitcrossentropy.
"""
import json
import os

import numpy as np
import torch

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "curvature")
os.makedirs(here, exist_ok=True)
rng = np.random.default_rng(18)
per_class, classes = 85, 3
xs, ys = [], []
for c in range(classes):
    r = np.linspace(0.1, 1.0, per_class)
    t = np.linspace(c * 2 * np.pi / classes, c * 2 * np.pi / classes + 3.2, per_class)
    t = t + rng.normal(0, 0.15, per_class)
    xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
    ys.append(np.full(per_class, c))
x = np.concatenate(xs)[:256 - 1]
y = np.concatenate(ys)[:256 - 1]
x = np.concatenate([x, [[0.0, 0.0]]]).astype(np.float32)   # 256 samples
y = np.concatenate([y, [0]]).astype(np.int64)

torch.manual_seed(18)
model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32),
                            torch.nn.Tanh(), torch.nn.Linear(32, 3))
opt = torch.optim.Adam(model.parameters(), lr=0.005)
xt, yt = torch.from_numpy(x), torch.from_numpy(y)
for step in range(150):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(xt), yt)
    loss.backward()
    opt.step()
print("loss after training:", loss.item())


def dense(linear, act):
    w = linear.weight.detach().numpy().astype(np.float32)
    b = linear.bias.detach().numpy().astype(np.float32)
    layer = {"type": "Dense",
             "weight": {"dtype": "float32", "shape": list(w.shape), "data": [float(v) for v in w.ravel()]},
             "bias": {"dtype": "float32", "shape": list(b.shape), "data": [float(v) for v in b]}}
    if act:
        layer["activation"] = act
    return layer


doc = {"type": "Chain", "layers": [dense(model[0], "tanh"), dense(model[2], "tanh"), dense(model[4], None)]}
with open(os.path.join(here, "spiral.json"), "w") as f:
    json.dump(doc, f)
    f.write("\n")
np.save(os.path.join(here, "spiral_x.npy"), x)
np.save(os.path.join(here, "spiral_y.npy"), y)
