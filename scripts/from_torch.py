"""PyTorch models for flatparams, in the order torch.nn.utils.parameters_to_vector
uses. Needs torch (and safetensors for save_safetensors); flatparams itself never does.

    import sys; sys.path.insert(0, "scripts")   # or copy this file
    from from_torch import save_flatparams, save_safetensors
    save_flatparams(model.eval(), "model.json")       # layers and settings too
    save_safetensors(model, "model.safetensors")      # the weights alone

save_flatparams writes an nn.Sequential (nested ones too) as flatparams' native
JSON model, so predict, gradient and hessian can run on it. It carries every
setting a module has or refuses the module: a ValueError names the module's
path and the setting flatparams cannot compute, a TypeError a module it has no
layer for. Carried: Linear; LayerNorm over the last dimension (with or without
its affine weight and bias); BatchNorm1d with running statistics (they are
non-trainable, as torch's buffers); Dropout and AlphaDropout (identities, as in
eval()); Flatten of a batch of rows (start_dim and end_dim 1 or -1); and the
activations ReLU, LeakyReLU(0.01), ELU(alpha=1), SELU, GELU (both forms),
Sigmoid, Tanh, Softplus(beta=1, threshold >= 20), SiLU, Softmax and LogSoftmax
over the features (dim 1, -1 or None), Identity. Refused settings: LeakyReLU
with another slope, ELU with another alpha, Softplus with another beta or a
threshold below 20 (where its switch to x changes float32 results), Softmax
over another dimension: flatparams' activations have fixed constants
(NNlib's), so these would compute a different function. Arrays keep their
dtype (float32, float64, float16, bfloat16).

save_safetensors writes model's state_dict as a safetensors file whose
__metadata__ records the order: "flatparams.order" is a JSON list of the
tensor names, named_parameters() first, then the persistent buffers. flatparams
places the tensors in that order, so `flatparams flatten model.safetensors`
is exactly parameters_to_vector(model.parameters()) (running statistics are
non-trainable; --all adds them after each BatchNorm's weight and bias, as
state_dict() lists them). Tied parameters are written once, under the name
named_parameters() gives them; safetensors.torch.load_model(model, path) loads
such a file (load_state_dict(load_file(path)) when nothing is tied).

tests/interop/check_torch.py checks both against torch.
"""
import json
import math

import torch

nn = torch.nn
ORDER_KEY = "flatparams.order"
DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
          torch.bfloat16: "bfloat16"}
# Softplus switches to x above its threshold; from 20 on the two differ by at most
# exp(-20) = 2.1e-9, under float32's rounding of any value there (x >= 20).
SOFTPLUS_MIN_THRESHOLD = 20
PLAIN_ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.SiLU: "swish",
                     nn.SELU: "selu", nn.Identity: "identity"}


def finite_or_name(v):
    """flatparams' JSON spells the numbers JSON has no words for as strings."""
    return v if math.isfinite(v) else "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"


def tensor(x, path):
    if x.dtype not in DTYPES:
        raise ValueError(f"tensor '{path}': dtype {x.dtype} is not one flatparams holds "
                         f"({', '.join(DTYPES.values())})")
    data = x.detach().cpu().flatten().tolist()
    if not torch.isfinite(x.detach()).all():
        data = [finite_or_name(v) for v in data]
    return {"dtype": DTYPES[x.dtype], "shape": list(x.shape), "data": data}


def refuse(path, m, setting, why):
    raise ValueError(f"module '{path}' {m.__class__.__name__}({setting}) cannot be carried: {why}")


