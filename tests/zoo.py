"""Real-shape models as practitioners bring them, built here with random weights.

The tiny fixtures of ``conftest.py`` check the machinery; these check that a user's own model
gets the right answers: a mini-Xception emotion CNN (SeparableConv2D, BatchNorm, residual Add,
64x64x1, 7 classes, as the face_classification project publishes it), a MobileNet-style
person detector (DepthwiseConv2D, a sigmoid unit), an edge detector whose output is an image
(not a class vector), and ``keras.applications`` architectures (ResNet50, VGG16) with random
weights. :func:`keras2_h5` writes a model as a Keras 2.x ``model.save("m.h5")`` did: the same
HDF5 layout, with the configuration keys Keras 2 wrote and Keras 3 does not take.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

layers = keras.layers


def mini_xception(input_shape=(64, 64, 1), n_classes: int = 7, seed: int = 0) -> keras.Model:
    """The face_classification project's ``mini_XCEPTION``: two plain convolutions, four
    residual modules of separable convolutions (16, 32, 64, 128 filters), a 7-filter
    convolution, global average pooling and a softmax. Layer names as Keras 2 gave them
    (``conv2d_1`` ... ``conv2d_7``, the last the 7-filter one)."""
    keras.utils.set_random_seed(seed)
    count = {"conv": 0, "sep": 0, "bn": 0, "act": 0, "add": 0}

    def name(kind: str) -> str:
        count[kind] += 1
        base = {"conv": "conv2d", "sep": "separable_conv2d", "bn": "batch_normalization",
                "act": "activation", "add": "add"}[kind]  # fmt: skip
        return f"{base}_{count[kind]}"

    inp = keras.Input(input_shape, name="input_1")
    x = inp
    for _ in range(2):
        x = layers.Conv2D(8, 3, use_bias=False, name=name("conv"))(x)
        x = layers.BatchNormalization(name=name("bn"))(x)
        x = layers.Activation("relu", name=name("act"))(x)
    for filters in (16, 32, 64, 128):
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False,
                                 name=name("conv"))(x)  # fmt: skip
        residual = layers.BatchNormalization(name=name("bn"))(residual)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name("sep"))(x)
        x = layers.BatchNormalization(name=name("bn"))(x)
        x = layers.Activation("relu", name=name("act"))(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name("sep"))(x)
        x = layers.BatchNormalization(name=name("bn"))(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.Add(name=name("add"))([x, residual])
    x = layers.Conv2D(n_classes, 3, padding="same", name=name("conv"))(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inp, out, name="mini_XCEPTION")


def mobilenet_detector(input_shape=(96, 96, 3), seed: int = 0) -> keras.Model:
    """A MobileNet-style person detector: depthwise-separable blocks, one sigmoid unit."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape, name="input_1")
    x = layers.Conv2D(16, 3, strides=2, padding="same", name="conv1")(inp)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for i, filters in enumerate((32, 64, 64), start=1):
        x = layers.DepthwiseConv2D(3, strides=2, padding="same", name=f"conv_dw_{i}")(x)
        x = layers.BatchNormalization(name=f"conv_dw_{i}_bn")(x)
        x = layers.ReLU(6.0, name=f"conv_dw_{i}_relu")(x)
        x = layers.Conv2D(filters, 1, name=f"conv_pw_{i}")(x)
        x = layers.ReLU(6.0, name=f"conv_pw_{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    out = layers.Dense(1, activation="sigmoid", name="person")(x)
    return keras.Model(inp, out, name="person_detector")


def edge_detector(input_shape=(32, 32, 1), seed: int = 0) -> keras.Model:
    """A non-classifier: convolutions all the way, an image (edge map) as output."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape, name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="block1_conv1")(inp)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="block1_conv2")(x)
    out = layers.Conv2D(1, 1, activation="sigmoid", name="edges")(x)
    return keras.Model(inp, out, name="edge_detector")


def resnet50(input_shape=(224, 224, 3), classes: int = 1000) -> keras.Model:
    """``keras.applications.ResNet50`` with random weights (no download)."""
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=classes)


def vgg16(input_shape=(224, 224, 3), classes: int = 1000, include_top: bool = True):
    """``keras.applications.VGG16`` with random weights (no download); without its top, the
    14.7M-parameter feature extractor (an edge detector's or a detector's backbone)."""
    keras.utils.set_random_seed(0)
    return keras.applications.VGG16(
        weights=None, input_shape=input_shape, classes=classes, include_top=include_top
    )


def images(n: int, shape, seed: int = 0, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``n`` raw 0-255 "photos" (smooth blobs whose brightness depends on the class) and
    their labels: what an ``.npz`` of real pictures holds before any preparation."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    h, w = shape[0], shape[1]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    x = np.empty((n, *shape), np.float32)
    for i in range(n):
        cx, cy = rng.uniform(0.2, 0.8, 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.05)
        base = 60 + 120 * (y[i] / max(classes - 1, 1))
        img = base + 70 * blob + rng.normal(0, 12, (h, w))
        x[i] = np.clip(img, 0, 255)[..., None] if len(shape) == 3 else np.clip(img, 0, 255)
    return x, y.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Keras 2 files
# --------------------------------------------------------------------------------------------

#: What Keras 2.x wrote into layer configs that Keras 3 refuses: ``groups`` of depthwise and
#: separable convolutions, BatchNormalization's ``axis`` as a list and its renorm/fused
#: settings, LSTM's ``time_major``; and where Keras 2 put shapes and dtypes.
KERAS2_EXTRA = {
    "DepthwiseConv2D": {"groups": 1},
    "SeparableConv2D": {"groups": 1},
    "BatchNormalization": {
        "renorm": False,
        "renorm_clipping": None,
        "renorm_momentum": 0.99,
        "fused": None,
        "virtual_batch_size": None,
        "adjustment": None,
    },
}


def keras2_config(model_config: dict) -> dict:
    """A Keras 3 model configuration rewritten as Keras 2.x wrote it."""
    config = json.loads(json.dumps(model_config))

    def visit(node):
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        cls = node.get("class_name")
        cfg = node.get("config")
        if isinstance(cls, str) and isinstance(cfg, dict):
            for key, value in KERAS2_EXTRA.get(cls, {}).items():
                cfg.setdefault(key, value)
            if cls == "BatchNormalization" and isinstance(cfg.get("axis"), int):
                cfg["axis"] = [cfg["axis"]]
            if cls == "InputLayer" and "batch_shape" in cfg:
                cfg["batch_input_shape"] = cfg.pop("batch_shape")
                cfg["ragged"] = False
            # Keras 2 wrote plain dtype names, no module or registered names, no build config.
            if isinstance(cfg.get("dtype"), dict):
                cfg["dtype"] = cfg["dtype"].get("config", {}).get("name", "float32")
            for key in ("module", "registered_name", "build_config"):
                node.pop(key, None)
        for value in node.values():
            visit(value)

    visit(config)
    return config


def keras2_h5(model: keras.Model, path: Path, *, rewrite=keras2_config) -> Path:
    """Save ``model`` as a legacy ``.h5`` whose ``model_config`` is as Keras 2.x wrote it.

    The weights layout (``model_weights/<layer>/...``) is the one both Keras 2 and Keras 3
    write; only the configuration differs, and ``rewrite`` makes it (``keras2_config``, or a
    test's own).
    """
    import h5py

    path = Path(path)
    model.save(path)  # Keras 3 still writes the legacy HDF5 format for .h5
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        h5.attrs["model_config"] = json.dumps(rewrite(config))
        h5.attrs["keras_version"] = "2.13.1"
        h5.attrs["backend"] = "tensorflow"
    return path
