"""A messages-per-second limit shared by every worker process of a service.

The limit lives in Redis as a GCRA (generic cell rate algorithm) state: one key
per limit, updated atomically by a Lua script, so any number of processes on any
number of hosts share it. Without Redis (``redis_url`` empty) the limit is kept
per process, which is only right for a single worker process.

Redis being unreachable is not a bug in the batch: ``acquire`` then raises
``TransientProviderError("redis_unavailable")``, so the delivery is retried
later instead of sending the batch down the poison-message path.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Protocol

import redis

from brandcast.shared.errors import TransientProviderError

#: The error code of a delivery held back because Redis could not be reached.
REDIS_UNAVAILABLE = "redis_unavailable"

# Returns the seconds to wait before the caller may send (0 = send now). The new
# theoretical arrival time is only stored when the caller is allowed through.
_GCRA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local allow_at = tat - interval * burst
if allow_at > now then return tostring(allow_at - now) end
local new_tat = tat + interval
redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return '0'
"""


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until one more message may be sent."""


class RedisRateLimiter:
    def __init__(self, redis_url: str, key: str, per_second: float, burst: int = 1) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._client = redis.Redis.from_url(redis_url)
        self._script = self._client.register_script(_GCRA)
        self._key = f"brandcast:ratelimit:{key}"
        self._interval = 1.0 / per_second
        self._burst = max(burst, 1)

    def acquire(self) -> None:
        while True:
            with redis_outage_is_transient():
                wait = float(self._script(keys=[self._key], args=[self._interval, self._burst - 1]))
            if wait <= 0:
                return
            time.sleep(wait)


@contextlib.contextmanager
def redis_outage_is_transient(what: str = "the shared rate limit") -> Iterator[None]:
    """Turn a Redis error inside the block into a retryable ``TransientProviderError``."""
    try:
        yield
    except redis.RedisError as exc:
        raise TransientProviderError(
            REDIS_UNAVAILABLE, f"{what} is unreachable: {type(exc).__name__}"
        ) from exc


class LocalRateLimiter:
    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._interval = 1.0 / per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


class Unlimited:
    def acquire(self) -> None:
        return None


def rate_limiter(redis_url: str, key: str, per_second: float) -> RateLimiter:
    """The limiter for ``per_second`` messages/s (0 = unlimited) under ``key``."""
    if per_second <= 0:
        return Unlimited()
    if redis_url:
        return RedisRateLimiter(redis_url, key, per_second)
    return LocalRateLimiter(per_second)
