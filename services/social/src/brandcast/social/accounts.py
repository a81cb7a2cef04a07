"""Brand accounts: which network each one posts to, where, and with which credentials.

The accounts file (``SOCIAL_ACCOUNTS_FILE``, YAML or JSON) maps an account id to
its settings; any key ending in ``_file`` names a file holding that value
(``access_token_file: /run/secrets/acme_masto``), read at every use so that a
rotated secret is picked up without a restart::

    acme-masto:
      network: mastodon
      base_url: https://mastodon.social
      access_token_file: /run/secrets/acme_masto

Secrets are never logged and never part of an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from brandcast.shared import channels
from brandcast.shared.errors import PermanentProviderError

#: A network's short name, as the shared channel table spells it ("mastodon").
NetworkName: TypeAlias = str


class AccountsFileError(ValueError):
    """The accounts file cannot be read or has an invalid entry (named in the message)."""


@dataclass(frozen=True)
class AccountConfig:
    """One brand account on one network."""

    account_id: str
    network: NetworkName
    base_url: str
    #: Secrets and network options (``access_token``, ``identifier``, ``organization_id``…).
    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Files holding values, read at use: name -> path.
    files: Mapping[str, Path] = field(default_factory=dict, repr=False)
    #: Public name used in post URLs (Bluesky handle, X username).
    handle: str = ""
    #: When the configured access token stops working, if known.
    expires_at: datetime | None = None

    def get(self, name: str) -> str:
        """The value ``name``, or "" when it is not configured."""
        if name in self.values:
            return self.values[name]
        path = self.files.get(name)
        if path is None:
            return ""
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def require(self, name: str) -> str:
        """The value ``name``; a delivery without it fails as ``missing_credentials``."""
        value = self.get(name)
        if value:
            return value
        where = f" (file {self.files[name]} is missing or empty)" if name in self.files else ""
        raise PermanentProviderError(
            "missing_credentials",
            f"account {self.account_id!r} has no {name} configured{where}",
            provider=self.network,
        )

    def access_token_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))


class _AccountEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    network: NetworkName
    base_url: str
    handle: str = ""
    expires_at: datetime | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("network")
    @classmethod
    def _known_network(cls, value: str) -> str:
        channels.network(value)  # a ValueError naming the known ones, with a did-you-mean
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def parse_accounts(raw: object, base_dir: Path) -> dict[str, AccountConfig]:
    """Accounts from the decoded file content; relative ``*_file`` paths are from ``base_dir``."""
    if not isinstance(raw, Mapping):
        raise AccountsFileError("the accounts file must be a mapping of account id -> settings")
    accounts: dict[str, AccountConfig] = {}
    for account_id, entry in raw.items():
        try:
            parsed = _AccountEntry.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise AccountsFileError(f"account {account_id!r}: {problems}") from None
        values: dict[str, str] = {}
        files: dict[str, Path] = {}
        for key, value in (parsed.model_extra or {}).items():
            if not isinstance(value, str | int):
                raise AccountsFileError(f"account {account_id!r}: {key} must be a string")
            if key.endswith("_file"):
                path = Path(str(value))
                files[key.removesuffix("_file")] = path if path.is_absolute() else base_dir / path
            else:
                values[key] = str(value)
        accounts[str(account_id)] = AccountConfig(
            account_id=str(account_id),
            network=parsed.network,
            base_url=parsed.base_url,
            values=values,
            files=files,
            handle=parsed.handle,
            expires_at=parsed.expires_at,
        )
    return accounts


def load_accounts(path: Path) -> dict[str, AccountConfig]:
    """Read ``SOCIAL_ACCOUNTS_FILE`` (JSON if it ends in ``.json``, YAML otherwise)."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise AccountsFileError(f"cannot read accounts file {path}: {exc}") from exc
    return parse_accounts(raw or {}, path.parent)


def sandbox_account(account_id: str, network: NetworkName, sandbox_url: str) -> AccountConfig:
    """An account posting to the local emulator with its permissive sandbox credentials."""
    values = {
        "access_token": f"sandbox-{account_id}",
        "identifier": f"{account_id}.bsky.sandbox",
        "app_password": "sandbox-app-password",
        "organization_id": account_id,
    }
    handle = values["identifier"] if network == "bluesky" else account_id
    return AccountConfig(account_id, network, sandbox_url, values=values, handle=handle)


class AccountDirectory:
    """Finds the configuration of a brand account, or the sandbox stand-in."""

    def __init__(self, accounts: Mapping[str, AccountConfig], sandbox_url: str = "") -> None:
        self._accounts = dict(accounts)
        self._sandbox_url = sandbox_url

    def configured(self) -> list[AccountConfig]:
        """The accounts of the accounts file (not the sandbox stand-ins)."""
        return list(self._accounts.values())

    def find(self, account_id: str, network: NetworkName | None) -> AccountConfig:
        account = self._accounts.get(account_id)
        if account is not None:
            if network is not None and network != account.network:
                raise PermanentProviderError(
                    "network_mismatch",
                    f"account {account_id!r} is a {account.network} account, "
                    f"the post was rendered for {network}",
                    provider=account.network,
                )
            return account
        if self._sandbox_url and network is not None:
            return sandbox_account(account_id, network, self._sandbox_url)
        raise PermanentProviderError(
            "missing_credentials",
            f"account {account_id!r} is not configured (SOCIAL_ACCOUNTS_FILE)",
            provider=network or "",
        )
