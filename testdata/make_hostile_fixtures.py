#!/usr/bin/env python3
"""Writes the hostile-file fixtures that tests/test_hostile.c reads, into
testdata/hostile/. Needs `pip install h5py numpy`. Run from anywhere:

    python3 testdata/make_hostile_fixtures.py

The truncated and bit-flipped variants are made at test time from base.h5
(every 1 KiB prefix; deterministic bit flips at the offsets listed in
base.offsets.txt), so only the seeds are committed.

    base.h5             a small model: groups, attributes, contiguous f32/f64,
                        a chunked gzip f32, a compact f32, a hard-linked (shared)
                        weight, a soft link; h5py's default (earliest) format.
    base.offsets.txt    "NAME OFFSET" per line: the superblock (0) and the object
                        header address of the root group and each object, where
                        the bit-flip test aims.
    huge_contiguous.h5  a contiguous f32 dataset declaring 2^40 elements that
                        were never written (the file is a few KiB): refused
                        before any allocation.
    huge_chunked.h5     the same, chunked with no chunk written (reads as fill
                        values): refused before any allocation too.
    huge.npy            a 128-byte .npy whose header declares 2^40 float32s.
    huge.safetensors    a header declaring a [1048576, 1048576] F32 tensor at
                        offsets [0, 4398046511104] with 8 data bytes.
    extlink.h5          /w/x an external link to /etc/passwd-like elsewhere.h5:/data.
    softext.h5          /s a soft link to /ext/data, where /ext is an external link.
    external_raw.h5     /w stored in an external raw file ../outside.bin.
    virtual.h5          /v a virtual dataset mapping elsewhere.h5:/data.
    hidden_filter.h5    /w chunked with gzip, its filter pipeline message's type
                        changed to an unknown one (0x100B), so HDF5 reads the
                        compressed chunks as whole ones: libhdf5 1.10.8 ran past
                        its buffers (a crash in rebuild and flatten).
    wide_chunks.h5      /w of 1000 elements (fixed) whose layout message says
                        chunks of 5000: the same overrun.
    virtual_misfit.h5   /v a virtual dataset mapping a 1-D selection of 6 onto
                        misfit_source.h5:/w, which is 2 x 3: libhdf5 1.10.8
                        divided by zero reading it (with --allow-external).
    data_outside.h5     /w, 16 contiguous float32s whose layout message puts
                        them at byte 2^40: flatten refused it, rebuild wrote
                        an unreadable copy and exited 0.
    data_over_header.h5 the same with /w's data at the root group's object
                        header: rebuild overwrote that header.
    virtual_self.h5     /v, 5 float32s, a virtual dataset mapping itself
                        (".", /v): libhdf5 1.10.8 recursed until the stack ran
                        out (with --allow-external).
    virtual_crash.h5    /v, 7 x 6 float32s mapping
                        ../corpus/hdf5/cve-2024-32614.h5:/Fletcher_float_data_be,
                        whose corrupted type makes libhdf5 1.10.8 run past
                        its buffers while it reads the data (with
                        --allow-external): only a child may read it.
    fifo_external.h5    /w, 5 float32s stored in the external file fifo.bin,
                        where the test makes a FIFO (HDF5_EXTFILE_PREFIX
                        names the directory): reading it blocked forever.
    short_chunk.h5      /w, 500000 x 2 float32 zeros in one deflated chunk whose
                        stream is replaced by one that inflates to 8 bytes:
                        libhdf5 1.10.8 then copies the chunk's 4 MB from
                        them (a segfault), so deflated data is read only in
                        a child.
    bit_offset.h5       /w, 4 float32s whose type puts its 32 bits at bit
                        34816 of its 4 bytes (a bit flip found it): rebuild's
                        conversion into that type wrote past its buffers.
    vector_extlink.h5   /data an external link to vector_target.h5:/data
                        (5 float32s 0..4): a vector file, followed without
                        --allow-external.
    write_through.h5    /grp an external link to vector_target.h5:/: writing
                        a vector to write_through.h5:/grp/x wrote into
                        vector_target.h5.
"""
import os
import struct
import zlib

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")


def path(name):
    return os.path.join(OUT, name)


