"""The gRPC API over a real server on port 0 and a real channel (SQLite store)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from brandcast.orchestrator.intake import SLICE
from brandcast.orchestrator.server import Orchestrator, bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

S = campaign_pb2
API = campaign_service_pb2
TOKEN = "test-token-1"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def make_spec(recipients: int = 2, *, name: str = "Spring launch") -> S.CampaignSpec:
    return S.CampaignSpec(
        name=name,
        brand_kit=S.BrandKit(
            name="Acme Coffee",
            email_sender=S.EmailSender(name="Acme", address="news@acme.example.com"),
            sms_sender="+14155550100",
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(
            headline="Spring blend is here",
            body="Bright, floral, ours.",
            cta_text="Order now",
            cta_url="https://acme.example.com/spring",
        ),
        channels=S.ChannelSettings(
            email=S.EmailSettings(enabled=True), sms=S.SmsSettings(enabled=True)
        ),
        audience=[
            S.Recipient(id=f"r{i}", email=f"r{i}@example.com", phone=f"+1415555{110 + i:04d}")
            for i in range(recipients)
        ],
    )


@dataclass
class Api:
    app: Orchestrator
    campaigns: campaign_service_pb2_grpc.CampaignServiceStub
    suppressions: campaign_service_pb2_grpc.SuppressionServiceStub
    channel: grpc.Channel


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}",
        grpc_address="127.0.0.1:0",
        api_tokens=f"other, {TOKEN}",
    )
    app = bootstrap(settings, dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    app.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Api(
            app,
            campaign_service_pb2_grpc.CampaignServiceStub(channel),
            campaign_service_pb2_grpc.SuppressionServiceStub(channel),
            channel,
        )
    finally:
        channel.close()
        server.stop(0).wait()
        app.stop()


def violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None
    out: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        assert detail.Unpack(bad_request)
        out.update({v.field: v.description for v in bad_request.field_violations})
    return out


def test_invalid_campaign_names_every_bad_field(api: Api) -> None:
    spec = make_spec(4)
    spec.name = ""
    spec.audience[1].email = "not-an-address"
    spec.audience[2].phone = "4155550123"
    spec.audience[3].id = "r0"
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaign(API.SubmitCampaignRequest(spec=spec), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = violations(caught.value)
    assert set(found) == {
        "spec.name",
        "spec.audience[1].email",
        "spec.audience[2].phone",
        "spec.audience[3].id",
    }
    assert "E.164" in found["spec.audience[2].phone"]
    assert api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH).campaigns == []


def test_channel_and_url_rules(api: Api) -> None:
    spec = make_spec(1)
    spec.channels.Clear()
    spec.core_message.cta_url = "ftp://acme.example.com"
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaign(API.SubmitCampaignRequest(spec=spec), metadata=AUTH)
    assert {"spec.channels", "spec.core_message.cta_url"} <= set(violations(caught.value))


def test_submit_persists_deliveries_and_dedupes(api: Api) -> None:
    request = API.SubmitCampaignRequest(spec=make_spec(3), idempotency_key="spring-1")
    first = api.campaigns.SubmitCampaign(request, metadata=AUTH)
    assert not first.duplicate
    campaign = first.campaign
    assert campaign.audience_size == 3
    assert campaign.state == S.CAMPAIGN_STATE_DISPATCHING
    assert {c.channel: c.pending for c in campaign.counters} == {
        S.CHANNEL_EMAIL: 3,
        S.CHANNEL_SMS: 3,
    }
    assert len(campaign.spec.audience) == 0  # the audience lives in its own table

    again = api.campaigns.SubmitCampaign(request, metadata=AUTH)
    assert again.duplicate
    assert again.campaign.id == campaign.id

    other = API.SubmitCampaignRequest(spec=make_spec(2), idempotency_key="spring-1")
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaign(other, metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "different request" in (caught.value.details() or "")
    listed = api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH)
    assert [c.id for c in listed.campaigns] == [campaign.id]

    page = api.campaigns.ListDeliveries(
        API.ListDeliveriesRequest(campaign_id=campaign.id, channel=S.CHANNEL_SMS, page_size=2),
        metadata=AUTH,
    )
    rest = api.campaigns.ListDeliveries(
        API.ListDeliveriesRequest(
            campaign_id=campaign.id, channel=S.CHANNEL_SMS, page_token=page.next_page_token
        ),
        metadata=AUTH,
    )
    phones = sorted(d.address for d in [*page.deliveries, *rest.deliveries])
    assert phones == ["+14155550110", "+14155550111", "+14155550112"]
    assert rest.next_page_token == ""


def stream(
    header: API.SubmitCampaignRequest, chunks: list[list[S.Recipient]]
) -> Iterator[API.SubmitCampaignStreamRequest]:
    yield API.SubmitCampaignStreamRequest(header=header)
    for recipients in chunks:
        yield API.SubmitCampaignStreamRequest(chunk=API.RecipientChunk(recipients=recipients))
    sent = len(header.spec.audience) + sum(len(recipients) for recipients in chunks)
    yield API.SubmitCampaignStreamRequest(end=API.StreamEnd(recipient_count=sent))


def test_stream_submit(api: Api) -> None:
    chunks = [
        [S.Recipient(id=f"c{c}-{i}", email=f"c{c}-{i}@example.org") for i in range(700)]
        for c in range(3)
    ]
    header = API.SubmitCampaignRequest(spec=make_spec(2), idempotency_key="stream-1")
    response = api.campaigns.SubmitCampaignStream(stream(header, chunks), metadata=AUTH)
    assert response.recipients_received == 2102
    assert response.campaign.audience_size == 2102
    counters = {c.channel: c.total for c in response.campaign.counters}
    assert counters == {S.CHANNEL_EMAIL: 2102, S.CHANNEL_SMS: 2}

    again = api.campaigns.SubmitCampaignStream(stream(header, chunks), metadata=AUTH)
    assert again.duplicate
    assert again.campaign.id == response.campaign.id


def scheduled_spec() -> S.CampaignSpec:
    spec = make_spec(0)
    spec.channels.sms.enabled = False
    spec.schedule.send_at.GetCurrentTime()
    spec.schedule.send_at.seconds += 3600
    return spec


def audience_chunks(prefix: str, count: int, size: int = 100) -> list[list[S.Recipient]]:
    return [
        [
            S.Recipient(id=f"{prefix}-{c}-{i}", email=f"{prefix}-{c}-{i}@example.org")
            for i in range(size)
        ]
        for c in range(count)
    ]


def test_a_stream_without_its_end_stores_nothing(api: Api) -> None:
    header = API.SubmitCampaignRequest(spec=scheduled_spec(), idempotency_key="no-end")
    chunks = audience_chunks("n", 4)
    truncated = list(stream(header, chunks))[:-1]  # the client half-closes without the end
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaignStream(iter(truncated), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "end" in violations(caught.value)
    assert api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH).campaigns == []
    # The key is still free: the complete retry is a new campaign, not a duplicate.
    retried = api.campaigns.SubmitCampaignStream(stream(header, chunks), metadata=AUTH)
    assert not retried.duplicate
    assert retried.campaign.audience_size == 400


@pytest.mark.parametrize("declared", [399, 401])
def test_an_end_that_miscounts_stores_nothing(api: Api, declared: int) -> None:
    header = API.SubmitCampaignRequest(spec=scheduled_spec())
    messages = list(stream(header, audience_chunks("m", 4)))
    messages[-1].end.recipient_count = declared
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaignStream(iter(messages), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == {
        "end.recipient_count": f"declares {declared} recipients but 400 arrived"
    }
    assert api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH).campaigns == []


def test_a_message_after_the_end_is_refused(api: Api) -> None:
    header = API.SubmitCampaignRequest(spec=scheduled_spec())
    chunks = audience_chunks("a", 1)
    messages = [
        *stream(header, chunks),
        API.SubmitCampaignStreamRequest(chunk=API.RecipientChunk()),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaignStream(iter(messages), metadata=AUTH)
    assert violations(caught.value) == {"end": "must be the last message"}


@pytest.mark.slow
def test_an_upload_cancelled_while_the_server_is_busy_leaves_its_key_free(api: Api) -> None:
    """The race of issue #19: the client's producer stops (its upload was
    cancelled), so grpc half-closes the stream, and the cancellation reaches
    the server only after that, while another large submit keeps it busy.
    Before the stream had a declared end, the server took the half-close for
    the end and stored the truncated audience under the client's key."""
    busy_header = API.SubmitCampaignRequest(spec=scheduled_spec(), idempotency_key="busy")
    busy_chunks = audience_chunks("busy", 40, 250)
    busy = threading.Thread(
        target=lambda: api.campaigns.SubmitCampaignStream(
            stream(busy_header, busy_chunks), metadata=AUTH, timeout=120
        )
    )
    busy.start()
    trials = 10
    full = audience_chunks("t", 10)
    for trial in range(trials):
        header = API.SubmitCampaignRequest(spec=scheduled_spec(), idempotency_key=f"cut-{trial}")
        producer_stopped = threading.Event()

        def cancelled_upload(
            header: API.SubmitCampaignRequest = header, stopped: threading.Event = producer_stopped
        ) -> Iterator[API.SubmitCampaignStreamRequest]:
            yield API.SubmitCampaignStreamRequest(header=header)
            for recipients in full[:4]:
                yield API.SubmitCampaignStreamRequest(
                    chunk=API.RecipientChunk(recipients=recipients)
                )
            stopped.set()  # cancelled here: the rest of the audience is never sent

        call = api.campaigns.SubmitCampaignStream.future(
            cancelled_upload(), metadata=AUTH, timeout=60
        )
        assert producer_stopped.wait(30)
        # The cancellation trails the half-close by 0 to 450 ms: the spread of
        # the race seen under load, where the server may finish before it lands.
        time.sleep(trial * 0.05)
        call.cancel()
        with pytest.raises((grpc.RpcError, grpc.FutureCancelledError)):
            call.result(timeout=60)
    busy.join(120)
    assert not busy.is_alive()
    for trial in range(trials):
        header = API.SubmitCampaignRequest(spec=scheduled_spec(), idempotency_key=f"cut-{trial}")
        retried = api.campaigns.SubmitCampaignStream(stream(header, full), metadata=AUTH)
        assert not retried.duplicate, f"trial {trial}: a truncated campaign took the key"
        assert retried.campaign.audience_size == 1000
    names = api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH).campaigns
    assert sorted(c.audience_size for c in names) == [1000] * trials + [10_000]


