"""The Compare tab's stored comparison: read from either source, drawn, exported.

Two models' comparison is the compare job's stored result; two states' is read from the
training job's published frames (no job of its own): either way a
:class:`topomap_core.analyses.compare.Comparison` (the numerics live there), drawn by
``layouts.figures.training.compare_figure`` and exported as PNG and CSV. Nothing here computes
a comparison anew.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash.exceptions import PreventUpdate

from layouts import compare as layout
from layouts.compare import CompareIds as C
from layouts.figures.maps import empty_figure
from layouts.figures.training import compare_figure
from topomap_core.analyses.compare import Comparison, comparison_csv, render_comparison
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import cached
from topomap_core.store import Store

from .common import readable_error
from .training import frame


def stored_comparison(data_dir: str | Path, data: dict | None) -> Comparison | str | None:
    """The comparison result-store ``data`` points to; a message when it is gone; None if no
    result."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return None
    if data.get("mode") == "states":
        frames = [frame(data_dir, data, data[side]) for side in ("a", "b")]
        if None in frames:
            return "The stored training maps are gone: run them again."
        return Comparison.of_states(*frames, list(data["names"]), data["vmax"])
    job = get_job("compare")
    result = cached(job, job.validate(data["request"]), Store(data_dir))
    if result is None:
        return "The stored comparison is gone: press Compare again."
    return Comparison.of_result(result)


def compare_view(data_dir: str | Path, data: dict | None) -> go.Figure:
    """The figure of result-store ``data``: A, B and B − A per group, or a placeholder."""
    try:
        found = stored_comparison(data_dir, data)
        if found is None:
            return empty_figure(layout.NO_COMPARISON, height=420)
        if isinstance(found, str):
            return empty_figure(found, 420)
        return compare_figure(
            found.names, found.maps_a, found.maps_b, found.diff_maps, found.vmax,
            found.diff_vmax,
        )  # fmt: skip
    except Exception as exc:  # a message in the page rather than a failed callback
        return empty_figure(f"Could not draw the comparison: {readable_error(exc)}", 420)


def export_stem(data: dict, data_dir: str | Path) -> str:
    """``topomaps_compare_<A>_vs_<B>_<data>_<layer>_<grouping>_<method>_<id>``."""
    req = data["request"]
    store = Store(data_dir)

    def name(ref: str) -> str:
        return re.sub(r"\.(keras|h5|npz|zip)$", "", store.display_name(ref).removeprefix("demo:"))

    if data.get("mode") == "states":
        sides = [f"{name(req['checkpoints'])}-state{data[s]}" for s in ("a", "b")]
    else:
        sides = [name(req["model_a"]), name(req["model_b"])]
    parts = [
        "topomaps_compare",
        sides[0],
        "vs",
        sides[1],
        name(req["data"]),
        req["layer"],
        req["groups"],
        req["method"],
        str(data.get("key") or "")[:8],
    ]
    text = "_".join(str(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:180]


def compare_export(kind: str, data_dir: str | Path, data: dict | None) -> dict[str, Any]:
    """The ``dcc.Download`` data of export ``kind`` (``C.EXPORT_PNG`` / ``C.EXPORT_CSV``), made
    from the stored comparison, never recomputed.

    Raises
    ------
    PreventUpdate
        Nothing stored to export.
    """
    found = stored_comparison(data_dir, data)
    if not isinstance(found, Comparison) or kind not in (C.EXPORT_PNG, C.EXPORT_CSV):
        raise PreventUpdate
    stem = export_stem(data, data_dir)
    if kind == C.EXPORT_CSV:
        text = comparison_csv(found.names, found.values_a, found.values_b)
        return {"content": text, "filename": stem + ".csv", "type": "text/csv", "base64": False}
    image = render_comparison(
        found.names,
        found.maps_a,
        found.maps_b,
        found.diff_maps,
        found.vmax,
        found.diff_vmax,
    )
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    content = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"content": content, "filename": stem + ".png", "type": "image/png", "base64": True}
