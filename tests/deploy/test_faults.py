"""Faults on the Celery deployment: killed workers, restarted servers.

Real services as in ``test_celery.py``: ``redis-server``, the compose ``worker`` command and the
Dockerfile's CMD, driven by headless Chromium.
"""

from __future__ import annotations

import hashlib
import time

import psutil
from selenium.webdriver.common.by import By

from layouts.ids import ID
from tests.deploy.conftest import (
    click_run,
    compute_processes,
    heatmaps,
    jobs_logged,
    open_view,
    small_model_bytes,
    status,
    upload_file,
    wait_for,
    wait_text,
)

RUN_TIMEOUT = 300
FAST_VIEW = {"model": "demo:digits-mlp", "layer": "dense", "method": "PCA", "per_group": 50}


def _wait_computing(worker, timeout: float = 120) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = compute_processes(worker)
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no computation started in the worker within {timeout} s")


def _alive(proc: psutil.Process) -> bool:
    """Running, and not a zombie (an orphan's zombie waits here until init reaps it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _next_job_succeeds(browser, web) -> None:
    open_view(browser, web, **FAST_VIEW)
    click_run(browser)
    wait_text(browser, f"#{ID.STATUS}", "Done in", RUN_TIMEOUT)
    wait_for(browser, lambda d: heatmaps(d) == 10, 60, "the ten maps never appeared")


def test_killed_pool_process_fails_the_job_and_the_next_job_succeeds(
    deployment, browser, wide_model
):
    data_dir = deployment.data_dir()
    _, redis_url = deployment.redis()
    worker = deployment.worker(redis_url, data_dir)
    web = deployment.web(data_dir, redis_url)
    model = wide_model(data_dir)

    open_view(browser, web, model=model, layer="hidden", method="PSO")
    click_run(browser)
    # Kill the pool process as soon as its computation starts (still loading TensorFlow,
    # silent: only PR_SET_PDEATHSIG can stop the orphaned computation at once).
    computation = _wait_computing(worker)
    pool = computation.parent()
    assert pool.pid in worker.pids() and pool.pid != worker.proc.pid
    t0 = time.monotonic()
    pool.kill()
    while _alive(computation) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    gone = time.monotonic() - t0
    assert not _alive(computation), "the computation outlived its pool process"

    wait_text(browser, f"#{ID.STATUS}", "Run failed", 60)
    print(
        f"pool process killed: computation gone in {gone:.1f} s, page reported it "
        f"after {time.monotonic() - t0:.1f} s: {status(browser)!r}"
    )
    assert "worker" in status(browser) and "Traceback" not in browser.page_source
    wait_for(browser, lambda d: d.find_element(By.ID, ID.RUN_BUTTON).is_enabled(), 30)
    assert worker.proc.poll() is None, "the Celery worker itself must survive"
    assert "WorkerLostError" in worker.log()

    _next_job_succeeds(browser, web)


def test_killed_worker_fails_the_job_and_a_restarted_worker_runs_the_next(
    deployment, browser, wide_model
):
    data_dir = deployment.data_dir()
    _, redis_url = deployment.redis()
    worker = deployment.worker(redis_url, data_dir)
    web = deployment.web(data_dir, redis_url)
    model = wide_model(data_dir)

    open_view(browser, web, model=model, layer="hidden", method="PSO")
    click_run(browser)
    wait_text(browser, f"#{ID.PROGRESS_TEXT}", "PSO", RUN_TIMEOUT)
    assert compute_processes(worker)

    t0 = time.monotonic()
    worker.kill()  # SIGKILL to the whole worker: main process, pool and computation
    wait_text(browser, f"#{ID.STATUS}", "Run failed", 60)
    print(f"worker killed: page reported it after {time.monotonic() - t0:.1f} s")
    assert "worker" in status(browser)
    wait_for(browser, lambda d: d.find_element(By.ID, ID.RUN_BUTTON).is_enabled(), 30)

    t1 = time.monotonic()
    replacement = deployment.worker(redis_url, data_dir)
    print(f"replacement worker ready in {time.monotonic() - t1:.1f} s")
    _next_job_succeeds(browser, web)
    assert "succeeded" in replacement.log()


def test_restart_keeps_uploaded_models_cached_results_and_links(
    deployment, browser, new_browser, tmp_path
):
    data_dir = deployment.data_dir()
    redis, redis_url = deployment.redis()
    worker = deployment.worker(redis_url, data_dir)
    web = deployment.web(data_dir, redis_url)

    content = small_model_bytes((24, 16), tmp_path)
    (tmp_path / "tiny.keras").write_bytes(content)
    model = hashlib.sha256(content).hexdigest()
    browser.get(web.url)
    wait_for(browser, lambda d: d.find_elements(By.ID, ID.RUN_BUTTON), 60)
    upload_file(browser, ID.MODEL_UPLOAD, tmp_path / "tiny.keras")
    wait_text(browser, f"#{ID.MODEL_MESSAGE}", "tiny.keras: 4 layers", 180)

    open_view(browser, web, model=model, layer="second", method="PCA", per_group=50)
    click_run(browser)
    wait_text(browser, f"#{ID.STATUS}", "Done in", RUN_TIMEOUT)
    wait_for(browser, lambda d: heatmaps(d) == 10, 60, "the ten maps never appeared")
    link = browser.current_url
    assert f"model={model}" in link
    assert len(jobs_logged(data_dir)) == 1

    # Restart everything: web server, worker, and a Redis that comes back empty.
    t0 = time.monotonic()
    web_stop = web.service.stop()
    worker.stop()
    redis.stop()
    _, redis_url = deployment.redis()
    deployment.worker(redis_url, data_dir)
    web = deployment.web(data_dir, redis_url, port=web.port)
    print(
        f"restart: web stopped in {web_stop:.1f} s, all services back in "
        f"{time.monotonic() - t0:.1f} s"
    )

    # The shared link, in a fresh browser: the stored view, no new job.
    other = new_browser()
    other.get(link)
    wait_for(other, lambda d: heatmaps(d) == 10, 120, "the shared link showed no maps")
    wait_text(other, f"#{ID.STATUS}", "stored result", 30)
    assert "tiny.keras" in other.find_element(By.ID, ID.MODEL_SELECT).text
    assert "second" in other.find_element(By.ID, ID.LAYER_SELECT).text
    assert len(jobs_logged(data_dir)) == 1, "opening the shared link ran a job"

    # The page opened before the restart still runs jobs (its signed job handles verify).
    click_run(browser)
    wait_text(browser, f"#{ID.STATUS}", "Loaded the stored result", RUN_TIMEOUT)

    # The uploaded model computes a new view after the restart.
    open_view(other, web, model=model, layer="second", method="PCA_PSO", per_group=50)
    click_run(other)
    wait_text(other, f"#{ID.STATUS}", "Done in", RUN_TIMEOUT)
    assert len(jobs_logged(data_dir)) == 2
