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
(--sgemm in TFLOP/s, --bandwidth in TB/s; the defaults are the H200 of
bench/README.md's table: SGEMM measured there, bandwidth the card's nominal figure.)
"""
import argparse


def _direction_steps(layers, L, B, count, step):
    """A plain pass's steps for count unit directions in layer L (upper rows)."""
    last = len(layers) - 1
    for j in range(L, len(layers)):   # tangent forward from layer L up
        a, b = layers[j]
        if j == L:   # unit directions: a cleared tangent and a scattered column
            step("clear the first tangent", 0, B * b, count)
        else:
            step(f"product: input tangent {B}x{b}x{a}", 2 * B * a * b, B * a + B * b, count)
        if j != last:
            step("activation tangent, forward", 0, 2 * B * b, count)   # read, write
    step("loss tangent", 0, 2 * B * layers[-1][1], count)
    for j in range(len(layers) - 1, L - 1, -1):   # backward and its tangent, down to L
        a, b = layers[j]
        if j != last:
            step("activation tangent, backward", 0, 3 * B * b, count)   # 2 reads, 1 write
        step(f"product: weight rows td^T x {b}x{a}x{B}", 2 * B * a * b, B * b + 2 * a * b, count)
        if j > L:
            step(f"product: weight rows dout^T t {b}x{a}x{B}", 2 * B * a * b, B * a + 2 * a * b,
                 count)
        step("bias rows' sums", 0, B * b, count)
        if j > L:
            step(f"product: tangent below {B}x{a}x{b}", 2 * B * a * b, B * b + B * a, count)


def _neuron_steps(layers, L, B, step):
    """Neuron rows: layer L's weight rows from its b neurons' tangents."""
    last = len(layers) - 1
    a, b = layers[L]
    for j in range(L, len(layers)):
        c, d = layers[j]
        if j == L:
            step("clear the first tangent", 0, B * d, b)
        else:
            step(f"product: input tangent {B}x{d}x{c}", 2 * B * c * d, B * c + B * d, b)
        if j != last:
            step("activation tangent, forward", 0, 2 * B * d, b)
    step("loss tangent", 0, 2 * B * layers[-1][1], b)
    for j in range(len(layers) - 1, L - 1, -1):
        c, d = layers[j]
        if j != last:
            step("activation tangent, backward", 0, 3 * B * d, b)
        step("neuron rows: forming M", 0, B * c * d + B * (c + d), b)
        step(f"product: neuron rows x^T M {a}x{c * d}x{B}", 2 * a * B * c * d,
             B * c * d + 2 * a * c * d, b)
        step(f"product: neuron rows x^T td {a}x{d}x{B}", 2 * a * B * d, B * d + 2 * a * d, b)
        if j > L:
            step(f"product: tangent below {B}x{c}x{d}", 2 * B * c * d, B * d + B * c, b)


def tangent_steps(sizes, batch, elem=4, neurons=False):
    """[(step, flops, bytes)] of the upper triangle's rows, all directions: plain
    passes, or (neurons) a Dense weight's rows from its neurons' tangents and
    only the bias rows in plain passes."""
    layers = list(zip(sizes, sizes[1:]))
    n = sum(a * b + b for a, b in layers)
    steps = []

    def step(name, flops, elems, count):
        steps.append((name, flops * count, elems * elem * count))

    for L, (aL, bL) in enumerate(layers):
        if neurons:
            _direction_steps(layers, L, batch, bL, step)   # the bias rows
            _neuron_steps(layers, L, batch, step)
        else:
            _direction_steps(layers, L, batch, aL * bL + bL, step)
        step("clearing V and H V rows", 0, 2 * n, aL * bL + bL)
    return n, steps


def matrix_flops(sizes, batch, neurons=False):
    return sum(f for name, f, _ in tangent_steps(sizes, batch, neurons=neurons)[1]
               if name.startswith("product"))


def bound(sizes, batch, sgemm, bandwidth, neurons=False):
    """(n, flops, seconds, {step: [seconds, flops, bytes]}) at sgemm flop/s and
    bandwidth bytes/s."""
    n, steps = tangent_steps(sizes, batch, neurons=neurons)
    seconds, by_step = 0.0, {}
    for name, flops, nbytes in steps:
        t = max(flops / sgemm, nbytes / bandwidth)
        seconds += t
        s = by_step.setdefault(name, [0.0, 0.0, 0.0])
        s[0] += t
        s[1] += flops
        s[2] += nbytes
    return n, sum(f for _, f, _ in steps), seconds, by_step


def report(sizes, batch, sgemm_tflops, bandwidth_tbs, reference=None, steps=False, neurons=False):
    """Prints the bound; reference: the SGEMM rate to compare with (default sgemm_tflops)."""
    reference = reference or sgemm_tflops
    n, flops, seconds, by_step = bound(sizes, batch, sgemm_tflops * 1e12, bandwidth_tbs * 1e12,
                                       neurons)
    rate = flops / seconds / 1e12
    print(f"{'neuron rows' if neurons else 'plain passes'}: "
          f"MLP {'-'.join(map(str, sizes))}, n = {n:,}, batch {batch}, f32: {flops / 1e12:.2f} TFLOP "
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
    for neurons in (False, True):
        report([int(s) for s in args.sizes.split(",")], args.batch, args.sgemm, args.bandwidth,
               args.reference, args.steps, neurons)


if __name__ == "__main__":
    main()
