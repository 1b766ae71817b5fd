#!/usr/bin/env python3
"""bench/flatten: flatten a 1 GiB float32 HDF5 model (a few hundred arrays) to .npy.

Compares, in one run on the same file:
  * flatparams flatten model.h5 -o v.npy
  * cat model.h5 > copy            (the floor: read and write the same bytes)
  * cat model.h5 > copy && sync    (the floor with the fsync flatparams does)
  * h5py + NumPy doing the same job (read every dataset, concatenate, np.save)
Reports the median wall time of REPEATS runs and each process's peak RSS.

Usage: python3 bench/flatten.py [BUILD_DIR] [--gib 1.0] [--repeats 3]
Needs h5py and numpy (pip install h5py numpy).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


def make_model(path, gib):
    """A Flux-like tree: layers/<i>/{weight,bias}, weights of varied shapes."""
    rng = np.random.default_rng(0)
    target = int(gib * (1 << 30)) // 4
    total, i = 0, 0
    with h5py.File(path, "w", track_order=True) as f:
        layers = f.create_group("layers", track_order=True)
        while total < target:
            out_dim = int(rng.integers(256, 2048))
            in_dim = min(int(rng.integers(256, 2048)), max(1, (target - total) // out_dim))
            g = layers.create_group(str(i), track_order=True)
            g.attrs["type"] = "Dense"
            g.create_dataset("weight", data=rng.standard_normal((out_dim, in_dim), dtype=np.float32))
            g.create_dataset("bias", data=np.zeros(out_dim, dtype=np.float32))
            total += out_dim * in_dim + out_dim
            i += 1
    return i * 2, total


H5PY_SCRIPT = r"""
import sys, h5py, numpy as np
parts = []
def walk(group):  # depth-first; h5py iterates tracked groups in creation order
    for name in group:
        obj = group[name]
        if isinstance(obj, h5py.Group):
            walk(obj)
        elif obj.dtype.kind == 'f':
            parts.append(obj[()].ravel())
with h5py.File(sys.argv[1], 'r') as f:
    walk(f)
np.save(sys.argv[2], np.concatenate(parts))
"""


def run(cmd, shell=False):
    """Wall time and peak RSS (MiB) of one command, measured by GNU time (the
    rusage of a child forked from Python would count Python's own pages)."""
    if shell:
        cmd = ["sh", "-c", cmd]
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%M"] + cmd)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"failed: {cmd}")
        return elapsed, int(report.read().split()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    exe = os.path.abspath(os.path.join(args.build, "cmd", "flatparams"))
    work = tempfile.mkdtemp(prefix="fp-bench-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    try:
        model = os.path.join(work, "model.h5")
        n_arrays, n_params = make_model(model, args.gib)
        size = os.path.getsize(model)
        script = os.path.join(work, "h5py_flatten.py")
        with open(script, "w") as f:
            f.write(H5PY_SCRIPT)
        out = os.path.join(work, "v.npy")
        cases = [
            ("flatparams flatten -o v.npy", [exe, "flatten", model, "-o", out]),
            ("flatparams, FLATPARAMS_FSYNC=1", f"FLATPARAMS_FSYNC=1 {exe} flatten {model} -o {out}"),
            ("cat model.h5 > copy", f"cat {model} > {work}/copy"),
            ("cat model.h5 > copy; sync copy", f"cat {model} > {work}/copy && sync {work}/copy"),
            ("h5py + NumPy (np.save)", [sys.executable, script, model, os.path.join(work, "v2.npy")]),
        ]
        subprocess.run(f"cat {model} > /dev/null", shell=True)  # warm the page cache
        results = {}
        for _ in range(args.repeats):
            for name, cmd in cases:
                subprocess.run(["sync"])  # start each run with no dirty pages
                t, rss = run(cmd, shell=isinstance(cmd, str))
                results.setdefault(name, []).append((t, rss))
        a = np.load(out, mmap_mode="r")
        b = np.load(os.path.join(work, "v2.npy"), mmap_mode="r")
        assert a.shape == b.shape == (n_params,) and np.array_equal(a, b), "outputs differ"
        print(f"model: {size / 2**30:.2f} GiB HDF5, {n_arrays} arrays, {n_params:,} float32 parameters, in {work}")
        print(f"median of {args.repeats} runs; outputs checked equal\n")
        cat_t = statistics.median(t for t, _ in results["cat model.h5 > copy"])
        print(f"| {'command':34} | {'time (s)':>8} | {'vs cat':>7} | {'peak RSS (MiB)':>14} |")
        print(f"|{'-' * 36}|{'-' * 10}|{'-' * 9}|{'-' * 16}|")
        for name, _ in cases:
            t = statistics.median(x for x, _ in results[name])
            rss = max(r for _, r in results[name])
            print(f"| {name:34} | {t:8.2f} | {t / cat_t:6.2f}x | {rss:14.1f} |")
        fp_t = statistics.median(x for x, _ in results["flatparams flatten -o v.npy"])
        py_t = statistics.median(x for x, _ in results["h5py + NumPy (np.save)"])
        print(f"\nflatparams is {py_t / fp_t:.1f}x faster than h5py + NumPy")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
