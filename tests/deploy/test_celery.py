"""Scale-out: with ``REDIS_URL`` set, Run goes through Redis to the Celery worker.

Real services: ``redis-server``, the compose file's ``worker`` command and the Dockerfile's
CMD (gunicorn), driven by headless Chromium.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time

import redis

from layouts.ids import ID
from tests.deploy.conftest import (
    REPO_ROOT,
    click_run,
    compose,
    compute_processes,
    heatmaps,
    in_venv,
    jobs_logged,
    open_view,
    status,
    wait_for,
    wait_text,
)
from topomap_core.result_cache import PREFIX

RUN_TIMEOUT = 300
FAST_VIEW = {"model": "demo:digits-mlp", "layer": "dense", "method": "PCA_PSO", "per_group": 50}


def test_run_is_computed_by_the_celery_worker(deployment, browser):
    data_dir = deployment.data_dir()
    _, redis_url = deployment.redis()
    worker = deployment.worker(redis_url, data_dir, DASH_SECRET_KEY="test-secret")
    web = deployment.web(data_dir, redis_url, DASH_SECRET_KEY="test-secret")
    assert "DASH_SECRET_KEY is not set" not in web.log_tail()
    assert not (data_dir / "secret_key").exists()

    open_view(browser, web, **FAST_VIEW)
    assert "Not computed" in status(browser)
    t0 = time.monotonic()
    click_run(browser)
    wait_text(browser, f"#{ID.STATUS}", "Done in", RUN_TIMEOUT)
    print(f"job through Celery: {time.monotonic() - t0:.1f} s ({status(browser)})")
    wait_for(browser, lambda d: heatmaps(d) == 10, 60, "the ten maps never appeared")
    assert len(jobs_logged(data_dir)) == 1

    # The job ran in a pool process of the Celery worker, not in the web server.
    log = worker.log()
    match = re.search(r"computing view:([0-9a-f]{12}) \(PCA_PSO\) in pid (\d+)", log)
    assert match, log[-5000:]
    pid = int(match.group(2))
    assert pid != worker.proc.pid and pid not in web.service.pids()
    assert re.search(r"Task background_callback_\w+\[[\w-]+\] succeeded", log)
    assert jobs_logged(data_dir)[0].split()[1].startswith("view:" + match.group(1))
    assert not compute_processes(worker)
    # The view is cached in Redis too (signed), in front of the shared data directory.
    cached = [k.decode() for k in redis.Redis.from_url(redis_url).scan_iter(PREFIX + "*")]
    assert any(k.removeprefix(PREFIX).startswith(match.group(1)) for k in cached), cached

    # The worker's health check from the compose file answers while it runs.
    check = compose()["services"]["worker"]["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    command = check[1].replace("$$HOSTNAME", socket.gethostname())
    program, rest = command.split(" ", 1)
    result = subprocess.run(
        " ".join([in_venv([program])[0], rest]),
        shell=True,
        cwd=REPO_ROOT,
        env=deployment.env(data_dir, redis_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cancel_on_celery_stops_the_computation(deployment, browser, wide_model):
    data_dir = deployment.data_dir()
    _, redis_url = deployment.redis()
    worker = deployment.worker(redis_url, data_dir)
    web = deployment.web(data_dir, redis_url)
    model = wide_model(data_dir)

    open_view(browser, web, model=model, layer="hidden", method="PSO")
    click_run(browser)
    wait_text(browser, f"#{ID.PROGRESS_TEXT}", "PSO", RUN_TIMEOUT)
    assert compute_processes(worker), "no worker process is computing"

    t0 = time.monotonic()
    browser.find_element("id", ID.CANCEL_BUTTON).click()
    wait_text(browser, f"#{ID.STATUS}", "Cancelled", 60)
    wait_for(browser, lambda d: d.find_element("id", ID.RUN_BUTTON).is_enabled(), 30)
    while compute_processes(worker) and time.monotonic() - t0 < 30:
        time.sleep(0.2)
    print(f"cancel: computation gone after {time.monotonic() - t0:.1f} s")
    assert not compute_processes(worker), "the cancelled computation is still running"
    time.sleep(3)  # a lost-job report would come within the poll interval
    assert "Cancelled" in status(browser), status(browser)

    # The worker takes the next job.
    open_view(browser, web, **FAST_VIEW)
    click_run(browser)
    wait_text(browser, f"#{ID.STATUS}", "Done in", RUN_TIMEOUT)