def base():
    rng = np.random.default_rng(6)
    with h5py.File(path("base.h5"), "w") as f:
        f.attrs["type"] = "Chain"
        layers = f.create_group("layers")
        offsets = [("superblock", 0)]
        for i in range(3):
            g = layers.create_group(str(i))
            g.attrs["type"] = "Dense"
            g.attrs["units"] = 4
            w = g.create_dataset("weight", data=rng.standard_normal((4, 4)).astype(np.float32))
            b = g.create_dataset("bias", data=rng.standard_normal(4))
        layers["2"].create_dataset("packed", data=rng.standard_normal(64).astype(np.float32),
                                   chunks=(16,), compression="gzip")
        space = h5py.h5s.create_simple((8,))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        ds = h5py.h5d.create(layers["1"].id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(8, dtype=np.float32))
        f["tied"] = layers["0"]["weight"]
        f["alias"] = h5py.SoftLink("/layers/1/bias")
        for name in ("layers", "layers/0", "layers/0/weight", "layers/1/bias",
                     "layers/1/compact", "layers/2/packed"):
            offsets.append((name, h5py.h5o.get_info(f[name].id).addr))
        offsets.insert(1, ("root", h5py.h5o.get_info(f["/"].id).addr))
    with open(path("base.offsets.txt"), "w") as out:
        for name, addr in offsets:
            out.write(f"{name} {addr}\n")


def huge():
    with h5py.File(path("huge_contiguous.h5"), "w") as f:
        f.create_dataset("w", shape=(1 << 20, 1 << 20), dtype=np.float32)
    with h5py.File(path("huge_chunked.h5"), "w") as f:
        f.create_dataset("w", shape=(1 << 20, 1 << 20), dtype=np.float32, chunks=(1024, 1024))
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    header = header.ljust(128 - 10 - 1) + "\n"
    with open(path("huge.npy"), "wb") as out:
        out.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    text = ('{"w":{"dtype":"F32","shape":[1048576,1048576],'
            '"data_offsets":[0,4398046511104]}}').encode()
    with open(path("huge.safetensors"), "wb") as out:
        out.write(len(text).to_bytes(8, "little") + text + bytes(8))


def outside():
    with h5py.File(path("extlink.h5"), "w") as f:
        f.create_group("w")["x"] = h5py.ExternalLink("elsewhere.h5", "/data")
    with h5py.File(path("softext.h5"), "w") as f:
        f["ext"] = h5py.ExternalLink("elsewhere.h5", "/")
        f["s"] = h5py.SoftLink("/ext/data")
    with h5py.File(path("external_raw.h5"), "w") as f:
        f.create_dataset("w", shape=(4,), dtype=np.float32, external=[("../outside.bin", 0, 16)])
    layout = h5py.VirtualLayout(shape=(4,), dtype=np.float32)
    layout[:] = h5py.VirtualSource("elsewhere.h5", "data", shape=(4,))
    with h5py.File(path("virtual.h5"), "w") as f:
        f.create_virtual_dataset("v", layout, fillvalue=0)


def corrupted_chunks():
    data = np.arange(1000, dtype=np.float32)
    with h5py.File(path("hidden_filter.h5"), "w") as f:
        f.create_dataset("w", data=data, chunks=(100,), compression="gzip")
    with open(path("hidden_filter.h5"), "rb") as f:
        d = bytearray(f.read())
    at = d.rindex(b"\x0b\x00", 0, d.index(b"deflate"))   # v1 message type 0x000B
    d[at + 1] = 0x10
    with open(path("hidden_filter.h5"), "wb") as f:
        f.write(d)
    with h5py.File(path("wide_chunks.h5"), "w") as f:
        f.create_dataset("w", data=data, chunks=(100,))
    with open(path("wide_chunks.h5"), "rb") as f:
        d = bytearray(f.read())
    # the layout message (version 3, chunked, 2 dimensions: 100 and the element's 4 bytes)
    at = d.index(b"\x03\x02\x02")
    assert d[at + 11:at + 19] == struct.pack("<II", 100, 4)
    d[at + 11:at + 15] = struct.pack("<I", 5000)
    with open(path("wide_chunks.h5"), "wb") as f:
        f.write(d)

    with h5py.File(path("misfit_source.h5"), "w") as f:
        f["w"] = np.arange(6, dtype=np.float32).reshape(2, 3)
    layout = h5py.VirtualLayout(shape=(4,), dtype=np.float32)
    layout[:] = h5py.VirtualSource("misfit_source.h5", "/w", shape=(6,))[:4]
    with h5py.File(path("virtual_misfit.h5"), "w") as f:
        f.create_virtual_dataset("v", layout)


