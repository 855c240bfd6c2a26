"""A newcomer's first click: Run pressed at once on a fresh install ends in "Done".

On a fresh data directory the demo model is not trained yet. The first Run must train it in
a job process (never in the web process, which must not even map TensorFlow's libraries), the
status must go from "Running..." to "Done" without ever falling back to "Not computed yet",
and the web process must stay small throughout.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
from selenium.webdriver.common.by import By
from support import launch_app, wait_for

from layouts.ids import ID

FIRST_RUN_TIMEOUT = 420  # the demo model is trained first (about 20 s alone, longer when busy)
WEB_PEAK_MB = 600


def _web_process_facts(pid: int) -> tuple[bool, float]:
    """(TensorFlow mapped, peak resident MB) of process ``pid``."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return "libtensorflow" in maps, peak_kb / 1024


def test_run_at_once_on_a_fresh_install_ends_in_done(tmp_path, new_browser):
    # One spare, as a real install keeps (the suite turns them off elsewhere): the check of
    # the listening socket below needs a job process that outlives the run.
    server = launch_app(
        tmp_path / "fresh", tmp_path / "app.log", seed=False, env={"TOPOMAPS_SPARE_WORKERS": "1"}
    )
    try:
        assert not (server.data_dir / "demo-models").exists()
        browser = new_browser()
        browser.get(server.url)
        run = wait_for(
            browser,
            lambda d: (b := d.find_elements(By.ID, ID.RUN_BUTTON)) and b[0].is_enabled() and b[0],
            60,
            "the Run button never became enabled",
        )
        run.click()
        seen: list[str] = []
        deadline = time.monotonic() + FIRST_RUN_TIMEOUT
        while time.monotonic() < deadline:
            text = browser.find_element(By.ID, ID.STATUS).text.strip()
            if not seen or seen[-1] != text:
                seen.append(text)
            if text.startswith(("Done", "Run failed")):
                break
            time.sleep(0.3)
        assert seen[-1].startswith("Done"), f"status went {seen} ({server.log_tail(3000)})"
        after_click = seen[seen.index(next(s for s in seen if s.startswith("Running"))) :]
        assert not [s for s in after_click if s.startswith("Not computed")], after_click
        assert (server.data_dir / "demo-models" / "digits-mlp.keras").is_file()
        tensorflow, peak_mb = _web_process_facts(server.proc.pid)
        assert not tensorflow, "the web process mapped TensorFlow's libraries"
        assert peak_mb < WEB_PEAK_MB, f"web process peaked at {peak_mb:.0f} MB"
        # No job process holds the server's listening socket (a restarted server must be
        # able to bind its port while jobs of the old one finish).
        children = psutil.Process(server.proc.pid).children(recursive=True)
        assert children, "expected spare job processes"
        holders = []
        for child in children:
            try:
                sockets = child.net_connections(kind="tcp")
            except psutil.Error:
                continue
            if any(c.status == "LISTEN" and c.laddr.port == server.port for c in sockets):
                holders.append(child.pid)
        assert not holders, f"job processes {holders} hold the listening socket"
    finally:
        server.stop()
