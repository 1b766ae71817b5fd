#!/usr/bin/env python3
"""bench/hessian: the full Hessian of an MLP 32-48-48-8 (tanh, n = 4,328 parameters)
on a batch of 128 with mse, float64, flatparams against the tools users would pick:
torch.autograd.functional.hessian (vectorize False and True), torch.func.hessian
(jacfwd over jacrev) and, when it is installed, jax.hessian under jit. Everyone
gets the same thread count (OpenBLAS / torch / XLA).

Reports, in one run:
  * flatparams, whole process writing the n x n .npy (and the exactly symmetric
    second pass), the same run's computation alone (its rows and the
    symmetrising, FLATPARAMS_TIME: what the Python tools' timings measure), and
    --diag (the same Hessian-vector products without writing);
  * each Python tool's computation alone (after one warm-up call where it
    compiles or traces: jit, vmap), best of REPEATS;
  * the agreement of every result with flatparams' matrix;
  * flatparams' achieved GFLOP/s (its passes' matrix-product flops, counted by
    bench/roofline.py, over its --diag time) next to OpenBLAS dgemm's, timed through ctypes on the same
    libopenblas flatparams links (cblas_dgemm), at a large square size and at
    the pass's own shapes;
  * a streaming run: the full Hessian of an MLP 64-128-96-8 (n = 21,480) to a
    3.7 GB .npy, its time and peak memory (/usr/bin/time -f %M), which must stay
    under 1 GB.

Usage: python3 bench/hessian.py [BUILD_DIR] [--threads 2] [--repeats 3] [--no-stream]
Needs numpy and torch; jax optional (pip install jax).
"""
import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roofline  # noqa: E402  (bench/roofline.py: the passes' matrix-product flops)

BATCH = 128
SIZES = [32, 48, 48, 8]
STREAM_SIZES = [64, 128, 96, 8]


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        return m.group(1).strip() if m else platform.processor()
    except OSError:
        return platform.processor()


def make_model(path, sizes, seed):
    rng = np.random.default_rng(seed)
    layers, params = [], []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = rng.standard_normal((b, a)) / np.sqrt(a)
        bias = 0.1 * rng.standard_normal(b)
        layer = {"type": "Dense", "weight": w.tolist(), "bias": bias.tolist()}
        if i < len(sizes) - 2:
            layer["activation"] = "tanh"
        layers.append(layer)
        params += [w, bias]
    with open(path, "w") as f:
        json.dump({"type": "Chain", "layers": layers}, f)
    x = rng.standard_normal((BATCH, sizes[0]))
    y = rng.standard_normal((BATCH, sizes[-1]))
    return params, x, y


def flat_of(params):
    return np.concatenate([p.reshape(-1) for p in params])


