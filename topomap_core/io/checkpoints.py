"""Checkpoint series: the saved states of a training run (paper 6.3).

A series is a ``.zip`` of ``.keras`` files, or of ``.weights.h5`` files plus the model whose
architecture they fill; states are ordered by the last number in their file names. Archives are
untrusted input: they are checked like every upload (zip safety, member kinds, names, numbers,
and the configuration of every ``.keras`` member read as data) before anything is loaded.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import config
from ..errors import CheckpointError, DataError, TopomapError, one_line
from .archives import file_digest
from .data import _check_zip, _read_member
from .demo import DEMO_CHECKPOINTS

__all__ = ["KIND_SUFFIXES", "Checkpoint", "CheckpointSeries", "file_digest", "scan_checkpoint_zip"]

#: Checkpoint kinds, by file-name ending.
KIND_SUFFIXES = {"keras": ".keras", "weights": ".weights.h5"}

# The checkpoints of an archive may expand to this multiple of the upload cap (weights
# compress little, so a real series stays far below).
_CHECKPOINT_EXPANSION = 4

_NUMBER = re.compile(r"\d+")


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
    """An opened, validated checkpoint series.

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
        The model file a weights series fills (demo specs are resolved by the caller).
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
                    self._base = Path(base_model)
                    from .models import _check_model_path  # Keras: only when a state is read

                    _check_model_path(self._base)
                    self.base_digest = file_digest(self._base)
                self._extract(zf, members, label, demo)
            if self.kind == "keras":
                # Inspect every model's configuration now: a refused member fails the whole
                # series before anything is loaded (and before an upload is stored).
                for ckpt, file in zip(self.checkpoints, self._files, strict=True):
                    try:
                        from .model_safety import (
                            inspect_model_file,  # Keras: only when a state is read
                        )

                        inspect_model_file(file)
                    except TopomapError as exc:
                        raise type(exc)(f"checkpoint {ckpt.name!r}: {exc}") from None
        except BaseException:
            self.close()
            raise

    def _extract(self, zf: zipfile.ZipFile, members, label: str, demo: bool) -> None:
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
        ckpt = self.checkpoints[i]
        file = self._files[i]
        if self.kind == "keras":
            try:
                from .models import load_model  # Keras: only when a state is read

                return load_model(file)
            except TopomapError as exc:
                raise type(exc)(f"checkpoint {ckpt.name!r}: {exc}") from None
        if self._base is None:
            raise CheckpointError(
                "a series of .weights.h5 files needs a base model to load its states"
            )
        if self._model is None:
            from .models import load_model  # Keras: only when a state is read

            self._model = load_model(self._base)
        self._load_weights(self._model, ckpt, file)
        return self._model

    def _load_weights(self, model, ckpt: Checkpoint, file: Path) -> None:
        try:
            shapes = _h5_shapes(file)
        except Exception as exc:  # h5py raises OSError, KeyError, ...: one line for the user
            raise CheckpointError(
                f"checkpoint {ckpt.name!r} is not a readable .weights.h5 file: {one_line(exc, 200)}"
            ) from None
        assert self._base is not None  # a weights series has its base model (checked above)
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
                f"{one_line(exc, 200)}"
            ) from None

    def close(self) -> None:
        """Delete the extracted files."""
        self._model = None
        self._tmp.cleanup()

    def __enter__(self) -> CheckpointSeries:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
