"""Read the examples whose activations are mapped: the demo digits, ``.npz`` or image ``.zip``.

Data files are untrusted input.  ``.npz`` files are read without pickle, and ``.zip``
archives are read member by member from memory (never extracted to disk) after checks for
path traversal and decompression bombs.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from .. import config
from ..errors import DataError
from .archives import check_zip

#: The bundled demo data set.
DEMO_DATA = ("demo:digits",)

#: Data file extensions accepted by :func:`load_data`.
DATA_EXTENSIONS = (".npz", ".zip")

#: Image file extensions read from a ``.zip`` of class folders.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: Most members accepted in a ``.zip`` archive (each costs memory and time).
MAX_ZIP_MEMBERS = 100_000

# .npz arrays legitimately expand more than images (float32 copies of 8-bit data compress
# well), so their total uncompressed size may reach this multiple of the upload cap.
_NPZ_EXPANSION = 8

# Decoded images become float32 at the model's resolution, far larger than the compressed
# files; their total may reach this multiple of the upload cap.
_DECODED_FACTOR = 8

_DIGITS_VERSION = "demo:digits:v1"
_NPZ_KEYS = ("x", "y", "groups", "label_names")


@dataclass
class Dataset:
    """Examples to feed a model, with optional labels and groups.

    Attributes
    ----------
    x : ndarray, shape (n, *input_shape), float32
        Model inputs.
    y : ndarray, shape (n,), int64, or None
        Class index of each example.
    groups : ndarray, shape (n,), str, or None
        Free-form group of each example (e.g. a subject or a condition).
    label_names : list of str or None
        ``label_names[i]`` names class ``i``.
    name : str
        Short description for display, e.g. the file name.
    source : {"array", "images", "demo"}
        Where ``x`` came from: arrays as given (``.npz``), image files decoded as 0-255
        (``.zip``), or the demo digits; what preparation ``auto`` means
        (:func:`topomap_core.io.prepare.resolve`).
    prepared : topomap_core.io.prepare.Prepared or None
        How ``x`` was prepared for the model (None: as read).
    """

    x: np.ndarray
    y: np.ndarray | None
    groups: np.ndarray | None
    label_names: list[str] | None
    name: str
    source: str = "array"
    prepared: Any = None

    @property
    def n_examples(self) -> int:
        """Number of examples ``n``."""
        return int(len(self.x))

    def label_name(self, i: int) -> str:
        """Return the name of class ``i`` (``label_names[i]`` if given, else ``str(i)``)."""
        i = int(i)
        if self.label_names is not None and 0 <= i < len(self.label_names):
            return self.label_names[i]
        return str(i)


# --------------------------------------------------------------------------------------------
# Demo digits
# --------------------------------------------------------------------------------------------


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the fixed stratified train/test split of scikit-learn's 8x8 digits.

    Returns
    -------
    x_train : ndarray, shape (1257, 8, 8, 1), float32 in [0, 1]
    y_train : ndarray, shape (1257,), int64
    x_test : ndarray, shape (540, 8, 8, 1), float32 in [0, 1]
    y_test : ndarray, shape (540,), int64
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()  # bundled with scikit-learn: no download
    x = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    return x_train, y_train, x_test, y_test


def _load_demo(spec: str) -> Dataset:
    if spec != "demo:digits":
        raise DataError(f"unknown demo data {spec!r}; valid: {', '.join(DEMO_DATA)}")
    _, _, x_test, y_test = digits_split()
    return Dataset(
        x=x_test,
        y=y_test,
        groups=None,
        label_names=[str(i) for i in range(10)],
        name="digits (test split)",
        source="demo",
    )


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def load_data(spec: str | Path, input_shape=None) -> Dataset:
    """Load a data set from a demo spec, an ``.npz`` file or a ``.zip`` of image folders.

    Parameters
    ----------
    spec : str or Path
        ``"demo:digits"`` (the test part of :func:`digits_split`); an ``.npz`` file with
        arrays ``x`` (required), ``y``, ``groups``, ``label_names``; or a ``.zip`` of
        class-named folders of images (``cat/1.png``, ``dog/2.jpg``, optionally inside one
        wrapper folder).  A :class:`~pathlib.Path` is always a file path.
    input_shape : InputSpec or tuple, optional
        The model's input (:class:`~topomap_core.io.prepare.InputSpec`, or its shape without
        the batch axis, e.g. ``(32, 32, 3)``).  Required for a ``.zip``: images are resized
        to its height and width, converted to its channel count (1: grey, 3: RGB) and
        arranged in its layout; their values stay 0-255 (the preparation scales them).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown demo name or extension, missing/empty/oversized file, unreadable or unsafe
        content, missing or malformed arrays.
    """
    if isinstance(spec, str) and spec.startswith("demo:"):
        return _load_demo(spec)
    path = Path(spec)
    _check_data_path(path)
    if path.suffix.lower() == ".npz":
        return _load_npz(path)
    return _load_image_zip(path, input_shape)


def dataset_hash(spec: str | Path) -> str:
    """Identify a data set's content: SHA-256 hex of the file, or a fixed demo id.

    Parameters
    ----------
    spec : str or Path
        As for :func:`load_data`.

    Returns
    -------
    str
        ``"demo:digits:v1"`` for the demo, else 64 hexadecimal characters.
    """
    if isinstance(spec, str) and spec.startswith("demo:"):
        if spec not in DEMO_DATA:
            raise DataError(f"unknown demo data {spec!r}; valid: {', '.join(DEMO_DATA)}")
        return _DIGITS_VERSION
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_fits(dataset: Dataset, input_shape) -> None:
    """Check that a data set can be fed to a model with the given input.

    Parameters
    ----------
    dataset : Dataset
    input_shape : InputSpec or tuple
        The model's input (or its shape without the batch axis); ``None`` entries match any
        size.

    Raises
    ------
    DataError
        Says exactly what does not match: example shape (with what would make it fit), too
        few examples, non-finite values, or ``y`` / ``groups`` lengths that differ from the
        number of examples.
    """
    from .prepare import InputSpec

    spec = InputSpec.of(input_shape)
    x = dataset.x
    expected = tuple(spec.shape)
    got = tuple(x.shape[1:])
    fits = len(got) == len(expected) and all(
        e is None or int(e) == g for e, g in zip(expected, got, strict=True)
    )
    if not fits:
        shown = tuple(e if e is None else int(e) for e in expected)
        raise DataError(
            f"data examples have shape {got} but the model expects {shown}{_fit_hint(got, spec)}"
        )
    n = len(x)
    if n < 2:
        raise DataError(f"data has {n} example{'s' if n != 1 else ''}; at least 2 are needed")
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise DataError(f"data x contains {bad} NaN or infinite values")
    if dataset.y is not None and len(dataset.y) != n:
        raise DataError(f"data y has {len(dataset.y)} labels but x has {n} examples")
    if dataset.groups is not None and len(dataset.groups) != n:
        raise DataError(f"data groups has {len(dataset.groups)} entries but x has {n} examples")


#: How the option that resizes arrays is named everywhere a misfit is reported.
RESIZE_HINT = "resize bilinear (--resize bilinear; in the dashboard: 2 Data, Resize)"


def _image_size(shape: tuple, layout: str) -> tuple | None:
    """``(h, w, channels)`` of an example shape read as an image, else None."""
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) == 3 and layout == "channels_first" and shape[0] in (1, 3):
        return shape[1], shape[2], shape[0]
    if len(shape) == 3 and shape[-1] in (1, 3):
        return shape[0], shape[1], shape[-1]
    return None


def _fit_hint(got: tuple, spec) -> str:
    """What would make examples of shape ``got`` fit ``spec``, as a parenthesis (or "")."""
    expected = tuple(spec.shape)
    if not spec.is_image:
        return ""
    mine = _image_size(got, spec.layout)
    theirs = _image_size(expected, spec.layout)
    if mine is None or theirs is None:
        return ""
    same_size = all(t is None or t == m for m, t in zip(mine[:2], theirs[:2], strict=True))
    if same_size and mine[2] == theirs[2]:
        if len(expected) == len(got) + 1:
            axis = "x[:, np.newaxis]" if spec.layout == "channels_first" else "x[..., np.newaxis]"
            return f" (add a channel axis: {axis})"
        if len(got) == len(expected) + 1:
            return " (drop the channel axis: x[..., 0])"
        return ""
    what = []
    if not same_size:
        what.append(f"{mine[0]}×{mine[1]} images for {theirs[0]}×{theirs[1]}")
    if mine[2] != theirs[2]:
        what.append(f"{mine[2]} channel{'s' if mine[2] != 1 else ''} for {theirs[2]}")
    return f" ({' and '.join(what)}: bring them to the model's input with {RESIZE_HINT})"


def _check_data_path(path: Path) -> None:
    valid = ", ".join(DATA_EXTENSIONS)
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist")
    if not path.is_file():
        raise DataError(f"'{path.name}' is not a data file ({valid} or {', '.join(DEMO_DATA)})")
    if path.suffix.lower() not in DATA_EXTENSIONS:
        raise DataError(
            f"data file '{path.name}' has unsupported extension {path.suffix!r}; valid: "
            f"{valid} (or {', '.join(DEMO_DATA)})"
        )
    config.check_size(path.stat().st_size, path.name, "data", DataError)


# --------------------------------------------------------------------------------------------
# Zip safety (shared by .npz and .zip: an .npz file is a zip archive)
# --------------------------------------------------------------------------------------------


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"data file '{path.name}' is not a valid zip archive ({exc})") from None


def _check_zip(zf: zipfile.ZipFile, label: str, max_total: int) -> list[zipfile.ZipInfo]:
    """Validate the members of an archive before anything is decompressed
    (:func:`topomap_core.io.archives.check_zip`)."""
    return check_zip(zf, label, max_total, DataError, max_members=MAX_ZIP_MEMBERS)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> bytes:
    # The sizes in the zip header are not trusted: read at most one byte more than declared.
    with zf.open(info) as fh:
        data = fh.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise DataError(
            f"'{label}' member {info.filename!r} is larger than its header says; refused"
        )
    return data


# --------------------------------------------------------------------------------------------
# .npz
# --------------------------------------------------------------------------------------------


def _load_npz(path: Path) -> Dataset:
    label = path.name
    with _open_zip(path) as zf:
        infos = _check_zip(zf, label, _NPZ_EXPANSION * config.max_upload_bytes())
        for info in infos:
            if info.filename.endswith(".npy"):
                _check_npy_header(zf, info, label)
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/BadZipFile on bad files
        raise DataError(f"data file '{label}' is not a readable .npz file ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"data file '{label}' holds a single array, not an .npz archive")
    with npz:
        keys = list(npz.files)
        if "x" not in keys:
            raise DataError(
                f"data file '{label}' has no array named 'x'; found: {keys or 'no arrays'}; "
                f"expected: x (required), y, groups, label_names (optional)"
            )
        arrays = {key: _read_array(npz, key, label) for key in _NPZ_KEYS if key in keys}
    return _make_dataset(arrays, label)


def _check_npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> None:
    """Refuse object arrays and arrays whose header claims more data than the member holds.

    numpy allocates the declared shape before reading, so a forged header could ask for
    terabytes; the header is checked first, against the member's size.
    """
    key = info.filename[: -len(".npy")]
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                return  # rare header versions: np.load's own checks apply
    except Exception as exc:  # bad magic, bad header, damaged archive
        raise DataError(f"array {key!r} in '{label}' cannot be read ({exc})") from None
    if dtype.hasobject:
        raise DataError(
            f"array {key!r} in '{label}' is an object array, which needs pickle to load; "
            "refused (save plain numeric or string arrays)"
        )
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if declared > info.file_size:
        raise DataError(
            f"array {key!r} in '{label}' declares shape {shape} ({declared} bytes) but holds "
            f"only {info.file_size} bytes; the file is damaged"
        )


def _read_array(npz: np.lib.npyio.NpzFile, key: str, label: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(
                f"array {key!r} in '{label}' is an object array, which needs pickle to load; "
                "refused (save plain numeric or string arrays)"
            ) from None
        raise DataError(f"array {key!r} in '{label}' cannot be read ({exc})") from None
    except Exception as exc:
        raise DataError(f"array {key!r} in '{label}' cannot be read ({exc})") from None


def _make_dataset(arrays: dict[str, np.ndarray], label: str) -> Dataset:
    x = arrays["x"]
    if x.dtype.kind not in "biuf":
        raise DataError(f"array 'x' in '{label}' has dtype {x.dtype}; expected numbers")
    if x.ndim < 2:
        raise DataError(
            f"array 'x' in '{label}' has shape {x.shape}; expected (n_examples, *input_shape)"
        )
    x = x.astype(np.float32, copy=False)
    n = len(x)

    label_names = None
    if "label_names" in arrays:
        names = arrays["label_names"]
        if names.ndim != 1:
            raise DataError(
                f"array 'label_names' in '{label}' has shape {names.shape}; expected 1-D"
            )
        label_names = [str(v) for v in names.tolist()]

    y = None
    if "y" in arrays:
        y, label_names = _labels(arrays["y"], label_names, n, label)

    groups = None
    if "groups" in arrays:
        groups = np.asarray(arrays["groups"])
        if groups.ndim != 1:
            raise DataError(f"array 'groups' in '{label}' has shape {groups.shape}; expected 1-D")
        groups = groups.astype(str)
    return Dataset(x=x, y=y, groups=groups, label_names=label_names, name=label)


def _labels(
    y: np.ndarray, label_names: list[str] | None, n: int, label: str
) -> tuple[np.ndarray, list[str] | None]:
    """Turn ``y`` (indices, one-hot rows or class names) into int64 class indices."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.dtype.kind in "biuf":  # one-hot (or class scores): take the argmax
        y = np.argmax(y, axis=1)
    if y.ndim != 1:
        raise DataError(
            f"array 'y' in '{label}' has shape {y.shape}; expected ({n},) class indices or "
            f"({n}, n_classes) one-hot rows"
        )
    if y.dtype.kind in "US":  # class names: index them in sorted order
        values = y.astype(str)
        classes = sorted(set(values.tolist()))
        if label_names is None:
            label_names = classes
        missing = sorted(set(classes) - set(label_names))
        if missing:
            raise DataError(f"labels {missing[:5]} in 'y' of '{label}' are not in label_names")
        index = {name: i for i, name in enumerate(label_names)}
        return np.array([index[v] for v in values], dtype=np.int64), label_names
    if y.dtype.kind not in "biuf":
        raise DataError(f"array 'y' in '{label}' has dtype {y.dtype}; expected class indices")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"array 'y' in '{label}' holds non-integer values; expected classes")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise DataError(f"array 'y' in '{label}' holds negative class {int(y.min())}")
    if label_names is not None and y.size and y.max() >= len(label_names):
        raise DataError(
            f"array 'y' in '{label}' holds class {int(y.max())} but label_names has only "
            f"{len(label_names)} names"
        )
    return y, label_names


