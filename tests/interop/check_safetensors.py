#!/usr/bin/env python3
"""Checks a .safetensors file against an expected flat vector, with the reference
package (huggingface/safetensors) doing the reading:

    python3 tests/interop/check_safetensors.py MODEL.safetensors EXPECT.npy [--all]

safe_open validates the file the reference's way (header, offsets tiling the
buffer); the flat vector is then built the way flatparams defines it for
safetensors (lib/flatparams.h, formats/safetensors.c):

  * tensors in the order of their data offsets (not the header's key order);
  * dotted names nest ("layers.0.w" -> /layers/0/w), maps in first-seen order,
    a map keyed exactly 0..n-1 is a list in index order; depth-first;
  * parameters are the F16, BF16, F32, F64 and C64 tensors; running_mean and
    running_var are not trainable (included with --all);
  * the vector's type: complex128 if any is complex, else float64 here (exact
    for every parameter dtype), compared element for element, NaN equal to NaN.

Exit 0 when the vectors match, 1 with a one-line reason otherwise. Needs
`pip install safetensors numpy`; the fixture script imports flat_vector from here.
"""
import json
import struct
import sys

import numpy as np
from safetensors import safe_open

PARAM_DTYPES = {"F16", "BF16", "F32", "F64", "C64"}
NOT_TRAINABLE = {"running_mean", "running_var"}


def read_header(path):
    """The header's tensor entries as (name, info) in header order, and the data start."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    return [(k, v) for k, v in header.items() if k != "__metadata__"], 8 + n


def tensor_values(path, name, info, data_start):
    """A tensor's values via the reference loader; BF16 (which NumPy lacks) from its bytes."""
    if info["dtype"] != "BF16":
        with safe_open(path, framework="np") as f:
            return f.get_tensor(name)
    begin, end = info["data_offsets"]
    with open(path, "rb") as f:
        f.seek(data_start + begin)
        raw = np.frombuffer(f.read(end - begin), dtype="<u2").astype(np.uint32) << 16
    return raw.view(np.float32).reshape(info["shape"])


def _as_list(node):
    keys = list(node)
    n = len(keys)
    if n and all(k.isascii() and k.isdigit() and str(int(k)) == k and int(k) < n for k in keys):
        return [node[str(i)] for i in range(n)]
    return node


def leaves_in_order(path):
    """(model path, safetensors name, info) for every tensor, depth-first in file order."""
    entries, _ = read_header(path)
    order = sorted(range(len(entries)),
                   key=lambda i: (entries[i][1]["data_offsets"][0], entries[i][1]["data_offsets"][1], i))
    root = {}
    for i in order:
        name, info = entries[i]
        node = root
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (name, info)
    out = []

    def walk(node, prefix):
        if isinstance(node, tuple):
            out.append((prefix or "/", node[0], node[1]))
            return
        node = _as_list(node)
        items = enumerate(node) if isinstance(node, list) else node.items()
        for key, child in items:
            walk(child, f"{prefix}/{key}")

    walk(root, "")
    return out


def flat_vector(path, all_params=False):
    """(paths, vector) of the selected parameters, as flatparams flattens the file."""
    _, data_start = read_header(path)
    with safe_open(path, framework="np") as f:   # the reference's validation
        f.keys()
    paths, parts = [], []
    for model_path, name, info in leaves_in_order(path):
        if info["dtype"] not in PARAM_DTYPES:
            continue
        if not all_params and model_path.rsplit("/", 1)[-1] in NOT_TRAINABLE:
            continue
        paths.append(model_path)
        parts.append(np.asarray(tensor_values(path, name, info, data_start)).ravel())
    if not parts:
        return paths, np.zeros(0)
    is_complex = any(np.iscomplexobj(p) for p in parts)
    dtype = np.complex128 if is_complex else np.float64
    return paths, np.concatenate([p.astype(dtype) for p in parts])


def main(argv):
    if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] != "--all"):
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    try:
        _, got = flat_vector(argv[1], all_params=len(argv) == 4)
    except Exception as e:  # the reference refused the file
        print(f"{argv[1]}: the reference package cannot read it: {e}", file=sys.stderr)
        return 1
    want = np.load(argv[2]).ravel()
    if got.shape != want.shape:
        print(f"{argv[1]}: {got.size} parameters, expected {want.size}", file=sys.stderr)
        return 1
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    if not same.all():
        i = int(np.argmin(same))
        print(f"{argv[1]}: element {i} is {got[i]!r}, expected {want[i]!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
