#!/usr/bin/env python3
"""bench/gradient: the gradient of an MLP 784-1024-1024-10 (relu) on a batch of 256
with logitcrossentropy (integer labels), float32, against PyTorch doing the same
with torch.autograd.grad. Both get the same thread count.

Compares, in one run on the same files:
  * whole processes: `flatparams gradient mlp.h5 -x x.npy -y y.npy --loss
    logitcrossentropy -o g.npy` against a Python script that reads the same HDF5
    model (h5py) and .npy data, computes the gradient and saves it with np.save
    (interpreter start and `import torch` included: that is what a user waits for);
  * the computation alone: forward, loss and backward, timed inside each process
    after the data is in memory: flatparams with FLATPARAMS_TIME=N (one cold call,
    then the median of N), PyTorch with time.perf_counter around
    torch.autograd.grad(loss(model(x)), params) (one cold call, then the median of N);
    ROUNDS processes of each, interleaved, and the least disturbed one reported.
Checks that the two gradients agree, then prints a table with ratios.

Usage: python3 bench/gradient.py [BUILD_DIR] [--threads 2] [--repeats 5] [--runs 20] [--rounds 3]
Needs numpy, h5py and torch (pip install numpy h5py torch).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

SIZES = [784, 1024, 1024, 10]
BATCH = 256

TORCH_SCRIPT = r"""
import sys, time
import h5py, numpy as np, torch
import torch.nn.functional as F
model, x_path, y_path, out_path, threads, runs = sys.argv[1:7]
torch.set_num_threads(int(threads))
layers = []
with h5py.File(model, "r") as f:
    for i in range(len(f["layers"])):
        g = f["layers"][str(i)]
        act = g.attrs.get("activation", "identity")
        act = act.decode() if isinstance(act, bytes) else act
        layers.append((torch.from_numpy(g["weight"][()]).requires_grad_(),
                       torch.from_numpy(g["bias"][()]).requires_grad_(), act))
params = [p for w, b, _ in layers for p in (w, b)]
x = torch.from_numpy(np.load(x_path))
y = torch.from_numpy(np.load(y_path))

def gradient():
    h = x
    for w, b, act in layers:
        h = F.linear(h, w, b)
        if act == "relu":
            h = F.relu(h)
    return torch.autograd.grad(F.cross_entropy(h, y), params)   # Flux's logitcrossentropy

start = time.perf_counter()
grads = gradient()
first = time.perf_counter() - start
np.save(out_path, torch.cat([g.reshape(-1) for g in grads]).numpy())
if int(runs):
    times = []
    for _ in range(int(runs)):
        start = time.perf_counter()
        gradient()
        times.append(time.perf_counter() - start)
    print(f"compute seconds: first {first:.6f}, median {sorted(times)[len(times) // 2]:.6f}",
          file=sys.stderr)
"""


def make_inputs(tmp):
    rng = np.random.default_rng(0)
    model = os.path.join(tmp, "mlp.h5")
    with h5py.File(model, "w", track_order=True) as f:
        f.attrs["type"] = "Chain"
        layers = f.create_group("layers", track_order=True)
        for i, (n_in, n_out) in enumerate(zip(SIZES, SIZES[1:])):
            g = layers.create_group(str(i), track_order=True)
            g.attrs["type"] = "Dense"
            if i < len(SIZES) - 2:
                g.attrs["activation"] = "relu"
            bound = 1 / np.sqrt(n_in)   # PyTorch's Linear initialisation
            g.create_dataset("weight", data=rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32))
            g.create_dataset("bias", data=rng.uniform(-bound, bound, n_out).astype(np.float32))
    x, y = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
    np.save(x, rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32))
    np.save(y, rng.integers(0, SIZES[-1], BATCH).astype(np.int64))
    return model, x, y


def run(cmd, env):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return elapsed, proc.stderr


def compute_seconds(stderr):
    for line in stderr.splitlines():
        if "compute seconds:" in line:
            first = float(line.split("first")[1].split(",")[0])
            median = float(line.split("median")[1].split()[0])
            return first, median
    sys.exit(f"no timing line in:\n{stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="whole-process runs of each")
    ap.add_argument("--runs", type=int, default=20, help="timed computations inside one process")
    ap.add_argument("--rounds", type=int, default=3, help="processes timing the computation, each")
    args = ap.parse_args()
    exe = os.path.abspath(os.path.join(args.build, "cmd", "flatparams"))
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    env.pop("FLATPARAMS_TIME", None)
    with tempfile.TemporaryDirectory() as tmp:
        model, x, y = make_inputs(tmp)
        script = os.path.join(tmp, "torch_gradient.py")
        with open(script, "w") as f:
            f.write(TORCH_SCRIPT)
        g_fp, g_torch = os.path.join(tmp, "g_fp.npy"), os.path.join(tmp, "g_torch.npy")
        fp_cmd = [exe, "gradient", model, "-x", x, "-y", y, "--loss", "logitcrossentropy", "-o", g_fp]
        torch_cmd = [sys.executable, script, model, x, y, g_torch, str(args.threads)]

        run(fp_cmd, env)                       # warm the page cache for both
        run(torch_cmd + ["0"], env)
        # Interleaved, so that load from other processes falls on both alike.
        fp_whole, torch_whole, fp_compute, torch_compute = [], [], [], []
        for _ in range(args.repeats):
            fp_whole.append(run(fp_cmd, env)[0])
            torch_whole.append(run(torch_cmd + ["0"], env)[0])
        for _ in range(args.rounds):
            fp_compute.append(compute_seconds(run(fp_cmd, dict(env, FLATPARAMS_TIME=str(args.runs)))[1]))
            torch_compute.append(compute_seconds(run(torch_cmd + [str(args.runs)], env)[1]))
        # The least disturbed round of each: the median of its runs, and its cold call.
        fp_first, fp_median = min(fp_compute, key=lambda t: t[1])
        torch_first, torch_median = min(torch_compute, key=lambda t: t[1])

        a, b = np.load(g_fp), np.load(g_torch)
        rel = float(np.abs(a - b).max() / np.abs(b).max())
        n_params = sum(i * o + o for i, o in zip(SIZES, SIZES[1:]))

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    import torch
    print(f"gradient of MLP {'-'.join(map(str, SIZES))} (relu), batch {BATCH}, logitcrossentropy, "
          f"float32, {n_params} parameters")
    print(f"{cpu}, {os.cpu_count()} cores, {args.threads} threads each; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"gradients agree: max |flatparams - torch| / max |torch| = {rel:.2e}")
    print()
    print(f"| {'what':<48} | {'flatparams':>11} | {'PyTorch':>11} | {'PyTorch / flatparams':>20} |")
    print(f"|{'-' * 50}|{'-' * 13}|{'-' * 13}|{'-' * 22}|")
    rows = [(f"whole process, median of {args.repeats}", statistics.median(fp_whole),
             statistics.median(torch_whole)),
            (f"computation alone, median of {args.runs} (best of {args.rounds})", fp_median, torch_median),
            ("computation alone, first call (cold)", fp_first, torch_first)]
    for what, fp_s, torch_s in rows:
        print(f"| {what:<48} | {fp_s * 1e3:>8.1f} ms | {torch_s * 1e3:>8.1f} ms | {torch_s / fp_s:>19.2f}x |")


if __name__ == "__main__":
    main()
