"""Quiet hours arithmetic: windows that wrap midnight, DST days, and bad settings."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from brandcast.orchestrator.quiet_hours import QuietHours, parse_clock_time
from brandcast.orchestrator.validation import validate_spec
from brandcast.v1 import campaign_pb2

S = campaign_pb2

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"), [("21:00", dt.time(21)), ("08:30", dt.time(8, 30)), ("00:00", dt.time())]
)
def test_parse_clock_time(value: str, expected: dt.time) -> None:
    assert parse_clock_time(value) == expected


@pytest.mark.parametrize("value", ["9:00", "24:00", "12:60", "noon", "12-00", "1200", "12:0a"])
def test_parse_clock_time_refuses(value: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|time of day"):
        parse_clock_time(value)


def test_default_window_wraps_midnight() -> None:
    quiet = QuietHours()
    assert quiet.is_quiet(dt.time(21, 0))
    assert quiet.is_quiet(dt.time(2, 0))
    assert quiet.is_quiet(dt.time(7, 59))
    assert not quiet.is_quiet(dt.time(8, 0))
    assert not quiet.is_quiet(dt.time(20, 59))


def test_daytime_window_and_empty_window() -> None:
    lunch = QuietHours(dt.time(12), dt.time(14))
    assert lunch.is_quiet(dt.time(13))
    assert not lunch.is_quiet(dt.time(14))
    assert not QuietHours(dt.time(9), dt.time(9)).is_quiet(dt.time(9))


def test_next_allowed_in_the_recipients_zone() -> None:
    quiet = QuietHours()
    # 22:30 in Paris (CET, UTC+1) in January: deferred to 08:00 Paris the next day.
    now = utc(2030, 1, 15, 21, 30)
    assert quiet.next_allowed(now, PARIS) == utc(2030, 1, 16, 7, 0)
    # Same instant in New York is 16:30: send now.
    assert quiet.next_allowed(now, NEW_YORK) is None
    # 03:00 in Paris: the same local day's 08:00.
    assert quiet.next_allowed(utc(2030, 1, 15, 2, 0), PARIS) == utc(2030, 1, 15, 7, 0)


def test_next_allowed_across_a_dst_change() -> None:
    # Europe switched to summer time on 2030-03-31 at 02:00 local: 08:00 is UTC+2 then.
    quiet = QuietHours()
    assert quiet.next_allowed(utc(2030, 3, 30, 22, 0), PARIS) == utc(2030, 3, 31, 6, 0)
    # A window ending at a time the change skips still ends after now.
    skipped = QuietHours(dt.time(1), dt.time(2, 30))
    now = utc(2030, 3, 31, 0, 30)  # 01:30 CET
    allowed = skipped.next_allowed(now, PARIS)
    assert allowed is not None
    assert allowed > now
    assert allowed.astimezone(PARIS).time() >= dt.time(2, 30)


def test_campaign_settings() -> None:
    assert QuietHours.of(S.SmsSettings(ignore_quiet_hours=True)) is None
    assert QuietHours.of(S.SmsSettings()) == QuietHours(dt.time(21), dt.time(8))
    custom = S.SmsSettings(quiet_hours_start="20:00", quiet_hours_end="09:15")
    assert QuietHours.of(custom) == QuietHours(dt.time(20), dt.time(9, 15))


def test_validation_names_bad_quiet_hours_and_zone() -> None:
    spec = S.CampaignSpec(
        name="x",
        brand_kit=S.BrandKit(sms_sender="+14155550100", default_timezone="Mars/Olympus"),
        core_message=S.CoreMessage(headline="Hi"),
        channels=S.ChannelSettings(
            sms=S.SmsSettings(enabled=True, quiet_hours_start="9pm", quiet_hours_end="25:00")
        ),
    )
    found = {v.field: v.description for v in validate_spec(spec)}
    assert "HH:MM" in found["spec.channels.sms.quiet_hours_start"]
    assert "time of day" in found["spec.channels.sms.quiet_hours_end"]
    assert found["spec.brand_kit.default_timezone"] == "is not an IANA time zone"
