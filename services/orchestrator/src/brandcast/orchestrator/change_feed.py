"""One shared change feed for every watcher of this process.

Changes committed here are published to ``CampaignEvents`` directly; those of
other replicas only show in the store. Rather than each watcher polling the
store (a thousand watchers, a thousand queries a second), this thread reads the
change position of every watched campaign in one query per interval and wakes
the watchers of the campaigns that moved.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from brandcast.orchestrator.events import CampaignEvents
from brandcast.orchestrator.store import Store

log = logging.getLogger(__name__)

#: Seconds between two reads of the watched campaigns' positions.
FEED_INTERVAL: Final = 1.0


class ChangeFeed:
    def __init__(
        self, store: Store, events: CampaignEvents, interval: float = FEED_INTERVAL
    ) -> None:
        self._store = store
        self._events = events
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[str, tuple[int, int]] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def poll_once(self) -> list[str]:
        """Wake the watchers of every watched campaign whose position moved; returns those."""
        watched = self._events.watched()
        positions = self._store.change_positions(watched)
        # A campaign seen for the first time counts as moved: its watcher may
        # have read the store just before a change this feed had not seen yet.
        moved = [cid for cid, position in positions.items() if self._seen.get(cid) != position]
        self._seen = positions
        if moved:
            self._events.publish(moved)
        return moved

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.poll_once()
            except Exception:
                # A database hiccup: the next round tries again; watchers keep
                # their own long safety timeout meanwhile.
                log.exception("the change feed could not read the store")
