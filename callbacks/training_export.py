"""Downloads of the Training tab: the animation as GIF or MP4, the change curve as CSV.

All made from the stored result (no model is loaded). Rendering an animation takes a second
or two, so the export runs as a background job; the files are kept in the disk cache, so a
second download of the same result is immediate.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, State, ctx
from dash.exceptions import PreventUpdate

from callbacks.common import app_data_dir
from callbacks.training import training_result
from layouts.ids import ID
from layouts.training import TRAINING_EXPORTS
from topomap_core.store import Store
from topomap_core.training import TrainingResult, change_csv, render_frames, save_gif, save_mp4

#: Export button -> (file name suffix, MIME type).
FORMATS: dict[str, tuple[str, str]] = {
    ID.TRAIN_EXPORT_GIF: (".gif", "image/gif"),
    ID.TRAIN_EXPORT_MP4: (".mp4", "video/mp4"),
    ID.TRAIN_EXPORT_CSV: ("_change.csv", "text/csv"),
}

#: Frames per second of the animations, and the enlargement of each map (100 px -> 200 px).
FPS = 8
FRAME_SIZE = 2

#: Bump when the exported files change form.
EXPORT_VERSION = "1"


def file_stem(result: TrainingResult) -> str:
    """``topomaps_training_<layer>_<method>``, with anything but ``A-Za-z0-9._-`` replaced."""
    raw = f"topomaps_training_{result.request.layer}_{result.request.method}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)[:150]


def animation_bytes(result: TrainingResult, kind: str) -> bytes:
    """The GIF or MP4 (``kind``: ``"gif"``, ``"mp4"``) of every state, one frame per state."""
    frames = render_frames(result, FRAME_SIZE)
    with tempfile.TemporaryDirectory(prefix="topomaps-export-") as folder:
        path = Path(folder) / f"animation.{kind}"
        (save_gif if kind == "gif" else save_mp4)(frames, path, FPS)
        return path.read_bytes()


def export_file(
    kind: str, result: TrainingResult, store: Store | None = None, key: str = ""
) -> dict:
    """The ``dcc.Download`` data for export button ``kind`` (an ``ID.TRAIN_EXPORT_*`` value).

    With a ``store`` and the result's ``key``, animations are kept in its cache.

    Returns
    -------
    dict
        ``content`` (text, or base64 with ``base64=True``), ``filename``, ``type``.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown export {kind!r}; valid: {', '.join(FORMATS)}")
    suffix, mime = FORMATS[kind]
    filename = file_stem(result) + suffix
    if kind == ID.TRAIN_EXPORT_CSV:
        return {"content": change_csv(result), "filename": filename, "type": mime, "base64": False}
    fmt = suffix.lstrip(".")
    cache_key = None
    if store is not None and key:
        digest = hashlib.sha256(f"{EXPORT_VERSION}:{key}:{fmt}:{FPS}:{FRAME_SIZE}".encode())
        cache_key = "training-export-" + digest.hexdigest()
    content = store.cache.get(cache_key) if cache_key else None
    if content is None:
        content = animation_bytes(result, fmt)
        if cache_key:
            store.cache.set(cache_key, content)
    encoded = base64.b64encode(content).decode("ascii")
    return {"content": encoded, "filename": filename, "type": mime, "base64": True}


def download(kind: str | None, data_dir: str | Path, data: dict | None) -> dict[str, Any]:
    """Download data for a click, or PreventUpdate when there is nothing to export."""
    result = training_result(data_dir, data)
    if result is None or kind not in FORMATS:
        raise PreventUpdate
    return export_file(kind, result, Store(data_dir), str(data.get("key") or ""))


def register(app: Dash) -> None:
    """Register the Training tab's export job on ``app``."""
    data_dir = app_data_dir(app)
    button_ids = [bid for bid, _, _ in TRAINING_EXPORTS]

    @app.callback(
        Output(ID.TRAIN_DOWNLOAD, "data"),
        *[Input(bid, "n_clicks") for bid in button_ids],
        State(ID.TRAIN_RESULT, "data"),
        background=True,
        running=[(Output(bid, "disabled"), True, False) for bid in button_ids],
        prevent_initial_call=True,
    )
    def on_export(*args: Any) -> dict[str, Any]:
        *clicks, data = args
        if not any(clicks):
            raise PreventUpdate
        return download(ctx.triggered_id, data_dir, data)
