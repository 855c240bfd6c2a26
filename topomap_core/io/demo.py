"""The built-in demos: the one registry of their names, and how each is built.

Everything a user can pick without uploading anything is named here:

- models ``demo:digits-mlp`` and ``demo:digits-cnn`` (Krug et al. 2023, section 4.1), trained
  deterministically on scikit-learn's 8x8 digits on first use and stored as
  ``<data dir>/demo-models/<name>.keras``;
- model ``demo:digits-cnn-topographic``: ``digits-cnn`` fine-tuned with the topographic
  regularizer (Krug & Stober) on its 128-filter layer ``conv2`` (a 16x8 grid), built the
  same way from the stored ``digits-cnn``;
- data ``demo:digits`` (the test part of :func:`topomap_core.io.data.digits_split`, loaded by
  :mod:`topomap_core.io.data`);
- the checkpoint series ``demo:digits-mlp-training``: ``digits-mlp`` trained for one epoch
  with its weights saved after every batch (paper 6.3), stored under
  ``<data dir>/demo-training/digits-mlp/``.

Each demo is built once, deterministically, at setup time: ``make run``, ``make test`` and the
image run ``python -m topomap_core.io.demo --build`` into :func:`prebuilt_dir`; a data directory
without a demo copies it from there (a file copy: the first Run on a fresh install waits only
for what it computes). Without a prebuilt demo it is trained on first use, as before, with the
same result.

Importing this module is light (Keras is imported by the functions that train), so the web
process can list the names. Building happens only in job processes (and at setup).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

from .. import config
from ..errors import CheckpointError, DataError, ModelLoadError
from ..progress import ProgressCallback, report
from .data import DEMO_DATA

__all__ = [
    "DEMO_BATCH_SIZE",
    "DEMO_CHECKPOINTS",
    "DEMO_DATA",
    "DEMO_MODELS",
    "demo_checkpoints",
    "demo_model_path",
    "demo_names",
    "demo_series_files",
    "stored_demo_model",
    "train_demo_model",
]

#: The demo models, as model specs.
DEMO_MODELS = ("demo:digits-mlp", "demo:digits-cnn", "demo:digits-cnn-topographic")

#: How the topographic demo is made: its base, layer, grid and training (measured in
#: docs/PERFORMANCE.md: neighbour similarity about 6x the shuffled control, accuracy within
#: 0.5 point of the base).
TOPOGRAPHIC_DEMO = {
    "base": "demo:digits-cnn",
    "layer": "conv2",
    "grid": (16, 8),
    "strength": 0.01,
    "epochs": 3,
    "learning_rate": 1e-3,
}

#: The demo checkpoint series, as a series spec.
DEMO_CHECKPOINTS = "demo:digits-mlp-training"

#: Batch size of the demo series: 1257 training digits make 79 batches (79 states).
DEMO_BATCH_SIZE = 16

# (epochs, learning rate): enough for > 0.95 (MLP) / > 0.93 (CNN) test accuracy while
# training in a few seconds on two CPU cores.
_TRAINING = {"digits-mlp": (30, 1e-3), "digits-cnn": (40, 2e-3)}

# One training at a time per process (the dashboard may ask from several threads);
# processes are kept apart by the atomic rename of the finished file. Reentrant: the
# topographic demo builds its base demo while holding it.
_lock = threading.RLock()


def demo_names(kind: str) -> tuple[str, ...]:
    """The built-in names of ``kind`` (``"model"``, ``"data"``, ``"checkpoints"``; none for
    ``"selection"``: selections are always made by a user)."""
    names = {"model": DEMO_MODELS, "data": DEMO_DATA, "checkpoints": (DEMO_CHECKPOINTS,)}
    return names.get(kind, ())


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else config.data_dir()


#: The environment variable naming the folder of the prebuilt demos.
PREBUILT_ENV = "TOPOMAPS_DEMO_BUILD"


def prebuilt_dir() -> Path:
    """Where the demos are built at setup time (``TOPOMAPS_DEMO_BUILD``, default
    ``build/demos`` in the project): laid out like a data directory."""
    configured = os.environ.get(PREBUILT_ENV, "").strip()
    return Path(configured) if configured else config.DEFAULT_DATA_DIR.parent / "build" / "demos"


def _copy_prebuilt(relative: Path, target: Path) -> bool:
    """Copy the prebuilt ``relative`` file to ``target`` (atomically; a file that is there
    stays); False when there is no prebuilt file or it is ``target`` itself."""
    source = prebuilt_dir() / relative
    if not source.is_file() or source.resolve() == target.resolve():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        with contextlib.suppress(FileExistsError):  # another process finished first
            os.link(tmp, target)
    finally:
        os.unlink(tmp)
    return True


def _model_name(spec: str) -> str:
    """``"digits-mlp"`` for ``"demo:digits-mlp"``; an unknown demo is refused by name."""
    if spec not in DEMO_MODELS:
        raise ModelLoadError(f"unknown demo model {spec!r}; valid: {', '.join(DEMO_MODELS)}")
    return spec.removeprefix("demo:")


def stored_demo_model(spec: str, root: str | Path | None = None) -> Path:
    """Where demo model ``spec`` is (or will be) stored; nothing is trained."""
    return _root(root) / "demo-models" / f"{_model_name(spec)}.keras"


def build_architecture(spec: str):
    """The untrained architecture of demo model ``spec`` (input (8, 8, 1), 10 classes)."""
    name = _model_name(spec)
    keras = config.import_keras()
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


def _deterministic():
    """Seed Python, NumPy and TensorFlow with 0 and turn on op determinism (for the process)."""
    keras = config.import_keras()
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    return keras


def train_demo_model(spec: str):
    """Train demo model ``spec`` deterministically on the train part of the digits split.

    Returns
    -------
    keras.Model
        The trained model (not saved).

    Notes
    -----
    Seeds Python, NumPy and TensorFlow with 0 and enables TensorFlow op determinism, which
    stays on for the rest of the process.
    """
    name = _model_name(spec)
    from .data import digits_split

    if name == "digits-cnn-topographic":
        return _train_topographic_demo()
    keras = _deterministic()
    x_train, y_train, _, _ = digits_split()
    epochs, learning_rate = _TRAINING[name]
    model = build_architecture(spec)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
    return model


def _train_topographic_demo():
    """Fine-tune the stored ``digits-cnn`` with the topographic regularizer on ``conv2``."""
    from ..regularizers.fit import fit_topographic, regularize
    from .data import digits_split
    from .models import load_model

    demo = TOPOGRAPHIC_DEMO
    model = load_model(demo_model_path(demo["base"]))
    _deterministic()
    x_train, y_train, _, _ = digits_split()
    grid = regularize(model, demo["layer"], demo["grid"], strength=demo["strength"])
    fit_topographic(
        model,
        x_train,
        y_train,
        {demo["layer"]: grid},
        epochs=demo["epochs"],
        learning_rate=demo["learning_rate"],
    )
    return model


def _train_and_store(spec: str, path: Path, replace: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    model = train_demo_model(spec)
    # Write next to the target, then link it into place: a concurrent reader sees either no
    # file or the complete one, never half of it. The first file wins and is never replaced:
    # two trainings differ in their saved metadata, and the file's digest is part of every
    # cache key of the demo model, so processes that raced must all end up with one file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, 0o644)
        if replace:  # the stored file is damaged
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):  # another process finished first
                os.link(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def demo_model_path(spec: str, root: str | Path | None = None, *, retrain: bool = False) -> Path:
    """The stored file of demo model ``spec``, training and saving it if missing.

    Parameters
    ----------
    spec : str
        One of :data:`DEMO_MODELS`.
    root : path, optional
        Data directory (default :func:`topomap_core.config.data_dir`).
    retrain : bool
        Replace a stored file that turned out damaged.

    Raises
    ------
    ModelLoadError
        Unknown name (the message lists the valid ones).
    """
    path = stored_demo_model(spec, root)
    if retrain or not path.is_file():
        with _lock:
            if retrain or not path.is_file():  # another thread may have finished meanwhile
                relative = Path("demo-models") / path.name
                if retrain or not _copy_prebuilt(relative, path):
                    _train_and_store(spec, path, replace=retrain)
    return path


# --------------------------------------------------------------------------------------------
# The demo series (paper 6.3: one epoch, a state after every batch)
# --------------------------------------------------------------------------------------------


def demo_series_files(root: str | Path | None = None) -> tuple[Path, Path]:
    """``(checkpoints.zip, model.keras)`` of the demo series; they exist once it is built."""
    folder = _root(root) / "demo-training" / "digits-mlp"
    return folder / "checkpoints.zip", folder / "model.keras"


def _train_demo_series(folder: Path, progress: ProgressCallback | None) -> None:
    """Train ``digits-mlp`` for one epoch, writing ``checkpoints.zip`` and ``model.keras``."""
    from .data import digits_split

    keras = _deterministic()
    x_train, y_train, _, _ = digits_split()
    n_batches = math.ceil(len(x_train) / DEMO_BATCH_SIZE)
    model = build_architecture("demo:digits-mlp")  # fresh, seeded initialisation
    model.compile(
        optimizer=keras.optimizers.Adam(_TRAINING["digits-mlp"][1]),
        loss="sparse_categorical_crossentropy",
    )
    weights_dir = folder / "weights"
    weights_dir.mkdir()
    # Saved through an uncompiled twin: the compiled model would also write the optimizer's
    # state, tripling every file for nothing the maps use.
    twin = build_architecture("demo:digits-mlp")

    callback: Any = keras.callbacks.Callback  # a base a type checker cannot see

    class SaveEveryBatch(callback):
        def on_train_batch_end(self, batch, logs=None):
            twin.set_weights(self.model.get_weights())
            twin.save_weights(weights_dir / f"batch_{batch + 1:04d}.weights.h5")
            report(progress, "training demo", batch + 1, n_batches)

    model.fit(
        x_train,
        y_train,
        batch_size=DEMO_BATCH_SIZE,
        epochs=1,
        shuffle=True,
        verbose=0,
        callbacks=[SaveEveryBatch()],
    )
    with zipfile.ZipFile(folder / "checkpoints.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(weights_dir.iterdir()):
            zf.write(file, file.name)
    shutil.rmtree(weights_dir)
    twin.save(folder / "model.keras")  # the architecture (and the final state)


def demo_checkpoints(
    root: str | Path | None = None, progress: ProgressCallback | None = None
) -> Path:
    """Return the demo series' archive, training it on first use.

    ``digits-mlp`` (freshly initialised with seed 0 and TensorFlow op determinism) is trained
    for one epoch on the 1257 training digits with batch size :data:`DEMO_BATCH_SIZE`, and its
    weights are saved after every batch: 79 files ``batch_0001.weights.h5`` ...
    ``batch_0079.weights.h5``.

    Parameters
    ----------
    root : path, optional
        Data directory; default :func:`topomap_core.config.data_dir`.
    progress : callable, optional
        ``("training demo", batch, 79)`` after every batch; returning True cancels.

    Returns
    -------
    Path
        ``<root>/demo-training/digits-mlp/checkpoints.zip``; the architecture (trained to
        the last state) is ``model.keras`` next to it.
    """
    path, model = demo_series_files(root)
    if path.is_file() and model.is_file():
        return path
    folder = path.parent
    with _lock:
        if path.is_file() and model.is_file():
            return path  # another thread finished meanwhile
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".digits-mlp-", dir=folder.parent))
        try:
            built = [_copy_prebuilt(f.relative_to(_root(root)), tmp / f.name)
                     for f in (path, model)]  # fmt: skip
            if not all(built):
                _train_demo_series(tmp, progress)
            if folder.exists() and not path.is_file():
                shutil.rmtree(folder)  # an incomplete folder left by a crash
            # Rename the finished folder into place: other processes see all of it or
            # nothing. If one of them got there first, its identical series stays.
            os.chmod(tmp, 0o755)  # mkdtemp's 700 would hide a prebuilt series from others
            with contextlib.suppress(OSError):
                os.replace(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return path


def unknown_demo(kind: str, spec: str) -> Exception:
    """The error for a ``demo:`` spec of ``kind`` that is not in the registry."""
    error = {"model": ModelLoadError, "data": DataError, "checkpoints": CheckpointError}[kind]
    words = {"model": "demo model", "data": "demo data", "checkpoints": "demo checkpoint series"}
    return error(f"unknown {words[kind]} {spec!r}; valid: {', '.join(demo_names(kind))}")


def build_demos(folder: str | Path | None = None) -> dict[str, float]:
    """Build every demo (models and the series) into ``folder`` (default
    :func:`prebuilt_dir`), deterministically; what is there already stays.

    Returns
    -------
    dict
        Demo name -> seconds its building took (0 for one that was there).
    """
    import time

    root = Path(folder) if folder is not None else prebuilt_dir()
    seconds = {}
    for spec in DEMO_MODELS:
        t0 = time.perf_counter()
        demo_model_path(spec, root)
        seconds[spec] = time.perf_counter() - t0
    t0 = time.perf_counter()
    demo_checkpoints(root)
    seconds[DEMO_CHECKPOINTS] = time.perf_counter() - t0
    return seconds


def main(argv: list[str] | None = None) -> int:
    """``python -m topomap_core.io.demo --build [FOLDER]``: build the demos at setup time."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m topomap_core.io.demo")
    parser.add_argument(
        "--build", nargs="?", const="", metavar="FOLDER", required=True,
        help=f"build every demo into FOLDER (default {prebuilt_dir()})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    config.quiet_tensorflow()
    for name, took in build_demos(args.build or None).items():
        print(f"{name}: " + (f"built in {took:.1f} s" if took > 0.5 else "ready"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
