"""Scenario 16: the services' logs hold no phone numbers, email addresses or
tokens in clear.

The test runs its own small stack with an API token, a campaign whose numbers
hit refusals, provider errors and late answers (the paths that log the most),
then scans every log file of that stack and of every other rig this test
session started (the fault suite runs before this folder).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.v1 import campaign_pb2
from tests.faults.rig import LOG_DIRS, SmsRig, phone, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

TOKEN = secrets.token_urlsafe(24)
UNSUBSCRIBE_SECRET = secrets.token_urlsafe(24)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
E164 = re.compile(r"(?<![\w/.])\+\d{8,15}(?!\d)")
BEARER = re.compile(r"(?i)bearer\s+(?!\[redacted\])[\w.~+/=-]{8,}")


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


def leaks(text: str) -> list[str]:
    found = EMAIL.findall(text) + E164.findall(text) + BEARER.findall(text)
    found += [secret for secret in (TOKEN, UNSUBSCRIBE_SECRET) if secret in text]
    # Celery's banner names its module by file path; nothing else may match.
    return [hit for hit in found if not hit.endswith((".py", ".log"))]


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

    files = sorted({path for folder in LOG_DIRS for path in folder.glob("*.log")})
    found: dict[str, list[str]] = {}
    lines = 0
    for path in files:
        text = path.read_text(errors="replace")
        lines += text.count("\n")
        hits = leaks(text)
        if hits:
            found[str(path)] = sorted(set(hits))[:10]
    print(
        f"\nscenario=16 log_files={len(files)} lines={lines} files_with_personal_data={len(found)}"
    )
    assert files
    assert found == {}
