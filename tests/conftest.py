"""Shared fixtures: tiny real Keras models (untrained) and the demo models (trained once)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from topomap_core import config

config.quiet_tensorflow()
# Apps made by tests start jobs cold unless a test asks for spare job processes: a spare per
# test app would keep a warm TensorFlow process per temporary data directory.
os.environ.setdefault("TOPOMAPS_SPARE_WORKERS", "0")
# Job processes keep numba's compiled kernels in their data directory; tests make hundreds of
# data directories, so they share one cache instead of compiling the kernels for each.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"topomaps-test-numba-{os.getuid()}")
)

import keras  # noqa: E402

layers = keras.layers


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch):
    """Point ``TOPOMAPS_DATA_DIR`` at a fresh temporary folder for one test."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("TOPOMAPS_DATA_DIR", str(data))
    return data


@pytest.fixture
def seq_no_input():
    """Sequential without an Input layer, built with ``build((None, 6))``: 6 -> 5 -> 3."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [layers.Dense(5, activation="relu", name="hidden"), layers.Dense(3, name="out")],
        name="seq_no_input",
    )
    model.build((None, 6))
    return model


@pytest.fixture
def seq_with_input():
    """Sequential with an explicit Input: (6,) -> Dense 4 (tanh) -> Dense 2 (softmax)."""
    keras.utils.set_random_seed(2)
    return keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(4, activation="tanh", name="hidden"),
            layers.Dense(2, activation="softmax", name="out"),
        ],
        name="seq_with_input",
    )


@pytest.fixture
def functional_branches():
    """Functional: (6,) -> two Dense branches "left" (4) and "right" (3) -> concat (7) -> 2."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((6,), name="x")
    left = layers.Dense(4, activation="relu", name="left")(inp)
    right = layers.Dense(3, activation="sigmoid", name="right")(inp)
    both = layers.Concatenate(name="concat")([left, right])
    out = layers.Dense(2, name="out")(both)
    return keras.Model(inp, out, name="branches")


@pytest.fixture
def nested_model():
    """Outer Functional (8, 8, 1) -> "backbone" submodel (conv1 4, conv2 6 filters) -> head.

    The backbone is applied after a Rescaling layer, so its inputs in the outer graph are not
    the outer model's inputs.
    """
    keras.utils.set_random_seed(4)
    bb_in = keras.Input((8, 8, 1), name="bb_in")
    h = layers.Conv2D(4, 3, activation="relu", name="conv1")(bb_in)
    h = layers.Conv2D(6, 3, activation="relu", name="conv2")(h)
    backbone = keras.Model(bb_in, h, name="backbone")
    inp = keras.Input((8, 8, 1), name="image")
    scaled = layers.Rescaling(2.0, offset=-1.0, name="scale")(inp)
    feats = backbone(scaled)
    out = layers.Dense(3, activation="softmax", name="out")(layers.Flatten(name="flat")(feats))
    return keras.Model(inp, out, name="outer")


@pytest.fixture
def conv1d_model():
    """Sequential (10, 2) -> Conv1D(5, 3) -> GlobalAveragePooling1D -> Dense(2)."""
    keras.utils.set_random_seed(5)
    return keras.Sequential(
        [
            keras.Input((10, 2)),
            layers.Conv1D(5, 3, activation="relu", name="conv"),
            layers.GlobalAveragePooling1D(name="pool"),
            layers.Dense(2, name="out"),
        ],
        name="conv1d",
    )


@pytest.fixture
def conv2d_model():
    """Sequential (8, 8, 1) -> Conv2D(7, 3, stride 2, same) -> Flatten -> Dense(10, softmax)."""
    keras.utils.set_random_seed(6)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(7, 3, strides=2, padding="same", activation="relu", name="conv"),
            layers.Flatten(name="flat"),
            layers.Dense(10, activation="softmax", name="out"),
        ],
        name="conv2d",
    )


@pytest.fixture
def save_model(tmp_path):
    """Return ``save(model, tmp_path=None, suffix=".keras", name="model") -> Path``.

    ``tmp_path`` defaults to the test's own temporary folder.
    """

    def save(model, folder=None, suffix=".keras", name="model"):
        path = Path(folder or tmp_path) / f"{name}{suffix}"
        model.save(path)
        return path

    return save


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """Session data dir so the demo models are trained once per test session.

    Set through ``os.environ`` (monkeypatch is function scoped) and restored at the end.
    """
    folder = tmp_path_factory.mktemp("demo-data")
    old = os.environ.get("TOPOMAPS_DATA_DIR")
    os.environ["TOPOMAPS_DATA_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("TOPOMAPS_DATA_DIR", None)
    else:
        os.environ["TOPOMAPS_DATA_DIR"] = old


@pytest.fixture(scope="session")
def digits_mlp(demo_dir):
    """The trained ``demo:digits-mlp`` model (trained once per session)."""
    from topomap_core.io.sources import load_model

    return load_model("demo:digits-mlp")


@pytest.fixture(scope="session")
def digits_cnn(demo_dir):
    """The trained ``demo:digits-cnn`` model (trained once per session)."""
    from topomap_core.io.sources import load_model

    return load_model("demo:digits-cnn")


@pytest.fixture(scope="session")
def digits_cnn_topographic(demo_dir):
    """The ``demo:digits-cnn-topographic`` model (fine-tuned once per session)."""
    from topomap_core.io.sources import load_model

    return load_model("demo:digits-cnn-topographic")