def misplaced_data():
    """/w's contiguous data address patched in its layout message (version 3:
    class 1, then the address and the size, 8 bytes each)."""
    for name, address in (("data_outside.h5", lambda root: 1 << 40),
                          ("data_over_header.h5", lambda root: root)):
        with h5py.File(path(name), "w") as f:
            f.attrs["type"] = "Chain"
            w = f.create_dataset("w", data=np.arange(16, dtype=np.float32))
            offset = w.id.get_offset()
            root = h5py.h5o.get_info(f.id).addr
        with open(path(name), "rb") as f:
            d = bytearray(f.read())
        layout = b"\x03\x01" + struct.pack("<QQ", offset, 64)
        assert d.count(layout) == 1
        at = d.index(layout) + 2
        d[at:at + 8] = struct.pack("<Q", address(root))
        with open(path(name), "wb") as f:
            f.write(d)


def virtual_traps():
    layout = h5py.VirtualLayout(shape=(5,), dtype=np.float32)
    layout[:] = h5py.VirtualSource(".", "v", shape=(5,))
    with h5py.File(path("virtual_self.h5"), "w") as f:
        f.create_virtual_dataset("v", layout, fillvalue=0)
    layout = h5py.VirtualLayout(shape=(7, 6), dtype=np.float32)
    layout[:] = h5py.VirtualSource("../corpus/hdf5/cve-2024-32614.h5", "/Fletcher_float_data_be",
                                   shape=(7, 6))
    with h5py.File(path("virtual_crash.h5"), "w") as f:
        f.create_virtual_dataset("v", layout, fillvalue=0)


def short_chunk():
    with h5py.File(path("short_chunk.h5"), "w") as f:
        w = f.create_dataset("w", data=np.zeros((500000, 2), dtype=np.float32),
                             chunks=(500000, 2), compression="gzip")
        chunk = w.id.get_chunk_info(0)
    with open(path("short_chunk.h5"), "rb") as f:
        d = bytearray(f.read())
    stream = zlib.compress(bytes(8))
    assert len(stream) <= chunk.size
    d[chunk.byte_offset:chunk.byte_offset + len(stream)] = stream
    with open(path("short_chunk.h5"), "wb") as f:
        f.write(d)


def bit_offset():
    with h5py.File(path("bit_offset.h5"), "w") as f:
        f["w"] = np.arange(4, dtype=np.float32)
    with open(path("bit_offset.h5"), "rb") as f:
        d = bytearray(f.read())
    # the float32 datatype message: class 1 version 1, bit field, size 4, then
    # bit offset 0 and precision 32 (2 bytes each)
    ieee_f32 = bytes([0x11, 0x20, 0x1f, 0x00, 4, 0, 0, 0, 0, 0, 32, 0])
    assert d.count(ieee_f32) == 1
    at = d.index(ieee_f32) + 8
    d[at:at + 2] = struct.pack("<H", 34816)
    with open(path("bit_offset.h5"), "wb") as f:
        f.write(d)


def vector_outside():
    with h5py.File(path("fifo_external.h5"), "w") as f:
        f.create_dataset("w", shape=(5,), dtype=np.float32, external=[("fifo.bin", 0, 20)])
    with h5py.File(path("vector_target.h5"), "w") as f:
        f["data"] = np.arange(5, dtype=np.float32)
    with h5py.File(path("vector_extlink.h5"), "w") as f:
        f["data"] = h5py.ExternalLink("vector_target.h5", "/data")
    with h5py.File(path("write_through.h5"), "w") as f:
        f["grp"] = h5py.ExternalLink("vector_target.h5", "/")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    base()
    huge()
    outside()
    corrupted_chunks()
    misplaced_data()
    virtual_traps()
    short_chunk()
    bit_offset()
    vector_outside()
