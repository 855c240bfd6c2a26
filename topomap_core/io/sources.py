"""Open what a spec names: a built-in demo (built on first use) or a file.

The command line and the library take specs (``demo:digits-mlp``, ``model.keras``); the
dashboard's jobs take store references, which :mod:`topomap_core.jobs.results` turns into the
same specs. Either way the opening happens here, once.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelLoadError
from ..progress import ProgressCallback
from . import demo
from .checkpoints import CheckpointSeries
from .data import Dataset, dataset_hash
from .data import load_data as _load_data
from .models import input_spec
from .models import load_model as _load_file

__all__ = [
    "load_data",
    "load_inputs",
    "load_model",
    "load_selection",
    "model_path",
    "open_series",
    "selection_bytes",
    "spec_id",
]

#: Largest selection file and most examples in one selection.
MAX_SELECTION_BYTES = 16 * 2**20
MAX_SELECTION_SIZE = 1_000_000


def model_path(spec: str | Path, root: str | Path | None = None) -> Path:
    """The file of a model spec: a demo's stored file (trained if missing) or the path."""
    if isinstance(spec, str) and spec.startswith("demo:"):
        if spec not in demo.DEMO_MODELS:
            raise demo.unknown_demo("model", spec)
        return demo.demo_model_path(spec, root)
    return Path(spec)


def load_model(spec: str | Path, root: str | Path | None = None):
    """Load a model spec through the safe loader (:func:`topomap_core.io.models.load_model`).

    A demo's stored file that cannot be read any more (disk full, edited by hand) is trained
    again once.
    """
    path = model_path(spec, root)
    try:
        return _load_file(path)
    except ModelLoadError:
        if not (isinstance(spec, str) and spec.startswith("demo:")):
            raise
        return _load_file(demo.demo_model_path(spec, root, retrain=True))


def load_data(
    spec: str | Path, shape=None, preprocess: str = "auto", resize: str = "none"
) -> Dataset:
    """Load a data spec (``demo:digits``, ``.npz``, image ``.zip``) as the model takes it.

    Parameters
    ----------
    spec : str or Path
        See :func:`topomap_core.io.data.load_data`.
    shape : InputSpec or tuple, optional
        The model's input. Given, the data are prepared for it
        (:func:`topomap_core.io.prepare.prepare_dataset`: ``resize``, then ``preprocess``);
        without it they are returned as read.
    preprocess : str
        A :class:`~topomap_core.io.prepare.Preprocess` value (default ``auto``).
    resize : {"none", "bilinear"}
    """
    from .prepare import InputSpec, prepare_dataset

    if isinstance(spec, str) and spec.startswith("demo:") and spec not in demo.DEMO_DATA:
        raise demo.unknown_demo("data", spec)
    dataset = _load_data(spec, input_shape=shape)
    if shape is None:
        return dataset
    return prepare_dataset(dataset, InputSpec.of(shape), preprocess, resize)


def load_inputs(model_spec, data_spec, root=None, timings: dict | None = None):
    """Load a model and data that fits it, timing both (``load_model``, ``load_data``)."""
    import time

    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    model = load_model(model_spec, root)
    timings["load_model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dataset = load_data(data_spec, input_spec(model))
    timings["load_data"] = time.perf_counter() - t0
    return model, dataset


def spec_id(kind: str, spec: str | Path) -> str:
    """Content id of a data or model spec: the file's SHA-256 (a demo: of its built file)."""
    if kind == "data":
        return dataset_hash(spec)
    from .archives import file_digest

    path = model_path(spec)
    return ("demo:" if isinstance(spec, str) and spec.startswith("demo:") else "") + file_digest(
        path
    )


def open_series(
    spec: str | Path,
    base_model: str | Path | None = None,
    *,
    root: str | Path | None = None,
    progress: ProgressCallback | None = None,
    allow_missing_base: bool = False,
) -> CheckpointSeries:
    """Open and validate a checkpoint series.

    Parameters
    ----------
    spec : str or Path
        :data:`~topomap_core.io.demo.DEMO_CHECKPOINTS` (trained on first use) or the path of a
        ``.zip`` of ``.keras`` files or of ``.weights.h5`` files.
    base_model : str or Path, optional
        The architecture a ``.weights.h5`` series fills: a model spec. Ignored for the demo.
    root : path, optional
        The data directory the demo series is stored in.
    progress : callable, optional
        Receives ``("training demo", batch, n_batches)`` while the demo series is trained.

    Returns
    -------
    CheckpointSeries
        ``.checkpoints`` in step order, ``.load(i)``, ``.close()``; a context manager.

    Raises
    ------
    CheckpointError
        See :func:`topomap_core.io.checkpoints.scan_checkpoint_zip`, plus a weights series
        without a base model and an unknown demo.
    ModelRefusedError
        A ``.keras`` member with a ``Lambda`` layer or other code (nothing of it runs).
    """
    if isinstance(spec, str) and spec.startswith("demo:"):
        if spec != demo.DEMO_CHECKPOINTS:
            raise demo.unknown_demo("checkpoints", spec)
        path = demo.demo_checkpoints(root, progress=progress)
        return CheckpointSeries(path, path.with_name("model.keras"), demo=True)
    base = model_path(base_model, root) if base_model is not None else None
    return CheckpointSeries(Path(spec), base, allow_missing_base=allow_missing_base)


def selection_bytes(indices, name: str) -> bytes:
    """The canonical content of a selection: ``{"indices": [...], "name": ...}`` as JSON.

    Raises
    ------
    TopomapError
        A name that is not 1 to 200 printable characters, no indices, too many, or one
        that is not a whole number 0 or more.
    """
    from ..errors import TopomapError
    from ..params import Name, ParamError, coerce_int

    try:
        name = Name().clean(name)
    except ParamError as exc:
        raise TopomapError(f"selection name {exc}") from None
    values = []
    for raw in list(indices)[: MAX_SELECTION_SIZE + 1]:
        value = coerce_int(raw)
        if value is None or value < 0:
            raise TopomapError(f"selection index {str(raw)[:20]!r} (not a whole number 0 or more)")
        values.append(value)
    if not values:
        raise TopomapError(f"selection {name!r} has no examples")
    if len(values) > MAX_SELECTION_SIZE:
        raise TopomapError(f"selection {name!r} has more than {MAX_SELECTION_SIZE} examples")
    content = {"indices": sorted(set(values)), "name": name}
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


def load_selection(spec: str | Path) -> tuple[str, list[int]]:
    """``(name, indices)`` of a selection file (a stored one, or a JSON file on the command
    line: ``{"name": ..., "indices": [...]}``), checked as :func:`selection_bytes` does."""
    from ..errors import TopomapError

    path = Path(spec)
    try:
        if path.stat().st_size > MAX_SELECTION_BYTES:
            raise TopomapError(f"selection file {path.name!r} is larger than 16 MB")
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TopomapError(f"selection file {path.name!r} cannot be read: {exc}") from None
    if not isinstance(info, dict) or not isinstance(info.get("indices"), list):
        raise TopomapError(f"selection file {path.name!r} is not {{name, indices}} JSON")
    content = json.loads(selection_bytes(info["indices"], str(info.get("name") or "")))
    return content["name"], content["indices"]
