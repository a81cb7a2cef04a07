"""Periodic clean-up of the store: idempotency keys past their retention.

The API promises that a key is remembered for at least 24 hours; keeping them
forever would make every key a permanent reservation and grow the unique index
without bound, so keys older than ``IDEMPOTENCY_RETENTION_HOURS`` are released
(the campaigns stay). Every replica may run this: the update is idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from brandcast.orchestrator.periodic import PeriodicTask
from brandcast.orchestrator.store import Store

log = logging.getLogger(__name__)

#: Seconds between two prunes.
DEFAULT_INTERVAL: Final = 3600.0


class Housekeeper(PeriodicTask):
    thread_name = "housekeeping"

    def __init__(
        self,
        store: Store,
        *,
        idempotency_retention_hours: int,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(interval)
        self._store = store
        self._retention = idempotency_retention_hours * 3600.0
        self._clock = clock

    def run_once(self) -> int:
        """Release the keys older than the retention; returns how many."""
        cutoff_us = int((self._clock() - self._retention) * 1_000_000)
        released = self._store.release_idempotency_keys(created_before_us=cutoff_us)
        if released:
            log.info("released %d idempotency keys past their retention", released)
        return released
