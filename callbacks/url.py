"""The URL mirrors the view: a link opens the same controls (and, if stored, the same maps).

On load (and on back/forward) the query of ``href`` is parsed and validated
(:func:`callbacks.state.parse_query`) and the controls are set; the controls then write the
query back (``search``) and the share link. Writing ``search`` does not change ``href``, so
the two callbacks do not loop.

The open tab and the Training and Compare tabs' values travel too, but only while their tab
is open (a Maps link is what it always was). A link's training layer and state wait in
TRAIN_LINK until the series' layers and result have loaded (a dropdown drops a value its
options lack, and the slider has no states before a result); while a link's state waits it
is the one written back. While the training animation plays, the state is written once it
pauses (not a history entry per frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dash import Dash, Input, Output, State, ctx
from dash.exceptions import PreventUpdate

from callbacks.common import (
    CONTROL_IDS,
    CONTROL_ORDER,
    TAB_IDS,
    TAB_ORDER,
    app_data_dir,
    controls_dict,
    tab_dict,
)
from callbacks.state import ParsedQuery, parse_query, share_link, to_query
from layouts.ids import ID
from topomap_core.store import Store

#: The tab values the link sets directly (the slider's state waits in TRAIN_LINK instead).
LINKED_TABS: tuple[tuple[str, str], ...] = tuple(
    (key, cid) for key, cid in zip(TAB_ORDER, TAB_IDS, strict=True) if key != "state"
)


def read_link(href: str | None, data_dir: str | Path) -> ParsedQuery:
    """The page link's validated values (controls, ``group``, tab values) and warnings."""
    search = urlsplit(href or "").query
    store = Store(data_dir)
    return parse_query(
        search,
        known_models={item["id"] for item in store.list_models()},
        known_data={item["id"] for item in store.list_data()},
        known_checkpoints={item["id"] for item in store.list_checkpoints()},
    )


def apply_link(href: str | None, data_dir: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Control values (and ``group``) from the page's link, and warnings for what was ignored."""
    parsed = read_link(href, data_dir)
    return parsed.values, parsed.warnings


def link_for(
    values: dict[str, Any],
    group: str | None,
    href: str | None,
    tab_values: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """The query string for the controls (and the open tab's values) and the full link."""
    search = to_query({**values, "group": group}, tab_values)
    return search, share_link(href, search)


def linked_state(slider: Any, pending: dict | None, result: dict | None) -> Any:
    """The state a link should carry: a link's state still waiting, else the slider's value
    when a training result is shown, else none."""
    waiting = (pending or {}).get("state")
    if waiting is not None:
        return waiting
    return slider if isinstance(result, dict) and result.get("n") else None


def register(app: Dash) -> None:
    """Register the link -> controls and controls -> link callbacks on ``app``."""
    data_dir = app_data_dir(app)
    assert len(CONTROL_IDS) == len(CONTROL_ORDER)

    @app.callback(
        *[Output(cid, "value") for cid in CONTROL_IDS],
        Output(ID.SELECTED_GROUP, "data"),
        Output(ID.URL_WARNINGS, "data"),
        Output(ID.LINK_LAYER, "data"),
        *[Output(cid, "value") for _, cid in LINKED_TABS],
        Output(ID.TRAIN_LINK, "data"),
        Output(ID.COMPARE_LINK, "data"),
        Input(ID.URL, "href"),
    )
    def on_link(href: str | None):
        if not href:
            raise PreventUpdate
        parsed = read_link(href, data_dir)
        values, tab = parsed.values, parsed.tab
        # The layer dropdown drops a value its options lack (an uploaded model's layers are
        # listed only once the model is selected), so the linked layer is also kept aside.
        return (
            *[values[key] for key in CONTROL_ORDER],
            values["group"],
            parsed.warnings,
            values["layer"],
            *[tab[key] for key, _ in LINKED_TABS],
            {"train_layer": tab["train_layer"], "state": tab["state"]},
            {"layer_a": tab["layer_a"], "layer_b": tab["layer_b"]},
        )

    @app.callback(
        Output(ID.URL, "search"),
        Output(ID.SHARE_LINK, "children"),
        Output(ID.SHARE_LINK, "href"),
        *[Input(cid, "value") for cid in CONTROL_IDS],
        Input(ID.SELECTED_GROUP, "data"),
        *[Input(cid, "value") for cid in TAB_IDS],
        Input(ID.TRAIN_INTERVAL, "disabled"),
        State(ID.TRAIN_LINK, "data"),
        State(ID.TRAIN_RESULT, "data"),
        State(ID.URL, "href"),
        prevent_initial_call=True,
    )
    def on_controls(*args: Any):
        n, m = len(CONTROL_IDS), len(TAB_IDS)
        values, group, tab = args[:n], args[n], tab_dict(*args[n + 1 : n + 1 + m])
        paused, pending, result, href = args[n + 1 + m :]
        if paused is False and ctx.triggered_id == ID.TRAIN_SLIDER:
            raise PreventUpdate  # playing: the state is written when it pauses
        tab["state"] = linked_state(tab["state"], pending, result)
        search, link = link_for(controls_dict(*values), group, href, tab)
        return search, link, link
