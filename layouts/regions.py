"""The explained-regions panel of the Maps tab: a group's map with its strong regions outlined,
a clicked region's neurons, and the examples that activate it most (a job)."""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.regions import RegionsRequest
from topomap_core.params import bounds, defaults

from .controls import run_block
from .figures.maps import blank_figure
from .ids import JobIds


class RegionIds(StrEnum):
    """Component ids of the regions panel."""

    GROUP = "regions-group"
    THRESHOLD = "regions-threshold"
    GRAPH = "regions-graph"
    SELECTED = "regions-selected"
    DETAILS = "regions-details"
    RUN = "regions-run"
    CANCEL = "regions-cancel"
    PROGRESS_BAR = "regions-progress-bar"
    PROGRESS_TEXT = "regions-progress-text"
    STATUS = "regions-status"
    RESULT = "regions-result"


#: The regions panel's job (top examples).
JOB = JobIds(
    RegionIds.RUN,
    RegionIds.CANCEL,
    RegionIds.PROGRESS_BAR,
    RegionIds.PROGRESS_TEXT,
    RegionIds.STATUS,
    RegionIds.RESULT,
)

DEFAULTS = defaults(RegionsRequest)
#: The threshold box's step: its default (0.098, the paper's component metric) must be a whole
#: number of steps above the minimum, or the browser marks the box invalid (red) on load.
THRESHOLD_STEP = 0.001
NO_MAP = "Regions appear once the maps are computed."


def panel() -> html.Section:
    """The panel (placed by the Maps tab's layout under its other views)."""
    low, high = bounds(RegionsRequest, "threshold")
    return html.Section(
        [
            html.H2("Explained regions"),
            html.P(
                "The strongly positive (solid outline) and strongly negative (dashed) regions "
                "of a group's map: where |NAP| passes the threshold (a fraction of the colour "
                "limit; 0.098 is the paper's component metric). Click a region for its "
                "neurons; Find examples lists the inputs that activate it most.",
                className="help",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("Group", htmlFor=RegionIds.GROUP),
                            dcc.Dropdown(id=RegionIds.GROUP, options=[], clearable=False),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("Threshold", htmlFor=RegionIds.THRESHOLD),
                            dcc.Input(
                                id=RegionIds.THRESHOLD,
                                type="number",
                                min=low,
                                max=high,
                                step=THRESHOLD_STEP,
                                value=DEFAULTS["threshold"],
                                debounce=True,
                            ),
                        ],
                        className="field",
                    ),
                ],
                className="tab-fields",
            ),
            dcc.Store(id=RegionIds.SELECTED, data=None),
            dcc.Store(id=RegionIds.RESULT, data=None),
            html.Div(
                [
                    dcc.Graph(
                        id=RegionIds.GRAPH,
                        figure=blank_figure(NO_MAP, height=380),
                        config={"displaylogo": False, "displayModeBar": False},
                    ),
                    html.Div(
                        [
                            html.Div(id=RegionIds.DETAILS),
                            run_block(JOB, "Find examples"),
                        ],
                        className="regions-details",
                    ),
                ],
                className="regions-body",
            ),
        ],
        className="card card-regions",
    )