def activation(m, path):
    """flatparams' activation name for an activation module, or None when m is none."""
    if type(m) in PLAIN_ACTIVATIONS:
        return PLAIN_ACTIVATIONS[type(m)]
    if type(m) is nn.GELU:
        if m.approximate not in ("none", "tanh"):
            refuse(path, m, f"approximate={m.approximate!r}", "flatparams has gelu and gelu_tanh")
        return "gelu" if m.approximate == "none" else "gelu_tanh"
    if type(m) is nn.LeakyReLU:
        if m.negative_slope != 0.01:
            refuse(path, m, f"negative_slope={m.negative_slope}",
                   "flatparams' leakyrelu has slope 0.01")
        return "leakyrelu"
    if type(m) is nn.ELU:
        if m.alpha != 1.0:
            refuse(path, m, f"alpha={m.alpha}", "flatparams' elu has alpha 1")
        return "elu"
    if type(m) is nn.Softplus:
        if m.beta != 1.0:
            refuse(path, m, f"beta={m.beta}", "flatparams' softplus has beta 1")
        if m.threshold < SOFTPLUS_MIN_THRESHOLD:
            refuse(path, m, f"threshold={m.threshold}",
                   f"flatparams' softplus is log(1 + exp(x)) everywhere; a threshold below "
                   f"{SOFTPLUS_MIN_THRESHOLD} changes results")
        return "softplus"
    if type(m) in (nn.Softmax, nn.LogSoftmax):
        if m.dim not in (None, 1, -1):
            refuse(path, m, f"dim={m.dim}", "flatparams normalises each sample's features "
                   "(dim 1 of a batch of rows)")
        return "softmax" if type(m) is nn.Softmax else "logsoftmax"
    return None


def layer(m, path=""):
    at = lambda name: f"{path}.{name}" if path else name  # noqa: E731
    if type(m) is nn.Sequential:
        return {"type": "Sequential", "layers": [layer(c, at(n)) for n, c in m.named_children()]}
    if type(m) is nn.Linear:
        return {"type": "Linear", "weight": tensor(m.weight, at("weight")),
                **({"bias": tensor(m.bias, at("bias"))} if m.bias is not None else {})}
    if type(m) is nn.LayerNorm:
        if len(m.normalized_shape) != 1:
            refuse(path, m, f"normalized_shape={tuple(m.normalized_shape)}",
                   "flatparams normalises over the last dimension only")
        return {"type": "LayerNorm", "eps": m.eps,
                **({"weight": tensor(m.weight, at("weight"))} if m.weight is not None else {}),
                **({"bias": tensor(m.bias, at("bias"))} if m.bias is not None else {})}
    if type(m) is nn.BatchNorm1d:
        if m.running_mean is None:
            refuse(path, m, "track_running_stats=False", "eval() then normalises with each "
                   "batch's statistics; flatparams needs stored ones")
        return {"type": "BatchNorm1d", "eps": m.eps,
                **({"weight": tensor(m.weight, at("weight")), "bias": tensor(m.bias, at("bias"))}
                   if m.affine else {}),
                "running_mean": tensor(m.running_mean, at("running_mean")),
                "running_var": tensor(m.running_var, at("running_var"))}
    if type(m) in (nn.Dropout, nn.AlphaDropout):
        return {"type": m.__class__.__name__, "p": m.p}
    if type(m) is nn.Flatten:
        if m.start_dim not in (1, -1) or m.end_dim not in (1, -1):
            refuse(path, m, f"start_dim={m.start_dim}, end_dim={m.end_dim}",
                   "flatparams' Flatten keeps a batch of rows as it is (start_dim and end_dim "
                   "1 or -1); this one reshapes it")
        return {"type": "Flatten"}
    name = activation(m, path)
    if name is not None:
        return {"type": "Activation", "activation": name}
    raise TypeError(f"module '{path}' {m.__class__.__name__}: flatparams has no layer for it ({m})")


def save_flatparams(seq, path):
    if type(seq) is not nn.Sequential:
        raise TypeError(f"save_flatparams takes an nn.Sequential, not {seq.__class__.__name__}")
    with open(path, "w") as f:
        json.dump(layer(seq), f, allow_nan=False)


def parameter_order(model):
    """The tensor names save_safetensors writes, in the order it records."""
    state = model.state_dict()
    params = [n for n, _ in model.named_parameters()]
    buffers = [n for n, _ in model.named_buffers() if n in state]
    return params + buffers


def save_safetensors(model, path, metadata=None):
    from safetensors.torch import save_file
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    names = parameter_order(model)
    meta = dict(metadata or {})
    meta[ORDER_KEY] = json.dumps(names)
    save_file({n: tensors[n].detach().contiguous() for n in names}, path, metadata=meta)
