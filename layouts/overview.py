"""The Overview tab: every Dense and Conv layer's maps, and where the groups come apart.

Model, data, groups, layout method and seed are the sidebar's, as on every tab; the tab adds
the layers to show (default: every Dense and Conv layer) and the random draws of the baseline.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.overview import OverviewRequest
from topomap_core.params import bounds, defaults
from topomap_core.store import Store

from .controls import run_block, select
from .figures.maps import blank_figure
from .ids import JobIds


class OverviewIds(StrEnum):
    """Component ids of the Overview tab."""

    LAYERS = "overview-layers"
    LAYERS_HINT = "overview-layers-hint"
    DRAWS = "overview-draws"
    SCALE = "overview-scale"
    NOTES = "overview-notes"
    RUN = "overview-run"
    CANCEL = "overview-cancel"
    PROGRESS_BAR = "overview-progress-bar"
    PROGRESS_TEXT = "overview-progress-text"
    STATUS = "overview-status"
    RESULT = "overview-result"
    MAPS = "overview-maps"
    CURVE = "overview-curve"


#: The Overview tab's job.
JOB = JobIds(
    OverviewIds.RUN,
    OverviewIds.CANCEL,
    OverviewIds.PROGRESS_BAR,
    OverviewIds.PROGRESS_TEXT,
    OverviewIds.STATUS,
    OverviewIds.RESULT,
)

DEFAULTS = defaults(OverviewRequest)

NO_OVERVIEW = "No overview yet: choose a model and data in the sidebar, then press Run."

_STATIC = {"displaylogo": False, "responsive": True, "displayModeBar": False}


def _field(label: str, control, hint_id: str | None = None, hint: str = "") -> html.Div:
    parts = [html.Label(label, htmlFor=control.id), control]
    if hint_id:
        parts.append(html.Small(hint, id=hint_id, className="hint"))
    elif hint:
        parts.append(html.Small(hint, className="hint"))
    return html.Div([p for p in parts if p is not None], className="field")


def build(store: Store | None = None) -> html.Div:
    """The Overview tab's content."""
    low, high = bounds(OverviewRequest, "draws")
    setup = html.Section(
        [
            html.H2("Whole network"),
            html.P(
                "The maps of every Dense and Conv layer of the sidebar's model, one row per "
                "layer (each on its own colour scale, ± in its label, or one for all) and one "
                "column per group, and how far apart the groups are in each layer compared "
                "with random groups of the same sizes: 1× is chance; a filled marker separates "
                "more than chance after Holm's correction for the number of layers. Data, "
                "groups, layout method and seed are the sidebar's.",
                className="help",
            ),
            html.Div(
                [
                    _field(
                        "Layers",
                        dcc.Input(
                            id=OverviewIds.LAYERS,
                            type="text",
                            placeholder="every Dense and Conv layer",
                            debounce=True,
                        ),
                        OverviewIds.LAYERS_HINT,
                    ),
                    _field(
                        "Random draws",
                        dcc.Input(
                            id=OverviewIds.DRAWS,
                            type="number",
                            min=low,
                            max=high,
                            step=1,
                            value=DEFAULTS["draws"],
                            debounce=True,
                        ),
                        hint="At least; more when many layers are tested (Holm's correction).",
                    ),
                    _field(
                        "Colour scale",
                        select(
                            OverviewIds.SCALE,
                            {"layer": "One per layer", "shared": "One for all layers"},
                            DEFAULTS["scale"],
                        ),
                    ),
                ],
                className="tab-fields",
            ),
            run_block(JOB, "Run"),
        ],
        className="card tab-setup",
    )
    return html.Div(
        [
            dcc.Store(id=OverviewIds.RESULT, data=None),
            setup,
            html.Div(id=OverviewIds.NOTES, className="map-notes", role="status"),
            html.Section(
                [
                    html.H2("Separation along depth"),
                    dcc.Graph(
                        id=OverviewIds.CURVE,
                        figure=blank_figure("", height=300),
                        config=_STATIC,
                    ),
                ],
                className="card",
            ),
            html.Section(
                [
                    html.H2("Maps per layer"),
                    dcc.Graph(
                        id=OverviewIds.MAPS,
                        figure=blank_figure(NO_OVERVIEW, height=420),
                        config=_STATIC,
                    ),
                ],
                className="card",
            ),
        ],
        className="tab-pane",
    )
