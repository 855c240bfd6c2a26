"""Downloads of the current result: maps as PNG or SVG, layout and NAP as CSV, summary JSON."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
from dash import Dash, Input, Output, State, ctx
from dash.exceptions import PreventUpdate

from layouts.figures.maps import maps_svg
from layouts.ids import ID
from layouts.share import EXPORTS
from topomap_core.analyses.view import MapResult, layout_csv, nap_csv, summary_json
from topomap_core.analyses.view_pages import page_bounds
from topomap_core.profiles.render import render_map_grid
from topomap_core.store import Store

from .maps import result_from_store

#: Export button -> (file name suffix, MIME type).
FORMATS: dict[str, tuple[str, str]] = {
    ID.EXPORT_PNG: (".png", "image/png"),
    ID.EXPORT_SVG: (".svg", "image/svg+xml"),
    ID.EXPORT_LAYOUT_CSV: ("_layout.csv", "text/csv"),
    ID.EXPORT_NAP_CSV: ("_nap.csv", "text/csv"),
    ID.EXPORT_SUMMARY: ("_summary.json", "application/json"),
}


def _part(text: str, limit: int = 40) -> str:
    """A file-name part: the name without a demo prefix or file suffix, only ``A-Za-z0-9-._``."""
    text = re.sub(r"\.(keras|h5|npz|zip)$", "", str(text).removeprefix("demo:"))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:limit] or "x"


def file_stem(
    result: Any,
    key: str = "",
    model: str | None = None,
    data: str | None = None,
    kind: str = "",
    method: bool = True,
) -> str:
    """``topomaps[_<kind>]_<model>_<data>_<layer>_<grouping>[_<method>]_<id>``: exports of
    different models, data or groupings no longer share a name (only layer and method did).

    The one naming of every tab's exports (Maps, Training, Topographic).

    Parameters
    ----------
    result : MapResult, TrainingResult, TopographicResult ...
        Anything with a ``request`` of the map parameters (layer, groups, method, data).
    key : str
        The result's key; its first 8 characters tell apart runs that differ in anything else
        (seed, examples per group, random groups).
    model, data : str, optional
        Display names (an upload's file name); default: the request's references (its
        ``model``, else its ``checkpoints``).
    kind : str, optional
        The tab, after ``topomaps`` (``"training"``, ``"topographic"``).
    method : bool, default=True
        Name the layout method (not for the Topographic tab, whose layout is the grid).
    """
    req = result.request
    grouping = req.groups + (f"+{req.random_groups}random" if req.random_groups else "")
    source = model or getattr(req, "model", None) or getattr(req, "checkpoints", "")
    parts = ["topomaps", *([kind] if kind else [])]
    parts += [_part(source), _part(data or req.data), _part(req.layer, 60), _part(grouping)]
    if method:
        parts.append(_part(req.method))
    if key:
        parts.append(_part(key, 8))
    return "_".join(parts)[:180]


def stored_stem(result: Any, key: str, store: Store, **kwargs: Any) -> str:
    """:func:`file_stem` with ``store``'s display names of the model (or checkpoints) and
    data (an upload's file name rather than its hash)."""
    req = result.request
    source = getattr(req, "model", None) or getattr(req, "checkpoints", "")
    return file_stem(
        result, key, store.display_name(source), store.display_name(req.data), **kwargs
    )


def _title(result: MapResult) -> str:
    return f"{result.request.layer} - {result.request.method}"


def export_file(
    kind: str, result: MapResult, stem: str | None = None, page: Any = 0
) -> dict[str, Any]:
    """The ``dcc.Download`` data for export button ``kind`` (an ``ID.EXPORT_*`` value).

    The pictures (PNG, SVG) hold the maps of the page the grid shows, ``page``, when there
    is more than one (their file name and title say which): 1000 maps in one picture held a
    web worker for seconds and were too small to read. The tables and the summary hold every
    group.

    Returns
    -------
    dict
        ``content`` (text, or base64 for PNG with ``base64=True``), ``filename``, ``type``.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown export {kind!r}; valid: {', '.join(FORMATS)}")
    suffix, mime = FORMATS[kind]
    stem = stem or file_stem(result)
    title = _title(result)
    names = result.order.names
    first, end = page_bounds(len(names), page)
    if kind in (ID.EXPORT_PNG, ID.EXPORT_SVG) and end - first < len(names):
        stem += f"_maps{first + 1}-{end}"
        title += f" (maps {first + 1}-{end} of {len(names)})"
    filename = stem + suffix
    if kind == ID.EXPORT_PNG:
        maps = np.asarray(result.maps[first:end])
        sizes = result.sizes[first:end]
        image = render_map_grid(maps, names[first:end], result.vmax, title=title, sizes=sizes)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        content = base64.b64encode(buf.getvalue()).decode("ascii")
        return {"content": content, "filename": filename, "type": mime, "base64": True}
    if kind == ID.EXPORT_SVG:
        text = maps_svg(result, title=title, page=page)
    elif kind == ID.EXPORT_LAYOUT_CSV:
        text = layout_csv(result)
    elif kind == ID.EXPORT_NAP_CSV:
        text = nap_csv(result)
    else:
        text = summary_json(result)
    return {"content": text, "filename": filename, "type": mime, "base64": False}


def download(
    kind: str | None, data_dir: str | Path, result_data: dict | None, page: Any = 0
) -> dict[str, Any]:
    """Download data for a click (``page``: the page of maps shown), or PreventUpdate when
    there is nothing to export."""
    result = result_from_store(data_dir, result_data)
    if result is None or kind not in FORMATS:
        raise PreventUpdate
    stem = stored_stem(result, str(result_data.get("key") or ""), Store(data_dir))
    return export_file(kind, result, stem, page)


def register(app: Dash, data_dir: Path) -> None:
    """Register the export buttons' callbacks on ``app``."""
    button_ids = [bid for bid, _, _ in EXPORTS]

    @app.callback(
        Output(ID.DOWNLOAD, "data"),
        *[Input(bid, "n_clicks") for bid in button_ids],
        State(ID.RESULT_STORE, "data"),
        State(ID.MAPS_PAGE, "value"),
        prevent_initial_call=True,
    )
    def on_export(*args: Any) -> dict[str, Any]:
        *clicks, result_data, page = args
        if not any(clicks):
            raise PreventUpdate
        return download(ctx.triggered_id, data_dir, result_data, page)

    @app.callback(
        *[Output(bid, "disabled") for bid in button_ids],
        Input(ID.RESULT_STORE, "data"),
    )
    def on_result(result_data: dict | None) -> list[bool]:
        return [not result_data] * len(button_ids)