def test_stream_with_a_bad_chunk_stores_nothing(api: Api) -> None:
    chunks = [
        [S.Recipient(id="a", email="a@example.org")],
        [S.Recipient(id="b", email="b@@example.org"), S.Recipient(id="a", email="a2@example.org")],
    ]
    header = API.SubmitCampaignRequest(spec=make_spec(0))
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaignStream(stream(header, chunks), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(caught.value)) == {
        "chunks[1].recipients[0].email",
        "chunks[1].recipients[1].id",
    }
    assert api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH).campaigns == []


def test_an_id_repeated_in_a_later_slice_is_refused_by_path(api: Api) -> None:
    first = [S.Recipient(id=f"r{i}", email=f"r{i}@example.org") for i in range(SLICE)]
    later = [
        S.Recipient(id="fresh", email="fresh@example.org"),
        S.Recipient(id="r7", email="again@example.org"),
    ]
    header = API.SubmitCampaignRequest(spec=make_spec(0))
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.SubmitCampaignStream(stream(header, [first, later]), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == {"chunks[1].recipients[1].id": "duplicate recipient id 'r7'"}
    assert api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH).campaigns == []


def test_suppressed_addresses_are_never_sent(api: Api) -> None:
    added = api.suppressions.AddSuppression(
        API.AddSuppressionRequest(
            channel=S.CHANNEL_EMAIL, address="R1@Example.com", reason="unsubscribe"
        ),
        metadata=AUTH,
    )
    assert added.suppression.address == "r1@example.com"
    with pytest.raises(grpc.RpcError) as caught:
        api.suppressions.AddSuppression(
            API.AddSuppressionRequest(channel=S.CHANNEL_SMS, address="12"), metadata=AUTH
        )
    assert "address" in violations(caught.value)
    # However the address is typed, the suppression matches.
    spec = make_spec(2)
    spec.audience[1].email = "r1@EXAMPLE.com"
    campaign = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=spec), metadata=AUTH
    ).campaign
    email = next(c for c in campaign.counters if c.channel == S.CHANNEL_EMAIL)
    assert (email.pending, email.suppressed) == (1, 1)


