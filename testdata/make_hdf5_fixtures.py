#!/usr/bin/env python3
"""Writes the HDF5 fixtures the hdf5 suite (tests/test_hdf5.c) reads, into
testdata/hdf5/. Needs `pip install h5py numpy`. Run from anywhere:

    python3 testdata/make_hdf5_fixtures.py

Each model NAME.h5 comes with
    NAME.layout.txt   "dtype D" then one line per parameter with --all, in flat
                      order: "PATH OFFSET N_ELEMS TRAINABLE" (offsets with --all)
    NAME.flat.npy     the --all flat vector as float64 (complex: re, im pairs),
                      built here from the numpy arrays that were written, in the
                      order doc/contract.md section 3 gives, not read back from the file.

    nested.h5     h5py's default (no creation order): /layers/0../11 (numeric
                  order, "10" after "9") each with weight and bias (name order),
                  /blocks/a10 before /blocks/a9 (byte order), root type Chain.
    order.h5      track_order=True: zeta, alpha, mid keep their creation order;
                  /stack's members, named 2, 1, 0 and created in that order,
                  keep it (a map, not a list), /seq's, 0 and 1, are a list.
    types.h5      big-endian f32 and f64, a chunked gzip+shuffle f32 (with a
                  string attribute), f16 (little- and big-endian), bf16 (a
                  custom 2-byte float), f64 scalar, int32/int64/bool/uint8
                  datasets (kept, not parameters), a variable-length string
                  dataset and fixed-length strings (settings), an empty f32
                  array, and nulls: a null dataspace, a compound, object
                  references, a non-boolean enum, variable-length ints.
    complex.h5    complex64 (h5py's compound {r, i}) and f32: a c64 vector.
    shared.h5     /enc/weight hard-linked as /dec/weight: enters once; the
                  group /enc/block hard-linked as /dec/block likewise.
    batchnorm.h5  group type=BatchNorm (mean/var non-trainable), a dataset with
                  attribute trainable=0 (its group has a 2-D int attribute and
                  an empty one), a group with trainable=False, and
                  attributes: fixed-length, space-padded fixed-length, variable
                  length and UTF-8 strings, bool, int, float, an empty float
                  array, a list of fixed-length strings.
    links.h5      /b/alias is a soft link to /a/w (shared), /b/gone dangles,
                  /b/kind is a named datatype (left out).
    extlink.h5    /x is an external link to missing.h5:/y (refused).
    extlink_ok.h5 /w is an external link to links.h5:/a/w (read with
                  --allow-external only).
    cycle.h5      /g/loop is a hard link to /g (refused: a cycle);
    softcycle.h5  /g/up a soft link to /g (refused too).
"""
import os

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hdf5")


def rounded(rng, shape, dtype=np.float32):
    return np.round(rng.standard_normal(shape), 3).astype(dtype)


def promote(dtypes):
    """doc/contract.md section 3: complex if any, else the widest float, at least f32."""
    kinds = [np.dtype(d) for d in dtypes]
    if any(k.kind == "c" for k in kinds):
        wide = any(k in (np.complex128, np.float64) for k in kinds)
        return np.dtype(np.complex128 if wide else np.complex64)
    return np.dtype(np.float64 if any(k == np.float64 for k in kinds) else np.float32)


