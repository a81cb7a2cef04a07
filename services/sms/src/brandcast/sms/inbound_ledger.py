"""Opt-outs and opt-ins applied once each, in the order the recipient sent them.

A signed inbound request stays valid forever: an old START replayed after a
STOP would re-subscribe the number. So every STOP/START is remembered by the
provider's message id (a repeat is acknowledged and dropped), and per number
the time of the latest change applied is kept: an older message arriving later
(a provider retry, a replay) does not undo a newer one. The time is the
provider's when its webhook carries one (Vonage ``timestamp``); Twilio's reply
webhook carries none, so for Twilio it is the arrival time and the message id
is what stops replays.

Both are recorded only once the suppression event is confirmed by the broker,
so a request answered 503 (and retried by the provider) is not dropped as seen.
"""

from __future__ import annotations

import threading
from typing import Protocol

import redis

#: Seconds a message id is remembered (a replay later than this is judged by time alone).
SEEN_TTL = 400 * 86400


class InboundLedger(Protocol):
    def is_current(self, number: str, message_id: str, sent_at: float) -> bool:
        """False for a message already applied, or older than the last change applied."""

    def record(self, number: str, message_id: str, sent_at: float) -> None:
        """Remember ``message_id`` and move the number's latest change to ``sent_at``."""


class RedisInboundLedger:
    """Shared by every webhooks process."""

    _RECORD = """
    redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[2]))
    local latest = tonumber(redis.call('GET', KEYS[2]) or '-1')
    if tonumber(ARGV[1]) >= latest then
      redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[2]))
    end
    return 1
    """

    def __init__(self, redis_url: str, *, namespace: str = "sms") -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._script = self._client.register_script(self._RECORD)
        self._prefix = f"brandcast:{namespace}:inbound"

    def _keys(self, number: str, message_id: str) -> list[str]:
        return [f"{self._prefix}:seen:{message_id}", f"{self._prefix}:latest:{number}"]

    def is_current(self, number: str, message_id: str, sent_at: float) -> bool:
        seen_key, latest_key = self._keys(number, message_id)
        seen, latest = self._client.mget([seen_key, latest_key])
        if message_id and seen is not None:
            return False
        return latest is None or sent_at >= float(latest)

    def record(self, number: str, message_id: str, sent_at: float) -> None:
        keys = self._keys(number, message_id or f"anonymous:{number}:{sent_at}")
        self._script(keys=keys, args=[repr(sent_at), SEEN_TTL])


class LocalInboundLedger:
    """Per process and unbounded: for tests and a single webhooks process."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._latest: dict[str, float] = {}
        self._lock = threading.Lock()

    def is_current(self, number: str, message_id: str, sent_at: float) -> bool:
        with self._lock:
            if message_id and message_id in self._seen:
                return False
            return sent_at >= self._latest.get(number, float("-inf"))

    def record(self, number: str, message_id: str, sent_at: float) -> None:
        with self._lock:
            if message_id:
                self._seen.add(message_id)
            self._latest[number] = max(sent_at, self._latest.get(number, float("-inf")))
