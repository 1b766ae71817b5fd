#!/usr/bin/env python3
"""bench/roofline.py: how fast the full Hessian of an MLP can be on a GPU with
the pass structure flatparams has, whatever its kernels.

It lists the work of lib/compute/tangent_pass.c for the upper triangle's rows
of the Hessian of a chain of Dense layers (an elementwise activation on all but
the last, an elementwise loss), one unit direction per parameter, as the CUDA
backend runs it (lib/compute/cuda/kernels.cuh): each matrix product with its
flops and the bytes it must move at least (its operands that differ per
direction: the shared ones stay in cache), and each elementwise or reduction
kernel with the bytes it reads and writes. Each step then takes at least
max(flops / SGEMM rate, bytes / memory bandwidth), one after another, and the
sum of those is the fastest the computation can be: perfect kernels, every
product at the given SGEMM rate, every byte at the given bandwidth.

The matrix-product flops are the ones bench/gpu_check.py reports TFLOP/s over.

Usage: python3 bench/roofline.py [--sizes 64,128,96,8] [--batch 1024]
       [--sgemm 51.2] [--bandwidth 4.8] [--reference TFLOPS] [--steps]
(--sgemm in TFLOP/s, --bandwidth in TB/s; the defaults are the H200 of the
README's table: SGEMM measured there, bandwidth the card's nominal figure.)
"""
import argparse


def tangent_steps(sizes, batch, elem=4):
    """[(step, flops, bytes)] of the upper triangle's rows, all directions."""
    layers = list(zip(sizes, sizes[1:]))
    last = len(layers) - 1
    n = sum(a * b + b for a, b in layers)
    B = batch
    steps = []

    def step(name, flops, elems, count):
        steps.append((name, flops * count, elems * elem * count))

    for L, (aL, bL) in enumerate(layers):
        count = aL * bL + bL   # directions in layer L (its weights and bias)
        # tangent forward from layer L up
        for j in range(L, len(layers)):
            a, b = layers[j]
            if j == L:   # unit directions: a cleared tangent and a scattered column
                step("clear the first tangent", 0, B * b, count)
            else:
                step(f"product: input tangent {B}x{b}x{a}", 2 * B * a * b, B * a + B * b, count)
            if j != last:
                step("activation tangent, forward", 0, 2 * B * b, count)   # read, write
        step("loss tangent", 0, 2 * B * layers[-1][1], count)
        # backward and its tangent, down to layer L
        for j in range(len(layers) - 1, L - 1, -1):
            a, b = layers[j]
            if j != last:
                step("activation tangent, backward", 0, 3 * B * b, count)   # 2 reads, 1 write
            step(f"product: weight rows td^T x {b}x{a}x{B}", 2 * B * a * b, B * b + 2 * a * b, count)
            if j > L:
                step(f"product: weight rows dout^T t {b}x{a}x{B}", 2 * B * a * b,
                     B * a + 2 * a * b, count)
            step("bias rows' sums", 0, B * b, count)
            if j > L:
                step(f"product: tangent below {B}x{a}x{b}", 2 * B * a * b, B * b + B * a, count)
        step("clearing V and H V rows", 0, 2 * n, count)
    return n, steps


def matrix_flops(sizes, batch):
    return sum(f for name, f, _ in tangent_steps(sizes, batch)[1] if name.startswith("product"))


def bound(sizes, batch, sgemm, bandwidth):
    """(n, flops, seconds, {step: [seconds, flops, bytes]}) at sgemm flop/s and
    bandwidth bytes/s."""
    n, steps = tangent_steps(sizes, batch)
    seconds, by_step = 0.0, {}
    for name, flops, nbytes in steps:
        t = max(flops / sgemm, nbytes / bandwidth)
        seconds += t
        s = by_step.setdefault(name, [0.0, 0.0, 0.0])
        s[0] += t
        s[1] += flops
        s[2] += nbytes
    return n, sum(f for _, f, _ in steps), seconds, by_step


def report(sizes, batch, sgemm_tflops, bandwidth_tbs, reference=None, steps=False):
    """Prints the bound; reference: the SGEMM rate to compare with (default sgemm_tflops)."""
    reference = reference or sgemm_tflops
    n, flops, seconds, by_step = bound(sizes, batch, sgemm_tflops * 1e12, bandwidth_tbs * 1e12)
    rate = flops / seconds / 1e12
    print(f"MLP {'-'.join(map(str, sizes))}, n = {n:,}, batch {batch}, f32: {flops / 1e12:.2f} TFLOP "
          f"of products; with every product at {sgemm_tflops:.1f} TFLOP/s and every byte at "
          f"{bandwidth_tbs:.2f} TB/s the passes take at least {seconds * 1e3:.1f} ms: at most "
          f"{rate:.1f} TFLOP/s, {rate / reference:.0%} of SGEMM's {reference:.1f}")
    if steps:
        for name, (t, f, b) in sorted(by_step.items(), key=lambda kv: -kv[1][0]):
            print(f"  {name:44s} {t * 1e3:7.2f} ms {f / 1e12:7.3f} TFLOP {b / 1e9:7.2f} GB")
    return rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="64,128,96,8")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--sgemm", type=float, default=51.2, help="TFLOP/s")
    ap.add_argument("--bandwidth", type=float, default=4.8, help="TB/s")
    ap.add_argument("--reference", type=float, default=None,
                    help="the SGEMM rate to compare with, TFLOP/s (default: --sgemm)")
    ap.add_argument("--steps", action="store_true")
    args = ap.parse_args()
    report([int(s) for s in args.sizes.split(",")], args.batch, args.sgemm, args.bandwidth,
           args.reference, args.steps)


if __name__ == "__main__":
    main()