def expect(name, params):
    """params: (path, array, trainable) in flat order, shared ones once."""
    dtype = promote([a.dtype for _, a, _ in params])
    flat, lines, offset = [], [f"dtype {dtype.name}"], 0
    for path, arr, trainable in params:
        values = np.asarray(arr).astype(dtype).ravel()
        if dtype.kind == "c":
            values = np.stack([values.real, values.imag], axis=-1).ravel()
        flat.append(values.astype(np.float64))
        lines.append(f"{path} {offset} {arr.size} {int(trainable)}")
        offset += arr.size
    with open(os.path.join(OUT, name + ".layout.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    np.save(os.path.join(OUT, name + ".flat.npy"),
            np.concatenate(flat) if flat else np.zeros(0))


def path(name):
    return os.path.join(OUT, name)


def nested(rng):
    params = []
    layers = {}
    with h5py.File(path("nested.h5"), "w") as f:
        f.attrs["type"] = "Chain"
        for i in [3, 11, 0, 7, 10, 1, 9, 2, 5, 8, 4, 6]:   # created out of order
            layers[i] = (rounded(rng, (2, 3)), rounded(rng, (2,)))
            g = f.create_group(f"layers/{i}")
            g.attrs["type"] = "Dense"
            g["weight"] = layers[i][0]
            g["bias"] = layers[i][1]
        a9, a10 = rounded(rng, (3,)), rounded(rng, (1,))
        f["blocks/a9"] = a9
        f["blocks/a10"] = a10
        params += [("/blocks/a10", a10, True), ("/blocks/a9", a9, True)]   # "blocks" < "layers"
        for i in range(12):
            params += [(f"/layers/{i}/bias", layers[i][1], True),
                       (f"/layers/{i}/weight", layers[i][0], True)]
    expect("nested", params)


def order(rng):
    zeta, alpha, mid = rounded(rng, (2,)), rounded(rng, (3,)), rounded(rng, (1,))
    own = np.random.default_rng(7)   # (the other fixtures' draws stay as they were)
    stack = {k: rounded(own, (2,)) for k in ("2", "1", "0")}
    seq = [rounded(own, (1,)) for _ in range(2)]
    with h5py.File(path("order.h5"), "w", track_order=True) as f:
        f["zeta"] = zeta
        f["alpha"] = alpha
        f["mid"] = mid
        g = f.create_group("stack", track_order=True)
        for k, v in stack.items():
            g[k] = v
        g = f.create_group("seq", track_order=True)
        for i, v in enumerate(seq):
            g[str(i)] = v
    expect("order", [("/zeta", zeta, True), ("/alpha", alpha, True), ("/mid", mid, True)]
           + [(f"/stack/{k}", v, True) for k, v in stack.items()]
           + [(f"/seq/{i}", v, True) for i, v in enumerate(seq)])


def types(rng):
    be32 = rounded(rng, (2, 2)).astype(">f4")
    be64 = rounded(rng, (3,), np.float64).astype(">f8")
    packed = rounded(rng, (40, 10))
    half = rounded(rng, (5,), np.float16)
    scalar = np.float64(2.5)
    half_be = rounded(rng, (2,), np.float16).astype(">f2")
    brain_values = np.array([1.0, -2.5, 0.15625, 2.0 ** 127], np.float32)   # exact in bf16
    with h5py.File(path("types.h5"), "w") as f:
        f["be32"] = be32
        f["be64"] = be64
        d = f.create_dataset("gzip", data=packed, chunks=(8, 5), compression="gzip",
                             compression_opts=4, shuffle=True)
        d.attrs["note"] = "compressed"
        f["half"] = half
        f["scalar"] = scalar
        f["ints32"] = np.arange(6, dtype=">i4").reshape(2, 3)
        f["ints64"] = np.arange(3, dtype=np.int64) - 1
        f["mask"] = np.array([True, False, True])
        f["bytes"] = np.arange(4, dtype=np.uint8)
        f["name"] = "a setting"
        f["empty"] = np.zeros((0, 3), np.float32)
        f["half_be"] = half_be
        # bfloat16: numpy has none; HDF5 converts from float32 on write.
        bf16 = h5py.h5t.IEEE_F32LE.copy()
        bf16.set_fields(15, 7, 8, 0, 7)
        bf16.set_size(2)
        bf16.set_ebias(127)
        brain = h5py.h5d.create(f.id, b"brain", bf16, h5py.h5s.create_simple(brain_values.shape))
        brain.write(h5py.h5s.ALL, h5py.h5s.ALL, brain_values, mtype=h5py.h5t.NATIVE_FLOAT)
        # Kept as nulls or settings, never parameters, never an error:
        f["nothing"] = h5py.Empty("f4")
        f.create_dataset("rec", data=np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f4")]))
        f.create_dataset("ref", data=np.array([f["be32"].ref], dtype=h5py.ref_dtype))
        f.create_dataset("color", data=np.array([0, 2], np.int8),
                         dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1"))
        vlen = f.create_dataset("vlen_ints", (2,), dtype=h5py.vlen_dtype(np.int32))
        vlen[0] = [1, 2]
        vlen[1] = [3]
        f["fixed_strings"] = np.array([b"ab", b"cde"])
    expect("types", [("/be32", be32, True), ("/be64", be64, True), ("/brain", brain_values, True),
                     ("/empty", np.zeros((0, 3), np.float32), True), ("/gzip", packed, True),
                     ("/half", half, True), ("/half_be", half_be, True),
                     ("/scalar", np.array(scalar), True)])


def complex_(rng):
    z = (rounded(rng, (3,)) + 1j * rounded(rng, (3,))).astype(np.complex64)
    r = rounded(rng, (2,))
    with h5py.File(path("complex.h5"), "w") as f:
        f["r"] = r
        f["z"] = z
    expect("complex", [("/r", r, True), ("/z", z, True)])


def shared(rng):
    w, b, x = rounded(rng, (2, 2)), rounded(rng, (2,)), rounded(rng, (1,))
    with h5py.File(path("shared.h5"), "w") as f:
        f["enc/weight"] = w
        f["dec/weight"] = f["enc/weight"]   # a second hard link
        f["dec/bias"] = b
        f["enc/block/x"] = x
        f["dec/block"] = f["enc/block"]     # a shared group
    expect("shared", [("/dec/bias", b, True), ("/dec/block/x", x, True), ("/dec/weight", w, True)])


def batchnorm(rng):
    gamma, beta, mean, var = (rounded(rng, (3,)) for _ in range(4))
    frozen, w, off = rounded(rng, (2,)), rounded(rng, (2,)), rounded(rng, (2,))
    with h5py.File(path("batchnorm.h5"), "w") as f:
        bn = f.create_group("bn")
        bn.attrs["type"] = "BatchNorm"
        bn.attrs["eps"] = 1e-5
        bn.attrs["momentum"] = np.int64(3)
        bn.attrs["affine"] = np.bool_(True)
        bn.attrs["act"] = np.bytes_("relu")                   # fixed-length
        bn.attrs["label"] = "vlen text"                       # variable-length UTF-8
        bn.attrs["unicode"] = "μσ²"
        bn.attrs["weight_names"] = np.zeros((0,), np.float64)  # Keras' empty list
        bn.attrs["names"] = np.array([b"gamma", b"beta"])    # fixed-length strings
        spaced = h5py.h5t.C_S1.copy()
        spaced.set_size(8)
        spaced.set_strpad(h5py.h5t.STR_SPACEPAD)
        attr = h5py.h5a.create(bn.id, b"padded", spaced, h5py.h5s.create(h5py.h5s.SCALAR))
        attr.write(np.array(b"pad     ", dtype="S8"))
        for key, arr in [("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)]:
            bn[key] = arr
        dense = f.create_group("dense")
        dense.attrs["grid"] = np.array([[1, 2], [3, 4]], np.int32)
        dense.attrs["none"] = h5py.Empty("f8")
        dense["w"] = w
        dense["frozen"] = frozen
        dense["frozen"].attrs["trainable"] = np.int8(0)
        off_group = f.create_group("off")
        off_group.attrs["trainable"] = False
        off_group["w"] = off
    # Attribute names sort: act, affine, eps, label, momentum, names, padded, type,
    # unicode, weight_names; then links beta, gamma, mean, var (byte order).
    expect("batchnorm", [("/bn/beta", beta, True), ("/bn/gamma", gamma, True),
                         ("/bn/mean", mean, False), ("/bn/var", var, False),
                         ("/dense/frozen", frozen, False), ("/dense/w", w, True),
                         ("/off/w", off, False)])


def links(rng):
    w = rounded(rng, (3,))
    with h5py.File(path("links.h5"), "w") as f:
        f["a/w"] = w
        f["b/alias"] = h5py.SoftLink("/a/w")
        f["b/gone"] = h5py.SoftLink("/nowhere")
        f["b/kind"] = np.dtype("<f4")   # a named datatype: not part of the model
    expect("links", [("/a/w", w, True)])
    with h5py.File(path("extlink.h5"), "w") as f:
        f["w"] = w
        f["x"] = h5py.ExternalLink("missing.h5", "/y")
    with h5py.File(path("extlink_ok.h5"), "w") as f:
        f["w"] = h5py.ExternalLink("links.h5", "/a/w")
    with h5py.File(path("cycle.h5"), "w") as f:
        g = f.create_group("g")
        g["w"] = w
        g["loop"] = g
    with h5py.File(path("softcycle.h5"), "w") as f:
        f["g/w"] = w
        f["g/up"] = h5py.SoftLink("/g")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(11)
    for make in (nested, order, types, complex_, shared, batchnorm, links):
        make(rng)


if __name__ == "__main__":
    main()
