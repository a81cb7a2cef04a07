"""The client's configuration, retry table, campaign files and audience chunks (no server)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc
import pytest

from brandcast.client import RETRY_SAFE, ClientConfig, RetryPolicy, read_csv
from brandcast.client import _cli_format as fmt
from brandcast.client._audience import chunks, replayable
from brandcast.client._config import with_default_port
from brandcast.client._requests import stream_messages, submit_request
from brandcast.client.campaign_file import CampaignFileError, parse_campaign
from brandcast.v1 import campaign_pb2
from brandcast.v1 import campaign_service_pb2 as api


@pytest.mark.parametrize(
    ("given", "dialled"),
    [
        ("orchestrator.internal", "orchestrator.internal:50051"),
        ("orchestrator.internal:7000", "orchestrator.internal:7000"),
        ("127.0.0.1", "127.0.0.1:50051"),
        ("127.0.0.1:", "127.0.0.1:50051"),
        ("[::1]", "[::1]:50051"),
        ("[::1]:7000", "[::1]:7000"),
        ("::1", "[::1]:50051"),
        ("unix:/run/brandcast.sock", "unix:/run/brandcast.sock"),
    ],
)
def test_an_address_without_a_port_gets_the_orchestrators(given: str, dialled: str) -> None:
    assert with_default_port(given) == dialled
    assert ClientConfig(address=given).address == dialled


def test_arguments_override_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    env = {"BRANDCAST_ADDRESS": "api.example:9000", "BRANDCAST_TOKEN": "env-token"}
    from_env = ClientConfig.resolve(env=env | {"BRANDCAST_TLS_CA": str(ca)})
    assert from_env.address == "api.example:9000"
    assert from_env.metadata() == (("authorization", "Bearer env-token"),)
    assert from_env.tls_ca == ca
    assert from_env.uses_tls
    given = ClientConfig.resolve("other", token="arg", env=env)
    assert given.address == "other:50051"
    assert given.metadata() == (("authorization", "Bearer arg"),)
    assert not given.uses_tls
    assert ClientConfig.resolve(env={}).address == "127.0.0.1:50051"
    assert ClientConfig.resolve(env={}).metadata() == ()


def test_only_safe_calls_are_retried_and_only_after_unavailable() -> None:
    policy = RetryPolicy(attempts=3)
    unavailable = grpc.StatusCode.UNAVAILABLE
    assert policy.should_retry("SubmitCampaign", unavailable, 1)
    assert policy.should_retry("GetCampaign", unavailable, 2)
    assert not policy.should_retry("GetCampaign", unavailable, 3)  # attempts used up
    assert not policy.should_retry("RemoveSuppression", unavailable, 1)
    assert not policy.should_retry("SubmitCampaign", grpc.StatusCode.DEADLINE_EXCEEDED, 1)
    assert not policy.should_retry("SubmitCampaign", grpc.StatusCode.INTERNAL, 1)
    assert "RemoveSuppression" not in RETRY_SAFE
    assert all(0 <= policy.backoff(n) <= policy.max_backoff for n in range(10))


def test_snake_and_camel_case_fields_are_both_accepted() -> None:
    spec = parse_campaign(
        {"name": "x", "core_message": {"ctaText": "Go", "cta_url": "https://a.example"}}
    )
    assert spec.core_message.cta_text == "Go"
    assert spec.core_message.cta_url == "https://a.example"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"core_mesage": {}},
            "core_mesage: CampaignSpec has no such field; did you mean core_message?",
        ),
        (
            {"coreMesage": {}},
            "coreMesage: CampaignSpec has no such field; did you mean core_message?",
        ),
        (
            {"brand_kit": {"email_sendr": {}}},
            "brand_kit.email_sendr: BrandKit has no such field; did you mean email_sender?",
        ),
        (
            {"audience": [{"id": "a"}, {"id": "b", "emial": "b@example.com"}]},
            "audience[1].emial: Recipient has no such field; did you mean email?",
        ),
        (
            {"core_message": {"translations": {"fr": {"headlin": "x"}}}},
            "core_message.translations.fr.headlin: MessageContent has no such field; "
            "did you mean headline?",
        ),
    ],
)
def test_a_misspelt_field_names_its_path_and_the_nearest_field(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(CampaignFileError) as error:
        parse_campaign(data, source="c.yaml")
    assert str(error.value) == f"c.yaml: {message}"


def test_a_far_off_field_lists_the_real_ones() -> None:
    with pytest.raises(
        CampaignFileError, match="zzz: CampaignSpec has no such field; fields are name, brand_kit"
    ):
        parse_campaign({"zzz": 1})


def test_csv_audience_maps_columns_and_can_be_read_again(tmp_path: Path) -> None:
    path = tmp_path / "audience.csv"
    path.write_text(
        "\ufeffid,email,phone,locale,tier\n"
        "c1,ada@example.com,+14155550101,en,gold\n"
        "c2,bo@example.com,,fr,\n",
        encoding="utf-8",
    )
    audience = read_csv(path)
    first = list(audience)
    assert [r.id for r in first] == ["c1", "c2"]
    assert first[0].phone == "+14155550101"
    assert dict(first[0].attributes) == {"tier": "gold"}
    assert dict(first[1].attributes) == {}
    assert list(audience) == first
    assert replayable(audience)
    assert replayable([campaign_pb2.Recipient(id="x")])
    assert not replayable(campaign_pb2.Recipient(id=str(i)) for i in range(2))


def test_chunks_are_built_lazily_from_a_generator() -> None:
    pulled: list[int] = []

    def people() -> object:
        for i in range(2500):
            pulled.append(i)
            yield {"id": f"r{i}", "email": f"r{i}@example.com"}

    sizes = []
    for chunk in chunks(people(), 1000):  # type: ignore[arg-type]
        sizes.append(len(chunk))
        assert len(pulled) == sum(sizes)  # nothing read ahead of the chunk in hand
    assert sizes == [1000, 1000, 500]


def test_a_mapping_with_an_unknown_key_is_refused_with_its_index() -> None:
    with pytest.raises(ValueError, match=r"audience\[1\]: no Recipient field 'mail'"):
        list(chunks([{"id": "a"}, {"id": "b", "mail": "x"}]))


def test_stream_messages_are_header_chunks_and_the_declared_end() -> None:
    spec = campaign_pb2.CampaignSpec(name="x", audience=[campaign_pb2.Recipient(id="inline")])
    seen: list[int] = []
    messages = list(
        stream_messages(
            submit_request(spec, "key-1"), ({"id": f"r{i}"} for i in range(5)), 2, seen.append
        )
    )
    assert messages[0].header.idempotency_key == "key-1"
    parts = [str(m.WhichOneof("part")) for m in messages]
    assert parts[1:4] == ["chunk", "chunk", "chunk"]
    assert [len(m.chunk.recipients) for m in messages[1:4]] == [2, 2, 1]
    assert seen == [3, 5, 6]  # the inline recipient counts too
    assert parts[-1] == "end"
    assert messages[-1].end.recipient_count == 6
    assert len(messages) == 5


def test_progress_says_what_completion_waits_for() -> None:
    progress = api.CampaignProgress(
        state=campaign_pb2.CAMPAIGN_STATE_DISPATCHING,
        counters=[
            campaign_pb2.ChannelCounters(
                channel=campaign_pb2.CHANNEL_SMS, total=10, queued=4, sent=5, skipped=1
            )
        ],
        pace=[
            campaign_pb2.ChannelPace(
                channel=campaign_pb2.CHANNEL_SMS, remaining=4, summary="95/s (SMS_RATE_LIMIT), ~1 s"
            )
        ],
    )
    assert fmt.progress_line(progress) == (
        "progress: 6/10 settled (sent 5, skipped 1); waiting for 4 queued"
    )
    assert fmt.pace_lines(progress) == ["  sms     95/s (SMS_RATE_LIMIT), ~1 s"]
    progress.counters[0].queued = 0
    progress.counters[0].sent = 9
    progress.pace[0].remaining = 0
    progress.waiting_for = "delivery reports for 9 SMS, until 14:05 UTC"
    assert fmt.progress_line(progress) == (
        "progress: 10/10 settled (sent 9, skipped 1); "
        "waiting for delivery reports for 9 SMS, until 14:05 UTC"
    )
    assert fmt.pace_lines(progress) == []


def test_scheduled_start_is_said_in_days_hours_and_minutes() -> None:
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    when = now + dt.timedelta(days=1, hours=2, minutes=5, seconds=30)
    assert fmt.starts_in(when, now) == "2026-12-03 14:05 UTC (in 1 d 2 h 5 min)"
    assert fmt.starts_in(now + dt.timedelta(seconds=20), now) == "2026-12-02 12:00 UTC (in 0 min)"
