"""topomaps dashboard entry point: only wiring.

Creates the Dash app and exposes ``server`` for WSGI servers (``gunicorn app:server``). Run
directly for the development server: ``python app.py`` (HOST and PORT environment variables,
default 127.0.0.1:8050). Everything lives in ``layouts/`` (components and figures) and
``callbacks/`` (one module per feature, each with ``register(app)``).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from topomap_core.config import quiet_tensorflow

quiet_tensorflow()

import diskcache  # noqa: E402 - TensorFlow settings must come first
from dash import Dash, DiskcacheManager  # noqa: E402

from callbacks import data, export, models, run, url, views  # noqa: E402
from callbacks.common import DATA_DIR_KEY  # noqa: E402
from layouts import page  # noqa: E402
from topomap_core.config import data_dir as default_data_dir  # noqa: E402


def create_app(data_dir: str | Path | None = None) -> Dash:
    """Build the dashboard for the store under ``data_dir`` (default ``TOPOMAPS_DATA_DIR``).

    Background jobs are run by a :class:`dash.DiskcacheManager` whose queue lives in
    ``<data_dir>/dash-jobs``.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    root.mkdir(parents=True, exist_ok=True)
    app = Dash(
        __name__,
        title="topomaps",
        background_callback_manager=DiskcacheManager(diskcache.Cache(str(root / "dash-jobs"))),
    )
    app.server.config[DATA_DIR_KEY] = str(root)
    app.layout = partial(page.build, root)
    for feature in (models, data, run, views, url, export):
        feature.register(app)
    return app


app = create_app()
server = app.server

if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8050")),
        debug=False,
    )
