"""Training-process maps and model comparison (Krug et al. 2023, section 6.3).

*Training maps*: one layout, computed from the last saved state of a training run, is
applied to every state, so the maps show the representation forming batch by batch.
A series of states is a ``.zip`` of ``.keras`` files, or of ``.weights.h5`` files plus the
model whose architecture they fill; states are ordered by the number in their names.
Each state's NAP is cached under the content of its checkpoint, so a series with one more
state recomputes one NAP.

*Comparison*: two models with the same layer width (typically two saved states of one
training), laid out on one shared layout, with a difference map (B - A) per group.

Keras is imported lazily, inside the functions that load models.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from . import config
from .distances import METRICS
from .errors import Cancelled, CheckpointError, DataError, LayerNotFoundError, TopomapError
from .placement import ProgressCallback, compute_layout, get_method
from .profiles.groups import DEFAULT_PER_GROUP, GROUP_MODES
from .profiles.interpolate import DEFAULT_RESOLUTION, colour_limit, interpolate_maps
from .profiles.nap import NAP, PROFILES
from .profiles.ordering import order_groups

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from .store import Store

__all__ = [
    "DEMO_CHECKPOINTS",
    "Checkpoint",
    "CheckpointSeries",
    "CompareRequest",
    "CompareResult",
    "TrainingRequest",
    "TrainingResult",
    "change_csv",
    "check_fps",
    "check_size",
    "demo_checkpoints",
    "open_series",
    "render_frames",
    "run_compare",
    "run_training",
    "save_gif",
    "save_mp4",
    "scan_checkpoint_zip",
    "shared_profile",
    "training_layout_csv",
    "write_compare_outputs",
    "write_training_outputs",
]

#: The built-in series: ``digits-mlp`` trained for one epoch, weights saved after every batch.
DEMO_CHECKPOINTS = "demo:digits-mlp-training"

#: Batch size of the demo training: 1257 training digits make 79 batches (79 states).
DEMO_BATCH_SIZE = 16

#: Checkpoint kinds, by file-name ending.
KIND_SUFFIXES = {"keras": ".keras", "weights": ".weights.h5"}

#: Bump when a change makes cached training results or per-state NAPs stale.
TRAINING_CACHE_VERSION = "1"

#: Largest total size of the maps of a training result; a long series gets coarser maps
#: rather than gigabytes of arrays in the cache and the browser.
MAX_MAP_BYTES = 256 * 2**20

# The checkpoints of an archive may expand to this multiple of the upload cap (weights
# compress little, so a real series stays far below).
_CHECKPOINT_EXPANSION = 4

_NUMBER = re.compile(r"\d+")
_demo_lock = threading.Lock()


# --------------------------------------------------------------------------------------------
# Requests and checkpoints
# --------------------------------------------------------------------------------------------


@dataclass
class TrainingRequest:
    """Everything that defines one training run's maps (and so one cache entry).

    Attributes
    ----------
    checkpoints : str
        :data:`DEMO_CHECKPOINTS`, the 64-hex-digit id of an uploaded checkpoint zip (with a
        store), or the path of a ``.zip`` (without a store, e.g. the CLI).
    data, layer, groups, random_groups, per_group, method, seed, profile, metric
        As in :class:`topomap_core.pipeline.MapRequest`; the layout comes from the last state.
    base_model : str, optional
        The model whose architecture a ``.weights.h5`` series fills: a store model reference
        (with a store) or a model path / ``demo:`` spec. Unused for ``.keras`` series and the
        demo (which brings its own).
    """

    checkpoints: str
    data: str
    layer: str
    groups: str = "label"
    random_groups: int = 0
    per_group: int = DEFAULT_PER_GROUP
    method: str = "UMAP_PSO"
    seed: int = 0
    profile: str = "paper"
    metric: str = "cosine"
    base_model: str | None = None


@dataclass
class Checkpoint:
    """One saved state of a training run.

    Attributes
    ----------
    name : str
        The file name inside the archive (``"batch 0007"`` for the demo).
    step : int
        The (last) number in the name; states are ordered by it.
    digest : str
        SHA-256 of the checkpoint's bytes: the key of its cached NAP.
    kind : {"keras", "weights"}
        A whole ``.keras`` model or a ``.weights.h5`` file for the base model.
    index : int
        Position in step order; the extracted file is named after it, never after ``name``.
    """

    name: str
    step: int
    digest: str
    kind: str = "weights"
    index: int = 0


def _report(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    # The library's convention (topomap_core.placement): a callback returning True cancels.
    if progress is not None and progress(stage, done, total):
        raise Cancelled(f"{stage} cancelled at {done} of {total}")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _kind_of(member: str) -> str | None:
    lower = member.lower()
    for kind, suffix in KIND_SUFFIXES.items():
        if lower.endswith(suffix):
            return kind
    return None


def _step_of(member: str, kind: str) -> int:
    base = PurePosixPath(member.replace("\\", "/")).name
    stem = base[: -len(KIND_SUFFIXES[kind])]  # so the "5" of ".h5" is never the number
    numbers = _NUMBER.findall(stem)
    if not numbers:
        raise CheckpointError(
            f"checkpoint {member!r} has no number in its name; states are ordered by the "
            "number in their names (e.g. batch_0012.weights.h5)"
        )
    return int(numbers[-1])


def _is_junk(info: zipfile.ZipInfo) -> bool:
    # Folders and the metadata macOS and editors leave in archives carry no checkpoint.
    name = info.filename.replace("\\", "/")
    return info.is_dir() or name.startswith("__MACOSX/") or PurePosixPath(name).name[:1] == "."


def scan_checkpoint_zip(zf: zipfile.ZipFile, label: str) -> list[tuple[zipfile.ZipInfo, str, int]]:
    """Validate an open checkpoint archive and order its members, without decompressing.

    Parameters
    ----------
    zf : zipfile.ZipFile
    label : str
        The archive's name for messages.

    Returns
    -------
    list of (ZipInfo, kind, step)
        One per checkpoint, in step order.

    Raises
    ------
    CheckpointError
        Unsafe paths or a possible zip bomb (the checks of :mod:`topomap_core.io.data`), no
        checkpoints, a member that is neither ``.keras`` nor ``.weights.h5``, mixed kinds,
        a name without a number, two members with the same number, or more than
        ``MAX_CHECKPOINTS`` members.
    """
    from .io.data import _check_zip

    try:
        infos = _check_zip(zf, label, _CHECKPOINT_EXPANSION * config.max_upload_bytes())
    except DataError as exc:
        raise CheckpointError(str(exc)) from None
    members = []
    for info in infos:
        if _is_junk(info):
            continue
        kind = _kind_of(info.filename)
        if kind is None:
            raise CheckpointError(
                f"'{label}' member {info.filename!r} is not a checkpoint; a series holds "
                f"only {' or only '.join(KIND_SUFFIXES.values())} files"
            )
        members.append((info, kind))
    if not members:
        raise CheckpointError(
            f"'{label}' contains no checkpoints ({' or '.join(KIND_SUFFIXES.values())} files)"
        )
    limit = config.max_checkpoints()
    if len(members) > limit:
        raise CheckpointError(
            f"'{label}' holds {len(members)} checkpoints; at most {limit} are accepted "
            "(MAX_CHECKPOINTS)"
        )
    kinds = {kind: info.filename for info, kind in members}
    if len(kinds) > 1:
        raise CheckpointError(
            f"'{label}' mixes .keras models ({kinds['keras']!r}) and .weights.h5 files "
            f"({kinds['weights']!r}); use one kind (give the architecture as the base model)"
        )
    seen: dict[int, str] = {}
    ordered = []
    for info, kind in members:
        step = _step_of(info.filename, kind)
        if step in seen:
            raise CheckpointError(
                f"'{label}' members {seen[step]!r} and {info.filename!r} both have number "
                f"{step}; the number in each name must be unique"
            )
        seen[step] = info.filename
        ordered.append((info, kind, step))
    ordered.sort(key=lambda item: item[2])
    return ordered


def _open_zip(path: Path, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(
            f"checkpoint file '{label}' is not a valid zip archive ({exc})"
        ) from None


def _check_series_path(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f"checkpoint file '{path}' does not exist")
    if not path.is_file():
        raise CheckpointError(
            f"'{path.name}' is not a checkpoint file (a .zip of .keras or .weights.h5 files, "
            f"or {DEMO_CHECKPOINTS})"
        )
    if path.suffix.lower() != ".zip":
        raise CheckpointError(
            f"checkpoint file '{path.name}' has unsupported extension {path.suffix!r}; "
            f"give a .zip of .keras or .weights.h5 files (or {DEMO_CHECKPOINTS})"
        )
    config.check_size(path.stat().st_size, path.name, "checkpoint", CheckpointError)


def _base_path(base_model: str | Path) -> Path:
    if isinstance(base_model, str) and base_model.startswith("demo:"):
        from .io.demo import demo_model_path

        return demo_model_path(base_model.removeprefix("demo:"))
    return Path(base_model)


def _h5_shapes(path: Path) -> list[tuple[int, ...]]:
    import h5py

    shapes: list[tuple[int, ...]] = []

    def visit(name: str, obj: Any) -> None:
        # A compiled model also saves its optimizer's state, which loading skips.
        if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/"):
            shapes.append(tuple(int(s) for s in obj.shape))

    with h5py.File(path, "r") as fh:
        fh.visititems(visit)
    return shapes


def _shapes_text(shapes: list[tuple[int, ...]], limit: int = 4) -> str:
    text = ", ".join(str(s) for s in sorted(shapes)[:limit])
    return f"({text}{', ...' if len(shapes) > limit else ''})"


class CheckpointSeries:
    """An opened, validated checkpoint series; use :func:`open_series` to make one.

    The archive's members are extracted into a private temporary folder under index-based
    names (never their own names). Use as a context manager, or call :meth:`close`.

    Attributes
    ----------
    checkpoints : list of Checkpoint
        In step order.
    kind : {"keras", "weights"}
    base_digest : str or None
        SHA-256 of the base model file of a weights series (part of every NAP cache key,
        since the same weights in another architecture give other activations).

    Parameters
    ----------
    path : Path
        The ``.zip``.
    base_model : str or Path, optional
        Model file or ``demo:`` model spec for a weights series.
    demo : bool
        Name the states ``"batch 0007"``.
    allow_missing_base : bool
        Validate a weights series without its base model (an upload); :meth:`load` then
        fails.
    """

    def __init__(
        self,
        path: Path,
        base_model: str | Path | None = None,
        *,
        demo: bool = False,
        allow_missing_base: bool = False,
    ):
        from .io.models import inspect_model_file

        label = path.name
        _check_series_path(path)
        self._tmp = tempfile.TemporaryDirectory(prefix="topomaps-checkpoints-")
        self._files: list[Path] = []
        self._model = None
        self._base: Path | None = None
        self.base_digest: str | None = None
        self.checkpoints: list[Checkpoint] = []
        try:
            with _open_zip(path, label) as zf:
                members = scan_checkpoint_zip(zf, label)
                self.kind = members[0][1]
                if self.kind == "weights" and not (base_model is None and allow_missing_base):
                    if base_model is None:
                        raise CheckpointError(
                            f"'{label}' holds .weights.h5 files, which need a base model: the "
                            "architecture they fill (--base-model, or pick a model)"
                        )
                    self._base = _base_path(base_model)
                    from .io.models import _check_model_path

                    _check_model_path(self._base)
                    self.base_digest = _file_digest(self._base)
                self._extract(zf, members, label, demo)
            if self.kind == "keras":
                # Inspect every model's configuration now: a refused member fails the whole
                # series before anything is loaded (and before an upload is stored).
                for ckpt, file in zip(self.checkpoints, self._files, strict=True):
                    try:
                        inspect_model_file(file)
                    except TopomapError as exc:
                        raise type(exc)(f"checkpoint {ckpt.name!r}: {exc}") from None
        except BaseException:
            self.close()
            raise

    def _extract(self, zf: zipfile.ZipFile, members, label: str, demo: bool) -> None:
        from .io.data import _read_member

        folder = Path(self._tmp.name)
        for index, (info, kind, step) in enumerate(members):
            try:
                content = _read_member(zf, info, label)
            except DataError as exc:
                raise CheckpointError(str(exc)) from None
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise CheckpointError(f"'{label}' member {info.filename!r}: {exc}") from None
            file = folder / f"{index:05d}{KIND_SUFFIXES[kind]}"
            file.write_bytes(content)
            name = f"batch {step:04d}" if demo else info.filename
            digest = hashlib.sha256(content).hexdigest()
            self.checkpoints.append(Checkpoint(name, step, digest, kind, index))
            self._files.append(file)

    def __len__(self) -> int:
        return len(self.checkpoints)

    def load(self, i: int):
        """Return state ``i`` as a Keras model.

        For a weights series the base model is built once and its weights replaced: the
        returned model is the same object for every ``i``, holding state ``i`` until the
        next call.

        Raises
        ------
        CheckpointError
            Weights that do not fit the base model.
        ModelRefusedError, ModelLoadError
            A ``.keras`` member that is unsafe or unreadable (the message names it).
        """
        from .io.models import load_model

        ckpt = self.checkpoints[i]
        file = self._files[i]
        if self.kind == "keras":
            try:
                return load_model(file)
            except TopomapError as exc:
                raise type(exc)(f"checkpoint {ckpt.name!r}: {exc}") from None
        if self._base is None:
            raise CheckpointError(
                "a series of .weights.h5 files needs a base model to load its states"
            )
        if self._model is None:
            self._model = load_model(self._base)
        self._load_weights(self._model, ckpt, file)
        return self._model

    def _load_weights(self, model, ckpt: Checkpoint, file: Path) -> None:
        from .io.models import _one_line

        try:
            shapes = _h5_shapes(file)
        except Exception as exc:  # h5py raises OSError, KeyError, ...: one line for the user
            raise CheckpointError(
                f"checkpoint {ckpt.name!r} is not a readable .weights.h5 file: {_one_line(exc)}"
            ) from None
        # Keras loads a file with too few layers without complaint, so compare the arrays
        # first: the same number of the same shapes.
        want = sorted(tuple(int(s) for s in w.shape) for w in model.weights)
        if sorted(shapes) != want:
            raise CheckpointError(
                f"weights {ckpt.name!r} do not fit the base model '{self._base.name}': the file "
                f"holds {len(shapes)} arrays {_shapes_text(shapes)}, the model has "
                f"{len(want)} weights {_shapes_text(want)}"
            )
        try:
            model.load_weights(file)
        except Exception as exc:  # Keras raises ValueError and others with long messages
            raise CheckpointError(
                f"weights {ckpt.name!r} do not fit the base model '{self._base.name}': "
                f"{_one_line(exc)}"
            ) from None

    def close(self) -> None:
        """Delete the extracted files."""
        self._model = None
        self._tmp.cleanup()

    def __enter__(self) -> CheckpointSeries:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_series(
    checkpoints: str | Path,
    base_model: str | Path | None = None,
    *,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
) -> CheckpointSeries:
    """Open and validate a checkpoint series.

    Parameters
    ----------
    checkpoints : str or Path
        :data:`DEMO_CHECKPOINTS` (trained on first use), a store reference (with ``store``)
        or the path of a ``.zip`` of ``.keras`` files or of ``.weights.h5`` files.
    base_model : str or Path, optional
        The architecture a ``.weights.h5`` series fills: a store model reference (with
        ``store``), a ``.keras`` path or a ``demo:`` model spec. Ignored for the demo.
    store : Store, optional
        Resolves references; also holds the demo series under its root.
    progress : callable, optional
        Receives ``("training demo", batch, n_batches)`` while the demo series is trained.

    Returns
    -------
    CheckpointSeries
        ``.checkpoints`` in step order, ``.load(i)``, ``.close()``; a context manager.

    Raises
    ------
    CheckpointError
        See :func:`scan_checkpoint_zip`, plus a weights series without a base model and
        an unknown reference.
    ModelRefusedError
        A ``.keras`` member with a ``Lambda`` layer or other code (nothing of it runs).
    """
    if checkpoints == DEMO_CHECKPOINTS:
        root = store.root if store is not None else None
        path = demo_checkpoints(root, progress=progress)
        return CheckpointSeries(path, path.with_name("model.keras"), demo=True)
    if store is not None:
        path = store.checkpoints_source(checkpoints)
        base = store.model_source(base_model) if base_model is not None else None
        return CheckpointSeries(Path(path), base)
    if isinstance(checkpoints, str) and checkpoints.startswith("demo:"):
        raise CheckpointError(
            f"unknown demo checkpoint series {checkpoints!r}; valid: {DEMO_CHECKPOINTS}"
        )
    return CheckpointSeries(Path(checkpoints), base_model)


# --------------------------------------------------------------------------------------------
# The demo series (paper 6.3: one epoch, a state after every batch)
# --------------------------------------------------------------------------------------------


def _train_demo_series(folder: Path, progress: ProgressCallback | None) -> None:
    """Train ``digits-mlp`` for one epoch, writing ``checkpoints.zip`` and ``model.keras``."""
    import keras
    import tensorflow as tf

    from .io.data import digits_split
    from .io.demo import _TRAINING, _build

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, _, _ = digits_split()
    n_batches = math.ceil(len(x_train) / DEMO_BATCH_SIZE)
    model = _build("digits-mlp")  # fresh, seeded initialisation
    model.compile(
        optimizer=keras.optimizers.Adam(_TRAINING["digits-mlp"][1]),
        loss="sparse_categorical_crossentropy",
    )
    weights_dir = folder / "weights"
    weights_dir.mkdir()
    # Saved through an uncompiled twin: the compiled model would also write the optimizer's
    # state, tripling every file for nothing the maps use.
    twin = _build("digits-mlp")

    class SaveEveryBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            twin.set_weights(self.model.get_weights())
            twin.save_weights(weights_dir / f"batch_{batch + 1:04d}.weights.h5")
            _report(progress, "training demo", batch + 1, n_batches)

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

    ``digits-mlp`` (the architecture of :mod:`topomap_core.io.demo`, freshly initialised with
    seed 0 and TensorFlow op determinism) is trained for one epoch on the 1257 training
    digits with batch size :data:`DEMO_BATCH_SIZE`, and its weights are saved after every
    batch: 79 files ``batch_0001.weights.h5`` ... ``batch_0079.weights.h5``.

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
    base = Path(root) if root is not None else config.data_dir()
    folder = base / "demo-training" / "digits-mlp"
    path = folder / "checkpoints.zip"
    if path.is_file() and (folder / "model.keras").is_file():
        return path
    with _demo_lock:
        if path.is_file() and (folder / "model.keras").is_file():
            return path  # another thread finished meanwhile
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".digits-mlp-", dir=folder.parent))
        try:
            _train_demo_series(tmp, progress)
            if folder.exists() and not path.is_file():
                shutil.rmtree(folder)  # an incomplete folder left by a crash
            # Rename the finished folder into place: other processes see all of it or
            # nothing. If one of them got there first, its identical series stays.
            with contextlib.suppress(OSError):
                os.replace(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return path


# --------------------------------------------------------------------------------------------
# Validation shared by training and comparison
# --------------------------------------------------------------------------------------------


def _check_common(request):
    """Validate the cheap parameters before anything is loaded.

    Returns a copy of ``request`` with the canonical method name (the caller's object, which
    may name a cache entry, is left alone).
    """
    request = replace(request, method=get_method(request.method).name)
    if request.groups not in GROUP_MODES:
        raise TopomapError(
            f"group mode {request.groups!r} is not known; choose one of {', '.join(GROUP_MODES)}"
        )
    if request.profile not in PROFILES:
        raise TopomapError(
            f"profile {request.profile!r} is not known; choose one of {', '.join(PROFILES)}"
        )
    if request.metric not in METRICS:
        raise TopomapError(
            f"metric {request.metric!r} is not known; choose one of {', '.join(METRICS)}"
        )
    for name in ("random_groups", "per_group", "seed"):
        value = getattr(request, name)
        low = 1 if name == "per_group" else 0
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise TopomapError(f"{name} must be an integer >= {low}; got {value!r}")
    return request


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def _quiet_retracing():
    # A NAP per state builds a new extractor each time, and TensorFlow warns about the
    # retracing; the warning is expected here and would flood the CLI's stderr.
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _accuracy(model, dataset, batch_size: int = 256) -> float | None:
    """Share of correctly predicted labelled examples; None without labels.

    The model is called eagerly: wrapping it for ``predict_on_batch`` would trace a new
    graph for every state, which costs more than the prediction itself here.
    """
    from .profiles.groups import predicted_labels

    if dataset.y is None or dataset.n_examples == 0:
        return None
    parts = []
    for start in range(0, dataset.n_examples, batch_size):
        batch = np.asarray(dataset.x[start : start + batch_size], dtype=np.float32)
        out = model(batch, training=False)
        if isinstance(out, list | tuple):
            out = out[0]
        if isinstance(out, dict):
            return None  # several named outputs: which one predicts the label is unknown
        parts.append(np.asarray(out))
    pred = predicted_labels(np.concatenate(parts))
    return float(np.mean(pred == dataset.y))


def _aligned_values(nap: NAP, names: list[str]) -> np.ndarray:
    """``nap.values`` in the order of ``names``; NaN rows for groups this NAP lacks."""
    index = {name: i for i, name in enumerate(nap.group_names)}
    values = nap.values
    out = np.full((len(names), nap.n_neurons), np.nan)
    for row, name in enumerate(names):
        if name in index:
            out[row] = values[index[name]]
    return out


def _maps_with_gaps(layout: np.ndarray, values: np.ndarray, resolution: int) -> np.ndarray:
    """Interpolate rows of ``values``; a row holding NaN (a missing group) gives a NaN map."""
    maps = np.full((values.shape[0], resolution, resolution), np.nan, dtype=np.float32)
    present = np.all(np.isfinite(values), axis=1)
    if present.any():
        maps[present] = interpolate_maps(layout, values[present], resolution=resolution)
    return maps


def _resolution(n_maps: int) -> int:
    side = int(math.sqrt(MAX_MAP_BYTES / (4 * max(n_maps, 1))))
    return max(16, min(DEFAULT_RESOLUTION, side))


def _relative_change(values: np.ndarray) -> np.ndarray:
    """Change of the NAP values from each state to the next, relative to the last state.

    ``change[i] = rms(values[i] - values[i-1]) / rms(values[-1])``, over the groups
    present in both states; ``change[0]`` is NaN. The denominator makes the curve unitless,
    so layers and runs compare; it is 1 when the last NAP is all zero.
    """
    n = values.shape[0]
    change = np.full(n, np.nan)
    with np.errstate(invalid="ignore"):
        scale = float(np.sqrt(np.nanmean(values[-1] ** 2))) if np.isfinite(values[-1]).any() else 0
    scale = scale if scale > 0 else 1.0
    for i in range(1, n):
        diff = values[i] - values[i - 1]
        if np.isfinite(diff).any():
            change[i] = float(np.sqrt(np.nanmean(diff**2))) / scale
    return change


# --------------------------------------------------------------------------------------------
# Training maps
# --------------------------------------------------------------------------------------------


@dataclass
class TrainingResult:
    """The maps of every state of a training run on one layout.

    Attributes
    ----------
    request : TrainingRequest
    checkpoints : list of Checkpoint
        In step order.
    group_names : list of str
        Dendrogram order of the last state's groups; every per-group axis follows it.
    layout : ndarray of shape (n_neurons, 2)
        From the last state's NAP (``request.method``, ``seed``, ``profile``).
    values : ndarray of shape (n_states, n_groups, n_neurons)
        NAP colour values per state; NaN for a group a state has no examples of.
    maps : ndarray of shape (n_states, n_groups, R, R), float32
        NaN outside the neurons' hull. ``R`` is 100, less for very long series
        (:data:`MAX_MAP_BYTES`).
    vmax : float
        One colour limit for all states, so colours compare across time.
    change : ndarray of shape (n_states,)
        ``change[i]``: RMS of the NAP values' change from state ``i - 1`` to ``i``, divided by
        the RMS of the last state's values; ``change[0]`` is NaN.
    accuracy : list of float or None
        Share of correctly predicted examples of the data per state (None without labels).
    from_cache : list of bool
        Whether each state's NAP came from the cache.
    timings : dict
        Seconds per stage.
    dropped_groups : list of str
        Groups of some state that the last state has no examples of (not shown).
    """

    request: TrainingRequest
    checkpoints: list[Checkpoint]
    group_names: list[str]
    layout: np.ndarray
    values: np.ndarray
    maps: np.ndarray
    vmax: float
    change: np.ndarray
    accuracy: list[float | None]
    from_cache: list[bool] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    dropped_groups: list[str] = field(default_factory=list)

    @property
    def n_states(self) -> int:
        return len(self.checkpoints)

    @property
    def steps(self) -> list[int]:
        return [c.step for c in self.checkpoints]

    def frame_title(self, i: int) -> str:
        """Title of state ``i``'s frame, e.g. ``"batch 12 of 79 - accuracy 85.2%"``."""
        ckpt = self.checkpoints[i]
        if self.request.checkpoints == DEMO_CHECKPOINTS:
            title = f"batch {ckpt.step} of {self.checkpoints[-1].step}"
        else:
            title = f"{ckpt.name} ({i + 1} of {self.n_states})"
        acc = self.accuracy[i] if i < len(self.accuracy) else None
        return title if acc is None else f"{title} - accuracy {100 * acc:.1f}%"

    def summary(self) -> dict:
        """JSON-able description of the run (NaN written as null)."""

        def clean(x):
            return None if x is None or not np.isfinite(x) else round(float(x), 6)

        return {
            "checkpoints": self.request.checkpoints,
            "base_model": self.request.base_model,
            "data": self.request.data,
            "layer": self.request.layer,
            "method": self.request.method,
            "seed": self.request.seed,
            "grouping": self.request.groups,
            "random_groups": self.request.random_groups,
            "per_group": self.request.per_group,
            "profile": self.request.profile,
            "metric": self.request.metric,
            "n_states": self.n_states,
            "n_neurons": int(self.layout.shape[0]),
            "groups": list(self.group_names),
            "dropped_groups": list(self.dropped_groups),
            "colour_limit": float(self.vmax),
            "map_resolution": int(self.maps.shape[-1]),
            "change_measure": "rms(values[i] - values[i-1]) / rms(values[last])",
            "states": [
                {
                    "state": i,
                    "step": c.step,
                    "name": c.name,
                    "digest": c.digest,
                    "change": clean(self.change[i]),
                    "accuracy": clean(self.accuracy[i]),
                }
                for i, c in enumerate(self.checkpoints)
            ],
            "naps_computed": int(sum(not c for c in self.from_cache)),
            "naps_cached": int(sum(self.from_cache)),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _state_key(request: TrainingRequest, ckpt: Checkpoint, base_digest, data_id: str) -> str:
    # Everything that decides one state's NAP; the layout parameters (method, profile,
    # metric) do not, so changing them reuses every state's NAP.
    return _digest(
        {
            "kind": "training-nap",
            "v": TRAINING_CACHE_VERSION,
            "checkpoint": ckpt.digest,
            "checkpoint_kind": ckpt.kind,
            "base": base_digest,
            "data": data_id,
            "layer": request.layer,
            "groups": request.groups,
            "random_groups": request.random_groups,
            "per_group": request.per_group,
            "seed": request.seed,
        }
    )


def run_training(
    request: TrainingRequest,
    progress: ProgressCallback | None = None,
    *,
    store: Store | None = None,
) -> TrainingResult:
    """Compute the maps of every state of a training run on the last state's layout.

    Parameters
    ----------
    request : TrainingRequest
    progress : callable, optional
        ``progress(stage, done, total)`` with stages ``"training demo"`` (first demo use),
        ``"NAPs"`` (states), the layout method's stages and ``"maps"`` (states); returning
        True raises :class:`~topomap_core.errors.Cancelled`.
    store : Store, optional
        Resolves the request's references, and caches each state's NAP under its
        checkpoint's content. Without it, ``checkpoints``, ``base_model`` and ``data`` are
        paths or ``demo:`` specs and nothing is cached.

    Returns
    -------
    TrainingResult
    """
    from .io.data import dataset_hash, load_data
    from .io.models import input_shape
    from .pipeline import compute_nap_for

    request = _check_common(request)
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    data_source = store.data_source(request.data) if store is not None else request.data
    with (
        open_series(
            request.checkpoints, request.base_model, store=store, progress=progress
        ) as series,
        _quiet_retracing(),
    ):
        timings["open"] = time.perf_counter() - t_start
        data_id = (
            store._content_id(request.data, "data")
            if store is not None
            else dataset_hash(data_source)
        )
        n = len(series)
        naps: list[NAP] = []
        accuracy: list[float | None] = []
        from_cache: list[bool] = []
        dataset = None
        t0 = time.perf_counter()
        for i, ckpt in enumerate(series.checkpoints):
            _report(progress, "NAPs", i, n)
            key = _state_key(request, ckpt, series.base_digest, data_id)
            hit = store.cache.get(key) if store is not None else None
            if hit is not None:
                naps.append(hit[0])
                accuracy.append(hit[1])
                from_cache.append(True)
                continue
            model = series.load(i)
            if dataset is None:
                dataset = load_data(data_source, input_shape=input_shape(model))
            nap = compute_nap_for(
                model,
                dataset,
                request.layer,
                request.groups,
                random_groups=request.random_groups,
                per_group=request.per_group,
                seed=request.seed,
            )
            acc = _accuracy(model, dataset)
            if store is not None:
                store.cache.set(key, (nap, acc))
            naps.append(nap)
            accuracy.append(acc)
            from_cache.append(False)
        _report(progress, "NAPs", n, n)
        timings["naps"] = time.perf_counter() - t0
        checkpoints = list(series.checkpoints)

    last = naps[-1]
    widths = {nap.n_neurons for nap in naps}
    if len(widths) > 1:
        raise CheckpointError(
            f"layer {request.layer!r} changes width across the series ({sorted(widths)} "
            "neurons); all states need the same architecture"
        )
    t0 = time.perf_counter()
    # Paper 6.3: the layout of the fully trained model, kept fixed for every state.
    layout = compute_layout(
        last.profile(request.profile),
        request.method,
        random_state=request.seed,
        progress=progress,
        metric=request.metric,
    )
    timings["layout"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    order = order_groups(last.group_vectors(), last.group_names, metric=request.metric)
    names = order.names
    values = np.stack([_aligned_values(nap, names) for nap in naps])
    vmax = colour_limit(values)  # one limit for all states
    resolution = _resolution(n * len(names))
    maps = np.empty((n, len(names), resolution, resolution), dtype=np.float32)
    for i in range(n):
        maps[i] = _maps_with_gaps(layout, values[i], resolution)
        _report(progress, "maps", i + 1, n)
    change = _relative_change(values)
    dropped = sorted({g for nap in naps for g in nap.group_names} - set(names))
    timings["maps"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    return TrainingResult(
        request=request,
        checkpoints=checkpoints,
        group_names=names,
        layout=layout,
        values=values,
        maps=maps,
        vmax=vmax,
        change=change,
        accuracy=accuracy,
        from_cache=from_cache,
        timings=timings,
        dropped_groups=dropped,
    )


# --------------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------------


def change_csv(result: TrainingResult) -> str:
    """``state,step,name,change[,accuracy]`` rows (empty cells for NaN / unknown)."""
    with_acc = any(a is not None for a in result.accuracy)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["state", "step", "name", "change"] + (["accuracy"] if with_acc else []))
    for i, ckpt in enumerate(result.checkpoints):
        c = result.change[i]
        row = [i, ckpt.step, ckpt.name, "" if not np.isfinite(c) else f"{c:.6g}"]
        if with_acc:
            acc = result.accuracy[i]
            row.append("" if acc is None else f"{acc:.6g}")
        writer.writerow(row)
    return buf.getvalue()


def training_layout_csv(result: TrainingResult) -> str:
    """``neuron,x,y`` rows of the shared layout (as :func:`topomap_core.pipeline.layout_csv`)."""
    from .pipeline import layout_csv

    return layout_csv(result)


def check_size(size: object) -> int:
    """Validate a frame's map enlargement: an integer from 1 to 8."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 1 <= size <= 8:
        raise TopomapError(f"size must be an integer map enlargement from 1 to 8; got {size!r}")
    return int(size)


def render_frames(result: TrainingResult, size: int = 2) -> list[Image.Image]:
    """One image per state: every group's map, a title and one colour bar.

    Parameters
    ----------
    result : TrainingResult
    size : int, default=2
        Integer enlargement of each map (``scale`` of
        :func:`topomap_core.profiles.render.render_map_grid`), 1 to 8.

    Returns
    -------
    list of PIL.Image.Image
        RGB, all the same size, on the shared colour limit ``result.vmax``.
    """
    from .profiles.render import render_map_grid

    scale = check_size(size)
    return [
        render_map_grid(
            result.maps[i], result.group_names, result.vmax, scale, title=result.frame_title(i)
        )
        for i in range(result.n_states)
    ]


def check_fps(fps: object) -> float:
    """Validate an animation's frames per second: a number in (0, 60]."""
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 60:
        raise TopomapError(f"fps must be a number in (0, 60]; got {fps!r}")
    return float(fps)


def _check_frames(frames, fps) -> None:
    if not frames:
        raise TopomapError("an animation needs at least one frame; got none")
    check_fps(fps)


@functools.lru_cache(maxsize=1)
def _gif_palette() -> tuple[np.ndarray, np.ndarray]:
    """One fixed palette for every frame (white, greys for text, the bwr ramp) and a lookup
    table from 6-bit-per-channel RGB to its nearest palette entry.

    A shared palette keeps colours steady from frame to frame, and without dithering the
    flat colour areas compress several times better. Pillow's own palette mapping is
    coarser (white became (252, 252, 255)), hence the exact table.
    """
    from scipy.spatial import cKDTree

    from .profiles.interpolate import to_rgb

    greys = np.linspace(0, 255, 24)
    ramp = to_rgb(np.linspace(-1.0, 1.0, 256 - len(greys) - 1), 1.0).reshape(-1, 3)
    colours = np.concatenate([np.repeat(greys[:, None], 3, axis=1), ramp]).astype(np.float64)
    levels = np.arange(64) * 255.0 / 63.0  # 0 and 255 exactly
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lut = cKDTree(colours).query(cube)[1].astype(np.uint8)
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colours)] = np.rint(colours).astype(np.uint8)
    return palette, lut


