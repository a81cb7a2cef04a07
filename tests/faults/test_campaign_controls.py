"""A stop that stops, pacing and fairness, on the real SMS path (issue #22).

Orchestrator, SMS emulator and SMS worker run as processes (``tests/faults/rig``)
with the default SMS rate limit of 10/s. The cancel and the small campaign run
behind a 20,000-recipient campaign, as the issue measured: what they have to get
past is the work already queued on the bus, which pacing keeps to a few seconds of
sending whatever the audience.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.shared.devstack import wait_until
from brandcast.v1 import campaign_pb2, campaign_service_pb2
from tests.faults.rig import SmsRig, phone, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

BIG = 20_000
RATE = 10
S = campaign_pb2


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path, broker_url, database_url, extra_env={"SMS_RATE_LIMIT": str(RATE)}
    )


def sent_since(rig: SmsRig, moment: float) -> list[float]:
    """When the provider received each send request after ``moment`` (epoch seconds)."""
    return sorted(r["at"] for r in rig.emulator_requests() if r["at"] > moment)


def queued(rig: SmsRig, campaign_id: str) -> int:
    return rig.statuses(campaign_id).get(S.DELIVERY_STATUS_QUEUED, 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cancel_stops_the_sending_within_two_seconds(rig: SmsRig) -> None:
    campaign_id = rig.submit(sms_spec(BIG))
    wait_until(lambda: rig.emulator_stats()["messages"] >= 3 * RATE, 60, "sending at pace")

    response = rig.call(
        "CancelCampaign", campaign_service_pb2.CancelCampaignRequest(campaign_id=campaign_id)
    )
    answered = time.time()
    rig.wait_settled(campaign_id, BIG, timeout=60)

    late = sent_since(rig, answered)
    statuses = rig.statuses(campaign_id)
    sent = rig.emulator_stats()["messages"]
    print(f"\ncancel: {sent} sent, {len(late)} after the answer, statuses {statuses}")
    assert response.campaign.state == S.CAMPAIGN_STATE_CANCELLED
    assert not late or late[-1] - answered <= 2.0, f"sent {late[-1] - answered:.1f}s after"
    # Every delivery is final: sent, or cancelled (before or at the adapter).
    assert statuses == {S.DELIVERY_STATUS_SENT: sent, S.DELIVERY_STATUS_CANCELLED: BIG - sent}
    assert sent < BIG // 4


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_small_campaign_behind_a_big_one_completes_within_30_seconds(rig: SmsRig) -> None:
    big = rig.submit(sms_spec(BIG, name="big"))
    wait_until(lambda: rig.emulator_stats()["messages"] >= 2 * RATE, 60, "the big one sending")

    started = time.monotonic()
    small = rig.submit(sms_spec(50, name="small", first=BIG))
    took = rig.wait_settled(small, 50, timeout=30)

    assert time.monotonic() - started <= 30
    assert rig.statuses(small) == {S.DELIVERY_STATUS_SENT: 50}
    assert not rig.settled(big, BIG), "the big campaign was still running"
    pace = rig.call("GetCampaign", campaign_service_pb2.GetCampaignRequest(campaign_id=big))
    sms = next(p for p in pace.campaign.pace if p.channel == S.CHANNEL_SMS)
    print(f"\nsmall campaign done in {took:.1f}s; big: {sms.summary}")
    assert sms.pace_reason == "SMS_RATE_LIMIT"
    assert sms.rate_limit == RATE
    assert 0 < sms.remaining < BIG
    # 10/s shared by the two (then the big one alone): minutes, not hours or zero.
    assert 0 < sms.eta_seconds < 3 * BIG / RATE
    assert sms.summary.startswith("SMS: ")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pause_and_resume_deliver_each_message_exactly_once(rig: SmsRig) -> None:
    size = 150
    campaign_id = rig.submit(sms_spec(size))
    wait_until(lambda: rig.emulator_stats()["messages"] >= 2 * RATE, 60, "sending at pace")

    paused = rig.call(
        "PauseCampaign", campaign_service_pb2.PauseCampaignRequest(campaign_id=campaign_id)
    )
    answered = time.time()
    # What was queued comes back unsent (deferred) and waits in the outbox.
    wait_until(lambda: queued(rig, campaign_id) == 0, 30, "the queued deliveries handed back")
    held = rig.statuses(campaign_id).get(S.DELIVERY_STATUS_PENDING, 0)
    resumed_at = time.time()
    resumed = rig.call(
        "ResumeCampaign", campaign_service_pb2.ResumeCampaignRequest(campaign_id=campaign_id)
    )
    rig.wait_settled(campaign_id, size, timeout=90)

    during_pause = [at for at in sent_since(rig, answered + 2.0) if at < resumed_at]
    keys = [m["delivery_ref"] for m in rig.emulator_messages()]
    print(f"\npause: {held} held back, {len(during_pause)} sent while paused")
    assert paused.campaign.state == S.CAMPAIGN_STATE_PAUSED
    assert resumed.campaign.state == S.CAMPAIGN_STATE_DISPATCHING
    assert held > 0
    assert during_pause == []
    assert rig.statuses(campaign_id) == {S.DELIVERY_STATUS_SENT: size}
    assert len(keys) == size
    assert len(set(keys)) == size
    assert rig.emulator_stats()["duplicates"] == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_pace_follows_a_provider_that_answers_429(rig: SmsRig) -> None:
    size = 60
    for i in range(size):
        rig.add_fault(phone(i), "429", 1, retry_after=1)
    campaign_id = rig.submit(sms_spec(size))
    request = campaign_service_pb2.GetCampaignRequest(campaign_id=campaign_id)

    def sms_pace() -> campaign_pb2.ChannelPace:
        campaign: campaign_pb2.Campaign = rig.call("GetCampaign", request).campaign
        return next(p for p in campaign.pace if p.channel == S.CHANNEL_SMS)

    wait_until(lambda: sms_pace().pace_reason == "provider throttling", 30, "throttling seen")
    print(f"\n429s: {sms_pace().summary}")
    rig.wait_settled(campaign_id, size, timeout=60)
    assert rig.statuses(campaign_id) == {S.DELIVERY_STATUS_SENT: size}