# --------------------------------------------------------------------------------------------
# .zip of class folders
# --------------------------------------------------------------------------------------------


def _image_mode(input_spec, label: str) -> tuple[int, int, str, str]:
    """Return (height, width, Pillow mode, layout) for the model's input: layout is how the
    decoded (h, w, c) images are arranged, "grey" (h, w), "channels_last" or
    "channels_first"."""
    from .prepare import InputSpec

    if input_spec is None:
        raise DataError(
            f"'{label}' is a zip of images: the model's input shape (height, width, "
            "channels) is needed to resize them; load a model first"
        )
    spec = InputSpec.of(input_spec)
    shape = tuple(spec.shape)
    if len(shape) not in (2, 3) or spec.layout == "features":
        raise DataError(
            f"the model's input shape {shape} is not an image shape (height, width, channels); "
            f"'{label}' holds images"
        )
    h, w = spec.size
    channels = spec.channels
    if h is None or w is None:
        raise DataError(f"the model's input shape {shape} has no fixed height and width")
    if channels not in (1, 3):
        raise DataError(
            f"the model expects {channels} channels; images can be read as 1 (grey) or 3 (RGB)"
        )
    layout = "grey" if len(shape) == 2 else spec.layout
    return int(h), int(w), "L" if channels == 1 else "RGB", layout


