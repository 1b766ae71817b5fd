#!/usr/bin/env python3
"""Writes the vector-file fixtures the vecio suite (tests/test_vecio.c) reads,
into testdata/vecio/. Each NAME.npy (or NAME.h5) has NAME.expected.txt beside it:
the values in C (row-major) order, one element per line, written with repr() so
they are exact ("re im" for complex).

    v1_f8.npy       float64, format version 1.0 (np.save's default)
    v2_f4.npy       float32, format version 2.0
    v3_f8.npy       float64, format version 3.0
    be_f8.npy       big-endian '>f8'
    be_f4.npy       big-endian '>f4'
    fortran_f8.npy  a 2 x 3 float64 matrix with fortran_order True
    i8.npy          int64, including 2**53 + 1 (not exact as a double)
    c8.npy          complex64
    h5py_mixed.h5   h5py-written datasets: /data float64, /g/c complex128,
                    /g/b bool, /g/h float16, /g/be big-endian float32
                    (only when h5py is installed)

Run it from anywhere: python3 testdata/make_vecio_fixtures.py
"""
import os

import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vecio")

VALUES = [0.1, -2.5, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, -0.0, 1e-7, 123456.789,
          float("inf"), float("-inf")]


def expected(name, array):
    with open(os.path.join(HERE, name + ".expected.txt"), "w") as f:
        for v in np.asarray(array).ravel(order="C"):
            if np.iscomplexobj(v):
                f.write("%r %r\n" % (float(v.real), float(v.imag)))
            elif np.issubdtype(np.asarray(v).dtype, np.integer):
                f.write("%d\n" % int(v))
            else:
                f.write("%r\n" % float(v))


def save(name, array, version=None):
    path = os.path.join(HERE, name + ".npy")
    with open(path, "wb") as f:
        if version is None:
            np.save(f, array)
        else:
            np.lib.format.write_array(f, array, version=version)
    expected(name, array)


def main():
    os.makedirs(HERE, exist_ok=True)
    save("v1_f8", np.array(VALUES, dtype=np.float64))
    save("v2_f4", np.array([0.1, -2.5, 0.863101, 1.17549435e-38, 3e38, -0.0], dtype=np.float32),
         version=(2, 0))
    save("v3_f8", np.array(VALUES[:4], dtype=np.float64), version=(3, 0))
    save("be_f8", np.array(VALUES, dtype=">f8"))
    save("be_f4", np.array([0.1, -2.5, 1e-40, 65504.0], dtype=">f4"))
    matrix = np.asfortranarray(np.array([[1.5, 2.5, 3.5], [-1.0, 0.25, 1e-3]]))
    assert matrix.flags.f_contiguous and not matrix.flags.c_contiguous
    save("fortran_f8", matrix)
    save("i8", np.array([-3, 0, 7, 2**40 + 1, 2**53 + 1], dtype=np.int64))
    save("c8", np.array([1 + 2j, -0.5 - 0.25j, 0.1 + 0j], dtype=np.complex64))
    try:
        import h5py
    except ImportError:
        return
    path = os.path.join(HERE, "h5py_mixed.h5")
    with h5py.File(path, "w") as f:
        f["data"] = np.array(VALUES[:3])
        f["g/c"] = np.array([[1 + 2j, 3 - 4j], [0.5j, -1]], dtype=np.complex128)
        f["g/b"] = np.array([True, False, True])
        f["g/h"] = np.array([0.5, -2.0, 65504.0, 6e-8], dtype=np.float16)
        f["g/be"] = np.array([0.1, -3.0], dtype=">f4")
    expected("h5py_mixed.data", np.array(VALUES[:3]))
    expected("h5py_mixed.g_c", np.array([[1 + 2j, 3 - 4j], [0.5j, -1]], dtype=np.complex128))
    expected("h5py_mixed.g_h", np.array([0.5, -2.0, 65504.0, 6e-8], dtype=np.float16))


if __name__ == "__main__":
    main()
