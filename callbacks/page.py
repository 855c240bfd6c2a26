"""The main area's tabs: which sidebar parts show, derived from what each tab's request uses.

Each tab declares the controls its request is made of (``Tab.inputs``: request field and
component id, the same pairs its job reads); a sidebar control is shown on a tab exactly when
that tab's request reads it, and a sidebar section when any of its controls is shown. So no
tab hides a control it uses (the Evaluate tab once evaluated the sidebar's model with the Model
section hidden) or shows one it ignores (the Mapper tab once showed Groups and Method). The
sidebar's Run panel and the share bar's Maps exports belong to the Maps tab. The open tab
itself travels in the link (``callbacks.url``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from dash import Dash, Input, Output

from layouts.controls import SIDEBAR_CONTROLS, SIDEBAR_SECTIONS, unit_id
from layouts.ids import ID


def sidebar_visibility(tabs: Sequence) -> dict[str, list[str]]:
    """Tab value -> the sidebar controls its request reads, in sidebar order."""
    shown = {}
    for tab in tabs:
        used = {component for _, component in tab.inputs}
        shown[tab.pane.value] = [c for c in SIDEBAR_CONTROLS if c in used]
    return shown


def sections_shown(controls: Sequence[str]) -> dict[str, bool]:
    """Section id -> whether it holds one of ``controls``."""
    return {sid: any(c in controls for c in cs) for sid, cs in SIDEBAR_SECTIONS.items()}


def register(app: Dash, tabs: Sequence) -> None:
    """Register the tab -> sidebar callback (in the browser): each sidebar control's block and
    section hidden unless the open tab's request reads it; the Maps-only parts by class."""
    visible: Mapping[str, list[str]] = sidebar_visibility(tabs)
    first = tabs[0].pane.value if tabs else "maps"
    sections = {sid: list(cs) for sid, cs in SIDEBAR_SECTIONS.items()}
    app.clientside_callback(
        "function(tab) {"
        f"  const shown = {json.dumps(visible)};"
        f"  const sections = {json.dumps(sections)};"
        f"  const controls = {json.dumps(list(SIDEBAR_CONTROLS))};"
        f"  const open = (tab && shown[tab]) ? tab : {json.dumps(first)};"
        "  const on = shown[open];"
        f"  const other = open !== {json.dumps(first)} ? ' tab-other' : '';"
        "  return [ 'sidebar' + other, 'content' + other,"
        "    ...controls.map(c => !on.includes(c)),"
        "    ...Object.values(sections).map(cs => !cs.some(c => on.includes(c))) ];"
        "}",
        Output(ID.SIDEBAR, "className"),
        Output(ID.CONTENT, "className"),
        *[Output(unit_id(c), "hidden") for c in SIDEBAR_CONTROLS],
        *[Output(sid, "hidden") for sid in SIDEBAR_SECTIONS],
        Input(ID.TABS, "value"),
    )
