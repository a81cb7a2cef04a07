from __future__ import annotations

import pytest
from pydantic import ValidationError

from brandcast.sms import feedback
from brandcast.sms.providers._port import ReportCallback
from brandcast.sms.providers.twilio import TWILIO_STATUSES
from brandcast.sms.settings import SmsSettings


def test_defaults_work_on_one_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMS_PROVIDERS", "SMS_ALLOWED_COUNTRIES", "SMS_TWILIO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = SmsSettings()
    assert settings.sms_providers == ("twilio",)
    assert "GB" in settings.sms_allowed_countries
    assert settings.sms_twilio_base_url == "http://127.0.0.1:8030"
    assert settings.sms_callback_base_url == "http://127.0.0.1:8031"


def test_lists_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PROVIDERS", " Twilio , vonage")
    monkeypatch.setenv("SMS_ALLOWED_COUNTRIES", "us,gb")
    settings = SmsSettings()
    assert settings.sms_providers == ("twilio", "vonage")
    assert settings.sms_allowed_countries == ("US", "GB")


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("SMS_PROVIDERS", "twilio,carrier-pigeon", "No such SMS provider: 'carrier-pigeon'"),
        ("SMS_PROVIDERS", "twilio,twilio", "listed twice"),
        ("SMS_ALLOWED_COUNTRIES", "US,USA", "two-letter"),
        ("SMS_RATE_LIMIT", "-1", "greater than or equal"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        SmsSettings()
    assert name.lower() in str(info.value)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("body", "word"),
    [("STOP", "STOP"), ("  stop ", "STOP"), ("Stop.", "STOP"), ("unsubscribe\n", "UNSUBSCRIBE")],
)
def test_keywords_are_normalised(body: str, word: str) -> None:
    assert feedback.keyword(body) == word


def test_stop_please_is_not_a_keyword() -> None:
    assert feedback.keyword("stop please") not in feedback.STOP_KEYWORDS


def test_status_ranks_never_go_backwards() -> None:
    sent = feedback.status_rank(TWILIO_STATUSES["sent"])
    delivered = feedback.status_rank(TWILIO_STATUSES["delivered"])
    assert sent < delivered
    ledger = feedback.LocalStatusLedger()
    ledger.record("d1", delivered)
    assert not ledger.is_forward("d1", sent)
    assert not ledger.is_forward("d1", delivered)
    assert ledger.is_forward("d2", sent)


def test_callback_url_carries_ids_url_encoded() -> None:
    url = ReportCallback("http://hooks:8031/", "d 1", "c&2").url("twilio")
    assert url == "http://hooks:8031/status/twilio?d=d+1&c=c%262"
