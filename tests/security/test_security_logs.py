"""Scenario 16: the services' logs hold no phone numbers, email addresses or
tokens in clear.

The test runs its own small stack with an API token, a campaign whose numbers
hit refusals, provider errors and late answers (the paths that log the most),
then scans every log file of that stack and of every other rig this test
process started (run serially, the fault suite runs before this folder; every
rig also scans its own logs when it stops: ``tests/faults/log_leaks.py``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.v1 import campaign_pb2
from tests.faults.log_leaks import scan_logs
from tests.faults.rig import LOG_DIRS, SmsRig, phone, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

TOKEN = secrets.token_urlsafe(24)
UNSUBSCRIBE_SECRET = secrets.token_urlsafe(24)


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path,
        broker_url,
        database_url,
        extra_env={
            "API_TOKENS": TOKEN,
            "UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
            "SMS_MAX_ATTEMPTS": "2",
            "SMS_PROVIDER_TIMEOUT": "1",
            "SMS_FAILOVER_THRESHOLD": "1000",
        },
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_service_logs_hold_no_personal_data(rig: SmsRig) -> None:
    spec = sms_spec(30)
    spec.audience[0].phone = "+19005551234"  # premium rate: refused, logged
    spec.audience[1].email = "ada.lovelace@example.com"
    for recipient in spec.audience:
        recipient.name = "Ada Lovelace"
    rig.add_fault(phone(2), "500", 10)
    rig.add_fault(phone(3), "timeout", 1)
    rig.add_fault(phone(4), "400", 1, code="21610")
    campaign_id = rig.submit(spec)
    rig.wait_settled(campaign_id, 30, timeout=90)
    statuses = rig.statuses(campaign_id)
    assert statuses.get(campaign_pb2.DELIVERY_STATUS_FAILED, 0) >= 3

    scan = scan_logs(LOG_DIRS, (TOKEN, UNSUBSCRIBE_SECRET))
    print(
        f"\nscenario=16 log_files={len(scan.files)} lines={scan.lines} "
        f"files_with_personal_data={len(scan.found)}"
    )
    assert scan.files
    assert scan.found == {}
