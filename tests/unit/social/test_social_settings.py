"""Settings: bad values stop the service with the variable named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from brandcast.social.cli import main
from brandcast.social.settings import SocialSettings


def test_defaults_work_on_one_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOCIAL_SANDBOX_URL", raising=False)
    settings = SocialSettings()
    assert settings.social_sandbox_url == "http://127.0.0.1:8040"
    assert settings.social_accounts_file is None


def test_a_bad_sandbox_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIAL_SANDBOX_URL", "127.0.0.1:8040")
    with pytest.raises(ValidationError, match="social_sandbox_url"):
        SocialSettings()


def test_a_missing_accounts_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOCIAL_ACCOUNTS_FILE", str(tmp_path / "absent.yaml"))
    with pytest.raises(ValidationError, match="social_accounts_file"):
        SocialSettings()


def test_the_cli_reports_bad_configuration_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCIAL_RATE_LIMIT", "-1")
    with pytest.raises(SystemExit) as stopped:
        main(["worker"])
    assert stopped.value.code == 2
    assert "invalid configuration: SOCIAL_RATE_LIMIT: " in capsys.readouterr().err


def test_the_cli_reports_an_invalid_accounts_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("acme:\n  network: myspace\n  base_url: https://m.example\n")
    monkeypatch.setenv("SOCIAL_ACCOUNTS_FILE", str(accounts))
    assert main(["worker"]) == 2
    assert "'acme'" in capsys.readouterr().err


def test_the_old_names_still_work_for_one_release(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SOCIAL_RATE_LIMIT", raising=False)
    monkeypatch.delenv("SOCIAL_WORKER_CONCURRENCY", raising=False)
    monkeypatch.setenv("SOCIAL_RATE_PER_SECOND", "3.5")
    monkeypatch.setenv("SOCIAL_CONCURRENCY", "4")
    with caplog.at_level(logging.WARNING):
        settings = SocialSettings()
    assert (settings.social_rate_limit, settings.social_worker_concurrency) == (3.5, 4)
    assert "SOCIAL_RATE_PER_SECOND is deprecated" in caplog.text
    assert "use SOCIAL_RATE_LIMIT" in caplog.text
    assert "use SOCIAL_WORKER_CONCURRENCY" in caplog.text


def test_a_misspelt_network_gets_a_did_you_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIAL_NETWORKS", "mastodon,blusky")
    with pytest.raises(ValidationError, match="Did you mean 'bluesky'"):
        SocialSettings()