@pytest.mark.parametrize("scheduled", [False, True])
def test_the_submit_answer_is_the_campaign_as_stored(api: Api, scheduled: bool) -> None:
    # The answer is built from what the intake wrote, not read back: it must
    # not differ from what GetCampaign reads.
    api.suppressions.AddSuppression(
        API.AddSuppressionRequest(channel=S.CHANNEL_SMS, address="+14155550111"), metadata=AUTH
    )
    spec = make_spec(3)
    if scheduled:
        spec.schedule.send_at.GetCurrentTime()
        spec.schedule.send_at.seconds += 3600
    submitted = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=spec, idempotency_key=f"as-stored-{scheduled}"),
        metadata=AUTH,
    ).campaign
    stored = api.campaigns.GetCampaign(
        API.GetCampaignRequest(campaign_id=submitted.id), metadata=AUTH
    ).campaign
    assert submitted == stored
    sms = next(c for c in submitted.counters if c.channel == S.CHANNEL_SMS)
    assert (sms.total, sms.suppressed) == (3, 1)


def test_future_send_at_schedules(api: Api) -> None:
    spec = make_spec(1)
    spec.schedule.send_at.GetCurrentTime()
    spec.schedule.send_at.seconds += 3600
    campaign = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=spec), metadata=AUTH
    ).campaign
    assert campaign.state == S.CAMPAIGN_STATE_SCHEDULED
    assert all(c.scheduled == c.total == 1 for c in campaign.counters)
    with api.app.store.claim_due(limit=10) as claim:
        assert claim.deliveries == []


