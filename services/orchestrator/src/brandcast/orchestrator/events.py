"""Notifications that a campaign's deliveries changed, for live watchers.

Every change bumps the campaign's version; a watcher sleeps on its campaign's
condition only, so a change wakes that campaign's watchers and nobody else's.
Changes committed in this process are published by the dispatcher and the
collector; those of other replicas reach the same versions through one shared
change feed (``brandcast.orchestrator.change_feed``) instead of each watcher
polling the store.

Watchers are admitted with ``watch()``, which enforces the caps (in total, per
client and per campaign) and answers ``TooManyWatchesError`` beyond them.

A watch served on the gRPC event loop waits with ``await Watch.changed(...)``:
it holds no thread while it sleeps, and whichever thread publishes a change
wakes it through its loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from brandcast.orchestrator.errors import TooManyWatchesError

#: Default caps on open watches (settings ``MAX_WATCHES`` and friends).
MAX_WATCHES: Final = 1000
MAX_WATCHES_PER_CLIENT: Final = 100
MAX_WATCHES_PER_CAMPAIGN: Final = 100


@dataclass(frozen=True)
class WatchLimits:
    total: int = MAX_WATCHES
    per_client: int = MAX_WATCHES_PER_CLIENT
    per_campaign: int = MAX_WATCHES_PER_CAMPAIGN


@dataclass(eq=False)
class Watch:
    """One admitted watcher; ``wait`` returns early once the call ended."""

    events: CampaignEvents
    campaign_id: str
    client: str
    ended: bool = field(default=False)
    #: The loop an awaiting watch sleeps on, and what wakes it (under the events' lock).
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _waiter: asyncio.Future[None] | None = field(default=None, repr=False)

    def wait(self, seen: int, timeout: float) -> int:
        return self.events.wait(self.campaign_id, seen, timeout, self)

    async def changed(self, seen: int, timeout: float) -> None:
        """Sleep without a thread until the campaign's version differs from
        ``seen``, the watch ended, the events closed, or ``timeout``."""
        loop = asyncio.get_running_loop()
        with self.events._lock:
            if self.events._woken(self.campaign_id, seen, self):
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._loop, self._waiter = loop, waiter
        timer = loop.call_later(timeout, _resolve, waiter)
        try:
            # A plain future, not asyncio.wait_for: on 3.11 wait_for can swallow
            # a cancellation that lands as the inner wait completes, and a
            # cancelled call whose coroutine goes on sleeping keeps its place.
            await waiter
        finally:
            timer.cancel()
            with self.events._lock:
                self._waiter = None

    def _wake(self) -> None:
        """Called with the events' lock held, from any thread."""
        waiter, loop = self._waiter, self._loop
        if waiter is None or loop is None:
            return
        # RuntimeError: the loop is closed, the server stopped and the call with it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, waiter)

    def end(self) -> None:
        """The call terminated (the client left or the server stops): wake it to leave."""
        self.events.end(self)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class CampaignEvents:
    def __init__(self, limits: WatchLimits | None = None) -> None:
        self.limits = limits or WatchLimits()
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        # One condition per watched campaign, all on the one lock, kept while
        # anyone (an admitted watch or a waiting caller) uses it.
        self._conditions: dict[str, threading.Condition] = {}
        self._condition_users: Counter[str] = Counter()
        self._per_campaign: Counter[str] = Counter()
        self._per_client: Counter[str] = Counter()
        self._watches: set[Watch] = set()
        self._by_campaign: dict[str, set[Watch]] = {}
        self._closed = False

    def publish(self, campaign_ids: Iterable[str]) -> None:
        with self._lock:
            for campaign_id in campaign_ids:
                self._versions[campaign_id] = self._versions.get(campaign_id, 0) + 1
                condition = self._conditions.get(campaign_id)
                if condition is not None:
                    condition.notify_all()
                for watch in self._by_campaign.get(campaign_id, ()):
                    watch._wake()

    def version(self, campaign_id: str) -> int:
        with self._lock:
            return self._versions.get(campaign_id, 0)

    def watch(self, campaign_id: str, client: str) -> Watch:
        """Admit a watcher, or raise ``TooManyWatchesError`` naming the cap it hit."""
        with self._lock:
            limits = self.limits
            if len(self._watches) >= limits.total:
                raise TooManyWatchesError(f"the server holds its maximum of {limits.total}")
            if self._per_client[client] >= limits.per_client:
                raise TooManyWatchesError(f"this client holds its maximum of {limits.per_client}")
            if self._per_campaign[campaign_id] >= limits.per_campaign:
                raise TooManyWatchesError(
                    f"this campaign has its maximum of {limits.per_campaign} watchers"
                )
            watch = Watch(self, campaign_id, client)
            self._watches.add(watch)
            self._per_client[client] += 1
            self._per_campaign[campaign_id] += 1
            self._by_campaign.setdefault(campaign_id, set()).add(watch)
            self._use_condition(campaign_id)
            return watch

    def release(self, watch: Watch) -> None:
        with self._lock:
            if watch not in self._watches:
                return
            self._watches.discard(watch)
            self._per_client[watch.client] -= 1
            if self._per_client[watch.client] <= 0:
                del self._per_client[watch.client]
            self._per_campaign[watch.campaign_id] -= 1
            if self._per_campaign[watch.campaign_id] <= 0:
                del self._per_campaign[watch.campaign_id]
            same_campaign = self._by_campaign[watch.campaign_id]
            same_campaign.discard(watch)
            if not same_campaign:
                del self._by_campaign[watch.campaign_id]
            self._leave_condition(watch.campaign_id)

    def _use_condition(self, campaign_id: str) -> threading.Condition:
        self._condition_users[campaign_id] += 1
        return self._conditions.setdefault(campaign_id, threading.Condition(self._lock))

    def _leave_condition(self, campaign_id: str) -> None:
        self._condition_users[campaign_id] -= 1
        if self._condition_users[campaign_id] <= 0:
            del self._condition_users[campaign_id]
            del self._conditions[campaign_id]

    def end(self, watch: Watch) -> None:
        with self._lock:
            watch.ended = True
            condition = self._conditions.get(watch.campaign_id)
            if condition is not None:
                condition.notify_all()
            watch._wake()

    def watched(self) -> list[str]:
        """Campaigns with at least one watcher (what the shared change feed follows)."""
        with self._lock:
            return list(self._per_campaign)

    @property
    def open_watches(self) -> int:
        with self._lock:
            return len(self._watches)

    def wait(self, campaign_id: str, seen: int, timeout: float, watch: Watch | None = None) -> int:
        """Block until the campaign's version differs from ``seen``, the watch
        ended, the hub closed, or ``timeout``."""

        with self._lock:
            condition = self._use_condition(campaign_id)
            try:
                condition.wait_for(lambda: self._woken(campaign_id, seen, watch), timeout)
            finally:
                self._leave_condition(campaign_id)
            return self._versions.get(campaign_id, 0)

    def _woken(self, campaign_id: str, seen: int, watch: Watch | None) -> bool:
        return (
            self._closed
            or (watch is not None and watch.ended)
            or self._versions.get(campaign_id, 0) != seen
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Wake every watcher for shutdown."""
        with self._lock:
            self._closed = True
            for condition in self._conditions.values():
                condition.notify_all()
            for watch in self._watches:
                watch._wake()
