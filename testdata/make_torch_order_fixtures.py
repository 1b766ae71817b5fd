#!/usr/bin/env python3
"""PyTorch models written by scripts/from_torch.py's save_safetensors, for the
safetensors suite (tests/test_safetensors_order.c), into testdata/safetensors/.
Needs torch and safetensors (pip install torch safetensors).

    torch_order.safetensors   Sequential of 12 modules (Linear, BatchNorm1d,
                              ReLU, LayerNorm: "10.*" and "11.*" sort before
                              "2.*", and safetensors' save_file lays tensors out
                              by name) with the order recorded in __metadata__
                              "flatparams.order"; its BatchNorm has running
                              statistics and num_batches_tracked.
    torch_order.expect.npy    parameters_to_vector(model.parameters()) (float32):
                              what flatparams flatten must write;
    torch_order.expect_all.npy  with --all: every floating tensor in state_dict()
                              order (each BatchNorm's statistics after its
                              weight and bias);
    torch_order.expect_paths.txt  named_parameters()' names as flatparams paths.
    torch_plain.safetensors   the same model by safetensors.torch.save_file with
                              no order: read in offset order, as before.

Run from anywhere: python3 testdata/make_torch_order_fixtures.py
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "safetensors")
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from from_torch import save_safetensors  # noqa: E402

torch.manual_seed(20261206)
nn = torch.nn
model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh(),
                      nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 3), nn.ReLU(),
                      nn.Linear(3, 2), nn.Linear(2, 2), nn.Linear(2, 1))
with torch.no_grad():
    model[1].running_mean.uniform_()
    model[1].running_var.uniform_(0.5, 2)
    model[1].num_batches_tracked.fill_(7)
    for p in model.parameters():   # values float32 holds exactly, so fixtures stay readable
        p.copy_(torch.round(p * 1000) / 1000)

save_safetensors(model, os.path.join(OUT, "torch_order.safetensors"))
save_file({k: v.contiguous() for k, v in model.state_dict().items()},
          os.path.join(OUT, "torch_plain.safetensors"))
flat = nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
np.save(os.path.join(OUT, "torch_order.expect.npy"), flat.astype(np.float32))
every = [t.flatten() for t in model.state_dict().values() if t.is_floating_point()]
np.save(os.path.join(OUT, "torch_order.expect_all.npy"), torch.cat(every).numpy().astype(np.float32))
with open(os.path.join(OUT, "torch_order.expect_paths.txt"), "w") as f:
    for name, _ in model.named_parameters():
        f.write("/" + name.replace(".", "/") + "\n")
