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
from typing import Final

from brandcast.orchestrator.events import CampaignEvents
from brandcast.orchestrator.periodic import PeriodicTask
from brandcast.orchestrator.store import Store

log = logging.getLogger(__name__)

#: Seconds between two looks for passed windows.
DEFAULT_INTERVAL: Final = 1.0


class ReportWindowCloser(PeriodicTask):
    thread_name = "report-windows"

    def __init__(
        self, store: Store, events: CampaignEvents, interval: float = DEFAULT_INTERVAL
    ) -> None:
        super().__init__(interval)
        self._store = store
        self._events = events

    def run_once(self) -> list[str]:
        """Complete the campaigns whose windows have passed; returns their ids."""
        completed = self._store.close_report_windows()
        if completed:
            self._events.publish(completed)
            log.info("%d campaigns completed: their report windows passed", len(completed))
        return completed
