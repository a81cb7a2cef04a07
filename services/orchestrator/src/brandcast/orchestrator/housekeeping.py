"""Periodic clean-up of the store: idempotency keys past their retention.

The API promises that a key is remembered for at least 24 hours; keeping them
forever would make every key a permanent reservation and grow the unique index
without bound, so keys older than ``IDEMPOTENCY_RETENTION_HOURS`` are released
(the campaigns stay). Every replica may run this: the update is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from brandcast.orchestrator.store import Store

log = logging.getLogger(__name__)

#: Seconds between two prunes.
DEFAULT_INTERVAL: Final = 3600.0


class Housekeeper:
    def __init__(
        self,
        store: Store,
        *,
        idempotency_retention_hours: int,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._retention = idempotency_retention_hours * 3600.0
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Release the keys older than the retention; returns how many."""
        cutoff_us = int((self._clock() - self._retention) * 1_000_000)
        released = self._store.release_idempotency_keys(created_before_us=cutoff_us)
        if released:
            log.info("released %d idempotency keys past their retention", released)
        return released

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
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
                log.exception("housekeeping failed; trying again at the next interval")
            self._stop.wait(self._interval)
