"""What the API reports back: exports, a delivery's history, skipped addresses,
test sends and duplicates, on SQLite and PostgreSQL through a real gRPC channel."""

from __future__ import annotations

import collections
import csv
import io
import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from brandcast.orchestrator.completion import ReportWindowCloser
from brandcast.orchestrator.export import export_chunks
from brandcast.orchestrator.server import Orchestrator, bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.orchestrator.store import Store
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

S = campaign_pb2
API = campaign_service_pb2


def make_spec(recipients: int) -> S.CampaignSpec:
    return S.CampaignSpec(
        name="Spring launch",
        brand_kit=S.BrandKit(
            name="Acme Coffee",
            email_sender=S.EmailSender(name="Acme", address="news@acme.example.com"),
            sms_sender="+14155550100",
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(headline="Spring blend is here", body="Bright, floral, ours."),
        channels=S.ChannelSettings(
            email=S.EmailSettings(enabled=True), sms=S.SmsSettings(enabled=True)
        ),
        audience=[
            S.Recipient(id=f"r{i}", email=f"r{i}@example.com", phone=f"+1415555{i % 10_000:04d}")
            for i in range(recipients)
        ],
    )


@dataclass
class Api:
    app: Orchestrator
    campaigns: campaign_service_pb2_grpc.CampaignServiceStub


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    settings = OrchestratorSettings(database_url=database_url, grpc_address="127.0.0.1:0")
    app = bootstrap(settings, store=Store.open(database_url), dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    app.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Api(app, campaign_service_pb2_grpc.CampaignServiceStub(channel))
    finally:
        channel.close()
        server.stop(0).wait()
        app.stop()


def _queue_all(store: Store, campaign_id: str) -> list[str]:
    with store.claim_due(limit=1000) as claim:
        ids = [d.id for d in claim.deliveries if d.campaign_id == campaign_id]
        claim.mark_queued(campaign_id, ids)
    return ids


def test_a_receipt_never_lowers_attempts_and_every_answer_is_in_the_history(api: Api) -> None:
    campaign = api.campaigns.SubmitCampaign(API.SubmitCampaignRequest(spec=make_spec(1))).campaign
    store = api.app.store
    ids = _queue_all(store, campaign.id)
    sms = next(d.id for d in store.list_deliveries(campaign.id, channel=S.CHANNEL_SMS)[0])
    assert sms in ids

    def receipt(status: int, attempts: int, **fields: str) -> bus_pb2.DeliveryReceipt:
        r = bus_pb2.DeliveryReceipt(
            delivery_id=sms,
            campaign_id=campaign.id,
            channel=S.CHANNEL_SMS,
            status=status,  # type: ignore[arg-type]
            attempts=attempts,
            **fields,  # type: ignore[arg-type]
        )
        r.occurred_at.GetCurrentTime()
        return r

    store.apply_receipts(
        [receipt(S.DELIVERY_STATUS_SENT, 2, provider="twilio", provider_message_id="SM1")]
    )
    # The handset report knows neither the attempts nor the provider; a late
    # duplicate SENT changes nothing but is on record.
    store.apply_receipts([receipt(S.DELIVERY_STATUS_DELIVERED, 0)])
    store.apply_receipts([receipt(S.DELIVERY_STATUS_SENT, 2, provider="twilio")])

    delivery = api.campaigns.GetDelivery(
        API.GetDeliveryRequest(campaign_id=campaign.id, delivery_id=sms)
    ).delivery
    assert delivery.status == S.DELIVERY_STATUS_DELIVERED
    assert (delivery.attempts, delivery.provider, delivery.provider_message_id) == (
        2,
        "twilio",
        "SM1",
    )
    history = [(e.source, e.status, e.applied) for e in delivery.history]
    assert history == [
        ("intake", S.DELIVERY_STATUS_PENDING, True),
        ("receipt", S.DELIVERY_STATUS_SENT, True),
        ("receipt", S.DELIVERY_STATUS_DELIVERED, True),
        ("receipt", S.DELIVERY_STATUS_SENT, False),
    ]
    times = [e.at.ToMicroseconds() for e in delivery.history]
    assert times == sorted(times)
    assert all(times)
    assert delivery.history[1].provider_message_id == "SM1"

    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.GetDelivery(API.GetDeliveryRequest(campaign_id=campaign.id, delivery_id="x"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_export_streams_every_delivery_as_csv_and_json_lines(api: Api) -> None:
    spec = make_spec(30)
    spec.audience[0].email = "=HYPERLINK(1)@example.com"  # invalid: skipped, and quoted
    campaign = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=spec, skip_invalid_addresses=True)
    ).campaign
    store = api.app.store
    ids = _queue_all(store, campaign.id)
    store.apply_receipts(
        [
            bus_pb2.DeliveryReceipt(
                delivery_id=ids[0],
                campaign_id=campaign.id,
                status=S.DELIVERY_STATUS_FAILED,
                attempts=3,
                provider="smtp",
                error_code="550",
                error_message='mailbox "unknown", sorry',
            )
        ]
    )
    store.export_page_size = 7  # small pages, so the export spans several

    def export(**fields: int) -> tuple[bytes, int, int]:
        chunks = list(
            api.campaigns.ExportDeliveries(
                API.ExportDeliveriesRequest(campaign_id=campaign.id, **fields)  # type: ignore[arg-type]
            )
        )
        return b"".join(c.data for c in chunks), sum(c.rows for c in chunks), len(chunks)

    data, rows, chunks = export()
    assert rows == 60
    assert chunks > 5
    table = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(table) == 60
    assert set(table[0]) >= {"delivery_id", "status", "attempts", "provider_message_id"}
    failed = next(r for r in table if r["delivery_id"] == ids[0])
    assert (failed["status"], failed["attempts"], failed["error_code"]) == ("failed", "3", "550")
    assert failed["error_message"] == 'mailbox "unknown", sorry'
    skipped = [r for r in table if r["status"] == "skipped"]
    assert len(skipped) == 1
    assert skipped[0]["address"] == "'=HYPERLINK(1)@example.com"
    assert all(r["address"].startswith("+1") for r in table if r["channel"] == "sms")

    data, rows, _ = export(
        format=API.EXPORT_FORMAT_JSON_LINES,
        channel=S.CHANNEL_EMAIL,
        status=S.DELIVERY_STATUS_QUEUED,
    )
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert len(lines) == rows == 28
    assert {(line["channel"], line["status"]) for line in lines} == {("email", "queued")}

    missing = API.ExportDeliveriesRequest(campaign_id="no-such-campaign")
    with pytest.raises(grpc.RpcError) as caught:
        list(api.campaigns.ExportDeliveries(missing))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_an_invalid_address_skips_its_channel_not_the_recipient(api: Api) -> None:
    spec = make_spec(3)
    spec.audience[1].phone = "+15550100"  # not a valid number
    spec.audience[2].email = "nobody@@example.com"
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaign(API.SubmitCampaignRequest(spec=spec))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    answer = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=spec, skip_invalid_addresses=True)
    )
    skipped = {(s.recipient_id, s.channel, s.field) for s in answer.skipped}
    assert skipped == {
        ("r1", S.CHANNEL_SMS, "spec.audience[1].phone"),
        ("r2", S.CHANNEL_EMAIL, "spec.audience[2].email"),
    }
    assert all(s.reason for s in answer.skipped)
    counters = {c.channel: c for c in answer.campaign.counters}
    assert (counters[S.CHANNEL_EMAIL].pending, counters[S.CHANNEL_EMAIL].skipped) == (2, 1)
    assert (counters[S.CHANNEL_SMS].pending, counters[S.CHANNEL_SMS].skipped) == (2, 1)
    # Stored: a reload (GetCampaign) and the deliveries say the same.
    stored = api.campaigns.GetCampaign(
        API.GetCampaignRequest(campaign_id=answer.campaign.id)
    ).campaign
    assert list(stored.counters) == list(answer.campaign.counters)
    listed = api.campaigns.ListDeliveries(
        API.ListDeliveriesRequest(campaign_id=answer.campaign.id, status=S.DELIVERY_STATUS_SKIPPED)
    ).deliveries
    assert {(d.recipient_id, d.address, d.error_code) for d in listed} == {
        ("r1", "+15550100", "invalid_address"),
        ("r2", "nobody@@example.com", "invalid_address"),
    }


