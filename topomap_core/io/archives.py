"""Bounded checks of uploaded files: what they declare, read without decoding any of it.

The web process may call these (they import neither Keras nor TensorFlow, parse no model
configuration and decompress nothing): a zip's central directory (member names, declared
sizes and compression ratios), the size of a ``.keras`` archive's ``config.json``, the storage
size of an ``.h5`` file's ``model_config`` attribute. Everything that parses, decodes or loads
happens in job processes, which repeat these checks first.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from .. import config
from ..errors import ModelLoadError, one_line

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_ZIP_MEMBERS",
    "check_model_file",
    "check_zip",
    "file_digest",
]

#: Most members accepted in one archive.
MAX_ZIP_MEMBERS = 100_000
#: Largest expansion of one member (uncompressed / compressed size) ...
MAX_COMPRESSION_RATIO = 100
#: ... for members larger than this (small files compress well legitimately).
RATIO_EXEMPT_BYTES = 1 << 20
#: A ``.keras`` archive may expand to this many times the upload limit in all.
MODEL_EXPANSION = 4

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK"


def check_zip(
    zf: zipfile.ZipFile,
    label: str,
    max_total: int,
    error: type[Exception],
    max_members: int = MAX_ZIP_MEMBERS,
) -> list[zipfile.ZipInfo]:
    """Validate the members of an archive before anything is decompressed.

    Refuses absolute or ``..`` member paths, more than :data:`MAX_ZIP_MEMBERS` members, a
    total uncompressed size over ``max_total`` bytes, and any member expanding more than
    :data:`MAX_COMPRESSION_RATIO` times. ``zipfile`` never reads a member past its declared
    size, so the declared sizes bound what decompression can produce.

    Raises
    ------
    error
        With a message naming the limit that was exceeded.
    """
    infos = zf.infolist()
    if len(infos) > max_members:
        raise error(f"'{label}' has {len(infos)} members; at most {max_members} are accepted")
    total = 0
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
            raise error(f"'{label}' contains the unsafe path {name!r}; refused")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_EXEMPT_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise error(
                f"'{label}' member {name!r} expands {ratio:.0f} times (limit "
                f"{MAX_COMPRESSION_RATIO}): refused as a possible zip bomb"
            )
    if total > max_total:
        raise error(
            f"'{label}' expands to {total / 2**20:.1f} MB, over the {max_total / 2**20:.0f} MB "
            "limit: refused as a possible zip bomb"
        )
    return infos


def file_digest(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_file(path: str | Path, label: str | None = None) -> None:
    """Bounded checks of a ``.keras`` or ``.h5`` model file; parses nothing.

    ``label`` is what messages call the file (default: its name).

    Raises
    ------
    ModelLoadError
        Not a zip/HDF5 file of the right extension, a damaged one, an archive that expands
        too much, or a configuration over :func:`topomap_core.config.max_config_bytes`
        (``TOPOMAPS_MAX_CONFIG_MB``).
    """
    path = Path(path)
    label = label or path.name
    with open(path, "rb") as fh:
        head = fh.read(8)
    suffix = path.suffix.lower()
    if head.startswith(HDF5_SIGNATURE):
        if suffix == ".keras":
            raise ModelLoadError(
                f"model file '{label}' is an HDF5 file, not a .keras archive; rename it to .h5"
            )
        _check_h5(path, label)
    elif head.startswith(ZIP_SIGNATURE):
        if suffix != ".keras":
            raise ModelLoadError(
                f"model file '{label}' is a zip archive, not an HDF5 file; rename it to .keras"
            )
        _check_keras(path, label)
    else:
        kind = "a .keras archive (zip)" if suffix == ".keras" else "an HDF5 file"
        raise ModelLoadError(f"model file '{label}' is not {kind}: it is corrupt or not a model")


def _config_too_large(name: str, size: int) -> ModelLoadError:
    limit = config.max_config_bytes()
    return ModelLoadError(
        f"the model configuration ({name}) is {size / 2**20:.1f} MB, over the "
        f"{limit / 2**20:.0f} MB limit (TOPOMAPS_MAX_CONFIG_MB); refused"
    )


def _check_keras(path: Path, label: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo("config.json")
            except KeyError:
                raise ModelLoadError(
                    f"model file '{label}' has no config.json; it is not a Keras 3 .keras file"
                ) from None
            if info.file_size > config.max_config_bytes():
                raise _config_too_large("config.json", info.file_size)
            check_zip(zf, label, MODEL_EXPANSION * config.max_upload_bytes(), ModelLoadError)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise ModelLoadError(
            f"model file '{label}' is a damaged .keras archive ({one_line(exc, 200)})"
        ) from None


def _check_h5(path: Path, label: str) -> None:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "model_config" not in h5.attrs:
                return  # said by the loader, which knows what the file holds instead
            attr = h5.attrs.get_id("model_config")
            # Keras writes the configuration as a fixed-length string, whose size the file
            # declares; a variable-length one is measured by the job that reads it.
            variable = getattr(attr.get_type(), "is_variable_str", lambda: False)()
            size = 0 if variable else attr.get_storage_size()
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError... on bad files
        raise ModelLoadError(
            f"model file '{label}' is a damaged HDF5 file ({one_line(exc, 200)})"
        ) from None
    if size > config.max_config_bytes():
        raise _config_too_large("the model_config attribute", size)
