#!/usr/bin/env python3
"""bench/gpu_check.py: the CUDA backend's benchmarks (run by bench/gpu-check).

  * Hessian: the full Hessian of an MLP 64-128-96-8 (tanh, n = 21,480) on a batch
    of 1024 with mse, float32: `--diag` (every Hessian-vector product, nothing
    written: the computation) and the full matrix to a .npy (1.85 GB, exactly
    symmetric), on --device cuda (plain passes, its default, and with neuron
    rows, FLATPARAMS_NEURON_ROWS=1) and --device cpu (OpenBLAS, --threads
    threads; neuron rows); the GPU's rows checked against the CPU's on a block
    of rows.
  * The achieved rate: the tangent pass's matrix-product flops (counted by
    bench/roofline.py for the algorithm in lib/compute/tangent_pass.c) over the
    GPU's --diag time, next to cuBLAS SGEMM's (through PyTorch, TF32 off) on the
    same card at a large square size and at the pass's own shapes; and
    bench/roofline.py's bound on that rate for this pass structure, at those
    SGEMM rates and the card's measured copy bandwidth.
  * Gradient: MLP 784-1024-1024-10 (relu), batch 256, logitcrossentropy,
    float32: the computation alone (FLATPARAMS_TIME), GPU against CPU.

Usage: python3 bench/gpu_check.py FLATPARAMS_EXE [--threads 2] [--tmp DIR] [--skip-cpu]
       [--cpu-seconds DIAG,FULL] (CPU times measured elsewhere, e.g. on the 2-core
       development machine, to report ratios against that machine too)
Needs numpy; torch with CUDA for the SGEMM reference (skipped without it).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roofline  # noqa: E402  (bench/roofline.py: the flops, and the bound on the rate)

SIZES = [64, 128, 96, 8]
BATCH = 1024
GRAD_SIZES = [784, 1024, 1024, 10]
GRAD_BATCH = 256


def make_mlp(path, sizes, act, seed):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layer = {"type": "Dense",
                 "weight": (rng.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32).tolist(),
                 "bias": (0.1 * rng.standard_normal(b)).astype(np.float32).tolist()}
        if i + 2 < len(sizes):
            layer["activation"] = act
        layers.append(layer)
    with open(path, "w") as f:
        json.dump({"type": "Chain", "layers": layers}, f)
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def run(cmd, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return took, proc.stderr


def write_seconds(directory, nbytes):
    """Writing nbytes to a new file in directory with write(2), 32 MiB at a time, as
    flatparams writes the GPU's rows: what the full matrix cannot go below."""
    path = os.path.join(directory, "w.bin")
    buf = np.ones(32 << 20, np.uint8)
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for at in range(0, nbytes, buf.size):
        os.write(fd, buf[:min(buf.size, nbytes - at)])
    os.close(fd)
    took = time.perf_counter() - start
    os.remove(path)
    return took


