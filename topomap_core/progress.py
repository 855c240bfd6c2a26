"""Progress reports of long computations, and the one throttle they pass through.

Every long loop of the package (NAP batches, layout steps, training states) calls a
``progress(stage, done, total)`` callback; a callback that returns True asks the loop to stop,
which it does by raising :class:`~topomap_core.errors.Cancelled` (openTSNE's callbacks work the
same way). A job's reports reach the dashboard through :class:`Throttle` once, in the process
that computes, so the rest of the path only forwards them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import Cancelled

__all__ = ["ProgressCallback", "Throttle", "progress_text", "report"]

#: ``progress(stage, done, total)``; returning True asks the computation to stop.
ProgressCallback = Callable[[str, int, int], "bool | None"]

#: Reports per second a :class:`Throttle` lets through within one stage.
DEFAULT_RATE = 4.0


def report(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    """Call ``progress`` and raise :class:`Cancelled` if it asks to stop."""
    if progress is not None and progress(stage, done, total):
        raise Cancelled(f"{stage} cancelled at {done}/{total}")


class Throttle:
    """Pass ``(stage, done, total)`` reports on at most ``rate`` times a second per stage.

    A new stage and the last step of a stage (``done == total``) always pass, so a long silent
    step never leaves a stale stage on screen. The wrapped callback's answer (True: stop) is
    returned for the reports that pass; dropped reports answer None.

    Parameters
    ----------
    callback : callable
        ``callback(stage, done, total)``.
    rate : float, default=4.0
        Reports per second within one stage.
    clock : callable, optional
        Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        callback: ProgressCallback,
        rate: float = DEFAULT_RATE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.callback = callback
        self.min_interval = 1.0 / rate
        self.clock = clock
        self._stage: str | None = None
        self._last = float("-inf")

    def __call__(self, stage: str, done: int, total: int) -> bool | None:
        now = self.clock()
        if stage == self._stage and done < total and now - self._last < self.min_interval:
            return None
        self._stage, self._last = stage, now
        return self.callback(stage, done, total)


def progress_text(stage: str, done: int, total: int) -> str:
    """A report as one line: ``"activations: batch 3/12"``, ``"PSO: step 400/1000"``.

    Training stages read ``"training the demo: batch 3/79"``, ``"NAPs: state 3/79"``,
    ``"maps: state 3/79"``; anything else ``"<stage>: <done>/<total>"``.
    """
    if total <= 0:
        return stage  # a stage without steps: "Queued (2 ahead)"
    if stage in ("activations", "predictions"):
        return f"{stage}: batch {done}/{total}"
    if stage == "training demo":
        return f"training the demo: batch {done}/{total}"
    if stage in ("NAPs", "maps"):
        return f"{stage}: state {done}/{total}"
    if stage.upper().endswith("PSO"):
        return f"{stage}: step {done}/{total}"
    return f"{stage}: {done}/{total}"
