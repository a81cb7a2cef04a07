"""What provider callbacks mean for us: statuses mapped, keywords recognised.

Plain functions and small stores, no HTTP: ``webhooks.py`` decodes requests and
calls these.
"""

from __future__ import annotations

import threading
import time
from typing import Final, Protocol

import redis
from google.protobuf.timestamp_pb2 import Timestamp

from brandcast.sms.providers._port import StatusReport
from brandcast.v1 import bus_pb2, campaign_pb2

SENT: Final = campaign_pb2.DELIVERY_STATUS_SENT
DELIVERED: Final = campaign_pb2.DELIVERY_STATUS_DELIVERED
FAILED: Final = campaign_pb2.DELIVERY_STATUS_FAILED
BOUNCED: Final = campaign_pb2.DELIVERY_STATUS_BOUNCED

STOP_KEYWORDS: Final = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS: Final = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS: Final = frozenset({"HELP", "INFO"})


def status_rank(status: campaign_pb2.DeliveryStatus.ValueType) -> int:
    """Order of statuses in a delivery's life: SENT, then one final status."""
    return 1 if status == SENT else 2


def keyword(body: str) -> str:
    """The reply as a carrier keyword: trimmed, upper-case, trailing punctuation gone."""
    return " ".join(body.split()).upper().rstrip(".!")


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def status_receipt(report: StatusReport, provider: str) -> bus_pb2.DeliveryReceipt:
    """The shared receipt for a provider's delivery report."""
    return bus_pb2.DeliveryReceipt(
        delivery_id=report.delivery_id,
        campaign_id=report.campaign_id,
        channel=campaign_pb2.CHANNEL_SMS,
        status=report.status,
        provider=provider,
        provider_message_id=report.message_id,
        error_code=report.error_code,
        error_message=report.error_message,
        occurred_at=now_timestamp(),
    )


class StatusLedger(Protocol):
    """The furthest status reported per delivery, so a late report is not re-emitted."""

    def is_forward(self, delivery_id: str, rank: int) -> bool: ...

    def record(self, delivery_id: str, rank: int) -> None: ...


class RedisStatusLedger:
    """Shared by every webhooks process; entries expire after ``ttl`` seconds."""

    _RECORD = """
    local current = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tonumber(ARGV[1]) > current then
      redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
    end
    return 1
    """

    def __init__(self, redis_url: str, *, namespace: str = "sms", ttl: int = 7 * 86400) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._script = self._client.register_script(self._RECORD)
        self._namespace = namespace
        self._ttl = ttl

    def _key(self, delivery_id: str) -> str:
        return f"brandcast:{self._namespace}:status:{delivery_id}"

    def is_forward(self, delivery_id: str, rank: int) -> bool:
        current = self._client.get(self._key(delivery_id))
        return rank > int(current or 0)

    def record(self, delivery_id: str, rank: int) -> None:
        self._script(keys=[self._key(delivery_id)], args=[rank, self._ttl])


class LocalStatusLedger:
    """Per process and unbounded: for tests and a single webhooks process."""

    def __init__(self) -> None:
        self._ranks: dict[str, int] = {}
        self._lock = threading.Lock()

    def is_forward(self, delivery_id: str, rank: int) -> bool:
        with self._lock:
            return rank > self._ranks.get(delivery_id, 0)

    def record(self, delivery_id: str, rank: int) -> None:
        with self._lock:
            self._ranks[delivery_id] = max(rank, self._ranks.get(delivery_id, 0))
