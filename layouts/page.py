"""The whole page: header, sidebar controls, share bar, views and the client-side stores.

:func:`build` is given to Dash as the layout *function*, so every page load lists the models
and data files stored so far.
"""

from __future__ import annotations

from pathlib import Path

from dash import dcc, html

from topomap_core.store import Store

from . import controls, share, views
from .ids import ID


def build(data_dir: str | Path | None = None) -> html.Div:
    """Build the page for the store under ``data_dir`` (default: ``TOPOMAPS_DATA_DIR``)."""
    store = Store(data_dir)
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
                    controls.build(
                        controls.model_options(store.list_models()),
                        controls.data_options(store.list_data()),
                    ),
                    html.Div([share.build(), views.build()], className="content"),
                ],
                className="body",
            ),
        ],
        className="app",
    )
