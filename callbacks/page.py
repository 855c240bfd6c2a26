"""The main area's tabs: which sidebar parts show.

The sidebar's Data, Groups and Layout sections are shared by every tab; its Model section and
Run panel belong to the Maps tab and are hidden on the others (each of which has its own
source and Run), and so are the Maps exports of the share bar. The open tab itself travels in
the link (``callbacks.url``).
"""

from __future__ import annotations

from pathlib import Path

from dash import Dash, Input, Output

from layouts.ids import ID


def register(app: Dash, data_dir: Path) -> None:
    """Register the tab -> sidebar / content classes callback (in the browser) on ``app``."""
    app.clientside_callback(
        """function(tab) {
            const other = (tab && tab !== 'maps') ? ' tab-other' : '';
            return ['sidebar' + other, 'content' + other];
        }""",
        Output(ID.SIDEBAR, "className"),
        Output(ID.CONTENT, "className"),
        Input(ID.TABS, "value"),
    )
