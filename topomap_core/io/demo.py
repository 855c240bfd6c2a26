"""Built-in demo models trained on scikit-learn's 8x8 digits (Krug et al. 2023, section 4.1).

A demo model is trained deterministically on first use and stored as
``<data dir>/demo-models/<name>.keras``; later uses load the stored file through the same
safe path as any uploaded model (:func:`topomap_core.io.models.load_model`).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from .. import config
from ..errors import ModelLoadError

keras = config.import_keras()

#: Names of the demo models, used as ``demo:<name>`` model specs.
DEMO_MODELS = ("digits-mlp", "digits-cnn")

# (epochs, learning rate): enough for > 0.95 (MLP) / > 0.93 (CNN) test accuracy while
# training in a few seconds on two CPU cores.
_TRAINING = {"digits-mlp": (30, 1e-3), "digits-cnn": (40, 2e-3)}

# One training at a time per process (the dashboard may ask from several threads);
# processes are kept apart by the atomic os.replace of the finished file.
_lock = threading.Lock()


def _check_name(name: str) -> None:
    if name not in DEMO_MODELS:
        valid = ", ".join(f"demo:{n}" for n in DEMO_MODELS)
        raise ModelLoadError(f"unknown demo model {name!r}; valid: {valid}")


def _build(name: str) -> keras.Model:
    """Return the untrained architecture of demo model ``name`` (input (8, 8, 1), 10 classes)."""
    layers = keras.layers
    if name == "digits-mlp":
        body = [
            layers.Flatten(name="flatten"),
            layers.Dense(128, activation="relu", name="dense"),
            layers.Dropout(0.5, name="dropout"),
        ]
    else:
        body = [
            layers.Conv2D(128, 3, strides=2, padding="same", activation="relu", name="conv1"),
            layers.SpatialDropout2D(0.5, name="dropout1"),
            layers.Conv2D(128, 3, strides=2, padding="same", activation="relu", name="conv2"),
            layers.SpatialDropout2D(0.5, name="dropout2"),
            layers.Flatten(name="flatten"),
        ]
    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            *body,
            layers.Dense(10, activation="softmax", name="output"),
        ],
        name=name.replace("-", "_"),
    )


def train_demo_model(name: str) -> keras.Model:
    """Train demo model ``name`` deterministically on the train part of the digits split.

    Parameters
    ----------
    name : str
        One of :data:`DEMO_MODELS`.

    Returns
    -------
    keras.Model
        The trained model (not saved).

    Notes
    -----
    Seeds Python, NumPy and TensorFlow with 0 and enables TensorFlow op determinism, which
    stays on for the rest of the process.
    """
    _check_name(name)
    import tensorflow as tf

    from .data import digits_split

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, _, _ = digits_split()
    epochs, learning_rate = _TRAINING[name]
    model = _build(name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
    return model


def _stored_path(name: str) -> Path:
    return config.data_dir() / "demo-models" / f"{name}.keras"


def _train_and_store(name: str, path: Path, replace: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    model = train_demo_model(name)
    # Write next to the target, then link it into place: a concurrent reader sees either no
    # file or the complete one, never half of it. The first file wins and is never replaced:
    # two trainings differ in their saved metadata, and the file's digest is part of every
    # cache key of the demo model, so processes that raced must all end up with one file.
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, 0o644)
        if replace:  # the stored file is damaged
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process finished first: keep its file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def demo_model_path(name: str) -> Path:
    """Return the stored file of demo model ``name``, training and saving it if missing.

    Parameters
    ----------
    name : str
        One of :data:`DEMO_MODELS`.

    Returns
    -------
    Path
        ``config.data_dir() / "demo-models" / f"{name}.keras"``.

    Raises
    ------
    ModelLoadError
        Unknown name (the message lists the valid ones).
    """
    _check_name(name)
    path = _stored_path(name)
    if not path.is_file():
        with _lock:
            if not path.is_file():  # another thread may have finished meanwhile
                _train_and_store(name, path)
    return path


def load_demo_model(name: str) -> keras.Model:
    """Return demo model ``name``, trained on first use and loaded from its stored file.

    Parameters
    ----------
    name : str
        One of :data:`DEMO_MODELS` (without the ``demo:`` prefix).

    Returns
    -------
    keras.Model
        Input ``(8, 8, 1)`` in [0, 1], output 10 softmax class probabilities.

    Raises
    ------
    ModelLoadError
        Unknown name (the message lists the valid ones).
    """
    from .models import load_model  # lazily: models imports this module lazily

    path = demo_model_path(name)
    try:
        return load_model(path)
    except ModelLoadError:
        # A stored file damaged outside our control (disk full, manual edit): retrain once.
        with _lock:
            _train_and_store(name, path, replace=True)
        return load_model(path)
