#!/usr/bin/env python3
"""Keras CNN models saved by Keras itself, with Keras' own predictions and
TensorFlow's gradients, for the keras suite (tests/test_keras_cnn_tree.c:
flatten, params, modules, the settings) and the compute tests
(tests/test_keras_cnn.c: predict and gradient against these numbers).

Needs Keras 3 with TensorFlow (pip install tensorflow). Run from anywhere:

    python3 testdata/make_keras_cnn_fixtures.py

Writes testdata/keras/cnn/. Each model NAME is built with a fixed seed, its
biases, BatchNorm statistics and PReLU slopes set to random values (Keras
initialises them to constants, which would hide a bias or statistic read
wrongly), and saved as

    NAME.keras          model.save("NAME.keras"): Keras 3's zip
    NAME.h5             model.save("NAME.h5"): the legacy HDF5 file (some models)
    NAME_weights.h5 + NAME.arch.json
                        a Keras 2-style save_weights file (layer_names at the
                        root; Keras 3 writes it with legacy_h5_format, and
                        loads it by the .h5 suffix: "NAME.weights.h5" would be
                        its own format) and model.to_json(): read with --arch
                        (one model)

and, for every model,

    NAME.x.npy          X, float32, channels last (Keras' layout): (N, d..., C)
    NAME.predict.npy    Keras' own model.predict(X) (float32)
    NAME.predict64.npy  the same model in float64 (Keras builds it with
                        dtype="float64", the float32 weights widened exactly):
                        an oracle free of float32 rounding
    NAME.flat.npy       model.trainable_weights, each raveled row-major and
                        concatenated (float32): flatparams' flat vector
    NAME.paths.txt      one line per trainable weight: /<layer>/<weight>
    NAME.layers.txt     every layer of the architecture, in order: "name class"
                        (the InputLayer first; model.layers leaves it out)
    NAME.y.npy          a fixed target for mse (float32)
    NAME.onehot.npy     one-hot labels for the cross-entropy (float32)
    NAME.LOSS.grad.npy  TensorFlow's GradientTape gradient of the loss with
                        respect to model.trainable_weights, flattened in that
                        order, from the float64 model (float64)
    NAME.LOSS.grad32.npy  the same from the float32 model (float32)
    NAME.v.npy          a fixed random vector v, one value per trainable weight
    NAME.LOSS.hvp.npy   the Hessian of the loss times v (float64): the gradient
                        of <dL/dθ, v>, both by GradientTape (float64 model)

LOSS is flatparams' name (Flux's definitions): mse is
keras.losses.MeanSquaredError; logitcrossentropy is
CategoricalCrossentropy(from_logits=True) on a model with a linear output;
crossentropy is CategoricalCrossentropy() on a model ending in softmax (its
gradient is Flux's crossentropy's: Keras' renormalisation of the output
adds a constant to dL/dy, which softmax's Jacobian removes).

cases.txt lists the files and losses:

    file NAME MODEL ARCH            (ARCH "-" when the file has its architecture)
    loss NAME LOSS TARGET VALUE64 VALUE32

Models are inference-mode (BatchNormalization uses its moving statistics,
Dropout is the identity), as flatparams computes by default.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers as L  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras", "cnn")
N_SAMPLES = 4


# ---- the models: build(dtype) -> a model, its input shape, its output's kind

def conv1d(dt):
    """Functional: Conv1D, MaxPooling1D ("same" on an odd length), a dilated
    "same" Conv1D without bias, GlobalAveragePooling1D, Dense (linear)."""
    x_in = keras.Input((11, 3), dtype=dt, name="signal")
    x = L.Conv1D(4, 3, activation="relu", dtype=dt, name="conv_a")(x_in)
    x = L.MaxPooling1D(2, padding="same", dtype=dt, name="pool")(x)
    x = L.Conv1D(5, 2, padding="same", dilation_rate=2, use_bias=False, activation="tanh",
                 dtype=dt, name="conv_b")(x)
    x = L.GlobalAveragePooling1D(dtype=dt, name="gap")(x)
    out = L.Dense(3, dtype=dt, name="head")(x)
    return keras.Model(x_in, out, name="conv1d"), "linear"


def conv2d(dt):
    """Conv2D with stride 2 and "same" padding, MaxPooling2D with stride 1,
    a grouped (2) dilated (2) Conv2D, AveragePooling2D with "same" padding (a
    window over the edge: Keras averages the cells inside only), Flatten, Dropout, Dense."""
    return keras.Sequential([
        keras.Input((13, 13, 2), dtype=dt, name="input"),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu", dtype=dt, name="conv_s2"),
        L.MaxPooling2D(2, strides=1, dtype=dt, name="max"),
        L.Conv2D(6, 2, dilation_rate=2, groups=2, activation="tanh", dtype=dt, name="conv_g2"),
        L.AveragePooling2D(3, strides=2, padding="same", dtype=dt, name="avg"),
        L.Flatten(dtype=dt, name="flat"),
        L.Dropout(0.5, dtype=dt, name="drop"),
        L.Dense(3, dtype=dt, name="head"),
    ], name="conv2d"), "linear"


def depthwise(dt):
    """DepthwiseConv2D (multiplier 2, stride 2, "same"), one without bias,
    GlobalMaxPooling2D, Dense."""
    return keras.Sequential([
        keras.Input((7, 7, 3), dtype=dt, name="input"),
        L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", activation="relu",
                          dtype=dt, name="dw"),
        L.DepthwiseConv2D((2, 1), use_bias=False, dtype=dt, name="dw_nobias"),
        L.GlobalMaxPooling2D(dtype=dt, name="gmp"),
        L.Dense(2, dtype=dt, name="head"),
    ], name="depthwise"), "linear"


def padding(dt):
    """Reshape to an image, ZeroPadding2D ((1, 0), (2, 1)), Conv2D, Reshape
    with -1 to a sequence, ZeroPadding1D (1, 2), Conv1D, Flatten, Dense."""
    return keras.Sequential([
        keras.Input((6, 8), dtype=dt, name="input"),
        L.Reshape((6, 4, 2), dtype=dt, name="to_image"),
        L.ZeroPadding2D(((1, 0), (2, 1)), dtype=dt, name="pad2"),
        L.Conv2D(3, 3, activation="relu", dtype=dt, name="conv2"),
        L.Reshape((-1, 3), dtype=dt, name="to_sequence"),
        L.ZeroPadding1D((1, 2), dtype=dt, name="pad1"),
        L.Conv1D(2, 4, strides=3, dtype=dt, name="conv1"),
        L.Flatten(dtype=dt, name="flat"),
        L.Dense(2, dtype=dt, name="head"),
    ], name="padding"), "linear"


def batchnorm(dt):
    """BatchNormalization over the channels after a Conv2D, a ReLU layer,
    MaxPooling2D, Flatten, Dense."""
    return keras.Sequential([
        keras.Input((8, 8, 1), dtype=dt, name="input"),
        L.Conv2D(3, 3, dtype=dt, name="conv"),
        L.BatchNormalization(dtype=dt, name="bn"),
        L.ReLU(dtype=dt, name="relu"),
        L.MaxPooling2D(dtype=dt, name="pool"),
        L.Flatten(dtype=dt, name="flat"),
        L.Dense(2, dtype=dt, name="head"),
    ], name="batchnorm"), "linear"


def activations(dt):
    """Keras' activation layers: PReLU shared over the image (one slope per
    channel), LeakyReLU (0.2), ELU (0.7), ReLU, PReLU (one slope per unit),
    Softmax at the end."""
    return keras.Sequential([
        keras.Input((5, 5, 2), dtype=dt, name="input"),
        L.Conv2D(3, 3, dtype=dt, name="conv"),
        L.PReLU(shared_axes=[1, 2], dtype=dt, name="prelu_conv"),
        L.Flatten(dtype=dt, name="flat"),
        L.Dense(8, dtype=dt, name="d1"),
        L.LeakyReLU(negative_slope=0.2, dtype=dt, name="leaky"),
        L.Dense(6, dtype=dt, name="d2"),
        L.ELU(alpha=0.7, dtype=dt, name="elu"),
        L.Dense(5, dtype=dt, name="d3"),
        L.ReLU(dtype=dt, name="relu"),
        L.Dense(4, dtype=dt, name="d4"),
        L.PReLU(dtype=dt, name="prelu"),
        L.Dense(3, dtype=dt, name="d5"),
        L.Softmax(dtype=dt, name="softmax"),
    ], name="activations"), "softmax"


# NAME, builder, seed, extra files: "h5" (model.save to .h5), "weights" (legacy save_weights + arch)
MODELS = [
    ("conv1d", conv1d, 11, ("h5",)),
    ("conv2d", conv2d, 12, ("h5", "weights")),
    ("depthwise", depthwise, 13, ()),
    ("padding", padding, 14, ("h5",)),
    ("batchnorm", batchnorm, 15, ("h5",)),
    ("activations", activations, 16, ()),
]


def randomise(model, rng):
    """Keras' constant initial values replaced by random ones."""
    for w in model.weights:
        key = w.path.rsplit("/", 1)[-1]
        shape = tuple(w.shape)
        if key in ("bias", "beta", "moving_mean"):
            value = 0.3 * rng.standard_normal(shape)
        elif key == "gamma":
            value = 1 + 0.3 * rng.standard_normal(shape)
        elif key == "moving_variance":
            value = rng.uniform(0.5, 1.5, shape)
        elif key == "alpha":
            value = rng.uniform(0.05, 0.4, shape)
        else:
            continue
        w.assign(value.astype(w.dtype))


