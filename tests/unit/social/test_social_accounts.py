"""The accounts file: entries, secrets from files, sandbox stand-ins, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from brandcast.shared.errors import PermanentProviderError
from brandcast.social.accounts import AccountDirectory, AccountsFileError, load_accounts


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_entries_with_secrets_read_from_files(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    _write(tmp_path, "secrets/masto", "s3cret-token\n")
    path = _write(
        tmp_path,
        "accounts.yaml",
        "acme-masto:\n"
        "  network: mastodon\n"
        "  base_url: https://mastodon.example/\n"
        "  access_token_file: secrets/masto\n"
        "acme-li:\n"
        "  network: linkedin\n"
        "  base_url: https://api.linkedin.com\n"
        "  access_token: inline-token\n"
        "  organization_id: 2414183\n"
        "  expires_at: 2030-01-01T00:00:00\n",
    )
    accounts = load_accounts(path)

    masto = accounts["acme-masto"]
    assert (masto.network, masto.base_url) == ("mastodon", "https://mastodon.example")
    assert masto.require("access_token") == "s3cret-token"
    assert "s3cret" not in repr(masto)
    linkedin = accounts["acme-li"]
    assert linkedin.require("organization_id") == "2414183"
    assert linkedin.expires_at is not None
    assert linkedin.expires_at.tzinfo is not None
    assert not linkedin.access_token_expired()


def test_a_rotated_secret_file_is_read_again(tmp_path: Path) -> None:
    secret = _write(tmp_path, "token", "old")
    path = _write(
        tmp_path,
        "accounts.json",
        f'{{"a": {{"network": "x", "base_url": "https://api.x.com", '
        f'"access_token_file": "{secret}"}}}}',
    )
    account = load_accounts(path)["a"]
    assert account.require("access_token") == "old"
    secret.write_text("new", encoding="utf-8")
    assert account.require("access_token") == "new"


def test_a_missing_secret_file_fails_the_delivery_not_the_load(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "accounts.yaml",
        "a:\n  network: mastodon\n  base_url: https://m.example\n  access_token_file: nope\n",
    )
    account = load_accounts(path)["a"]
    with pytest.raises(PermanentProviderError) as missing:
        account.require("access_token")
    assert missing.value.code == "missing_credentials"
    assert "access_token" in missing.value.message
    assert str(tmp_path / "nope") in missing.value.message


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("network: myspace\n  base_url: https://m.example", "network"),
        ("network: x\n  base_url: ftp://x.example", "base_url"),
        ("network: x", "base_url"),
    ],
)
def test_an_invalid_entry_names_the_account_and_field(
    tmp_path: Path, entry: str, named: str
) -> None:
    path = _write(tmp_path, "accounts.yaml", f"acme:\n  {entry}\n")
    with pytest.raises(AccountsFileError) as invalid:
        load_accounts(path)
    assert "'acme'" in str(invalid.value)
    assert named in str(invalid.value)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AccountsFileError, match="mapping"):
        load_accounts(_write(tmp_path, "accounts.yaml", "- a\n- b\n"))


def test_unconfigured_accounts_go_to_the_sandbox_when_there_is_one() -> None:
    directory = AccountDirectory({}, sandbox_url="http://127.0.0.1:8040")
    account = directory.find("acme-bsky", "bluesky")
    assert (account.network, account.base_url) == ("bluesky", "http://127.0.0.1:8040")
    assert account.require("identifier") == "acme-bsky.bsky.sandbox"


def test_unconfigured_accounts_fail_without_a_sandbox() -> None:
    with pytest.raises(PermanentProviderError) as missing:
        AccountDirectory({}).find("acme-bsky", "bluesky")
    assert missing.value.code == "missing_credentials"
    assert "'acme-bsky'" in missing.value.message


def test_a_post_rendered_for_another_network_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", "a:\n  network: mastodon\n  base_url: https://m.example\n")
    with pytest.raises(PermanentProviderError) as mismatch:
        AccountDirectory(load_accounts(path)).find("a", "x")
    assert mismatch.value.code == "network_mismatch"
