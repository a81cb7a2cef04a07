"""The second defence against SMS pumping: a cap per destination prefix.

Pumping traffic concentrates on a few number ranges (the fraudster's block of
numbers), so we count distinct deliveries per prefix (country code + first
digits) per hour and refuse past ``SMS_PREFIX_CAP`` with
``prefix_cap_exceeded``. The count lives in Redis so every worker process shares
it; it counts idempotency keys, not calls, so a retried delivery is not counted
twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, Protocol

import redis

PREFIX_CAP_EXCEEDED: Final = "prefix_cap_exceeded"

#: Admit ``ARGV[1]`` into the window set ``KEYS[1]`` unless it already holds
#: ``ARGV[2]`` members; returns 1 when admitted (or already a member).
_ADMIT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class PrefixCap(Protocol):
    def admit(self, prefix: str, delivery_key: str) -> bool:
        """Count ``delivery_key`` against ``prefix``; False when the cap is reached."""


class NoPrefixCap:
    def admit(self, prefix: str, delivery_key: str) -> bool:
        return True


class RedisPrefixCap:
    """Fixed hourly windows (``window`` seconds) of distinct keys per prefix."""

    def __init__(
        self,
        redis_url: str,
        cap: int,
        *,
        namespace: str = "sms",
        window: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._script = self._client.register_script(_ADMIT)
        self._cap = cap
        self._namespace = namespace
        self._window = window
        self._clock = clock

    def admit(self, prefix: str, delivery_key: str) -> bool:
        bucket = int(self._clock() // self._window)
        key = f"brandcast:{self._namespace}:prefixcap:{prefix}:{bucket}"
        # Keep the set a little past its window so late retries still find their key.
        admitted = self._script(keys=[key], args=[delivery_key, self._cap, self._window * 2])
        return bool(int(admitted))


class LocalPrefixCap:
    """The same cap kept in this process only (no Redis configured)."""

    def __init__(
        self, cap: int, *, window: int = 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self._cap = cap
        self._window = window
        self._clock = clock
        self._seen: dict[tuple[str, int], set[str]] = {}
        self._lock = threading.Lock()

    def admit(self, prefix: str, delivery_key: str) -> bool:
        bucket = int(self._clock() // self._window)
        with self._lock:
            for stale in [k for k in self._seen if k[1] < bucket]:
                del self._seen[stale]
            keys = self._seen.setdefault((prefix, bucket), set())
            if delivery_key in keys:
                return True
            if len(keys) >= self._cap:
                return False
            keys.add(delivery_key)
            return True


def prefix_cap(redis_url: str, cap: int, *, namespace: str = "sms") -> PrefixCap:
    """The cap for ``cap`` messages per prefix per hour (0 = none)."""
    if cap <= 0:
        return NoPrefixCap()
    if redis_url:
        return RedisPrefixCap(redis_url, cap, namespace=namespace)
    return LocalPrefixCap(cap)
