"""The compose form turned into a CampaignSpec, and its field errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.datastructures import FormData, UploadFile

from brandcast.admin.brand_kits import BrandKitsError, load_brand_kits, parse_brand_kits
from brandcast.admin.compose import compose_values, parse_compose_form
from brandcast.admin.presenters import campaign_summary, channel_progress
from brandcast.v1 import campaign_pb2

KITS = load_brand_kits(None)
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
VALID: list[tuple[str, str | UploadFile]] = [
    ("name", "Spring roast"),
    ("brand_kit", "acme-coffee"),
    ("headline", "The spring roast is here"),
    ("body", "Bright, floral, limited."),
    ("cta_text", "Order now"),
    ("cta_url", "https://acme.example/spring"),
    ("hashtags", "#coffee spring"),
    ("email_enabled", "on"),
    ("sms_enabled", "on"),
    ("sms_segment_budget", "2"),
    ("social_enabled", "on"),
    ("social_accounts", "acme-x"),
    ("social_accounts", "acme-bluesky"),
    ("translations-0-locale", "fr"),
    ("translations-0-headline", "La torréfaction de printemps"),
    ("translations-0-body", "Florale et limitée."),
    ("send_at", "2030-01-02T09:30"),
    ("send_at_timezone", "Europe/Paris"),
]


def form(items: list[tuple[str, str | UploadFile]], **changes: str) -> FormData:
    kept = [(k, v) for k, v in items if k not in changes]
    return FormData(kept + [(k, v) for k, v in changes.items() if v != "<drop>"])


def test_a_complete_form_becomes_a_spec() -> None:
    result = parse_compose_form(form(VALID), KITS, now=NOW)
    assert result.errors == {}
    spec = result.spec
    assert spec.brand_kit.name == "Acme Coffee"
    assert spec.core_message.hashtags == ["coffee", "spring"]
    assert spec.core_message.translations["fr"].headline == "La torréfaction de printemps"
    assert spec.channels.sms.segment_budget == 2
    assert list(spec.channels.social.account_ids) == ["acme-x", "acme-bluesky"]
    # 09:30 in Paris in winter is 08:30 UTC.
    assert spec.schedule.send_at.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "give the campaign a name"),
        ({"brand_kit": "other"}, "brand_kit", "configured brand kits"),
        ({"headline": ""}, "headline", "required"),
        ({"cta_url": "acme.example"}, "cta_url", "absolute http(s) URL"),
        ({"sms_segment_budget": "11"}, "sms_segment_budget", "1 to 10"),
        ({"hashtags": "ok not-ok"}, "hashtags", "not-ok"),
        ({"translations-0-locale": "French!"}, "translations-0-locale", "BCP 47"),
        ({"send_at": "2029-12-31T09:00"}, "send_at", "must be in the future"),
        ({"send_at_timezone": "Mars/Base"}, "send_at_timezone", "not an IANA time zone"),
    ],
)
def test_each_bad_field_is_named_with_the_reason(
    changes: dict[str, str], field: str, message: str
) -> None:
    errors = parse_compose_form(form(VALID, **changes), KITS, now=NOW).errors
    assert field in errors
    assert message in errors[field]


def test_social_accounts_must_belong_to_the_chosen_kit() -> None:
    items = [*VALID, ("social_accounts", "someone-else")]
    errors = parse_compose_form(form(items), KITS, now=NOW).errors
    assert errors["social_accounts"] == "not accounts of this brand kit: someone-else"


def test_at_least_one_channel_is_needed() -> None:
    items: list[tuple[str, str | UploadFile]] = [
        (k, v) for k, v in VALID if not k.endswith("_enabled")
    ]
    errors = parse_compose_form(FormData(items), KITS, now=NOW).errors
    assert errors["channels"] == "turn on at least one channel"


def test_example_brand_kit_ships_with_social_accounts() -> None:
    kit = KITS["acme-coffee"]
    assert {a.network for a in kit.social_accounts} >= {
        campaign_pb2.SOCIAL_NETWORK_MASTODON,
        campaign_pb2.SOCIAL_NETWORK_X,
    }


def test_brand_kits_file_errors_name_the_kit_and_field(tmp_path: Path) -> None:
    path = tmp_path / "kits.json"
    path.write_text('{"kits": {"k1": {"name": "K", "primary_colour": "#fff"}}}')
    with pytest.raises(BrandKitsError, match=r"kits\.k1: .*primary_colour"):
        load_brand_kits(path)
    with pytest.raises(BrandKitsError, match=r"kits\.k2\.name: required"):
        parse_brand_kits("kits:\n  k2: {voice: calm}\n", "kits.yaml")
    with pytest.raises(BrandKitsError, match="No such file"):
        load_brand_kits(tmp_path / "missing.yaml")


def test_progress_counts_what_providers_have_handled() -> None:
    counters = campaign_pb2.ChannelCounters(
        channel=campaign_pb2.CHANNEL_SMS, total=4, queued=1, delivered=2, failed=1
    )
    (progress,) = channel_progress([counters])
    assert progress["percent"] == 75
    assert progress["processed"] == 3
    assert progress["counts"]["failed"] == 1  # type: ignore[index]


def test_failures_are_their_own_part_of_the_bar_never_success() -> None:
    counters = campaign_pb2.ChannelCounters(
        channel=campaign_pb2.CHANNEL_SOCIAL, total=3, sent=2, failed=1
    )
    (progress,) = channel_progress([counters])
    segments = {s["status"]: s for s in progress["segments"]}  # type: ignore[attr-defined]
    assert segments["delivered"]["width"] == 0
    assert segments["failed"]["width"] == pytest.approx(33.333)
    assert segments["sent"]["width"] == pytest.approx(66.667)
    assert progress["failures"] == 1
    assert progress["delivered_percent"] == 0
    assert progress["summary"] == "2 sent, awaiting report, 1 failed"

    cancelled = campaign_pb2.ChannelCounters(
        channel=campaign_pb2.CHANNEL_EMAIL, total=3000, cancelled=3000
    )
    (progress,) = channel_progress([cancelled])
    assert progress["delivered_percent"] == 0
    assert progress["summary"] == "3000 cancelled"


def test_duplicate_fills_the_form_from_the_old_spec() -> None:
    kit = campaign_pb2.BrandKit(name="Acme")
    spec = campaign_pb2.CampaignSpec(
        name="Spring",
        brand_kit=kit,
        core_message=campaign_pb2.CoreMessage(
            headline="H",
            body="B",
            hashtags=["coffee"],
            translations={"fr": campaign_pb2.MessageContent(headline="T")},
        ),
        channels=campaign_pb2.ChannelSettings(
            email=campaign_pb2.EmailSettings(enabled=True),
            sms=campaign_pb2.SmsSettings(enabled=True, segment_budget=2),
        ),
    )
    values = compose_values(spec, {"acme": kit})
    assert values["name"] == "Spring (copy)"
    assert values["brand_kit"] == "acme"
    assert (values["email_enabled"], values["sms_enabled"]) == ("on", "on")
    assert "social_enabled" not in values
    assert values["sms_segment_budget"] == "2"
    assert values["hashtags"] == "#coffee"
    assert values["translations-0-locale"] == "fr"
    assert values["translations-0-headline"] == "T"


def test_each_channel_still_sending_shows_its_pace_and_time_left() -> None:
    campaign = campaign_pb2.Campaign(
        pace=[
            campaign_pb2.ChannelPace(
                channel=campaign_pb2.CHANNEL_SMS,
                remaining=20_000,
                summary="SMS: 10/s (SMS_RATE_LIMIT), 20,000 left, about 33 min",
            ),
            campaign_pb2.ChannelPace(
                channel=campaign_pb2.CHANNEL_EMAIL, remaining=0, summary="Email: 0.0/s (measured)"
            ),
        ]
    )
    assert campaign_summary(campaign)["pace"] == [
        "SMS: 10/s (SMS_RATE_LIMIT), 20,000 left, about 33 min"
    ]