def flat_path(w):
    """A trainable weight's flatparams path: /<layer>/<weight>."""
    parts = w.path.split("/")
    return "/%s/%s" % (parts[-2], parts[-1])


def losses(kind, dtype):
    """(flatparams' name, target, Keras' loss computed in dtype). Keras' losses
    compute in float32 unless told otherwise, which would round the float64
    oracle."""
    mse = ("mse", "y", keras.losses.MeanSquaredError(dtype=dtype))
    if kind == "softmax":
        return [mse, ("crossentropy", "onehot", keras.losses.CategoricalCrossentropy(dtype=dtype))]
    return [mse, ("logitcrossentropy", "onehot",
                  keras.losses.CategoricalCrossentropy(from_logits=True, dtype=dtype))]


def gradient(model, loss, x, target):
    """(loss value, dL/dθ flattened in trainable_weights order)."""
    with tf.GradientTape() as tape:
        value = loss(tf.constant(target), model(tf.constant(x), training=False))
    grads = tape.gradient(value, model.trainable_weights)
    return float(value), np.concatenate([g.numpy().ravel() for g in grads])


def hessian_vector(model, loss, x, target, v):
    """H v: the gradient of <dL/dθ, v> (reverse over reverse)."""
    weights = model.trainable_weights
    pieces, at = [], 0
    for w in weights:
        size = int(np.prod(w.shape))
        pieces.append(tf.constant(v[at:at + size].reshape(tuple(w.shape))))
        at += size
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            value = loss(tf.constant(target), model(tf.constant(x), training=False))
        grads = inner.gradient(value, weights)
        dot = tf.add_n([tf.reduce_sum(g * p) for g, p in zip(grads, pieces)])
    return np.concatenate([h.numpy().ravel() for h in outer.gradient(dot, weights)])


