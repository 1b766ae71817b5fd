#!/usr/bin/env bash
# Writes flatparams.1: its SYNOPSIS and COMMANDS from the built binary's own -h
# texts, so the man page says exactly what -h says; DESCRIPTION, EXIT STATUS,
# ENVIRONMENT and EXAMPLES from here. The readme test suite checks that every
# FLATPARAMS_* variable the code reads is under ENVIRONMENT and that every
# example is one of the README's (which it runs). Usage: make-man.sh BIN OUT
set -euo pipefail
bin=$1 out=$2
esc() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; }

# variable<TAB>what it does, one a line
environment() {
    cat <<'EOF'
FLATPARAMS_FSYNC	1: fsync each output file before renaming it into place (durable across a power loss, slower; off by default, as in cp and np.save).
TMPDIR	where temporary files go that cannot live beside their target: a .keras model's extracted weights, the Hessian's scratch for standard output, an HDF5 or safetensors output to a device or FIFO (default /tmp).
OPENBLAS_NUM_THREADS	the CPU threads the compute commands use (OpenBLAS's own variable); flatparams lowers it when an address-space limit (ulimit -v) cannot hold that many threads.
HDF5_VDS_PREFIX	where the source files of a virtual dataset are looked for first (with --allow-external; HDF5's own variable).
FLATPARAMS_NEURON_ROWS	0 or 1: the Hessian's neuron rows (a faster algebra for the rows of Dense weights) off or on; default on for the CPU, off for the GPU.
FLATPARAMS_PROGRESS_SECONDS	seconds between hessian --progress lines on a standard error that is not a terminal (default 5; 0: every step).
FLATPARAMS_CUDA_MODULE	the path of the CUDA backend module, instead of libflatparams_cuda.so beside the library.
FLATPARAMS_BLOCK_ROWS	N (tests): compute the full Hessian in blocks of N rows.
FLATPARAMS_SCRATCH_FILE	N (tests): write the full Hessian through its scratch file, N blocks wide, even when it would fit in memory.
FLATPARAMS_COPY_ROWS	N (tests): the GPU copies the full Hessian out N rows at a time.
FLATPARAMS_PREDICT_ROWS	N (tests): predict takes X N rows at a time.
FLATPARAMS_GRADIENT_ROWS	N (tests): gradient takes X N rows at a time.
FLATPARAMS_NO_PIPELINE	1 (benchmarks): no pipelining of blocks of Hessian rows and no symmetrising on the GPU.
FLATPARAMS_NO_PREALLOCATE	1 (benchmarks): do not allocate the full Hessian's output ahead while the GPU starts.
FLATPARAMS_TIME	N (benchmarks): time the computation of gradient and hessian --diag once and N more times, and each phase of the full Hessian, on standard error.
FLATPARAMS_CUDA_PROFILE	1 (benchmarks): print the seconds of each GPU kernel and product shape, with its TFLOP/s, on standard error.
FLATPARAMS_CUDA_EMULATE	1 (tests): a build with -Demulate_cuda=true offers its CPU emulation of the GPU as a CUDA device.
FLATPARAMS_CUDA_EMULATE_MIB	N (tests): the emulated device's memory in MiB (default 4096).
EOF
}

# what it shows<TAB>the command (each one of the README's examples)
examples() {
    cat <<'EOF'
The parameters of a model as one vector, one number a line:	flatparams flatten testdata/seed.json
Only the weights:	flatparams flatten testdata/seed.json --include '*/weight'
A vector back into a copy of the model, from standard input:	printf '0\n0\n0\n0\n0\n' | flatparams rebuild testdata/seed.json - -o zero.json
Every module with its parameter counts, as JSON for a script:	flatparams modules testdata/mlp_bn.json --json | head -3
The model as Flux prints it:	flatparams summary testdata/mlp_bn.json
A Keras save_weights file with its architecture (model.to_json()):	flatparams summary testdata/keras/synthetic3.weights.h5 --arch testdata/keras/synthetic3.arch.json
JSON to HDF5:	flatparams convert testdata/seed.json -o seed.h5
The model's output for a batch, one sample a row:	flatparams predict testdata/seed.json -x x.txt
The gradient of the mean squared error:	flatparams gradient testdata/seed.json -x x.txt -y y.txt --loss mse
The two eigenvalues of the Hessian largest in magnitude:	flatparams hessian testdata/seed.json -x x.txt --eigs 2
The vector as .npy through a pipe into NumPy, which cannot seek in a pipe:	flatparams flatten testdata/seed.json -o - --format npy | python3 -c "import io, sys, numpy as np; print(np.load(io.BytesIO(sys.stdin.buffer.read())))"
EOF
}

{
    echo '.TH FLATPARAMS 1 "" "flatparams '"$("$bin" --version | cut -d' ' -f2)"'" "User Commands"'
    echo '.nh'
    echo '.SH NAME'
    echo 'flatparams \- nested model files to flat parameter vectors and back'
    echo '.SH SYNOPSIS'
    echo '.nf'
    # each command's synopsis, with its continuation lines (indented deeper)
    "$bin" --help | awk '/^commands:/ { on = 1; next }
        on && /^  [a-z]/ { sub(/^  /, "flatparams "); print; next }
        on && /^   / { print; next }
        on && /^$/ { on = 0 }' | esc
    echo '.fi'
    cat <<'EOF'
.SH DESCRIPTION
.B flatparams
reads a model file \(em JSON, HDF5 (Keras files and any other HDF5 file), a Keras 3
\&.keras zip or safetensors \(em as a tree of maps, lists, arrays and settings, and
turns its parameters into one flat vector and back, like Flux's
.BR destructure .
It also runs the model and computes the exact gradient and Hessian of a loss with
respect to that vector.
.PP
The vector holds the trainable floating and complex arrays, depth-first in file order,
each array's elements in row-major order; normalisation statistics and arrays marked
trainable: false join it only with \-\-all. Arrays shared by HDF5 hard links or JSON
$ref enter it once. Its type is the promotion of the parameters, at least float32.
Paths name nodes (/layers/0/weight); \-\-include and \-\-exclude select parameters
by path with shell globs, where * crosses /.
.PP
Vectors and matrices (outputs, \-x, \-y, VEC) are .npy, text (.txt, .csv), raw
little-endian (.bin, which needs \-\-dtype to be read), HDF5 (.h5, the dataset /data
or FILE.h5:/path) or JSON (.json) files, chosen by extension or \-\-format; \- is
standard input or output, as text (input starting with the NumPy magic is read as
\&.npy). X and Y hold one sample per row.
.PP
Every output file is written to a temporary file beside its target and renamed into
place, so a failure leaves the old file or the new one, never a torn one; the input
model is never modified. A Keras save_weights file needs its architecture,
model.to_json(), given with \-\-arch.
.PP
The complete rules (the order of the vector for each format, what is trainable, the
file formats, the compute layers, activations and losses) are in doc/contract.md of
the flatparams source, and worked examples in its README.md.
EOF
    echo '.SH COMMANDS'
    for c in $("$bin" --help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
        echo ".SS $c"
        echo '.nf'
        "$bin" "$c" -h | esc
        echo '.fi'
    done
    echo '.SH EXIT STATUS'
    echo '0 success, 1 bad input or failed I/O, 2 wrong usage.'
    echo 'Errors are one line on standard error: flatparams: error: <file or path>: <what is wrong>.'
    echo 'Warnings are lines flatparams: warning: <what>, which \-q silences.'
    echo '.SH ENVIRONMENT'
    environment | while IFS=$'\t' read -r variable what; do
        echo '.TP'
        echo ".B $variable"
        printf '%s\n' "$what" | esc
    done
    echo '.SH EXAMPLES'
    echo 'The examples run in the flatparams source directory, on the files in testdata/;'
    echo 'x.txt holds one sample a row (printf '"'"'0.5 -1\en1 2\en'"'"' > x.txt) and y.txt'
    echo 'their targets (printf '"'"'1\en0\en'"'"' > y.txt). README.md shows what each prints.'
    examples | while IFS=$'\t' read -r what command; do
        echo '.PP'
        printf '%s\n' "$what" | esc
        echo '.PP'
        echo '.RS 4'
        echo '.nf'
        printf '$ %s\n' "$command" | esc
        echo '.fi'
        echo '.RE'
    done
    echo '.SH SEE ALSO'
    echo 'README.md, doc/contract.md and doc/design.md in the flatparams source.'
} > "$out"