def test_a_test_send_is_marked_and_small(api: Api) -> None:
    campaign = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=make_spec(1), test=True)
    ).campaign
    assert campaign.test
    assert api.campaigns.GetCampaign(API.GetCampaignRequest(campaign_id=campaign.id)).campaign.test
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaign(API.SubmitCampaignRequest(spec=make_spec(11), test=True))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "test send" in (caught.value.details() or "")


def test_duplicate_copies_the_spec_and_the_audience(api: Api) -> None:
    original = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=make_spec(2500))
    ).campaign
    copy = api.campaigns.DuplicateCampaign(
        API.DuplicateCampaignRequest(campaign_id=original.id, idempotency_key="dup-1")
    ).campaign
    assert copy.id != original.id
    assert copy.duplicated_from == original.id
    assert copy.spec.name == "Spring launch (copy)"
    assert copy.audience_size == 2500
    assert [(c.channel, c.total) for c in copy.counters] == [
        (c.channel, c.total) for c in original.counters
    ]
    again = api.campaigns.DuplicateCampaign(
        API.DuplicateCampaignRequest(campaign_id=original.id, idempotency_key="dup-1")
    ).campaign
    assert again.id == copy.id


def test_duplicate_skips_what_its_original_skipped(api: Api) -> None:
    spec = make_spec(3)
    spec.audience[1].phone = "+15550100"  # not a valid number
    original = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=spec, skip_invalid_addresses=True)
    ).campaign
    copy = api.campaigns.DuplicateCampaign(
        API.DuplicateCampaignRequest(campaign_id=original.id)
    ).campaign
    assert copy.duplicated_from == original.id
    assert copy.audience_size == 3
    counts = [(c.channel, c.total, c.pending, c.skipped) for c in copy.counters]
    assert counts == [(c.channel, c.total, c.pending, c.skipped) for c in original.counters]
    listed = api.campaigns.ListDeliveries(
        API.ListDeliveriesRequest(campaign_id=copy.id, status=S.DELIVERY_STATUS_SKIPPED)
    ).deliveries
    assert {(d.recipient_id, d.address) for d in listed} == {("r1", "+15550100")}