def torch_cuda():
    """torch when it has a usable GPU, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def cuda_seconds(torch, step, reps):
    """Seconds of one call of step() on the GPU: three to warm up, then the mean of
    reps between two CUDA events."""
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        step()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / reps


def sgemm_rates():
    torch = torch_cuda()
    if torch is None:
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    def rate(m, k, n, reps):
        a = torch.randn(m, k, device="cuda")
        b = torch.randn(k, n, device="cuda")
        return 2.0 * m * k * n / cuda_seconds(torch, lambda: a @ b, reps) / 1e12

    return {"8192 x 8192 x 8192": rate(8192, 8192, 8192, 10),
            "(K*B) x 128 x 96, K*B = 163,840 (input tangents)": rate(163840, 128, 96, 20)}


def copy_bandwidth():
    """Device-to-device copy of 1 GiB (read and write), TB/s; None without torch's CUDA."""
    torch = torch_cuda()
    if torch is None:
        return None
    a = torch.empty(1 << 28, device="cuda")
    b = torch.empty_like(a)
    return 2 * a.numel() * 4 / cuda_seconds(torch, lambda: b.copy_(a), 10) / 1e12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--cpu-seconds", default=None)
    ap.add_argument("--small", action="store_true", help="tiny sizes, to try the script")
    args = ap.parse_args()
    global SIZES, BATCH, GRAD_SIZES, GRAD_BATCH
    if args.small:
        SIZES, BATCH, GRAD_SIZES, GRAD_BATCH = [16, 32, 24, 4], 64, [20, 30, 30, 5], 32
    tmp = tempfile.mkdtemp(prefix="fp-gpu-check-", dir=args.tmp)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))

    model, x, y = (os.path.join(tmp, n) for n in ("mlp.json", "x.npy", "y.npy"))
    n = make_mlp(model, SIZES, "tanh", 0)
    rng = np.random.default_rng(1)
    np.save(x, rng.standard_normal((BATCH, SIZES[0])).astype(np.float32))
    np.save(y, rng.standard_normal((BATCH, SIZES[-1])).astype(np.float32))
    common = [args.exe, "hessian", model, "-x", x, "-y", y, "--precision", "f32", "-q"]
    h_path = os.path.join(tmp, "H.npy")
    print(f"Hessian: MLP {'-'.join(map(str, SIZES))} (tanh), n = {n:,}, batch {BATCH}, mse, float32")

    # agreement first: a block of rows on both
    rows = "0:256"
    run(common + ["--rows", rows, "--device", "cuda", "-o", os.path.join(tmp, "rg.npy")], env)
    run(common + ["--rows", rows, "--device", "cpu", "-o", os.path.join(tmp, "rc.npy")], env)
    rg, rc = np.load(os.path.join(tmp, "rg.npy")), np.load(os.path.join(tmp, "rc.npy"))
    agree = np.abs(rg - rc).max() / np.abs(rc).max()
    print(f"rows {rows}: GPU vs CPU max relative difference {agree:.2e}")

    # the GPU as it runs by default (plain passes), with a Dense weight's rows from
    # its neurons' tangents (FLATPARAMS_NEURON_ROWS=1: the host's default, the GPU's
    # once measured), and the CPU (its default: neuron rows)
    variants = {"cuda": ("cuda", "0"), "cuda+neurons": ("cuda", "1")}
    if not args.skip_cpu:
        variants["cpu"] = ("cpu", "1")
    times, compute, cold = {}, {}, {}
    for name, (dev, neurons) in variants.items():
        venv = dict(env, FLATPARAMS_NEURON_ROWS=neurons)
        # the process with one computation; then the computation alone, cold
        # (the first: a GPU loads its kernels lazily) and warm (median of 3 more)
        diag, _ = run(common + ["--diag", "--device", dev, "-o", os.path.join(tmp, "d.npy")], venv)
        _, err = run(common + ["--diag", "--device", dev, "-o", os.path.join(tmp, "d.npy")],
                     dict(venv, FLATPARAMS_TIME="3"))
        m = re.search(r"compute seconds: first ([0-9.]+), median ([0-9.]+)", err)
        cold[name], compute[name] = float(m.group(1)), float(m.group(2))
        full, err = run(common + ["--device", dev, "-o", h_path], dict(venv, FLATPARAMS_TIME="1"))
        times[name] = (diag, full)
        m = re.search(r"whole matrix on the GPU, written seconds: ([0-9.]+)", err)
        inside = f" ({float(m.group(1)):.3f} s of it computing and writing)" if m else ""
        if dev == "cuda":
            h = np.load(h_path, mmap_mode="r")
            sym = bool(all((h[i:i + 512] == h[:, i:i + 512].T).all() for i in range(0, n, 512)))
            d = np.load(os.path.join(tmp, "d.npy"))
            print(f"full matrix {h.shape}, exactly symmetric: {sym}; diagonal equals --diag: "
                  f"{bool(np.allclose(np.diagonal(h), d, rtol=1e-5, atol=1e-7))}")
            if name == "cuda":   # the file's space allocated while the GPU starts, or not
                plain, _ = run(common + ["--device", dev, "-o", h_path + ".plain.npy"],
                               dict(venv, FLATPARAMS_NO_PREALLOCATE="1"))
                os.remove(h_path + ".plain.npy")
                print(f"  full to .npy without allocating the file ahead "
                      f"(FLATPARAMS_NO_PREALLOCATE=1): {plain:.3f} s (with: {full:.3f} s)")
            if name == "cuda":   # each block made final on the GPU vs the host's second pass
                h1_path = os.path.join(tmp, "H1.npy")
                run(common + ["--device", dev, "-o", h1_path], dict(venv, FLATPARAMS_NO_PIPELINE="1"))
                h1 = np.load(h1_path, mmap_mode="r")
                same = all((h[i:i + 512] == h1[i:i + 512]).all() for i in range(0, n, 512))
                print(f"  the GPU's final rows vs the host-scratch path's: identical bytes: {same}")
                del h1
                os.remove(h1_path)
            del h
        os.remove(h_path)
        print(f"{name:12}  --diag {diag:8.3f} s (its computation {cold[name]:8.3f} s cold, "
              f"{compute[name]:8.3f} s warm)   full to .npy {full:8.3f} s{inside}")
    print(f"writing {n * n * 4 / 1e9:.2f} GB alone (write(2), 32 MiB at a time, the same "
          f"directory): {write_seconds(tmp, n * n * 4):.3f} s")
    flops = {name: roofline.matrix_flops(SIZES, BATCH, neurons=neurons == "1")
             for name, (_, neurons) in variants.items()}
    for name in ("cuda", "cuda+neurons"):
        print(f"{name}: {flops[name] / 1e12:.2f} TFLOP of matrix products, "
              f"{flops[name] / compute[name] / 1e12:.2f} TFLOP/s over the warm computation, "
              f"{flops[name] / times[name][0] / 1e12:.2f} over the --diag process")
        g_diag, g_full = times[name]
        if "cpu" in compute:
            print(f"  computation alone, GPU/CPU: {compute['cpu'] / compute[name]:.1f}x")
        if "cpu" in times:
            c_diag, c_full = times["cpu"]
            print(f"  GPU/CPU ({args.threads} threads, this machine): --diag {c_diag / g_diag:.1f}x, "
                  f"full {c_full / g_full:.1f}x")
        if args.cpu_seconds:
            c_diag, c_full = map(float, args.cpu_seconds.split(","))
            print(f"  GPU vs the given CPU times ({c_diag:.2f} s, {c_full:.2f} s): --diag "
                  f"{c_diag / g_diag:.1f}x, full {c_full / g_full:.1f}x")
    rates = sgemm_rates()
    if rates:
        for shape, r in rates.items():
            print(f"cuBLAS SGEMM (torch, TF32 off) {shape}: {r:.1f} TFLOP/s")
        best = max(rates.values())
        for name in ("cuda", "cuda+neurons"):
            print(f"{name}: the computation at {flops[name] / compute[name] / 1e12 / best:.0%} of "
                  "the best SGEMM rate above")
        bw = copy_bandwidth()
        print(f"device-to-device copy: {bw:.2f} TB/s; the bounds of bench/roofline.py for the "
              "two pass structures (perfect kernels):")
        for shape, r in rates.items():
            for neurons in (False, True):
                roofline.report(SIZES, BATCH, r, bw, reference=best, neurons=neurons)
    else:
        print("cuBLAS SGEMM reference: skipped (no torch with CUDA)")

    # gradient: the computation alone
    gm = os.path.join(tmp, "grad.json")
    make_mlp(gm, GRAD_SIZES, "relu", 2)
    gx, gy = os.path.join(tmp, "gx.npy"), os.path.join(tmp, "gy.npy")
    np.save(gx, rng.standard_normal((GRAD_BATCH, GRAD_SIZES[0])).astype(np.float32))
    np.save(gy, rng.integers(0, GRAD_SIZES[-1], GRAD_BATCH).astype(np.float32))
    out = {}
    for dev in ["cuda", "cpu"]:
        _, err = run([args.exe, "gradient", gm, "-x", gx, "-y", gy, "--loss", "logitcrossentropy",
                      "--device", dev, "-o", os.path.join(tmp, f"g_{dev}.npy")],
                     dict(env, FLATPARAMS_TIME="20"))
        m = re.search(r"median ([0-9.]+)", err)
        out[dev] = float(m.group(1))
    g_gpu, g_cpu = (np.load(os.path.join(tmp, f"g_{d}.npy")) for d in ("cuda", "cpu"))
    print(f"gradient MLP {'-'.join(map(str, GRAD_SIZES))}, batch {GRAD_BATCH}, f32: compute "
          f"GPU {out['cuda'] * 1e3:.2f} ms, CPU {out['cpu'] * 1e3:.2f} ms ({out['cpu'] / out['cuda']:.1f}x); "
          f"max relative difference {np.abs(g_gpu - g_cpu).max() / np.abs(g_cpu).max():.2e}")


if __name__ == "__main__":
    main()
