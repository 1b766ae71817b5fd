"""A PyTorch nn.Sequential as flatparams' native JSON model, so predict, gradient
and hessian can run on it (a safetensors state_dict carries no layer types).

    import sys; sys.path.insert(0, "scripts")   # or copy this file
    from from_torch import save_flatparams
    save_flatparams(model.eval(), "model.json")

Linear, LayerNorm, BatchNorm1d (its running statistics non-trainable) and the
activation modules below, in float32. flatparams' flat vector of model.json is
torch.nn.utils.parameters_to_vector(model.parameters()), in that order, and its
gradient and Hessian are with respect to it (tests/interop/check_torch.py).
Needs torch; flatparams itself never does.
"""
import json
import torch

ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh", torch.nn.Sigmoid: "sigmoid",
               torch.nn.GELU: "gelu", torch.nn.SiLU: "swish", torch.nn.ELU: "elu",
               torch.nn.Softplus: "softplus", torch.nn.Identity: "identity"}

def tensor(x):
    return {"dtype": "float32", "shape": list(x.shape), "data": x.detach().flatten().tolist()}

def layer(m):
    if isinstance(m, torch.nn.Linear):
        return {"type": "Linear", "weight": tensor(m.weight),
                **({"bias": tensor(m.bias)} if m.bias is not None else {})}
    if isinstance(m, torch.nn.LayerNorm):
        return {"type": "LayerNorm", "weight": tensor(m.weight), "bias": tensor(m.bias),
                "eps": m.eps}
    if isinstance(m, torch.nn.BatchNorm1d):
        return {"type": "BatchNorm1d", "weight": tensor(m.weight), "bias": tensor(m.bias),
                "running_mean": tensor(m.running_mean), "running_var": tensor(m.running_var),
                "eps": m.eps}
    if type(m) in ACTIVATIONS:
        return {"type": "Activation", "activation": ACTIVATIONS[type(m)]}
    raise TypeError(f"no flatparams layer for {m}")

def save_flatparams(seq, path):
    with open(path, "w") as f:
        json.dump({"type": "Sequential", "layers": [layer(m) for m in seq]}, f)
