"""Whether a campaign may still be sent: the stop button's shared state.

The orchestrator writes one Redis key per paused or cancelled campaign
(``CONTROL_REDIS_URL``, keys under ``CONTROL_KEY_PREFIX``); every adapter worker
reads it before each provider call, so a cancel or a pause reaches deliveries
already queued on the bus within about a second. This module, the key layout
and the bus messages are all the two sides share.

Workers cache each campaign's state for ``REFRESH_SECONDS``: one Redis round
trip per campaign and process every half second, never one per delivery. When
Redis cannot be read, a worker keeps sending (the orchestrator's pacing keeps
only a few seconds of work queued, so that is what a cancel would miss) and
says so in its log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from enum import Enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import redis

# ``redis`` is imported where a client is made, not here: the orchestrator
# needs one only when a campaign is paused, resumed or cancelled, and the client
# library costs a process about 8 MB of RSS from the moment it is imported.

log = logging.getLogger(__name__)

#: How long a worker trusts what it read about a campaign, in seconds.
REFRESH_SECONDS: Final = 0.5
#: A cancelled campaign's key outlives any delivery still queued for it.
CANCELLED_TTL_SECONDS: Final = 7 * 24 * 3600
#: A pause only has to reach what was queued when it began (handed back within
#: seconds; the dispatcher releases nothing more), so its key need not live forever.
PAUSED_TTL_SECONDS: Final = 24 * 3600
#: Seconds between two warnings about an unreadable Redis.
WARN_EVERY: Final = 30.0


class Control(Enum):
    """What a worker does with a campaign's next delivery."""

    SEND = ""
    PAUSED = "paused"
    CANCELLED = "cancelled"


def _key(prefix: str, campaign_id: str) -> str:
    return f"{prefix}:campaign:{campaign_id}"


#: URL schemes ``redis.Redis.from_url`` accepts.
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


class CampaignControl:
    """The orchestrator's side: records pauses, resumes and cancels.

    The client is made at the first of them (see the module's imports); a URL
    that is not Redis's is still refused at once, when the orchestrator starts.
    """

    def __init__(self, redis_url: str, prefix: str) -> None:
        if not redis_url.startswith(_REDIS_SCHEMES):
            raise ValueError(f"not a Redis URL (redis://, rediss:// or unix://): {redis_url!r}")
        self._url = redis_url
        self._prefix = prefix
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()

    def set(self, campaign_id: str, state: Control) -> None:
        """Record ``state``; ``Control.SEND`` clears a pause. Raises ``redis.RedisError``."""
        key = _key(self._prefix, campaign_id)
        client = self._redis()
        if state is Control.SEND:
            client.delete(key)
        elif state is Control.CANCELLED:
            client.set(key, state.value, ex=CANCELLED_TTL_SECONDS)
        else:
            client.set(key, state.value, ex=PAUSED_TTL_SECONDS)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()

    def _redis(self) -> redis.Redis:
        import redis  # noqa: PLC0415 - see the module's imports

        with self._lock:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self._url, socket_timeout=2, socket_connect_timeout=2
                )
            return self._client


class ControlReader:
    """A worker's side: each campaign's state, cached for ``REFRESH_SECONDS``.

    Thread-safe; a process forked from one that used it opens its own connection.
    """

    def __init__(self, redis_url: str, prefix: str, refresh: float = REFRESH_SECONDS) -> None:
        self._url = redis_url
        self._prefix = prefix
        self._refresh = refresh
        self._client: redis.Redis | None = None
        self._pid = 0
        self._cache: dict[str, tuple[Control, float]] = {}
        self._lock = threading.Lock()
        self._warned = 0.0

    def state(self, campaign_id: str) -> Control:
        now = time.monotonic()
        cached = self._cache.get(campaign_id)
        if cached is not None and now - cached[1] < self._refresh:
            return cached[0]
        state = self._read(campaign_id, now)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[campaign_id] = (state, now)
        return state

    def _read(self, campaign_id: str, now: float) -> Control:
        import redis  # noqa: PLC0415 - see the module's imports; loaded once, then a lookup

        try:
            value = self._redis().get(_key(self._prefix, campaign_id))
        except redis.RedisError as exc:
            if now - self._warned > WARN_EVERY:
                self._warned = now
                log.warning("campaign control state unreadable, sending on: %s", exc)
            return Control.SEND
        if value is None:
            return Control.SEND
        try:
            return Control(value.decode() if isinstance(value, bytes) else str(value))
        except ValueError:
            return Control.SEND  # a newer orchestrator's state we do not know: keep sending

    def _redis(self) -> redis.Redis:
        import redis  # noqa: PLC0415 - see the module's imports

        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = redis.Redis.from_url(
                    self._url, socket_timeout=1, socket_connect_timeout=1
                )
                self._pid = os.getpid()
            return self._client


__all__ = ["CampaignControl", "Control", "ControlReader"]
