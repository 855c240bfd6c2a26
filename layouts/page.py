"""The whole page: header, sidebar controls, share bar, the tabs and the client-side stores.

:func:`build` is given to Dash as the layout *function*, so every page load lists the models,
data files and checkpoint series stored so far. The tabs are given by ``app.py`` (each tab's
layouts module builds its pane), so a new tab needs no change here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dash import dcc, html

from topomap_core.store import Store

from . import controls, share
from .ids import ID


@dataclass(frozen=True)
class TabPane:
    """One tab of the main area: its value (the link's ``tab``), label and content builder."""

    value: str
    label: str
    build: Callable[[Store], Any]


def build(data_dir: str | Path | None = None, panes: Sequence[TabPane] = ()) -> html.Div:
    """Build the page for the store under ``data_dir`` (default: ``TOPOMAPS_DATA_DIR``)
    with ``panes`` as its tabs, the first being the default."""
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
                    controls.build(
                        models,
                        controls.data_options(store.list_data()),
                        controls.selection_options(store.list_selections()),
                    ),
                    html.Div(
                        [url_notice(), share.build(), tabs(store, panes)],
                        id=ID.CONTENT,
                        className="content",
                    ),
                ],
                className="body",
            ),
        ],
        className="app",
    )


def url_notice() -> html.Div:
    """One dismissible warning about what a link asked for and did not get (hidden if none)."""
    return html.Div(
        [
            html.Div(id=ID.URL_NOTICE_TEXT),
            html.Button(
                "×", id=ID.URL_NOTICE_CLOSE, className="notice-close", title="Dismiss", n_clicks=0
            ),
        ],
        id=ID.URL_NOTICE,
        className="msg-warning url-notice",
        role="alert",
        hidden=True,
    )


def tabs(store: Store, panes: Sequence[TabPane]) -> dcc.Tabs:
    """The main area's tabs, the first selected (a link without ``tab``)."""
    return dcc.Tabs(
        id=ID.TABS,
        value=panes[0].value if panes else None,
        children=[
            dcc.Tab(
                label=pane.label,
                value=pane.value,
                children=pane.build(store),
                className="tab",
                selected_className="tab--selected",
            )
            for pane in panes
        ],
        className="tabs",
        parent_className="tabs-parent",
        content_className="tabs-content",
    )
