"""In-process notifications that a campaign's deliveries changed, for live watchers.

Watchers also poll the store on a timeout, so changes committed by another
replica reach them too, only later.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class CampaignEvents:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._versions: dict[str, int] = {}
        self._closed = False

    def publish(self, campaign_ids: Iterable[str]) -> None:
        with self._condition:
            for campaign_id in campaign_ids:
                self._versions[campaign_id] = self._versions.get(campaign_id, 0) + 1
            self._condition.notify_all()

    def version(self, campaign_id: str) -> int:
        with self._condition:
            return self._versions.get(campaign_id, 0)

    def wait(self, campaign_id: str, seen: int, timeout: float) -> int:
        """Block until the campaign's version differs from ``seen``, or ``timeout``."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._closed or self._versions.get(campaign_id, 0) != seen, timeout
            )
            return self._versions.get(campaign_id, 0)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Wake every watcher for shutdown."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