def _load_image_zip(path: Path, input_spec) -> Dataset:
    label = path.name
    h, w, mode, layout = _image_mode(input_spec, label)
    with _open_zip(path) as zf:
        infos = _check_zip(zf, label, config.max_upload_bytes())
        members = []
        for info in infos:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.is_dir() or not parts:
                continue
            # Skip macOS resource forks and hidden files such as .DS_Store.
            if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
                continue
            if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            members.append((parts, info))
        if not members:
            raise DataError(
                f"'{label}' holds no images ({', '.join(IMAGE_EXTENSIONS)}); expected class "
                "folders such as cat/1.png, dog/2.png"
            )
        # One wrapper folder (data/cat/1.png) is allowed: strip it when every image shares it.
        tops = {parts[0] for parts, _ in members}
        if len(tops) == 1 and all(len(parts) >= 3 for parts, _ in members):
            members = [(parts[1:], info) for parts, info in members]
        loose = [info.filename for parts, info in members if len(parts) < 2]
        if loose:
            raise DataError(
                f"image {loose[0]!r} in '{label}' is not inside a class folder; expected "
                "cat/1.png, dog/2.png, ..."
            )
        classes = sorted({parts[0] for parts, _ in members})
        index = {name: i for i, name in enumerate(classes)}
        members.sort(key=lambda item: (index[item[0][0]], item[1].filename))

        shape = (len(members), h, w, 1 if mode == "L" else 3)
        limit = _DECODED_FACTOR * config.max_upload_bytes()
        if 4 * int(np.prod(shape, dtype=np.float64)) > limit:
            raise DataError(
                f"'{label}' holds {len(members)} images of {h}x{w}: as float32 that is "
                f"{4 * np.prod(shape, dtype=np.float64) / 2**30:.1f} GB, over the "
                f"{limit / 2**30:.1f} GB limit"
            )
        x = np.empty(shape, dtype=np.float32)
        y = np.empty(len(members), dtype=np.int64)
        for i, (parts, info) in enumerate(members):
            data = _read_member(zf, info, label)
            x[i] = _decode_image(data, info.filename, label, mode, (w, h))
            y[i] = index[parts[0]]
    if layout == "grey":
        x = x[..., 0]
    elif layout == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    return Dataset(x=x, y=y, groups=None, label_names=classes, name=label, source="images")


def _decode_image(data: bytes, member: str, label: str, mode: str, size: tuple) -> np.ndarray:
    """Decode one image from memory to an array of shape (h, w, channels), 0-255 (the
    preparation, :mod:`topomap_core.io.prepare`, scales it as the model expects)."""
    try:
        with warnings.catch_warnings():
            # Treat Pillow's decompression-bomb warning (huge pixel counts) as an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                resized = img.convert(mode).resize(size, Image.Resampling.BILINEAR)
                arr = np.asarray(resized, dtype=np.float32)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise DataError(f"image {member!r} in '{label}' is too large (pixels); refused") from None
    except Exception as exc:  # Pillow raises many types for corrupt images
        raise DataError(f"image {member!r} in '{label}' could not be read ({exc})") from None
    return arr.reshape(size[1], size[0], -1)
