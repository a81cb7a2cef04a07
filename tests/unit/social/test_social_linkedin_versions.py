"""LinkedIn versions: a year of service each, a warning 60 days before retirement."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from brandcast.social.accounts import AccountConfig, AccountDirectory
from brandcast.social.bootstrap import warn_about_linkedin_versions
from brandcast.social.linkedin_versions import (
    DEFAULT_VERSION,
    is_served,
    retirement_warning,
    retires,
    today,
)
from brandcast.social.settings import SocialSettings


def test_a_version_is_served_for_twelve_months() -> None:
    assert retires("202405") == date(2025, 5, 1)
    assert retires("202512") == date(2026, 12, 1)
    assert is_served("202610", date(2027, 9, 30))
    assert not is_served("202610", date(2027, 10, 1))
    assert not is_served("202701", date(2026, 12, 2)), "not released yet"
    assert not is_served("garbage", date(2026, 12, 2))


def test_the_default_is_served_today_and_not_about_to_retire() -> None:
    assert is_served(DEFAULT_VERSION, today())
    assert retirement_warning(DEFAULT_VERSION, today()) is None
    assert SocialSettings(social_redis_url="").social_linkedin_version == DEFAULT_VERSION


def test_warnings_start_sixty_days_before_retirement() -> None:
    assert retirement_warning("202601", date(2026, 11, 1)) is None
    soon = retirement_warning("202601", date(2026, 11, 2))
    assert soon is not None
    assert "SOCIAL_LINKEDIN_VERSION=202601 is retired by LinkedIn on 2027-01-01 (60 days)" in soon
    gone = retirement_warning("202405", date(2026, 12, 2))
    assert gone is not None
    assert "retired by LinkedIn on 2025-05-01" in gone
    assert "HTTP 426" in gone


def test_start_up_warns_about_the_setting_and_each_accounts_own_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = SocialSettings(social_redis_url="", social_linkedin_version="202405")
    account = AccountConfig(
        "acme-li", "linkedin", "https://api.linkedin.com", values={"linkedin_version": "202301"}
    )
    with caplog.at_level(logging.WARNING):
        found = warn_about_linkedin_versions(settings, AccountDirectory({"acme-li": account}))
    assert len(found) == 2
    assert "SOCIAL_LINKEDIN_VERSION=202405" in found[0]
    assert "linkedin_version of account 'acme-li'=202301" in found[1]
    assert found[0] in caplog.text
