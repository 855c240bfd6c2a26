"""The URL mirrors the view: a link opens the same controls (and, if stored, the same maps).

On load (and on back/forward) the query of ``href`` is parsed and validated
(:func:`callbacks.state.parse_query`) and the controls are set; the controls then write the
query back (``search``) and the share link. Writing ``search`` does not change ``href``, so
the two callbacks do not loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dash import Dash, Input, Output, State
from dash.exceptions import PreventUpdate

from layouts.ids import ID
from topomap_core.store import Store

from .common import CONTROL_IDS, CONTROL_ORDER, app_data_dir, controls_dict
from .state import parse_query, share_link, to_query


def apply_link(href: str | None, data_dir: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Control values (and ``group``) from the page's link, and warnings for what was ignored."""
    search = urlsplit(href or "").query
    store = Store(data_dir)
    parsed = parse_query(
        search,
        known_models={item["id"] for item in store.list_models()},
        known_data={item["id"] for item in store.list_data()},
    )
    return parsed.values, parsed.warnings


def link_for(values: dict[str, Any], group: str | None, href: str | None) -> tuple[str, str]:
    """The query string for the controls and the full link to share."""
    search = to_query({**values, "group": group})
    return search, share_link(href, search)


def register(app: Dash) -> None:
    """Register the link -> controls and controls -> link callbacks on ``app``."""
    data_dir = app_data_dir(app)
    assert len(CONTROL_IDS) == len(CONTROL_ORDER)

    @app.callback(
        *[Output(cid, "value") for cid in CONTROL_IDS],
        Output(ID.SELECTED_GROUP, "data"),
        Output(ID.URL_WARNINGS, "data"),
        Output(ID.LINK_LAYER, "data"),
        Input(ID.URL, "href"),
    )
    def on_link(href: str | None):
        if not href:
            raise PreventUpdate
        values, warnings = apply_link(href, data_dir)
        # The layer dropdown drops a value its options lack (an uploaded model's layers are
        # listed only once the model is selected), so the linked layer is also kept aside.
        return (
            *[values[key] for key in CONTROL_ORDER],
            values["group"],
            warnings,
            values["layer"],
        )

    @app.callback(
        Output(ID.URL, "search"),
        Output(ID.SHARE_LINK, "children"),
        Output(ID.SHARE_LINK, "href"),
        *[Input(cid, "value") for cid in CONTROL_IDS],
        Input(ID.SELECTED_GROUP, "data"),
        State(ID.URL, "href"),
        prevent_initial_call=True,
    )
    def on_controls(*args: Any):
        *values, group, href = args
        search, link = link_for(controls_dict(*values), group, href)
        return search, link, link
