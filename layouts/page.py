"""The whole page: header, sidebar controls, share bar, the tabs (Maps, Training, Compare) and
the client-side stores.

:func:`build` is given to Dash as the layout *function*, so every page load lists the models,
data files and checkpoint series stored so far.
"""

from __future__ import annotations

from pathlib import Path

from dash import dcc, html

from layouts import compare, controls, share, training, views
from layouts.ids import ID
from topomap_core.store import Store


def build(data_dir: str | Path | None = None) -> html.Div:
    """Build the page for the store under ``data_dir`` (default: ``TOPOMAPS_DATA_DIR``)."""
    store = Store(data_dir)
    models = controls.model_options(store.list_models())
    header = html.Header(
        [
            html.Div(
                [
                    html.H1("topomaps"),
                    html.P(
                        "See what a layer of a neural network does, the way neuroscience "
                        "shows brain activity: as topographic activation maps "
                        "(Krug et al. 2023).",
                        className="tagline",
                    ),
                ]
            ),
        ],
        className="header",
    )
    return html.Div(
        [
            dcc.Location(id=ID.URL, refresh=False),
            dcc.Store(id=ID.RESULT_STORE, data=None),
            dcc.Store(id=ID.SELECTED_GROUP, data=None),
            dcc.Store(id=ID.MARKED_NEURON, data=None),
            dcc.Store(id=ID.URL_WARNINGS, data=[]),
            # The layer a link asks for, until its model's layer list has loaded.
            dcc.Store(id=ID.LINK_LAYER, data=None),
            header,
            html.Div(
                [
                    controls.build(models, controls.data_options(store.list_data())),
                    html.Div(
                        [share.build(), tabs(store, models)], id=ID.CONTENT, className="content"
                    ),
                ],
                className="body",
            ),
        ],
        className="app",
    )


#: (value, label) of the main area's tabs; the first is the default (a link without ``tab``).
TAB_LABELS: tuple[tuple[str, str], ...] = (
    ("maps", "Maps"),
    ("training", "Training"),
    ("compare", "Compare"),
)


def tabs(store: Store, models: list[dict[str, str]]) -> dcc.Tabs:
    """Maps (the views of one model), Training (maps over a training run), Compare."""
    panes = {
        "maps": views.build(),
        "training": training.build(training.checkpoint_options(store.list_checkpoints()), models),
        "compare": compare.build(models),
    }
    return dcc.Tabs(
        id=ID.TABS,
        value=TAB_LABELS[0][0],
        children=[
            dcc.Tab(
                label=label,
                value=value,
                children=panes[value],
                className="tab",
                selected_className="tab--selected",
            )
            for value, label in TAB_LABELS
        ],
        className="tabs",
        parent_className="tabs-parent",
        content_className="tabs-content",
    )
