"""SMS quiet hours at dispatch time: fixed clocks, real RabbitMQ, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from kombu import Connection

from brandcast.orchestrator.dispatcher import Dispatcher
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.store import Store
from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

S = campaign_pb2

pytestmark = [pytest.mark.rabbitmq]

#: A Tuesday in January (no DST anywhere involved), 21:30 UTC:
#: 22:30 in Paris (quiet), 16:30 in New York (allowed), 06:30 in Tokyo (quiet).
EVENING = dt.datetime(2030, 1, 15, 21, 30, tzinfo=dt.UTC)


class FixedClock:
    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> float:
        return self.moment.timestamp()


@pytest.fixture
def publisher(broker_url: str) -> Iterator[BusPublisher]:
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
        yield publisher


def spec(sms: S.SmsSettings, *, brand_zone: str = "") -> S.CampaignSpec:
    return S.CampaignSpec(
        name="Evening offer",
        brand_kit=S.BrandKit(name="Acme", sms_sender="+14155550100", default_timezone=brand_zone),
        core_message=S.CoreMessage(headline="Spring blend", body="Ours."),
        channels=S.ChannelSettings(sms=sms),
        audience=[
            S.Recipient(id="paris", phone="+33612345678", timezone="Europe/Paris"),
            S.Recipient(id="nyc", phone="+12125550123", timezone="America/New_York"),
            S.Recipient(id="tokyo", phone="+819012345678", timezone="Asia/Tokyo"),
            S.Recipient(id="nozone", phone="+14155550142"),
        ],
    )


def dispatcher(store: Store, publisher: BusPublisher, clock: FixedClock) -> Dispatcher:
    return Dispatcher(store, lambda: publisher, batch_size=100, clock=clock)


def sms_on_the_bus(broker_url: str) -> list[str]:
    """Recipient ids of every SMS now in the SMS queue (consumed)."""
    found: list[str] = []
    with Connection(broker_url) as connection:
        queue = topology.dispatch_queue("sms")(connection.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            batch = bus_pb2.DispatchBatch.FromString(message.body)
            found += [item.recipient_id for item in batch.items]
    return found


def statuses(store: Store, campaign_id: str) -> dict[str, S.Delivery]:
    deliveries, _ = store.list_deliveries(campaign_id, page_size=100)
    return {d.recipient_id: d for d in deliveries}


def micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def test_quiet_recipients_are_deferred_then_sent(
    store: Store, publisher: BusPublisher, broker_url: str
) -> None:
    campaign = CampaignIntake(store).submit(
        campaign_service_pb2.SubmitCampaignRequest(spec=spec(S.SmsSettings(enabled=True)))
    )
    clock = FixedClock(EVENING)
    relay = dispatcher(store, publisher, clock)

    assert relay.dispatch_once() == 4
    # The recipient without a zone is in UTC, where 21:30 is quiet too.
    assert sorted(sms_on_the_bus(broker_url)) == ["nyc"]
    found = statuses(store, campaign.campaign.id)
    assert found["nyc"].status == S.DELIVERY_STATUS_QUEUED
    expected = {
        "paris": dt.datetime(2030, 1, 16, 7, 0, tzinfo=dt.UTC),  # 08:00 CET
        "tokyo": dt.datetime(2030, 1, 15, 23, 0, tzinfo=dt.UTC),  # 08:00 JST
        "nozone": dt.datetime(2030, 1, 16, 8, 0, tzinfo=dt.UTC),  # 08:00 UTC
    }
    for rid, at in expected.items():
        assert found[rid].status == S.DELIVERY_STATUS_SCHEDULED, rid
        assert found[rid].not_before.ToMicroseconds() == micros(at), rid
    assert store.get_campaign(campaign.campaign.id).state == S.CAMPAIGN_STATE_DISPATCHING  # type: ignore[union-attr]

    # Nothing is due before the earliest end of quiet hours.
    clock.moment = dt.datetime(2030, 1, 15, 22, 59, tzinfo=dt.UTC)
    assert relay.dispatch_once() == 0
    # Tokyo wakes up first, then Paris, then UTC.
    for now, rid in [
        (expected["tokyo"], "tokyo"),
        (expected["paris"], "paris"),
        (expected["nozone"], "nozone"),
    ]:
        clock.moment = now
        assert relay.dispatch_once() == 1
        assert sms_on_the_bus(broker_url) == [rid]
        assert statuses(store, campaign.campaign.id)[rid].status == S.DELIVERY_STATUS_QUEUED


def test_brand_zone_custom_window_and_ignore(
    store: Store, publisher: BusPublisher, broker_url: str
) -> None:
    intake = CampaignIntake(store)
    # 21:30 UTC is 16:30 in New York: inside a 16:00-17:00 window there.
    custom = intake.submit(
        campaign_service_pb2.SubmitCampaignRequest(
            spec=spec(
                S.SmsSettings(enabled=True, quiet_hours_start="16:00", quiet_hours_end="17:00"),
                brand_zone="America/New_York",
            )
        )
    )
    relay = dispatcher(store, publisher, FixedClock(EVENING))
    relay.dispatch_once()
    # Paris (22:30) and Tokyo (06:30) are outside 16:00-17:00; the zoneless one
    # takes the brand's New York zone and waits with the New Yorker.
    assert sorted(sms_on_the_bus(broker_url)) == ["paris", "tokyo"]
    found = statuses(store, custom.campaign.id)
    five_pm_new_york = dt.datetime(2030, 1, 15, 22, 0, tzinfo=dt.UTC)
    for rid in ("nyc", "nozone"):
        assert found[rid].status == S.DELIVERY_STATUS_SCHEDULED
        assert found[rid].not_before.ToMicroseconds() == micros(five_pm_new_york)

    transactional = intake.submit(
        campaign_service_pb2.SubmitCampaignRequest(
            spec=spec(S.SmsSettings(enabled=True, ignore_quiet_hours=True))
        )
    )
    relay.dispatch_once()
    assert len(sms_on_the_bus(broker_url)) == 4
    assert {d.status for d in statuses(store, transactional.campaign.id).values()} == {
        S.DELIVERY_STATUS_QUEUED
    }


def test_cancel_reaches_deferred_sms(store: Store, publisher: BusPublisher) -> None:
    campaign = CampaignIntake(store).submit(
        campaign_service_pb2.SubmitCampaignRequest(spec=spec(S.SmsSettings(enabled=True)))
    )
    dispatcher(store, publisher, FixedClock(EVENING)).dispatch_once()
    cancelled = store.cancel_campaign(campaign.campaign.id)
    assert cancelled is not None
    assert cancelled[1] == 3  # the three deferred ones; the queued one is at the adapter
    found = statuses(store, campaign.campaign.id)
    assert found["paris"].status == S.DELIVERY_STATUS_CANCELLED
    assert found["nyc"].status == S.DELIVERY_STATUS_QUEUED


def test_real_clock_default_dispatcher_still_sends_daytime(
    store: Store, publisher: BusPublisher, broker_url: str
) -> None:
    # Whatever the hour now, a recipient whose local time is noon gets it at once.
    now = dt.datetime.now(dt.UTC)
    offset_hours = (12 - now.hour) % 24
    zone = f"Etc/GMT{-offset_hours:+d}" if offset_hours <= 14 else f"Etc/GMT{24 - offset_hours:+d}"
    audience = [S.Recipient(id="noon", phone="+14155550150", timezone=zone)]
    request = campaign_service_pb2.SubmitCampaignRequest(spec=spec(S.SmsSettings(enabled=True)))
    del request.spec.audience[:]
    request.spec.audience.extend(audience)
    CampaignIntake(store).submit(request)
    Dispatcher(store, lambda: publisher, batch_size=100).dispatch_once()
    deadline = time.monotonic() + 5
    found: list[str] = []
    while not found and time.monotonic() < deadline:
        found = sms_on_the_bus(broker_url)
    assert found == ["noon"]