def _to_palette(frame: Image.Image, palette: np.ndarray, lut: np.ndarray) -> Image.Image:
    from PIL import Image

    rgb = np.asarray(frame.convert("RGB"), dtype=np.uint32) >> 2
    index = lut[(rgb[..., 0] << 12) | (rgb[..., 1] << 6) | rgb[..., 2]]
    image = Image.fromarray(index, mode="P")
    image.putpalette(palette.ravel().tolist())
    return image


def save_gif(frames: list[Image.Image], path: str | Path, fps: float = 8) -> Path:
    """Write ``frames`` as a looping GIF on one fixed palette; returns the path."""
    _check_frames(frames, fps)
    path = Path(path)
    palette, lut = _gif_palette()
    first, *rest = (_to_palette(f, palette, lut) for f in frames)
    first.save(
        path,
        format="GIF",
        save_all=True,
        append_images=rest,
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    return path


def save_mp4(frames: list[Image.Image], path: str | Path, fps: float = 8) -> Path:
    """Write ``frames`` as an H.264 MP4 (yuv420p, ``+faststart``) with imageio-ffmpeg's ffmpeg.

    Frames are padded with white to even sizes (yuv420p needs them) and piped raw, so no
    frame touches the disk.
    """
    import imageio_ffmpeg

    _check_frames(frames, fps)
    path = Path(path)
    width, height = frames[0].size
    padded = (width + width % 2, height + height % 2)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{padded[0]}x{padded[1]}",
        "-r",
        f"{fps}",
        "-i",
        "-",
        "-an",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(path),
    ]
    canvas = np.full((padded[1], padded[0], 3), 255, dtype=np.uint8)
    with tempfile.TemporaryFile() as err:
        # stderr to a file: a pipe could fill up and block ffmpeg while we write frames.
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
        try:
            for frame in frames:
                if frame.size != (width, height):
                    raise TopomapError(
                        f"all frames must have one size; got {frame.size} and {(width, height)}"
                    )
                canvas[:height, :width] = np.asarray(frame.convert("RGB"))
                proc.stdin.write(canvas.tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its exit status and message follow
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            code = proc.wait()
        if code != 0:
            err.seek(0)
            message = " ".join(err.read().decode(errors="replace").split())[-300:]
            raise RuntimeError(f"ffmpeg failed with status {code}: {message}")
    return path


def write_training_outputs(
    result: TrainingResult, out_dir: str | Path, *, fps: float = 8, size: int = 2
) -> dict[str, Path]:
    """Write ``frames/frame_0000.png ...``, ``animation.gif``, ``animation.mp4``,
    ``change.csv``, ``summary.json`` and ``layout.csv`` into ``out_dir``.

    Returns
    -------
    dict
        File role -> path (``"frames"`` is the folder).
    """
    out = Path(out_dir)
    frames_dir = out / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    frames = render_frames(result, size)
    for i, frame in enumerate(frames):
        frame.save(frames_dir / f"frame_{i:04d}.png", format="PNG")
    paths = {
        "frames": frames_dir,
        "gif": save_gif(frames, out / "animation.gif", fps),
        "mp4": save_mp4(frames, out / "animation.mp4", fps),
        "change": out / "change.csv",
        "summary": out / "summary.json",
        "layout": out / "layout.csv",
    }
    paths["change"].write_text(change_csv(result))
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    paths["layout"].write_text(training_layout_csv(result))
    return paths


# --------------------------------------------------------------------------------------------
# Comparing two models
# --------------------------------------------------------------------------------------------


@dataclass
class CompareRequest:
    """Two models (or two states of one training) mapped on one shared layout.

    ``model_a`` / ``model_b`` are store model references (with a store) or model paths /
    ``demo:`` specs; ``layer_b`` is model B's layer (default: ``layer``). Both layers must
    have the same number of neurons, and neurons are matched by index, so the comparison
    is meaningful for states of one network (checkpoints, fine-tuning), not for two
    independently trained networks.
    """

    model_a: str
    model_b: str
    data: str
    layer: str
    groups: str = "label"
    random_groups: int = 0
    per_group: int = DEFAULT_PER_GROUP
    method: str = "UMAP_PSO"
    seed: int = 0
    profile: str = "paper"
    metric: str = "cosine"
    layer_b: str | None = None


@dataclass
class CompareResult:
    """Maps of two models on one layout, and their difference.

    Attributes
    ----------
    request : CompareRequest
    group_names : list of str
        Dendrogram order of model A's groups; every per-group axis follows it.
    layout : ndarray of shape (n_neurons, 2)
        Computed from both models' profiles (see :func:`shared_profile`).
    values_a, values_b : ndarray of shape (n_groups, n_neurons)
        NAP colour values; NaN rows for a group a model has no examples of.
    maps_a, maps_b : ndarray of shape (n_groups, R, R), float32
        On the shared colour limit ``vmax``.
    diff_maps : ndarray of shape (n_groups, R, R), float32
        Map of ``values_b - values_a``, on the symmetric limit ``diff_vmax``.
    vmax, diff_vmax : float
    group_rms_diff : list of float or None
        RMS of ``values_b - values_a`` per group.
    dropped_groups : list of str
        Groups only model B has examples of (not shown).
    timings : dict
    """

    request: CompareRequest
    group_names: list[str]
    layout: np.ndarray
    values_a: np.ndarray
    values_b: np.ndarray
    maps_a: np.ndarray
    maps_b: np.ndarray
    diff_maps: np.ndarray
    vmax: float
    diff_vmax: float
    group_rms_diff: list = field(default_factory=list)
    dropped_groups: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-able description of the comparison."""
        return {
            **{k: v for k, v in asdict(self.request).items()},
            "layer_b": self.request.layer_b or self.request.layer,
            "n_neurons": int(self.layout.shape[0]),
            "groups": list(self.group_names),
            "dropped_groups": list(self.dropped_groups),
            "colour_limit": float(self.vmax),
            "difference_colour_limit": float(self.diff_vmax),
            "layout_from": "both models' profiles, each scaled to unit RMS, concatenated",
            "group_rms_difference": dict(zip(self.group_names, self.group_rms_diff, strict=True)),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def shared_profile(profile_a: np.ndarray, profile_b: np.ndarray) -> np.ndarray:
    """The layout input of a comparison: both profiles stacked per neuron.

    Each profile is divided by its RMS first, so a model with larger activations does not
    dominate the neurons' distances; the layout then reflects both models equally.

    Parameters
    ----------
    profile_a, profile_b : ndarray of shape (n_features_a, n_neurons), (n_features_b, n_neurons)

    Returns
    -------
    ndarray of shape (n_features_a + n_features_b, n_neurons)
    """
    parts = []
    for p in (profile_a, profile_b):
        p = np.asarray(p, dtype=np.float64)
        rms = float(np.sqrt(np.mean(p**2)))
        parts.append(p / rms if rms > 0 else p)
    return np.concatenate(parts, axis=0)


def _compare_naps(request: CompareRequest, layer_b: str, progress, store, timings):
    from .pipeline import MapRequest

    def map_request(model: str, layer: str) -> MapRequest:
        return MapRequest(
            model=model,
            data=request.data,
            layer=layer,
            groups=request.groups,
            random_groups=request.random_groups,
            per_group=request.per_group,
            seed=request.seed,
        )

    if store is not None:
        # The store's NAPs are shared with the single-model views (same key).
        widths = []
        for ref, layer in ((request.model_a, request.layer), (request.model_b, layer_b)):
            by_name = {info["name"]: info for info in store.layers(ref)}
            if layer not in by_name:
                raise LayerNotFoundError(
                    f"layer {layer!r} not found in model {store.display_name(ref)!r}; "
                    f"valid: {', '.join(by_name)}"
                )
            widths.append(int(by_name[layer]["neurons"]))
        _check_widths(request.layer, layer_b, *widths)
        nap_a = store.nap(map_request(request.model_a, request.layer), progress, timings)
        nap_b = store.nap(map_request(request.model_b, layer_b), progress, timings)
        return nap_a, nap_b

    from .io.data import check_fits, load_data
    from .io.models import get_layer, input_shape, load_model
    from .pipeline import compute_nap_for

    t0 = time.perf_counter()
    model_a = load_model(request.model_a)
    model_b = load_model(request.model_b)
    timings["load_models"] = time.perf_counter() - t0
    _check_widths(
        request.layer,
        layer_b,
        get_layer(model_a, request.layer).neurons,
        get_layer(model_b, layer_b).neurons,
    )
    dataset = load_data(request.data, input_shape=input_shape(model_a))
    check_fits(dataset, input_shape(model_b))
    naps = []
    for model, layer in ((model_a, request.layer), (model_b, layer_b)):
        naps.append(
            compute_nap_for(
                model,
                dataset,
                layer,
                request.groups,
                random_groups=request.random_groups,
                per_group=request.per_group,
                seed=request.seed,
                progress=progress,
                timings=timings,
            )
        )
    return naps[0], naps[1]


def _check_widths(layer_a: str, layer_b: str, width_a: int, width_b: int) -> None:
    if width_a != width_b:
        raise TopomapError(
            f"layer {layer_a!r} of model A has {width_a} neurons but layer {layer_b!r} of "
            f"model B has {width_b}; a shared layout needs the same width"
        )


def run_compare(
    request: CompareRequest,
    progress: ProgressCallback | None = None,
    *,
    store: Store | None = None,
) -> CompareResult:
    """Map two models' layers on one shared layout, with a difference map per group.

    Parameters
    ----------
    request : CompareRequest
    progress : callable, optional
        Stages of the NAP computations and of the layout; returning True cancels.
    store : Store, optional
        Resolves references and reuses / caches each model's NAP. Without it the request's
        models and data are paths or ``demo:`` specs.

    Returns
    -------
    CompareResult

    Raises
    ------
    TopomapError
        Layers of different widths (the message names both), an unknown layer, or data
        that does not fit both models.
    """
    request = _check_common(request)
    layer_b = request.layer_b or request.layer
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    with _quiet_retracing():
        nap_a, nap_b = _compare_naps(request, layer_b, progress, store, timings)
    _check_widths(request.layer, layer_b, nap_a.n_neurons, nap_b.n_neurons)
    t0 = time.perf_counter()
    layout = compute_layout(
        shared_profile(nap_a.profile(request.profile), nap_b.profile(request.profile)),
        request.method,
        random_state=request.seed,
        progress=progress,
        metric=request.metric,
    )
    timings["layout"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    names = order_groups(nap_a.group_vectors(), nap_a.group_names, metric=request.metric).names
    values_a = _aligned_values(nap_a, names)
    values_b = _aligned_values(nap_b, names)
    diff = values_b - values_a
    vmax = colour_limit(np.concatenate([values_a, values_b]))
    diff_vmax = colour_limit(diff)  # symmetric: max |B - A|
    maps_a = _maps_with_gaps(layout, values_a, DEFAULT_RESOLUTION)
    maps_b = _maps_with_gaps(layout, values_b, DEFAULT_RESOLUTION)
    diff_maps = _maps_with_gaps(layout, diff, DEFAULT_RESOLUTION)
    rms = [float(np.sqrt(np.mean(row**2))) if np.all(np.isfinite(row)) else None for row in diff]
    timings["maps"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    return CompareResult(
        request=request,
        group_names=names,
        layout=layout,
        values_a=values_a,
        values_b=values_b,
        maps_a=maps_a,
        maps_b=maps_b,
        diff_maps=diff_maps,
        vmax=vmax,
        diff_vmax=diff_vmax,
        group_rms_diff=rms,
        dropped_groups=sorted(set(nap_b.group_names) - set(names)),
        timings=timings,
    )


def write_compare_outputs(result: CompareResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``maps_a.png``, ``maps_b.png``, ``diff.png``, ``layout.csv`` and ``summary.json``.

    Returns
    -------
    dict
        File role -> path written.
    """
    from .pipeline import layout_csv
    from .profiles.render import save_map_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    req = result.request
    layer_b = req.layer_b or req.layer
    paths = {
        "maps_a": out / "maps_a.png",
        "maps_b": out / "maps_b.png",
        "diff": out / "diff.png",
        "layout": out / "layout.csv",
        "summary": out / "summary.json",
    }
    names = result.group_names
    save_map_grid(paths["maps_a"], result.maps_a, names, result.vmax, title=f"A: {req.layer}")
    save_map_grid(paths["maps_b"], result.maps_b, names, result.vmax, title=f"B: {layer_b}")
    save_map_grid(paths["diff"], result.diff_maps, names, result.diff_vmax, title="B - A")
    paths["layout"].write_text(layout_csv(result))
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    return paths