def test_cancel(api: Api) -> None:
    campaign = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=make_spec(2)), metadata=AUTH
    ).campaign
    cancelled = api.campaigns.CancelCampaign(
        API.CancelCampaignRequest(campaign_id=campaign.id), metadata=AUTH
    )
    assert cancelled.cancelled == 4
    assert cancelled.campaign.state == S.CAMPAIGN_STATE_CANCELLED
    # Cancelling again cancels nothing more; a watch of a settled campaign ends at once.
    again = api.campaigns.CancelCampaign(
        API.CancelCampaignRequest(campaign_id=campaign.id), metadata=AUTH
    )
    assert again.cancelled == 0
    events = list(
        api.campaigns.WatchCampaign(
            API.WatchCampaignRequest(campaign_id=campaign.id), metadata=AUTH, timeout=10
        )
    )
    assert events[-1].progress.state == S.CAMPAIGN_STATE_CANCELLED
    with pytest.raises(grpc.RpcError) as caught:
        api.campaigns.CancelCampaign(API.CancelCampaignRequest(campaign_id="nope"), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_watch_resumes_from_a_cursor(api: Api) -> None:
    campaign = api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=make_spec(2)), metadata=AUTH
    ).campaign
    request = API.WatchCampaignRequest(campaign_id=campaign.id, include_deliveries=True)
    call = api.campaigns.WatchCampaign(request, metadata=AUTH, timeout=10)
    first = next(call)
    second = next(call)
    assert first.WhichOneof("event") == second.WhichOneof("event") == "delivery"
    call.cancel()  # the client disconnects after two events

    def resume() -> Iterator[API.WatchCampaignResponse]:
        return api.campaigns.WatchCampaign(
            API.WatchCampaignRequest(
                campaign_id=campaign.id, include_deliveries=True, resume_cursor=second.cursor
            ),
            metadata=AUTH,
            timeout=10,
        )

    # Resuming replays nothing already seen: the next events are the two others.
    again = resume()
    rest = [next(again), next(again)]
    again.cancel()  # type: ignore[attr-defined]
    assert all(e.WhichOneof("event") == "delivery" for e in rest)
    assert {e.delivery.id for e in rest}.isdisjoint({first.delivery.id, second.delivery.id})

    # Meanwhile the deliveries are dispatched and their receipts arrive.
    store = api.app.store
    with store.claim_due(limit=10) as claim:
        due = {d.id: d.channel for d in claim.deliveries}
        ids = list(due)
        claim.mark_queued(campaign.id, ids)
    sent_done = threading.Event()
    reports_done = threading.Event()

    def send_receipts(
        status: S.DeliveryStatus.ValueType,
        channel: S.Channel.ValueType | None,
        done: threading.Event,
    ) -> None:
        store.apply_receipts(
            [
                bus_pb2.DeliveryReceipt(delivery_id=i, campaign_id=campaign.id, status=status)
                for i in ids
                if channel is None or due[i] == channel
            ]
        )
        api.app.events.publish([campaign.id])
        done.set()

    resumed = resume()
    seen: list[API.WatchCampaignResponse] = []
    for event in resumed:
        seen.append(event)
        if event.WhichOneof("event") != "progress":
            continue
        if not sent_done.is_set():
            threading.Thread(
                target=send_receipts, args=(S.DELIVERY_STATUS_SENT, None, sent_done)
            ).start()
        elif event.progress.state == S.CAMPAIGN_STATE_DISPATCHED and not reports_done.is_set():
            # Everything left; the SMS wait for their delivery reports (the
            # SMS report window), email is final once sent (no window).
            assert event.progress.waiting_for.startswith("delivery reports for 2 SMS, until ")
            assert event.progress.HasField("report_window_ends_at")
            threading.Thread(
                target=send_receipts,
                args=(S.DELIVERY_STATUS_DELIVERED, S.CHANNEL_SMS, reports_done),
            ).start()
    assert reports_done.is_set()
    deliveries = [e.delivery for e in seen if e.WhichOneof("event") == "delivery"]
    assert {d.id for d in deliveries if d.status == S.DELIVERY_STATUS_SENT} == set(ids)
    cursors = [int(e.cursor.split(".")[0]) for e in seen]
    assert cursors == sorted(cursors)
    final = seen[-1].progress
    assert final.state == S.CAMPAIGN_STATE_COMPLETED
    assert final.waiting_for == ""
    assert [(c.sent, c.delivered) for c in final.counters] == [(2, 0), (0, 2)]


