#!/usr/bin/env python3
"""Fixtures for tests/test_cli.c, written with h5py + NumPy (an independent
writer: none of flatparams' code is involved). Each model comes with the flat
vector NumPy computes for it, as .npy, so the tests compare against NumPy.

Run from the project root: python3 testdata/make_cli_fixtures.py
"""
import os
import h5py
import numpy as np

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261126)


def path(name):
    return os.path.join(out, name)


# shared.h5: one dataset hard-linked under two names; it enters the vector once,
# at its first occurrence in name order (h5py does not track creation order by
# default, so byte order of names applies: "a" < "b").
with h5py.File(path("shared.h5"), "w") as f:
    a = f.create_group("a")
    w = a.create_dataset("weight", data=rng.standard_normal((2, 3)).astype(np.float32))
    a.create_dataset("bias", data=rng.standard_normal(2).astype(np.float32))
    b = f.create_group("b")
    b["weight"] = w  # hard link to the same dataset
    b.create_dataset("bias", data=rng.standard_normal(2).astype(np.float32))
    expect = np.concatenate([f["a/bias"][()].ravel(), f["a/weight"][()].ravel(), f["b/bias"][()].ravel()])
np.save(path("shared.expect.npy"), expect)

# rich.h5: everything rebuild must keep: attributes of every kind, integer
# datasets, a chunked gzip-compressed parameter, a big-endian one, a frozen one.
with h5py.File(path("rich.h5"), "w") as f:
    f.attrs["type"] = "Chain"
    f.attrs["note"] = np.bytes_(b"fixed-length ascii")
    f.attrs["epochs"] = np.int64(12)
    layers = f.create_group("layers")
    d0 = layers.create_group("0")
    d0.attrs["type"] = "Dense"
    d0.attrs["activation"] = "relu"
    d0.create_dataset("weight", data=rng.standard_normal((64, 32)).astype(np.float32),
                      chunks=(16, 32), compression="gzip", compression_opts=4, shuffle=True)
    d0.create_dataset("bias", data=rng.standard_normal(64).astype(">f8"))
    d0.create_dataset("steps", data=np.arange(10, dtype=np.int32))
    d1 = layers.create_group("1")
    d1.attrs["type"] = "Dense"
    frozen = d1.create_dataset("weight", data=rng.standard_normal((3, 64)).astype(np.float32))
    frozen.attrs["trainable"] = np.int8(0)
    d1.create_dataset("bias", data=np.zeros(3, dtype=np.float16))
    l0, l1 = f["layers/0"], f["layers/1"]
    expect = np.concatenate([l0["bias"][()].astype(np.float64).ravel(),
                             l0["weight"][()].astype(np.float64).ravel(),
                             l1["bias"][()].astype(np.float64).ravel()])
    expect_all = np.concatenate([l0["bias"][()].astype(np.float64).ravel(),
                                 l0["weight"][()].astype(np.float64).ravel(),
                                 l1["bias"][()].astype(np.float64).ravel(),
                                 l1["weight"][()].astype(np.float64).ravel()])
np.save(path("rich.expect.npy"), expect)
np.save(path("rich.expect_all.npy"), expect_all)

# random.h5: awkward float32 and float64 values for the bit-exact text round trip.
with h5py.File(path("random.h5"), "w") as f:
    f.create_dataset("f32", data=(rng.standard_normal(1000) * 10.0 ** rng.integers(-30, 30, 1000)).astype(np.float32))
    f.create_dataset("f64", data=rng.standard_normal(1000) * 10.0 ** rng.integers(-300, 300, 1000))
    f.create_dataset("tiny", data=np.array([5e-324, -0.0, 2.2250738585072014e-308, 1.7976931348623157e308]))

# userblock.h5: a 512-byte user block before the superblock; contiguous f32 and
# f64 datasets (flatten copies such bytes straight from the file) beside a
# chunked one and a big-endian one (which go through libhdf5).
with h5py.File(path("userblock.h5"), "w", userblock_size=512, track_order=True) as f:
    a = f.create_dataset("a", data=rng.standard_normal((3, 5)).astype(np.float32))
    b = f.create_dataset("b", data=rng.standard_normal(7), chunks=(3,))
    c = f.create_dataset("c", data=rng.standard_normal(4).astype(">f4"))
    d = f.create_dataset("d", data=rng.standard_normal(300000).astype(np.float32))
    expect = np.concatenate([a[()].ravel(), b[()].ravel(), c[()].astype(np.float64), d[()].astype(np.float64)])
np.save(path("userblock.expect.npy"), expect)
with open(path("userblock.h5"), "r+b") as f:
    f.write(b"user block: not HDF5")
