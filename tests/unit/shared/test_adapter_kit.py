"""The adapter kit's pieces: the provider table, renamed settings, the declaration check."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

import pytest
from pydantic import ValidationError

from brandcast.shared.adapter import Adapter
from brandcast.shared.provider_table import ProviderTable, UnknownProviderError
from brandcast.sms import cli as sms_cli
from brandcast.sms.bootstrap import ADAPTER
from brandcast.sms.providers.null import NullProvider
from brandcast.sms.settings import SmsSettings

TABLE = ProviderTable[object](
    "SMS provider",
    {
        "null": "brandcast.sms.providers.null:NullProvider",
        "broken": "brandcast.sms.providers.null:NoSuchClass",
    },
)


def test_a_short_name_resolves_lazily_and_builds_from_settings() -> None:
    assert TABLE.names() == ("null", "broken")
    assert isinstance(TABLE.build("null", SmsSettings()), NullProvider)


def test_a_misspelt_name_gets_a_did_you_mean() -> None:
    with pytest.raises(
        UnknownProviderError, match=r"No such SMS provider: 'nul'\. Did you mean 'null'\?"
    ):
        TABLE.resolve("nul")
    with pytest.raises(UnknownProviderError, match="Did you mean"):
        TABLE.check(["null", "nul"])


def test_a_dotted_path_loads_a_provider_from_another_package() -> None:
    assert TABLE.resolve("brandcast.sms.providers.null:NullProvider") is NullProvider
    assert TABLE.resolve("brandcast.sms.providers.null.NullProvider") is NullProvider
    assert TABLE.check(["acme.sms:Provider"]) == ("acme.sms:Provider",)  # checked when loaded
    with pytest.raises(UnknownProviderError, match="cannot import acme"):
        TABLE.resolve("acme.sms:Provider")
    with pytest.raises(UnknownProviderError, match="has no NoSuchClass"):
        TABLE.resolve("broken")


def test_an_old_setting_name_still_works_with_a_warning_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Renamed(SmsSettings):
        renamed_variables: ClassVar[Mapping[str, str]] = {"SMS_OLD_ATTEMPTS": "SMS_MAX_ATTEMPTS"}

    monkeypatch.delenv("SMS_MAX_ATTEMPTS", raising=False)
    monkeypatch.setenv("SMS_OLD_ATTEMPTS", "7")
    with caplog.at_level(logging.WARNING):
        assert Renamed().sms_max_attempts == 7
    assert "SMS_OLD_ATTEMPTS is deprecated" in caplog.text
    assert "use SMS_MAX_ATTEMPTS" in caplog.text
    monkeypatch.setenv("SMS_MAX_ATTEMPTS", "3")
    assert Renamed().sms_max_attempts == 3  # the new name wins


def test_unknown_provider_in_settings_names_the_close_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PROVIDERS", "twillio")
    with pytest.raises(ValidationError, match="Did you mean 'twilio'"):
        SmsSettings()


def test_the_retry_policy_comes_from_the_uniform_settings() -> None:
    settings = SmsSettings(sms_max_attempts=9, sms_retry_base_delay=0.5, sms_retry_max_delay=7)
    policy = ADAPTER.retry_policy(settings)
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (9, 0.5, 7)


def test_a_declaration_needs_a_known_channel_and_the_uniform_settings() -> None:
    with pytest.raises(ValueError, match="Did you mean 'sms'"):
        Adapter(channel="smss", settings=SmsSettings, providers=TABLE, build=ADAPTER.build)

    class Bare(SmsSettings):
        pass

    Adapter(channel="sms", settings=Bare, providers=TABLE, build=ADAPTER.build)
    with pytest.raises(TypeError, match="email_max_attempts"):
        Adapter(channel="email", settings=Bare, providers=TABLE, build=ADAPTER.build)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SMS_TWILIO_AUTH_TOKEN", "", "SMS_TWILIO_AUTH_TOKEN are required"),
        ("SMS_PROVIDERS", "acme_sms.provider:AcmeProvider", "cannot import acme_sms.provider"),
    ],
)
def test_a_provider_that_cannot_be_built_stops_the_worker_at_start(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    # The CLI configures the root logger: put it back afterwards for the other tests.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setenv(variable, value)
    assert sms_cli.main(["worker"]) == 2
    assert message in capsys.readouterr().err
