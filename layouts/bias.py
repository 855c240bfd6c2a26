"""The Bias tab: do a layer's groups differ more than random groups of the same sizes?

Model, layer, data, grouping (``column``: the data's ``groups`` array, e.g. a sensitive
attribute), layout method and seed are the sidebar's; the tab adds the random draws.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.bias import BiasRequest
from topomap_core.params import bounds, defaults
from topomap_core.store import Store

from .controls import run_block
from .figures.maps import blank_figure
from .ids import JobIds


class BiasIds(StrEnum):
    """Component ids of the Bias tab."""

    DRAWS = "bias-draws"
    RUN = "bias-run"
    CANCEL = "bias-cancel"
    PROGRESS_BAR = "bias-progress-bar"
    PROGRESS_TEXT = "bias-progress-text"
    STATUS = "bias-status"
    RESULT = "bias-result"
    SCORE = "bias-score"
    SENTENCE = "bias-sentence"
    SCORE_GRAPH = "bias-score-graph"
    MAPS = "bias-maps"


#: The Bias tab's job.
JOB = JobIds(
    BiasIds.RUN,
    BiasIds.CANCEL,
    BiasIds.PROGRESS_BAR,
    BiasIds.PROGRESS_TEXT,
    BiasIds.STATUS,
    BiasIds.RESULT,
)

DEFAULTS = defaults(BiasRequest)

NO_BIAS = "No result yet: choose a model, layer, data and grouping in the sidebar, then Run."

_STATIC = {"displaylogo": False, "responsive": True, "displayModeBar": False}


def build(store: Store | None = None) -> html.Div:
    """The Bias tab's content."""
    low, high = bounds(BiasRequest, "draws")
    setup = html.Section(
        [
            html.H2("Bias: groups against chance"),
            html.P(
                "Does the layer tell these groups apart more than it tells apart random groups "
                "of the same sizes? For a sensitive attribute, put it in the data's 'groups' "
                "array and choose grouping 'column'. The random groupings are drawn many times; "
                "the score is the mean distance between the groups' profiles divided by that "
                "of random groups (1× is chance). Model, layer, data and grouping are the "
                "sidebar's (its random groups are not used here).",
                className="help",
            ),
            html.Div(
                html.Div(
                    [
                        html.Label("Random draws", htmlFor=BiasIds.DRAWS),
                        dcc.Input(
                            id=BiasIds.DRAWS,
                            type="number",
                            min=low,
                            max=high,
                            step=1,
                            value=DEFAULTS["draws"],
                            debounce=True,
                        ),
                    ],
                    className="field",
                ),
                className="tab-fields",
            ),
            run_block(JOB, "Run"),
        ],
        className="card tab-setup",
    )
    score = html.Section(
        [
            html.H2("Discriminability"),
            html.P(id=BiasIds.SCORE, className="score", children="–"),
            html.P(id=BiasIds.SENTENCE, className="help", children=NO_BIAS),
            dcc.Graph(id=BiasIds.SCORE_GRAPH, figure=blank_figure("", height=260), config=_STATIC),
        ],
        className="card",
    )
    maps = html.Section(
        [
            html.H2("Groups (top) and random groups of the same sizes (bottom)"),
            dcc.Graph(id=BiasIds.MAPS, figure=blank_figure(NO_BIAS, height=420), config=_STATIC),
        ],
        className="card",
    )
    return html.Div(
        [dcc.Store(id=BiasIds.RESULT, data=None), setup, score, maps], className="tab-pane"
    )