def test_auth_is_required_but_health_is_open(api: Api) -> None:
    for metadata in ((), (("authorization", "Bearer wrong"),)):
        with pytest.raises(grpc.RpcError) as caught:
            api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    health = health_pb2_grpc.HealthStub(api.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service="brandcast.v1.CampaignService"))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    api.app.set_serving(False)
    answer = health.Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_preview_renders_without_storing(api: Api) -> None:
    response = api.campaigns.PreviewCampaign(
        API.PreviewCampaignRequest(spec=make_spec(5), sample_size=2), metadata=AUTH
    )
    assert [(v.channel, v.recipient_id) for v in response.variants] == [
        (S.CHANNEL_EMAIL, "r0"),
        (S.CHANNEL_SMS, "r0"),
        (S.CHANNEL_EMAIL, "r1"),
        (S.CHANNEL_SMS, "r1"),
    ]
    assert response.variants[0].email.subject
    assert api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH).campaigns == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("core_message.cta_url", "http://[::1"),  # an unclosed IPv6 bracket
        ("core_message.image_url", "https://acme.example:99999/x.png"),  # port out of range
        ("brand_kit.logo_url", "https://[fe80::1/logo.png"),
        ("channels.email.unsubscribe_url", "http://[::1/u"),
    ],
)
def test_malformed_urls_are_invalid_argument_in_preview_and_submit(
    api: Api, field: str, value: str
) -> None:
    spec = make_spec(1)
    target: object = spec
    *path, last = field.split(".")
    for part in path:
        target = getattr(target, part)
    setattr(target, last, value)
    calls = (
        lambda: api.campaigns.PreviewCampaign(API.PreviewCampaignRequest(spec=spec), metadata=AUTH),
        lambda: api.campaigns.SubmitCampaign(
            API.SubmitCampaignRequest(spec=spec, idempotency_key=f"bad-url-{field}"),
            metadata=AUTH,
        ),
    )
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"spec.{field}" in violations(caught.value)


