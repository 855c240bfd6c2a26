"""The explained-regions panel of the Maps tab (a feature module: app.py's FEATURES).

Regions are found in the web process from the stored map view (no job: a few milliseconds of
numpy on the cached MapResult); the examples that activate a region most need the layer's
activations, so Find examples runs the regions job in a job process, like every Run.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from layouts import regions as layout
from layouts.figures.maps import empty_figure
from layouts.figures.regions import example_uri, regions_figure
from layouts.ids import ID
from layouts.regions import RegionIds as R
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import cached
from topomap_core.params import coerce_int
from topomap_core.profiles.regions import DEFAULT_THRESHOLD, find_regions
from topomap_core.store import Store

from .common import readable_error
from .jobs import JobTab, register_job, timed
from .maps import INPUTS as MAPS_INPUTS
from .maps import result_from_store

#: The sidebar's controls, the panel's group and threshold.
INPUTS: tuple[tuple[str, str], ...] = (
    *MAPS_INPUTS,
    ("group", R.GROUP),
    ("threshold", R.THRESHOLD),
)


def regions_request(values: dict[str, Any]):
    """The regions job and the request of the page's values (validated)."""
    job = get_job("regions")
    return job, job.validate({name: values.get(name) for name, _ in INPUTS})


def regions_data(outcome, request, values: dict[str, Any]) -> dict[str, Any]:
    return {"request": asdict(request), "key": outcome.key}


def regions_status(outcome, data: dict[str, Any]) -> str:
    n = len(outcome.view.regions)
    text = f"top examples of {n} region{'s' if n != 1 else ''}"
    return f"{timed(outcome)}: {text}." if outcome.computed else f"Loaded the stored {text}."


JOB = JobTab(
    layout.JOB, INPUTS, regions_request, regions_data, regions_status, "maps",
    not_computed="Examples not found yet — press Find examples.",
    failed="Finding examples failed", starting="loading model and data…",
)  # fmt: skip


def group_choices(data_dir: str | Path, map_data: dict | None, selected: str | None):
    """The groups of the stored map view, and the one to show (the selected group)."""
    result = result_from_store(data_dir, map_data)
    if result is None:
        return [], None
    names = result.order.names
    return [{"label": n, "value": n} for n in names], selected if selected in names else names[0]


