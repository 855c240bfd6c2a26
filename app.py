"""topomaps dashboard entry point.

Creates the Dash app and exposes ``server`` for WSGI servers
(``gunicorn app:server``). Run directly for the development server:
``python app.py`` (HOST and PORT environment variables, default 127.0.0.1:8050).
"""

from __future__ import annotations

import os

from topomap_core.config import quiet_tensorflow

quiet_tensorflow()

from dash import Dash, html  # noqa: E402 - TensorFlow settings must come first

from topomap_core import available_methods  # noqa: E402

DEMO_MODEL = "demo:digits-mlp"
DEMO_DATA = "demo:digits"


def create_app() -> Dash:
    """Build the Dash application."""
    app = Dash(__name__, title="topomaps")
    app.layout = html.Main(
        [
            html.H1("topomaps"),
            html.P("Topographic activation maps of Keras models."),
            html.P(f"Selected: model {DEMO_MODEL}, data {DEMO_DATA}.", id="selection"),
            html.P("Layout methods: " + ", ".join(available_methods())),
        ]
    )
    return app


app = create_app()
server = app.server

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8050")))
