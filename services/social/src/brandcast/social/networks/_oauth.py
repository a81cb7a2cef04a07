"""An account's OAuth 2.0 pair (access + refresh token) kept in the shared credential store.

The configured tokens only seed the store; configuring different ones replaces
the stored pair. A renewal takes the store's lock and reads again first: when
another worker renewed the pair meanwhile, its result is used, so a refresh
token is never spent twice (X rotates it on every use) and a restarted worker
starts from the stored pair instead of the configured, possibly spent, one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from brandcast.social.accounts import AccountConfig
from brandcast.social.credential_store import CredentialStore
from brandcast.social.networks import _http

#: Seconds before a stored access token's end at which it is renewed rather than used.
EXPIRY_MARGIN = 60.0


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    #: Epoch seconds the access token stops working; 0 = unknown.
    expires_at: float = 0.0
    #: True for the configured tokens (not yet renewed by this deployment).
    configured: bool = False


#: The network's refresh grant: (account, tokens to renew, why) -> new tokens.
TokenRequest = Callable[[AccountConfig, Tokens, str], Tokens]


class StoredTokens:
    """One network's OAuth pairs, per account, in ``store``."""

    def __init__(
        self, network: str, store: CredentialStore, *, clock: _http.Clock = time.time
    ) -> None:
        self._network = network
        self._store = store
        self._clock = clock

    def current(self, account: AccountConfig) -> Tokens:
        """The stored pair, unless the configured tokens changed since it was stored."""
        configured = _configured(account)
        stored = self._store.load(self._key(account))
        if stored is None or stored.get("seed") != _seed(configured):
            return configured
        return Tokens(
            stored.get("access_token", ""),
            stored.get("refresh_token", ""),
            expires_at=float(stored.get("expires_at") or 0),
        )

    def expired(self, account: AccountConfig, tokens: Tokens) -> bool:
        if tokens.configured:
            return account.access_token_expired()
        return bool(tokens.expires_at) and tokens.expires_at - EXPIRY_MARGIN <= self._clock()

    def renew(
        self, account: AccountConfig, spent: Tokens, why: str, request: TokenRequest
    ) -> Tokens:
        """New tokens in place of ``spent``: another worker's if it renewed them meanwhile."""
        key = self._key(account)
        with self._store.renewing(key):
            current = self.current(account)
            if current.access_token != spent.access_token and not self.expired(account, current):
                return current  # renewed by another worker while this one waited
            fresh = request(account, current, why)
            self._store.save(
                key,
                {
                    "access_token": fresh.access_token,
                    "refresh_token": fresh.refresh_token,
                    "expires_at": str(fresh.expires_at),
                    "seed": _seed(_configured(account)),
                },
            )
            return fresh

    def from_answer(self, body: Any, previous: Tokens) -> Tokens:
        """Tokens from a token endpoint's JSON answer (the refresh token may be kept)."""
        try:
            lifetime = float(body.get("expires_in") or 0)
        except (TypeError, ValueError):
            lifetime = 0.0
        return Tokens(
            str(body["access_token"]),
            str(body.get("refresh_token") or previous.refresh_token),
            expires_at=self._clock() + lifetime if lifetime > 0 else 0.0,
        )

    def _key(self, account: AccountConfig) -> str:
        return f"{self._network}:{account.account_id}"


def _configured(account: AccountConfig) -> Tokens:
    return Tokens(account.require("access_token"), account.get("refresh_token"), configured=True)


def _seed(configured: Tokens) -> str:
    """Identifies the configured tokens the stored pair descends from (never the tokens)."""
    material = f"{configured.access_token}\n{configured.refresh_token}".encode()
    return hashlib.sha256(material).hexdigest()[:32]