def _threshold(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return DEFAULT_THRESHOLD
    return value if 0.0 < value < 1.0 else DEFAULT_THRESHOLD


def clicked_region(click: dict | None) -> int | None:
    """The region a click on the map lands in (None outside every region)."""
    try:
        value = coerce_int(click["points"][0]["customdata"])
    except (TypeError, KeyError, IndexError):
        return None
    return value if value else None


def panel_view(
    data_dir: str | Path,
    map_data: dict | None,
    group: str | None,
    threshold: Any,
    selected: int | None,
    found: dict | None,
) -> tuple[go.Figure, Any]:
    """The outlined map of ``group`` and the details of region ``selected``."""
    result = result_from_store(data_dir, map_data)
    if result is None or group not in result.order.names:
        return empty_figure(layout.NO_MAP, 380), None
    try:
        g = result.order.names.index(group)
        labels, regions = find_regions(
            result.maps[g], result.layout, result.values[g], result.vmax, _threshold(threshold)
        )
        dicts = [r.to_dict() for r in regions]
        title = f"{group}: {sum(r.sign > 0 for r in regions)} positive, "
        title += f"{sum(r.sign < 0 for r in regions)} negative regions"
        fig = regions_figure(result.maps[g], result.vmax, labels, dicts, title, selected)
        return fig, region_details(data_dir, dicts, selected, found)
    except Exception as exc:  # a message in the page rather than a failed callback
        return empty_figure(f"Could not find the regions: {readable_error(exc)}", 380), None


def region_details(
    data_dir: str | Path, regions: list[dict], selected: int | None, found: dict | None
) -> Any:
    """A region's sign, size and neurons, and its top examples once found."""
    if not regions:
        return html.P("No region passes the threshold: lower it.", className="muted")
    region = next((r for r in regions if r["index"] == selected), None)
    if region is None:
        return html.P("Click a region (its number) for its neurons.", className="muted")
    kind = "strongly positive" if region["sign"] > 0 else "strongly negative"
    neurons = ", ".join(map(str, region["neurons"])) or "none (the region lies between neurons)"
    parts = [
        html.P(
            [
                html.Strong(f"Region {region['index']}"),
                f": {kind}, {region['size_px']} px, {len(region['neurons'])} neurons.",
            ],
            className="region-title",
        ),  # fmt: skip
        html.P(f"Neurons: {neurons}", className="region-neurons"),
    ]
    examples = _examples(data_dir, found, region["index"])
    if examples is not None:
        parts.append(examples)
    return html.Div(parts)


def _examples(data_dir: str | Path, found: dict | None, index: int) -> Any:
    if not isinstance(found, dict) or not isinstance(found.get("request"), dict):
        return None
    job = get_job("regions")
    try:
        result = cached(job, job.validate(found["request"]), Store(data_dir))
    except (TypeError, ValueError, OSError):
        return None
    if result is None or index > len(result.regions):
        return None
    i = index - 1
    tiles = []
    for j, (example, score) in enumerate(zip(result.examples[i], result.scores[i], strict=True)):
        label = result.example_labels[i][j]
        caption = f"#{example}" + (f" ({label})" if label else "") + f" {score:.2g}"
        uri = example_uri(result.images[i, j])
        body = [html.Img(src=uri, alt=caption)] if uri else []
        tiles.append(html.Figure([*body, html.Figcaption(caption)], className="example"))
    return html.Div(
        [html.P("Examples that activate it most:"), html.Div(tiles, className="examples"),
         _optimised(result, i)],
        className="region-examples",
    )  # fmt: skip


def _optimised(result, i: int) -> Any:
    """The region's optimised input (activation maximisation), or why there is none."""
    image = result.optimised[i] if i < len(result.optimised) else None
    if image is None:
        why = ("a Dense layer has no spatial axes" if result.request.optimise_steps
               else "0 optimisation steps")  # fmt: skip
        return html.Small(f"Optimised input: none ({why}).", className="hint")
    caption = f"optimised input, {result.request.optimise_steps} steps"
    if i < len(result.optimised_activation) and result.optimised_activation[i]:
        start, final = result.optimised_activation[i]
        caption += f" (activation {start:.2g} on the starting noise, {final:.2g} here)"
    uri = example_uri(image)
    body = [html.Img(src=uri, alt=caption)] if uri else []
    return html.Div(
        [html.P("Input optimised to excite the region's neurons:"),
         html.Figure([*body, html.Figcaption(caption)], className="example optimised")],
        className="region-optimised",
    )  # fmt: skip


def register(app: Dash, data_dir: Path) -> None:
    """Register the regions panel's callbacks on ``app``."""
    register_job(app, JOB, data_dir)

    @app.callback(
        Output(R.GROUP, "options"),
        Output(R.GROUP, "value"),
        Input(ID.RESULT_STORE, "data"),
        Input(ID.SELECTED_GROUP, "data"),
    )
    def on_map(map_data: dict | None, selected: str | None):
        return group_choices(data_dir, map_data, selected)

    @app.callback(
        Output(R.SELECTED, "data"),
        Input(R.GRAPH, "clickData"),
        Input(R.GROUP, "value"),
        Input(R.THRESHOLD, "value"),
        State(R.SELECTED, "data"),
        prevent_initial_call=True,
    )
    def on_click(click: dict | None, group, threshold, current: int | None):
        if ctx.triggered_id != R.GRAPH:
            return None  # another map or threshold: other regions
        region = clicked_region(click)
        if region is None and current is None:
            raise PreventUpdate
        return region

    @app.callback(
        Output(R.GRAPH, "figure"),
        Output(R.DETAILS, "children"),
        Input(ID.RESULT_STORE, "data"),
        Input(R.GROUP, "value"),
        Input(R.THRESHOLD, "value"),
        Input(R.SELECTED, "data"),
        Input(R.RESULT, "data"),
    )
    def on_panel(map_data, group, threshold, selected, found):
        return panel_view(data_dir, map_data, group, threshold, selected, found)
