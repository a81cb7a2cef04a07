"""Replies applied once each and in the order they were sent: local and Redis ledgers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from brandcast.sms.inbound_ledger import InboundLedger, LocalInboundLedger, RedisInboundLedger

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["local", "redis"])
def ledger(request: pytest.FixtureRequest) -> Iterator[InboundLedger]:
    if request.param == "local":
        yield LocalInboundLedger()
        return
    namespace = f"sms-test-{uuid.uuid4().hex[:10]}"
    yield RedisInboundLedger(REDIS_URL, namespace=namespace)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"brandcast:{namespace}:*"):
        client.delete(key)


def test_a_message_id_is_applied_once(ledger: InboundLedger) -> None:
    assert ledger.is_current("+447400123456", "SM1", 100.0)
    ledger.record("+447400123456", "SM1", 100.0)
    assert not ledger.is_current("+447400123456", "SM1", 100.0)
    assert not ledger.is_current("+447400123456", "SM1", 500.0), "a replay, whatever its time"


def test_an_older_message_does_not_undo_a_newer_one(ledger: InboundLedger) -> None:
    ledger.record("+447400123456", "SMstop", 200.0)
    assert not ledger.is_current("+447400123456", "SMstart", 150.0)
    assert ledger.is_current("+447400123456", "SMstart", 250.0)
    assert ledger.is_current("+447400999999", "SMother", 150.0), "numbers are independent"


def test_recording_an_older_message_keeps_the_newer_time(ledger: InboundLedger) -> None:
    ledger.record("+447400123456", "SMnew", 200.0)
    ledger.record("+447400123456", "SMold", 100.0)
    assert not ledger.is_current("+447400123456", "SMmid", 150.0)
