"""Closing report windows: DISPATCHED campaigns become COMPLETED once every
channel's window for delivery reports has passed.

A campaign whose every delivery has left waits in DISPATCHED for the delivery
reports of what is SENT (an SMS's handset report comes seconds to minutes
later). Reports that all arrive complete it at once (the receipt collector
does that); this loop completes the ones whose reports never came. Every
replica may run it: the update only moves campaigns still DISPATCHED.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from brandcast.orchestrator.events import CampaignEvents
from brandcast.orchestrator.store import Store

log = logging.getLogger(__name__)

#: Seconds between two looks for passed windows.
DEFAULT_INTERVAL: Final = 1.0


class ReportWindowCloser:
    def __init__(
        self, store: Store, events: CampaignEvents, interval: float = DEFAULT_INTERVAL
    ) -> None:
        self._store = store
        self._events = events
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[str]:
        """Complete the campaigns whose windows have passed; returns their ids."""
        completed = self._store.close_report_windows()
        if completed:
            self._events.publish(completed)
            log.info("%d campaigns completed: their report windows passed", len(completed))
        return completed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="report-windows", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("closing report windows failed; trying again")
            self._stop.wait(self._interval)