def arch_layers(model):
    """(name, class) of every layer of the saved architecture, in order."""
    config = json.loads(model.to_json())["config"]
    return [(entry["config"]["name"], entry["class_name"]) for entry in config["layers"]]


def save(name, path_of, array):
    np.save(path_of(name), array)


def make(name, build, seed, extras, lines):
    path = lambda suffix: os.path.join(OUT, "%s.%s" % (name, suffix))  # noqa: E731
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model32, kind = build("float32")
    randomise(model32, rng)
    model64, _ = build("float64")
    model64.set_weights([w.astype(np.float64) for w in model32.get_weights()])

    in_shape = tuple(model32.inputs[0].shape[1:])
    out_size = model32.outputs[0].shape[-1]
    x = rng.standard_normal((N_SAMPLES,) + in_shape).astype(np.float32)
    targets = {
        "y": rng.standard_normal((N_SAMPLES, out_size)).astype(np.float32),
        "onehot": np.eye(out_size, dtype=np.float32)[rng.integers(0, out_size, N_SAMPLES)],
    }
    np.save(path("x.npy"), x)
    np.save(path("y.npy"), targets["y"])
    np.save(path("onehot.npy"), targets["onehot"])
    np.save(path("predict.npy"), model32.predict(x, verbose=0))
    np.save(path("predict64.npy"), model64.predict(x.astype(np.float64), verbose=0))
    np.save(path("flat.npy"), np.concatenate([w.numpy().ravel() for w in model32.trainable_weights]))
    with open(path("paths.txt"), "w") as f:
        f.writelines(flat_path(w) + "\n" for w in model32.trainable_weights)
    with open(path("layers.txt"), "w") as f:
        f.writelines("%s %s\n" % layer for layer in arch_layers(model32))

    model32.save(path("keras"))
    lines.append("file %s %s.keras -" % (name, name))
    if "h5" in extras:
        model32.save(path("h5"))
        lines.append("file %s %s.h5 -" % (name, name))
    if "weights" in extras:
        with h5py.File(os.path.join(OUT, name + "_weights.h5"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model32)
        with open(path("arch.json"), "w") as f:
            f.write(model32.to_json())
        lines.append("file %s %s_weights.h5 %s.arch.json" % (name, name, name))

    v = rng.standard_normal(sum(int(np.prod(w.shape)) for w in model64.trainable_weights))
    np.save(path("v.npy"), v)
    for (loss_name, target, loss64), (_, _, loss32) in zip(losses(kind, "float64"),
                                                           losses(kind, "float32")):
        value64, grad64 = gradient(model64, loss64, x.astype(np.float64),
                                   targets[target].astype(np.float64))
        value32, grad32 = gradient(model32, loss32, x, targets[target])
        np.save(path("%s.grad.npy" % loss_name), grad64)
        np.save(path("%s.grad32.npy" % loss_name), grad32)
        np.save(path("%s.hvp.npy" % loss_name),
                hessian_vector(model64, loss64, x.astype(np.float64),
                               targets[target].astype(np.float64), v))
        lines.append("loss %s %s %s.%s.npy %.17g %.9g" % (name, loss_name, name, target,
                                                         value64, value32))


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = ["# made by testdata/make_keras_cnn_fixtures.py (Keras %s, TensorFlow %s)"
             % (keras.__version__, tf.__version__),
             "# file NAME MODEL ARCH | loss NAME LOSS TARGET VALUE64 VALUE32"]
    for name, build, seed, extras in MODELS:
        make(name, build, seed, extras, lines)
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