def run_flatparams(exe, args, env, phases=False):
    """The whole process's seconds, and with phases (FLATPARAMS_TIME, which for
    the full matrix only reports) its computation alone: its rows and the
    symmetrising, not the file writing."""
    start = time.perf_counter()
    r = subprocess.run([exe, "hessian", *args], env=dict(env, FLATPARAMS_TIME="1") if phases else env,
                       capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode:
        sys.exit(f"flatparams failed: {r.stderr}")
    seen = dict(re.findall(r"flatparams: (rows|symmetrise) seconds: ([0-9.]+)", r.stderr))
    return took, sum(float(v) for v in seen.values())


def torch_timings(params, x, y, threads, repeats):
    import torch
    torch.set_num_threads(threads)
    torch.set_default_dtype(torch.float64)
    shapes = [p.shape for p in params]
    xt, yt = torch.tensor(x), torch.tensor(y)
    flat = torch.tensor(flat_of(params))

    def loss(v):
        h, at = xt, 0
        for i in range(0, len(shapes), 2):
            w_size, b_size = int(np.prod(shapes[i])), shapes[i + 1][0]
            w = v[at:at + w_size].reshape(shapes[i])
            b = v[at + w_size:at + w_size + b_size]
            at += w_size + b_size
            h = h @ w.T + b
            if i + 2 < len(shapes):
                h = torch.tanh(h)
        return ((h - yt) ** 2).mean()

    results = {}
    tools = {
        "torch.autograd.functional.hessian (vectorize=False)":
            lambda: torch.autograd.functional.hessian(loss, flat, vectorize=False),
        "torch.autograd.functional.hessian (vectorize=True)":
            lambda: torch.autograd.functional.hessian(loss, flat, vectorize=True),
        "torch.func.hessian (jacfwd(jacrev))": lambda: torch.func.hessian(loss)(flat),
    }
    for name, fn in tools.items():
        h = fn()   # warm-up (vmap tracing)
        best = float("inf")
        for _ in range(1 if "False" in name else repeats):
            start = time.perf_counter()
            h = fn()
            best = min(best, time.perf_counter() - start)
        results[name] = (best, h.detach().numpy())
    return results


def jax_timing(params, x, y, repeats):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    shapes = [p.shape for p in params]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss(v):
        h, at = xj, 0
        for i in range(0, len(shapes), 2):
            w_size, b_size = int(np.prod(shapes[i])), shapes[i + 1][0]
            w = v[at:at + w_size].reshape(shapes[i])
            b = v[at + w_size:at + w_size + b_size]
            at += w_size + b_size
            h = h @ w.T + b
            if i + 2 < len(shapes):
                h = jnp.tanh(h)
        return jnp.mean((h - yj) ** 2)

    hess = jax.jit(jax.hessian(loss))
    flat = jnp.asarray(flat_of(params))
    h = hess(flat).block_until_ready()   # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        h = hess(flat).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return best, np.asarray(h)


def openblas_dgemm(exe, threads):
    """GFLOP/s of cblas_dgemm from the libopenblas flatparams links, via ctypes."""
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    m = re.search(r"(\S*libopenblas\S*\.so\S*)", ldd)
    path = m.group(1) if m else ctypes.util.find_library("openblas")
    lib = ctypes.CDLL(path)
    if hasattr(lib, "openblas_set_num_threads"):
        lib.openblas_set_num_threads(threads)
    dp = ctypes.POINTER(ctypes.c_double)
    lib.cblas_dgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_double, dp, ctypes.c_int, dp, ctypes.c_int,
                                                     ctypes.c_double, dp, ctypes.c_int]

    def rate(m_, n_, k_, trans_b, reps):
        a = np.random.rand(m_, k_)
        b = np.random.rand(n_, k_) if trans_b else np.random.rand(k_, n_)
        c = np.zeros((m_, n_))
        args = (101, 111, 112 if trans_b else 111, m_, n_, k_, 1.0, a.ctypes.data_as(dp), k_,
                b.ctypes.data_as(dp), k_ if trans_b else n_, 0.0, c.ctypes.data_as(dp), n_)
        lib.cblas_dgemm(*args)
        start = time.perf_counter()
        for _ in range(reps):
            lib.cblas_dgemm(*args)
        return 2.0 * m_ * n_ * k_ * reps / (time.perf_counter() - start) / 1e9

    out = {f"2048 x 2048 x 2048, {threads} threads": rate(2048, 2048, 2048, False, 3)}
    # the pass's own shapes (14 directions a pass; each of the threads runs its
    # own passes, every product on one thread): per thread
    if hasattr(lib, "openblas_set_num_threads"):
        lib.openblas_set_num_threads(1)
        out["(K*B) x 48 x 48, K*B = 1,792 (a pass's input tangents), 1 thread"] = \
            rate(1792, 48, 48, True, 400)
        out["48 x 48 x 128 (one direction's weight rows), 1 thread"] = rate(48, 48, 128, False, 20000)
        out["32 x 2304 x 128 (a neuron's rows: x^T M, second weight), 1 thread"] = \
            rate(32, 2304, 128, False, 300)
        lib.openblas_set_num_threads(threads)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-stream", action="store_true")
    args = ap.parse_args()
    exe = os.path.join(args.build, "cmd", "flatparams")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    os.environ.update(OMP_NUM_THREADS=str(args.threads), XLA_FLAGS=os.environ.get(
        "XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}"))
    tmp = tempfile.mkdtemp(prefix="fp-bench-hessian-", dir=os.environ.get("TMPDIR", "/tmp"))
    model, x_path, y_path = (os.path.join(tmp, n) for n in ("mlp.json", "x.npy", "y.npy"))
    params, x, y = make_model(model, SIZES, 0)
    np.save(x_path, x)
    np.save(y_path, y)
    n = flat_of(params).size
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; threads: {args.threads}; float64")
    print(f"MLP {'-'.join(map(str, SIZES))} (tanh), n = {n:,}, batch {BATCH}, mse\n")

    h_path = os.path.join(tmp, "H.npy")
    common = [model, "-x", x_path, "-y", y_path, "--precision", "f64"]
    runs = []
    for i in range(args.repeats):   # each to a new file (no rename over an old one),
        os.sync()                   # with no earlier run's dirty pages still being written
        runs.append(run_flatparams(exe, common + ["-o", h_path + f".{i}.npy"], env, phases=True))
        if i:
            os.remove(h_path + f".{i}.npy")
    os.rename(h_path + ".0.npy", h_path)
    full, computed = min(t for t, _ in runs), min(c for _, c in runs)
    diag = min(run_flatparams(exe, common + ["--diag", "-o", os.path.join(tmp, "d.npy")], env)[0]
               for _ in range(args.repeats))
    h_fp = np.load(h_path)
    rows = [("flatparams hessian -o H.npy (process, incl. writing 150 MB)", full, 0.0),
            ("flatparams full matrix, computation alone (rows + symmetrising)", computed, 0.0),
            ("flatparams hessian --diag (process; the same HVPs, no writing)", diag, 0.0)]
    scale = np.abs(h_fp).max()
    for name, (t, h) in torch_timings(params, x, y, args.threads, args.repeats).items():
        rows.append((name, t, np.abs(h - h_fp).max() / scale))
    jx = jax_timing(params, x, y, args.repeats)
    if jx:
        rows.append(("jax.jit(jax.hessian) (after compiling)", jx[0], np.abs(jx[1] - h_fp).max() / scale))
    else:
        rows.append(("jax.hessian: not installed (pip install jax), skipped", float("nan"), float("nan")))
    print(f"{'':66} {'seconds':>9} {'vs fp process':>13} {'vs fp computation':>17} "
          f"{'max rel diff':>13}")
    for name, t, diff in rows:
        print(f"{name:66} {t:9.3f} {t / full:12.2f}x {t / computed:16.2f}x {diff:13.2e}")
    # the host's passes: a Dense weight's rows from its neurons' tangents
    flops = roofline.matrix_flops(SIZES, BATCH, neurons=True)
    plain = roofline.matrix_flops(SIZES, BATCH)
    r = subprocess.run([exe, "hessian", *common, "--diag", "-o", os.path.join(tmp, "d.npy")],
                       env=dict(env, FLATPARAMS_TIME="3"), capture_output=True, text=True)
    warm = float(re.search(r"median ([0-9.]+)", r.stderr).group(1))
    print(f"\nflatparams' passes: {flops / 1e9:.2f} GFLOP of matrix products for the upper "
          f"triangle (neuron rows; plain passes: {plain / 1e9:.2f}); "
          f"{flops / diag / 1e9:.1f} GFLOP/s over the --diag process time, "
          f"{flops / warm / 1e9:.1f} over the computation alone ({warm:.3f} s, median of 3)")
    for shape, r in openblas_dgemm(exe, args.threads).items():
        print(f"OpenBLAS cblas_dgemm (ctypes) {shape}: {r:.1f} GFLOP/s")
    print(f"exactly symmetric: {bool((h_fp == h_fp.T).all())}")
    os.remove(h_path)

    if not args.no_stream:
        params, x, y = make_model(model, STREAM_SIZES, 1)
        np.save(x_path, x)
        np.save(y_path, y)
        n = flat_of(params).size
        start = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", exe, "hessian", model, "-x", x_path, "-y", y_path,
                            "--precision", "f64", "-q", "-o", h_path], env=env, capture_output=True,
                           text=True)
        took = time.perf_counter() - start
        if r.returncode:
            sys.exit(f"flatparams failed: {r.stderr}")
        peak_mb = int(r.stderr.strip().splitlines()[-1]) / 1024
        size_gb = os.path.getsize(h_path) / 1e9
        h = np.load(h_path, mmap_mode="r")
        corner = np.asarray(h[:200, :200])
        print(f"\nstreaming: MLP {'-'.join(map(str, STREAM_SIZES))}, n = {n:,}: {size_gb:.2f} GB .npy in "
              f"{took:.1f} s, peak memory {peak_mb:.0f} MB ({'under' if peak_mb < 1024 else 'OVER'} 1 GB); "
              f"corner symmetric: {bool((corner == corner.T).all())}")
        del h
        os.remove(h_path)
    for f in os.listdir(tmp):
        os.remove(os.path.join(tmp, f))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
