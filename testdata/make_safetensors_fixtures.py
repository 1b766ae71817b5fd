#!/usr/bin/env python3
"""Writes the safetensors fixtures the safetensors suite (tests/test_safetensors.c)
reads, into testdata/safetensors/. Needs `pip install safetensors numpy`.

    mixed.safetensors   written by the reference (safetensors.numpy.save_file), which
                        lays tensors out by dtype, then name: "layers.0".."layers.11"
                        (so layers.10 comes before layers.2) in F32 with one F16
                        weight and one F64 bias, embed.weight F64, a PyTorch-style
                        BatchNorm (norm.running_mean/var, num_batches_tracked I64
                        scalar), a BOOL mask, a rank-0 F32 scale, and __metadata__.
    mixed.expect.npy    its flat vector (float64) of trainable parameters, and
    mixed.expect_all.npy with --all; mixed.expect_paths.txt the trainable paths,
                        one a line: all three from tests/interop/check_safetensors.py,
                        with the values read back by the reference package.
    complex.safetensors reference-written: z C64 [1+2j, -0.5] and r F32 [3].
    handmade.safetensors built by hand: BF16 (NumPy has none), a zero-size tensor,
                        the header's key order unlike the offset order, __metadata__
                        between tensors, no alignment padding.
    bad/*.safetensors   hostile files, each refused with a one-line message (the
                        suite names the words it expects): see BAD below. The
                        reference refuses them too, except prefix_conflict (a tree
                        cannot hold both "a" and "a.b"; its flat dict can) and
                        unsupported_dtype (F8_E5M2, which flatparams does not hold).

Values come from numpy's default_rng(7) rounded to 3 decimals (so float16 holds
them closely); run from anywhere: python3 testdata/make_safetensors_fixtures.py
"""
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "safetensors")
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
from check_safetensors import flat_vector  # noqa: E402  (one definition of the order)


def mixed(rng):
    def r(shape, dtype=np.float32):
        return np.round(rng.normal(0, 1, shape), 3).astype(dtype)

    tensors = {}
    for i in range(12):
        tensors[f"layers.{i}.weight"] = r((2, 2), np.float16 if i == 3 else np.float32)
        tensors[f"layers.{i}.bias"] = r((2,), np.float64 if i == 7 else np.float32)
    tensors["embed.weight"] = r((3, 2), np.float64)
    tensors["norm.weight"] = r((2,))
    tensors["norm.bias"] = r((2,))
    tensors["norm.running_mean"] = r((2,))
    tensors["norm.running_var"] = np.abs(r((2,))) + 1
    tensors["norm.num_batches_tracked"] = np.array(42, dtype=np.int64)
    tensors["mask"] = np.array([True, False, True, True])
    tensors["scale"] = np.array(0.5, dtype=np.float32)
    return tensors


def header_file(header, data=b"", pad=False, raw_len=None):
    """A safetensors file from a header (dict or raw bytes) and data bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    n = len(text) if raw_len is None else raw_len
    return struct.pack("<Q", n) + text + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def bf16_bits(values):
    return (np.asarray(values, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")


def handmade():
    w = bf16_bits([1.0, -2.5, 0.15625, 3.3895314e38])   # 3.3895314e38: bf16's largest
    v = np.array([0.25, -1.0, 8.0], dtype="<f4")
    header = {"a.v": t("F32", [3], 8, 20),
              "__metadata__": {"note": "hand-built"},
              "b.w": t("BF16", [2, 2], 0, 8),
              "a.empty": t("F32", [0, 3], 8, 8)}
    return header_file(header, w.tobytes() + v.tobytes())


F32x2 = np.array([1.0, 2.0], dtype="<f4").tobytes()

# name -> file bytes; tests/test_safetensors.c pairs each with the word it expects.
BAD = {
    "huge_header": header_file(b"{}", raw_len=1 << 40),                   # exceeds the limit
    "header_past_end": header_file(b'{"a":', raw_len=1000),              # shorter than header
    "short": b"\x10\x00\x00",                                             # no 8-byte length
    "invalid_json": header_file(b'{"a": {"dtype": "F32",   '),            # not valid JSON
    "trailing_text": header_file(b'{} x', pad=True),                      # not valid JSON
    "not_object": header_file(b"[1, 2]  "),                               # not a JSON object
    "bad_utf8": header_file(b'{"\xff": 1}'),                              # UTF-8
    "overlap": header_file({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, F32x2 * 2),
    "hole": header_file({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 12, 20)}, F32x2 * 3),
    "not_at_zero": header_file({"a": t("F32", [2], 4, 12)}, F32x2 * 2),  # hole
    "out_of_bounds": header_file({"a": t("F32", [250], 0, 1000)}, F32x2),
    "size_mismatch": header_file({"a.b": t("F32", [2, 2], 0, 12)}, F32x2 * 2),
    "shape_overflow": header_file({"a": t("F64", [1 << 31, 1 << 31, 1 << 31], 0, 8)}, F32x2),
    "end_before_begin": header_file({"a": t("F32", [0], 8, 0)}, F32x2),
    "trailing_bytes": header_file({"a": t("F32", [2], 0, 8)}, F32x2 * 2),
    "unsupported_dtype": header_file({"a": t("F8_E5M2", [8], 0, 8)}, F32x2),
    "negative_offset": header_file({"a": t("F32", [2], -8, 0)}, F32x2),
    "fractional_dim": header_file({"a": t("F32", [1.5], 0, 8)}, F32x2),
    "no_dtype": header_file({"a": {"shape": [2], "data_offsets": [0, 8]}}, F32x2),
    "bad_metadata": header_file({"__metadata__": {"n": 1}}),
    "named_twice": header_file(b'{"a":' + json.dumps(t("F32", [1], 0, 4)).encode()
                               + b',"a":' + json.dumps(t("F32", [1], 4, 8)).encode() + b"}", F32x2),
    "prefix_conflict": header_file({"a": t("F32", [1], 0, 4), "a.b": t("F32", [1], 4, 8)}, F32x2),
}


def main():
    os.makedirs(os.path.join(OUT, "bad"), exist_ok=True)
    rng = np.random.default_rng(7)
    path = os.path.join(OUT, "mixed.safetensors")
    save_file(mixed(rng), path, metadata={"format": "np"})   # one key: Rust orders maps randomly
    paths, vec = flat_vector(path)
    np.save(os.path.join(OUT, "mixed.expect.npy"), vec)
    np.save(os.path.join(OUT, "mixed.expect_all.npy"), flat_vector(path, all_params=True)[1])
    with open(os.path.join(OUT, "mixed.expect_paths.txt"), "w") as f:
        f.write("".join(p + "\n" for p in paths))
    save_file({"z": np.array([1 + 2j, -0.5], dtype=np.complex64), "r": np.array([3.0], dtype=np.float32)},
              os.path.join(OUT, "complex.safetensors"))
    with open(os.path.join(OUT, "handmade.safetensors"), "wb") as f:
        f.write(handmade())
    for name, data in BAD.items():
        with open(os.path.join(OUT, "bad", name + ".safetensors"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
