#!/usr/bin/env python3
"""Writes the hostile .keras zips that tests/test_hostile_zip.c reads, into
testdata/hostile/, from testdata/keras/synthetic3.keras (a small Keras 3 file).
Needs only Python. Run from anywhere:

    python3 testdata/make_keras_zip_fixtures.py

    keras_bomb.keras         model.weights.h5 is synthetic3's weights followed
                             by 80 MiB of zeros, deflated: an 80 KiB zip that
                             inflates 1000 times (HDF5 ignores the bytes past
                             its end-of-file address, so it reads as the model).
    keras_config_bomb.keras  config.json is synthetic3's followed by 80 MiB of
                             spaces (still valid JSON), deflated.
    keras_lying_size.keras   model.weights.h5 is synthetic3's weights followed
                             by 1 MiB of zeros, deflated, its sizes in the zip
                             (local header and central directory) those of the
                             weights alone: libzip 1.7.3 inflates past them.
    keras_dup_weights.keras  two model.weights.h5 entries: synthetic3's weights,
                             then the same with the first Dense kernel doubled
                             (Python's zipfile, and so Keras, reads the last;
                             libzip the first). Needs h5py.
    keras_dup_config.keras   two config.json entries, the second naming another
                             model (Keras reads it).
"""
import io
import os
import struct
import warnings
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "keras", "synthetic3.keras")
OUT = os.path.join(HERE, "hostile")
PADDING = 80 << 20


def entries():
    with zipfile.ZipFile(SOURCE) as z:
        return {name: z.read(name) for name in z.namelist()}


def write(name, items, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile warns of the duplicate names
        with zipfile.ZipFile(buf, "w", compression, compresslevel=9 if compression else None) as z:
            for entry, data in items:
                z.writestr(zipfile.ZipInfo(entry, (2024, 1, 1, 0, 0, 0)), data,
                           compress_type=compression)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(buf.getvalue())


def declare_size(name, entry, size):
    """Rewrites entry's uncompressed size in both of its headers."""
    file_path = os.path.join(OUT, name)
    data = bytearray(open(file_path, "rb").read())
    with zipfile.ZipFile(file_path) as z:
        local = z.getinfo(entry).header_offset
    assert data[local:local + 4] == b"PK\3\4"
    struct.pack_into("<I", data, local + 22, size)
    at = data.find(b"PK\1\2")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_len] == entry.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\1\2", at + 4)
    with open(file_path, "wb") as f:
        f.write(data)


def changed_weights(weights):
    """The weights file with /layers/dense/vars/0 (the first layer's kernel)
    doubled, through h5py on a copy in memory."""
    import h5py
    buf = io.BytesIO(weights)
    with h5py.File(buf, "r+") as f:
        kernel = f["layers/dense/vars/0"]
        kernel[...] = 2 * kernel[...]
    return buf.getvalue()


def main():
    e = entries()
    config, metadata, weights = e["config.json"], e["metadata.json"], e["model.weights.h5"]
    write("keras_bomb.keras", [("metadata.json", metadata), ("config.json", config),
                               ("model.weights.h5", weights + bytes(PADDING))],
          zipfile.ZIP_DEFLATED)
    write("keras_config_bomb.keras", [("metadata.json", metadata),
                                      ("config.json", config + b" " * PADDING),
                                      ("model.weights.h5", weights)],
          zipfile.ZIP_DEFLATED)
    write("keras_lying_size.keras", [("metadata.json", metadata), ("config.json", config),
                                     ("model.weights.h5", weights + bytes(1 << 20))],
          zipfile.ZIP_DEFLATED)
    declare_size("keras_lying_size.keras", "model.weights.h5", len(weights))
    write("keras_dup_weights.keras", [("metadata.json", metadata), ("config.json", config),
                                      ("model.weights.h5", weights),
                                      ("model.weights.h5", changed_weights(weights))])
    other = config.replace(b'"name": "sequential"', b'"name": "another_model"')
    assert other != config
    write("keras_dup_config.keras", [("metadata.json", metadata), ("config.json", config),
                                     ("config.json", other), ("model.weights.h5", weights)])


if __name__ == "__main__":
    main()
