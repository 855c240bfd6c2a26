"""The main area's tabs: which sidebar parts show.

The sidebar's Data, Groups and Layout sections are shared by every tab; its Run panel belongs to
the Maps tab and is hidden on the others (each of which has its own Run), and so are the Maps
exports of the share bar. Its Model section is shown on the tabs that analyse the sidebar's
model (:data:`SIDEBAR_MODEL_TABS`) and hidden on those with a source of their own. The open
tab itself travels in the link (``callbacks.url``).
"""

from __future__ import annotations

import json
from pathlib import Path

from dash import Dash, Input, Output

from layouts.ids import ID

#: Tabs that analyse the sidebar's model (and layer): its Model section stays shown.
SIDEBAR_MODEL_TABS = ("maps", "overview", "bias")


def register(app: Dash, data_dir: Path) -> None:
    """Register the tab -> sidebar / content classes callback (in the browser) on ``app``."""
    shown = json.dumps(list(SIDEBAR_MODEL_TABS))
    app.clientside_callback(
        "function(tab) {"
        "  const other = (tab && tab !== 'maps') ? ' tab-other' : '';"
        f"  const model = {shown}.includes(tab || 'maps') ? ' tab-sidebar-model' : '';"
        "  return ['sidebar' + other + model, 'content' + other];"
        "}",
        Output(ID.SIDEBAR, "className"),
        Output(ID.CONTENT, "className"),
        Input(ID.TABS, "value"),
    )