def test_preview_refuses_the_phone_numbers_submit_refuses(api: Api) -> None:
    spec = make_spec(2)
    spec.audience[1].phone = "12"
    for call in (
        lambda: api.campaigns.PreviewCampaign(API.PreviewCampaignRequest(spec=spec), metadata=AUTH),
        lambda: api.campaigns.SubmitCampaign(
            API.SubmitCampaignRequest(spec=spec, idempotency_key="bad-phone"), metadata=AUTH
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "spec.audience[1].phone" in violations(caught.value)


def test_list_campaigns_answers_summaries_and_get_the_whole_spec(api: Api) -> None:
    """Issue #19 item 3: 17 campaigns with 1 MiB headlines made the list
    answer 18.9 MB. Texts are limited now, and a list carries summaries."""
    ids = []
    for n in range(17):
        spec = make_spec(1, name=f"Big {n}")
        spec.core_message.body = "brew " * 12_000
        spec.labels["team"] = "growth"
        ids.append(
            api.campaigns.SubmitCampaign(
                API.SubmitCampaignRequest(spec=spec), metadata=AUTH
            ).campaign.id
        )
    page = api.campaigns.ListCampaigns(API.ListCampaignsRequest(), metadata=AUTH)
    assert page.ByteSize() < 17 * 1024
    first = page.campaigns[0]
    assert first.spec.name == "Big 16"
    assert first.spec.brand_kit.name == "Acme Coffee"
    assert first.spec.channels.email.enabled
    assert first.spec.channels.sms.enabled
    assert dict(first.spec.labels) == {"team": "growth"}
    assert first.spec.core_message.body == ""
    assert first.audience_size == 1
    whole = api.campaigns.GetCampaign(API.GetCampaignRequest(campaign_id=ids[-1]), metadata=AUTH)
    assert whole.campaign.spec.core_message.body == "brew " * 12_000


def test_removing_a_suppression_needs_a_reason_and_is_audited(api: Api) -> None:
    api.suppressions.AddSuppression(
        API.AddSuppressionRequest(channel=S.CHANNEL_SMS, address="+14155550111", reason="STOP"),
        metadata=AUTH,
    )
    remove = API.RemoveSuppressionRequest(channel=S.CHANNEL_SMS, address="+14155550111")
    with pytest.raises(grpc.RpcError) as caught:
        api.suppressions.RemoveSuppression(remove, metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reason" in violations(caught.value)
    assert api.suppressions.ListSuppressions(
        API.ListSuppressionsRequest(), metadata=AUTH
    ).suppressions

    remove.reason = "customer asked by phone, ticket 4411"
    remove.actor = "alice"
    assert api.suppressions.RemoveSuppression(remove, metadata=AUTH).removed
    audit = api.suppressions.ListSuppressionAudit(API.ListSuppressionAuditRequest(), metadata=AUTH)
    removed, added = audit.entries
    assert (removed.action, removed.actor, removed.reason) == (
        API.SUPPRESSION_ACTION_REMOVED,
        "alice",
        "customer asked by phone, ticket 4411",
    )
    # A caller that names no one is recorded by its client identity (token digest).
    assert added.action == API.SUPPRESSION_ACTION_ADDED
    assert added.actor.startswith("api:token:")
