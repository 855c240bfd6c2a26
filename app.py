"""topomaps dashboard entry point: only wiring.

Creates the Dash app and exposes ``server`` for WSGI servers (``gunicorn app:server``) and,
when ``REDIS_URL`` is set, ``celery_app`` for the Celery worker (``celery -A app.celery_app
worker``). Run directly for the development server: ``python app.py`` (HOST and PORT
environment variables, default 127.0.0.1:8050). Components live in ``layouts/``, callbacks in
``callbacks/`` (one module per tab or feature); the tabs are listed here, in :data:`TABS`.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import partial
from pathlib import Path

from topomap_core.config import quiet_tensorflow

quiet_tensorflow()

from dash import Dash  # noqa: E402 - TensorFlow settings must come first

import security  # noqa: E402
from callbacks import (  # noqa: E402
    bias,
    compare,
    evaluate,
    export,
    mapper,
    maps,
    overview,
    page,
    regions,
    topographic,
    train_topographic,
    training,
    uploads,
    url,
)
from callbacks.common import DATA_DIR_KEY  # noqa: E402
from callbacks.jobs import background_manager  # noqa: E402
from layouts import page as page_layout  # noqa: E402
from topomap_core.config import data_dir as default_data_dir  # noqa: E402
from topomap_core.config import shared_secret  # noqa: E402
from topomap_core.jobs import celery as celery_jobs  # noqa: E402
from topomap_core.jobs.spares import start_keeper  # noqa: E402
from topomap_core.store import Store  # noqa: E402

LOG = logging.getLogger(__name__)

#: Where the signing secret is kept when ``DASH_SECRET_KEY`` is not set.
SECRET_FILE = "secret_key"

#: The tabs of the main area, the first being the default (a link without ``tab``).
TABS = (
    maps.TAB,
    training.TAB,
    compare.TAB,
    mapper.TAB,
    overview.TAB,
    bias.TAB,
    topographic.TAB,
    train_topographic.TAB,
    evaluate.TAB,
)

#: Callbacks of the page's shared parts (uploads in the sidebar, the Maps exports) and of the
#: Maps tab's panels (explained regions).
FEATURES = (uploads, export, regions)


def secret_key(root: Path) -> str:
    """``DASH_SECRET_KEY``; without it, a random key kept in ``<root>/secret_key``.

    Dash signs the handles of background jobs with it, so every web process must use the same
    key. The generated one is shared by the processes that share the data directory (all
    gunicorn workers of a host, or containers on one volume) and survives restarts; web
    servers on several hosts must set ``DASH_SECRET_KEY``.
    """
    key = os.environ.get("DASH_SECRET_KEY", "").strip()
    if key:
        return key
    path = root / SECRET_FILE
    try:
        key = shared_secret(path)  # the first process to start makes it, the rest read it
    except OSError as exc:
        LOG.warning(
            "DASH_SECRET_KEY is not set and %s cannot be used (%s): using a random key for "
            "this process only; with several web workers, set DASH_SECRET_KEY",
            path,
            exc,
        )
        return secrets.token_hex(32)
    LOG.warning(
        "DASH_SECRET_KEY is not set: using the generated key in %s (shared only by processes "
        "using this data directory); multi-host deployments must set DASH_SECRET_KEY",
        path,
    )
    return key


def create_app(data_dir: str | Path | None = None) -> Dash:
    """Build the dashboard for the store under ``data_dir`` (default ``TOPOMAPS_DATA_DIR``).

    Background jobs run on Celery when ``REDIS_URL`` is set, else on Dash's embedded manager
    (:func:`callbacks.jobs.background_manager`); either way each computation runs in a job
    process of its own, warm when a spare is ready (this process keeps them ready).
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    root.mkdir(parents=True, exist_ok=True)
    app = Dash(
        __name__,
        title="topomaps",
        background_callback_manager=background_manager(root),
        health_endpoint="health",  # GET /health: "OK" (the container's health check)
    )
    app.server.secret_key = secret_key(root)
    app.server.config[DATA_DIR_KEY] = str(root)
    security.install(app.server, callbacks=app.callback_map)  # before Dash sees a request
    app.layout = partial(page_layout.build, root, [tab.pane for tab in TABS])
    for feature in FEATURES:
        feature.register(app, root)
    for tab in TABS:
        tab.register(app, root)
    page.register(app, TABS)  # which sidebar parts each tab shows, from its request's inputs
    url.register(app, TABS, root)
    # Dash completes its setup on the first request, and under gunicorn's threads a second
    # request in that gap finds no scripts registered: the first page after a (re)start fails
    # to load (plotly/dash#3971). Complete it now, before this process serves anything.
    with app.server.test_request_context("/"):
        app._setup_server()
    Store(root).clean_partial()  # files a crash or a full disk left unfinished
    start_keeper(root)  # spare job processes, warmed up ahead of the first Run
    return app


app = create_app()
server = app.server
#: The Celery app for ``celery -A app.celery_app worker`` (None without ``REDIS_URL``).
celery_app = celery_jobs.celery_app

if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8050")),
        debug=False,
    )
