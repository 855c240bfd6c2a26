"""Settings and job plumbing of the deployment, in-process (no services started)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from dash import DiskcacheManager, no_update
from dash.exceptions import BackgroundCallbackError

from callbacks.jobs import JobManager, job_failed
from topomap_core.jobs import celery as celery_app
from topomap_core.jobs.celery import LOST_MESSAGE

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_secret_key_comes_from_the_environment_or_one_file_per_data_dir(tmp_path, monkeypatch):
    from app import secret_key

    monkeypatch.setenv("DASH_SECRET_KEY", "from-the-environment")
    assert secret_key(tmp_path) == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()

    monkeypatch.delenv("DASH_SECRET_KEY")
    first = secret_key(tmp_path)
    assert len(first) == 64 and secret_key(tmp_path) == first  # generated once, then reused
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [key_file]  # no temporary file left
    other = tmp_path / "other"
    other.mkdir()
    assert secret_key(other) != first


def test_without_redis_the_app_keeps_the_embedded_manager(tmp_path, monkeypatch):
    import app as app_module

    monkeypatch.delenv("DASH_SECRET_KEY", raising=False)
    monkeypatch.setattr(celery_app, "celery_app", None)  # as without REDIS_URL
    app = app_module.create_app(tmp_path / "data")
    assert isinstance(app._background_manager, DiskcacheManager)
    assert app.server.secret_key == (tmp_path / "data" / "secret_key").read_text()
    assert app.server.test_client().get("/health").get_data() == b"OK"


# Dash registers every background callback of the process (earlier tests' apps too) with each
# new manager: the same task name again, which Celery notes. One app per process in production.
@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_with_redis_the_run_job_is_a_celery_task(tmp_path, monkeypatch):
    import app as app_module

    celery = celery_app.make_celery("redis://127.0.0.1:1/0")  # never connected here
    monkeypatch.setattr(celery_app, "celery_app", celery)
    monkeypatch.setenv("DASH_SECRET_KEY", "shared")
    app = app_module.create_app(tmp_path / "data")
    manager = app._background_manager
    assert isinstance(manager, JobManager) and manager.handle is celery
    assert any(name.startswith("background_callback_") for name in celery.tasks)
    assert app.server.secret_key == "shared"


def test_celery_app_is_configured_for_long_jobs():
    app = celery_app.make_celery("redis://127.0.0.1:1/0")
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_acks_late is False
    assert app.conf.accept_content == ["json"]


def test_a_lost_job_reads_as_one_line_on_the_page():
    error = BackgroundCallbackError(
        f"An error occurred inside a background callback: {LOST_MESSAGE}\n"
    )
    result, status = job_failed(error)
    assert result is no_update
    assert status == f"Run failed: {LOST_MESSAGE}"


class FakeRedis:
    """The few Redis commands the heartbeat uses, with expiry."""

    def __init__(self):
        self.data: dict[str, tuple[object, float]] = {}

    def set(self, key, value, ex=None):
        self.data[key] = (value, time.monotonic() + (ex or 1e9))

    def exists(self, key):
        hit = self.data.get(key)
        return int(hit is not None and hit[1] > time.monotonic())


class FakeCelery:
    """``backend.client``/``get``/``delete`` and ``AsyncResult(job).state``, in memory."""

    def __init__(self, states: dict[str, str]):
        self.states = states
        self.backend = self
        self.client = FakeRedis()

    def get(self, key):
        return None  # no result yet

    def delete(self, key):
        pass

    def AsyncResult(self, job):  # noqa: N802 - Celery's name
        return type("Result", (), {"state": self.states.get(job, "PENDING")})()


def test_lost_jobs_are_told_from_queued_running_finished_and_cancelled_ones():
    fake = FakeCelery({"failed": "FAILURE", "done": "SUCCESS", "revoked": "REVOKED"})
    manager = JobManager.__new__(JobManager)
    manager.handle, manager.cache_by, manager.expire = fake, None, None
    for job in ("failed", "done", "revoked", "running", "dead", "cancelled"):
        fake.client.set(f"topomaps-job-started-{job}", 1)
    for job in ("running", "cancelled"):
        fake.client.set(f"topomaps-job-alive-{job}", 1)
    fake.client.set("topomaps-job-cancelled-cancelled", 1)
    fake.states["cancelled"] = "FAILURE"  # terminated by the user: never "lost"

    lost = {job: manager.job_lost(job) for job in fake.states | {"queued": 0, "running": 0}}
    lost["dead"] = manager.job_lost("dead")
    assert lost == {
        "failed": True,
        "done": False,
        "revoked": False,
        "cancelled": False,
        "queued": False,
        "running": False,
        "dead": True,
    }
    error = manager.get_result("result-key", "dead")
    assert error == {"background_callback_error": {"msg": LOST_MESSAGE, "tb": ""}}
    assert manager.get_result("result-key", "running") is manager.UNDEFINED


def test_heartbeat_marks_the_job_started_and_alive_then_lets_it_expire(monkeypatch):
    monkeypatch.setattr(celery_app, "HEARTBEAT_TTL_S", 0.3)
    client = FakeRedis()
    heartbeat = celery_app.Heartbeat(client, "job-1", interval=0.05)
    heartbeat.start()
    time.sleep(0.5)  # beats keep it alive past one TTL
    assert client.exists("topomaps-job-started-job-1")
    assert client.exists("topomaps-job-alive-job-1")
    heartbeat.stop()
    assert client.exists("topomaps-job-alive-job-1")  # the last beat is not deleted
    time.sleep(0.4)
    assert not client.exists("topomaps-job-alive-job-1")
    assert client.exists("topomaps-job-started-job-1")


def test_computation_dies_with_the_process_that_started_it(tmp_path):
    # A parent starts a long child through the hook, then is killed: the child must follow.
    script = tmp_path / "parent.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "from topomap_core.jobs.spares import die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " preexec_fn=die_with_parent())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        child = int(parent.stdout.readline())
        proc = psutil.Process(child)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the child outlived its parent")
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_the_readme_documents_every_setting_and_the_shared_workspace():
    """A deployment is one shared workspace (issue 12, item 15): the README says so, and its
    settings table names every setting the code reads."""
    import re

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    code = "".join(
        p.read_text() for p in [*root.joinpath("topomap_core").rglob("*.py"), root / "security.py"]
    )
    names = set(re.findall(r'"(TOPOMAPS_[A-Z_]+)"', code))
    assert {"TOPOMAPS_JOB_MEMORY_MB", "TOPOMAPS_MAX_JOBS", "TOPOMAPS_MAX_QUEUE"} <= names
    deploy = readme[readme.index("## Deploy") :]
    settings = readme[readme.index("### Settings") :]
    missing = sorted(name for name in names if f"`{name}`" not in settings)
    assert not missing, f"settings missing from the README's table: {missing}"
    security = readme[readme.index("## Security") : readme.index("## Deploy")]
    assert "One shared workspace" in security and "not scoped" in security
    assert "one shared workspace" in deploy[:600]
