"""Fixtures of the security tests (helpers: ``security_support.py``).

``demo_models``   the session's demo dir with the trained demo models (copied, not trained,
                  when the repository's ``cache/`` has them).
``live_server``   one ``gunicorn app:server`` (2 workers x 4 threads, 127.0.0.1 only) for the
                  session, with ``TOPOMAPS_AUTH`` = ``AUTH_ENV_VALUE`` and ``MAX_UPLOAD_MB`` =
                  ``SERVER_UPLOAD_MB``.
``cached_view``   RESULT_STORE data of the ``FAST`` view, computed into the live server's
                  store by a job process (as the Run button would).
"""

from __future__ import annotations

import pytest
from security_support import (
    AUTH_ENV_VALUE,
    FAST,
    SERVER_UPLOAD_MB,
    compute_view,
    launch_gunicorn,
    seed_demo_models,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: real-browser test (headless Chromium against the running app)"
    )


@pytest.fixture(scope="session")
def demo_models(demo_dir):
    """The session's demo dir (``TOPOMAPS_DATA_DIR``), with trained demo models in it."""
    seed_demo_models(demo_dir)
    return demo_dir


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, demo_models):
    """The app under gunicorn with basic auth and a 2 MB upload cap, for the whole session."""
    tmp = tmp_path_factory.mktemp("live-server")
    server = launch_gunicorn(
        tmp / "data",
        tmp / "gunicorn.log",
        {
            "TOPOMAPS_AUTH": AUTH_ENV_VALUE,
            "MAX_UPLOAD_MB": str(SERVER_UPLOAD_MB),
            # Every test client shares 127.0.0.1, and several tests send wrong passwords on
            # purpose; the lockout itself is tested on its own.
            "TOPOMAPS_AUTH_MAX_FAILURES": "100000",
            # One warm spare of each kind: most of these tests start a job or two, and a cold
            # job process spends its first 6-9 s importing TensorFlow.
            "TOPOMAPS_SPARE_WORKERS": "1",
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cached_view(live_server):
    """RESULT_STORE data of the :data:`FAST` view, computed into the live server's store."""
    return compute_view(live_server.data_dir, FAST)
