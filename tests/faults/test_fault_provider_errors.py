"""Scenarios 4 and 5: a provider that throttles, fails and answers too late.

One campaign, different numbers with different faults at the SMS emulator:
429 with ``Retry-After: 2``; 5xx twice (half the audience) then success; 5xx
forever (retries exhausted); accepted but answered after the client's timeout
(Twilio has no idempotency key: the retry must look the message up, not resend).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from brandcast.v1 import campaign_pb2
from tests.faults.rig import SmsRig, dead_letters, phone, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

SIZE = 200
MAX_ATTEMPTS = 4
THROTTLED = range(0, 20)
FLAKY = range(20, 120)  # 50% of the audience: 5xx twice, then accepted
BROKEN = range(120, 130)  # 5xx on every attempt
LATE = range(130, 140)  # accepted, answer after the client's timeout
S = campaign_pb2


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path,
        broker_url,
        database_url,
        extra_env={
            "SMS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "SMS_PROVIDER_TIMEOUT": "1",
            "DISPATCH_BATCH_SIZE": "50",
            # The circuit breaker is another test's subject; here every attempt
            # must reach the provider so that attempts can be counted.
            "SMS_FAILOVER_THRESHOLD": "100000",
        },
    )


def delivery_of(message: dict[str, str]) -> str:
    """The delivery id in a message's per-delivery status callback URL."""
    return parse_qs(urlsplit(message["delivery_ref"]).query)["d"][0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_throttling_errors_and_late_answers(rig: SmsRig, broker_url: str) -> None:
    for i in THROTTLED:
        rig.add_fault(phone(i), "429", 1, retry_after=2)
    for i in FLAKY:
        rig.add_fault(phone(i), "500", 2)
    for i in BROKEN:
        rig.add_fault(phone(i), "500", 1000)
    for i in LATE:
        rig.add_fault(phone(i), "timeout", 1)

    campaign_id = rig.submit(sms_spec(SIZE))
    drained = rig.wait_settled(campaign_id, SIZE, timeout=150)

    deliveries = rig.deliveries(campaign_id)
    by_key = {key: (status, attempts, code) for _, key, status, attempts, code in deliveries}
    requests: dict[str, list[dict[str, object]]] = defaultdict(list)
    for request in rig.emulator_requests():
        requests[str(request["to"])].append(request)
    messages = rig.emulator_messages()
    sent_to: dict[str, int] = defaultdict(int)
    for message in messages:
        sent_to[message["to"]] += 1
    dead = {item.delivery_id for batch in dead_letters(broker_url, "sms") for item in batch.items}
    failed_ids = {d for d, _, status, _, _ in deliveries if status == S.DELIVERY_STATUS_FAILED}

    waits = [
        float(requests[phone(i)][1]["at"]) - float(requests[phone(i)][0]["at"])  # type: ignore[arg-type]
        for i in THROTTLED
    ]
    most_attempts = max(len(r) for r in requests.values())
    stats = rig.emulator_stats()
    print(
        f"\nscenario=4 size={SIZE} final={len(deliveries)} lost={SIZE - len(deliveries)} "
        f"failed={len(failed_ids)} dead_lettered={len(dead)} "
        f"min_wait_after_429={min(waits):.2f}s (asked 2s) max_attempts_seen={most_attempts} "
        f"(limit {MAX_ATTEMPTS}) seconds={drained:.1f}"
        f"\nscenario=5 late_answers={len(LATE)} lookups={stats['lookups']} "
        f"late_sends={sum(len(requests[phone(i)]) for i in LATE)} "
        f"late_sms_at_provider={sum(sent_to[phone(i)] for i in LATE)} "
        f"duplicates_at_provider={stats['duplicates']} messages_sent_twice="
        f"{sum(1 for n in sent_to.values() if n > 1)}"
    )
    assert len(deliveries) == SIZE
    # Retries wait at least what the provider asked.
    assert min(waits) >= 2.0
    assert most_attempts <= MAX_ATTEMPTS
    # Half the audience failed twice and still got through; only the broken ones failed.
    assert failed_ids == dead
    assert len(failed_ids) == len(BROKEN)
    for i in BROKEN:
        assert len(requests[phone(i)]) == MAX_ATTEMPTS
    for i in FLAKY:
        assert len(requests[phone(i)]) == 3
    statuses = {status for status, _, _ in by_key.values()}
    assert statuses == {S.DELIVERY_STATUS_SENT, S.DELIVERY_STATUS_FAILED}
    # Late answers: Twilio had accepted the message; the retried delivery looked it
    # up and sent nothing again: exactly one SMS, and the delivery is SENT.
    for i in LATE:
        assert len(requests[phone(i)]) == 1
        assert sent_to[phone(i)] == 1
    by_id = {d: (status, attempts) for d, _, status, attempts, _ in deliveries}
    late = [by_id[delivery_of(m)] for m in messages if m["to"] in {phone(i) for i in LATE}]
    assert [status for status, _ in late] == [S.DELIVERY_STATUS_SENT] * len(LATE)
    assert all(attempts >= 2 for _, attempts in late), "the late ones were retried"
    assert stats["lookups"] >= len(LATE)
    # Retries after refusals (429, 5xx) are not duplicates: nothing was sent.
    assert stats["duplicates"] == 0
    assert max(sent_to.values()) == 1
