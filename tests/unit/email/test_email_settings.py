"""Email settings: defaults that work on one machine, clear errors naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from brandcast.email.bootstrap import bootstrap
from brandcast.email.providers.base import RateLimitedProvider
from brandcast.email.providers.postmark import PostmarkProvider
from brandcast.email.providers.smtp import SmtpProvider
from brandcast.email.settings import EmailSettings


def test_defaults_point_at_the_local_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMAIL_PROVIDERS", "EMAIL_SMTP_HOST", "EMAIL_SMTP_PORT", "EMAIL_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    settings = EmailSettings()
    assert settings.providers == ("smtp",)
    assert (settings.email_smtp_host, settings.email_smtp_port) == ("127.0.0.1", 2525)
    assert settings.email_smtp_security == "none"
    assert not settings.dkim_enabled
    service = bootstrap(settings)
    assert [type(p) for p in service.providers] == [SmtpProvider]


def test_providers_and_failover_order_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_PROVIDERS", " SMTP , postmark ")
    monkeypatch.setenv("EMAIL_POSTMARK_TOKEN", "t")
    monkeypatch.setenv("EMAIL_RATE_LIMIT", "12.5")
    settings = EmailSettings()
    assert settings.providers == ("smtp", "postmark")
    service = bootstrap(settings)
    assert [p.name for p in service.providers] == ["smtp", "postmark"]
    assert all(isinstance(p, RateLimitedProvider) for p in service.providers)
    service.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMAIL_PROVIDERS": "smtp,carrier-pigeon"}, "No such email provider: 'carrier-pigeon'"),
        ({"EMAIL_PROVIDERS": "smpt"}, "Did you mean 'smtp'"),
        ({"EMAIL_PROVIDERS": "smtp,smtp"}, "listed twice"),
        ({"EMAIL_PROVIDERS": "postmark"}, "EMAIL_POSTMARK_TOKEN is required"),
        ({"EMAIL_SMTP_PORT": "0"}, "email_smtp_port"),
        ({"EMAIL_SMTP_SECURITY": "ssl"}, "email_smtp_security"),
        ({"EMAIL_DKIM_SELECTOR": "s1"}, "DKIM needs all of"),
        ({"EMAIL_SMTP_USERNAME": "u"}, "go together"),
        ({"EMAIL_MAX_ATTEMPTS": "0"}, "email_max_attempts"),
    ],
)
def test_bad_values_are_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EmailSettings()


def test_postmark_provider_needs_a_token() -> None:
    with pytest.raises(ValueError, match="EMAIL_POSTMARK_TOKEN"):
        PostmarkProvider("http://127.0.0.1:1", "")
