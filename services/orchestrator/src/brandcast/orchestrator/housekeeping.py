"""Periodic clean-up of the store: idempotency keys past their retention, and
the ledger's partitions and retention.

The API promises that a key is remembered for at least 24 hours; keeping them
forever would make every key a permanent reservation and grow the unique index
without bound, so keys older than ``IDEMPOTENCY_RETENTION_HOURS`` are released
(the campaigns stay).

On PostgreSQL the ledger's ranges are created ahead of the appends every
round; with ``LEDGER_RETENTION_DAYS`` set, the events of campaigns that ended
longer ago are compacted away (``store/_retention.py``, docs/ledger.md). Every
replica may run this: each step is idempotent, and two replicas creating the
same range collide on its name, one round fails and the next goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from brandcast.orchestrator.periodic import PeriodicTask
from brandcast.orchestrator.store import Store
from brandcast.orchestrator.store._retention import PARTITION_SIZE

log = logging.getLogger(__name__)

#: Seconds between two rounds: at the goal's 20,000 deliveries/s a round's
#: appends stay well inside the ranges created ahead (twice the last round's).
DEFAULT_INTERVAL: Final = 600.0


@dataclass
class LedgerUpkeep:
    """What a round did to the ledger."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted: int = 0


class Housekeeper(PeriodicTask):
    thread_name = "housekeeping"

    def __init__(
        self,
        store: Store,
        *,
        idempotency_retention_hours: int,
        ledger_retention_days: int = 0,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
        partition_size: int = PARTITION_SIZE,
    ) -> None:
        super().__init__(interval)
        self._store = store
        self._retention = idempotency_retention_hours * 3600.0
        self._ledger_retention = ledger_retention_days * 86400.0
        self._clock = clock
        self._partition_size = partition_size
        self._drawn: int | None = None

    def run_once(self) -> int:
        """One round; returns how many idempotency keys were released."""
        cutoff_us = int((self._clock() - self._retention) * 1_000_000)
        released = self._store.release_idempotency_keys(created_before_us=cutoff_us)
        if released:
            log.info("released %d idempotency keys past their retention", released)
        self.tend_ledger()
        return released

    def tend_ledger(self) -> LedgerUpkeep:
        """Create the ledger's ranges ahead, then compact past the retention."""
        upkeep = LedgerUpkeep()
        upkeep.created, self._drawn = self._store.extend_ledger_partitions(
            size=self._partition_size, previous=self._drawn
        )
        if self._ledger_retention:
            cutoff_us = int((self._clock() - self._ledger_retention) * 1_000_000)
            upkeep.dropped, upkeep.deleted = self._store.compact_ledger(ended_before_us=cutoff_us)
            if upkeep.dropped or upkeep.deleted:
                log.info(
                    "ledger compacted: %d partitions dropped, %d events deleted",
                    len(upkeep.dropped),
                    upkeep.deleted,
                )
        return upkeep