def test_the_watch_follows_until_the_report_window_closes(api: Api) -> None:
    store = api.app.store
    store.report_windows = {S.CHANNEL_SMS: 0.5}
    campaign = api.campaigns.SubmitCampaign(API.SubmitCampaignRequest(spec=make_spec(2))).campaign
    ids = _queue_all(store, campaign.id)
    store.apply_receipts(
        [
            bus_pb2.DeliveryReceipt(
                delivery_id=i, campaign_id=campaign.id, status=S.DELIVERY_STATUS_SENT
            )
            for i in ids
        ]
    )
    closer = ReportWindowCloser(store, api.app.events, interval=0.1)
    closer.start()
    try:
        progress = [
            e.progress
            for e in api.campaigns.WatchCampaign(
                API.WatchCampaignRequest(campaign_id=campaign.id), timeout=10
            )
        ]
    finally:
        closer.stop()
    states = [p.state for p in progress]
    assert states[0] == S.CAMPAIGN_STATE_DISPATCHED
    assert progress[0].waiting_for.startswith("delivery reports for 2 SMS, until ")
    # No delivery changed when the window closed, yet the watch says so and ends.
    assert states[-1] == S.CAMPAIGN_STATE_COMPLETED
    assert progress[-1].waiting_for == ""


def test_only_receipts_that_move_a_delivery_are_counted_as_applied(api: Api) -> None:
    campaign = api.campaigns.SubmitCampaign(API.SubmitCampaignRequest(spec=make_spec(2))).campaign
    store = api.app.store
    ids = _queue_all(store, campaign.id)
    channels = {d.id: d.channel for d in store.list_deliveries(campaign.id)[0]}

    def receipts(status: int) -> list[bus_pb2.DeliveryReceipt]:
        return [
            bus_pb2.DeliveryReceipt(
                delivery_id=i,
                campaign_id=campaign.id,
                channel=channels[i],
                status=status,  # type: ignore[arg-type]
            )
            for i in ids
        ]

    moved: collections.Counter[tuple[int, int]] = collections.Counter()
    store.apply_receipts(receipts(S.DELIVERY_STATUS_SENT) * 2, moved)  # each twice
    assert moved == {
        (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SENT): 2,
        (S.CHANNEL_SMS, S.DELIVERY_STATUS_SENT): 2,
    }
    moved.clear()
    store.apply_receipts(receipts(S.DELIVERY_STATUS_SENT), moved)  # repeats: nothing moves
    assert sum(moved.values()) == 0


def test_an_export_holds_one_page_whatever_the_campaign_size(api: Api) -> None:
    store = api.app.store
    store.export_page_size = 500

    def peak_while_exporting(recipients: int) -> tuple[int, int]:
        campaign = api.campaigns.SubmitCampaign(
            API.SubmitCampaignRequest(spec=make_spec(recipients))
        ).campaign
        tracemalloc.start()
        try:
            rows = 0
            for chunk in export_chunks(
                store.iter_delivery_rows(campaign.id), API.EXPORT_FORMAT_CSV
            ):
                rows += chunk.rows
            return rows, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_rows, small_peak = peak_while_exporting(250)  # one page
    large_rows, large_peak = peak_while_exporting(4000)  # sixteen pages
    assert (small_rows, large_rows) == (500, 8000)
    # Sixteen times the rows, not sixteen times the memory.
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
