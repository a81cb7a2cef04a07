"""Mastodon: ``POST /api/v1/statuses`` with an ``Idempotency-Key``.

The instance's own limits (``GET /api/v2/instance``) are cached per instance, and
a text over ``max_characters`` (counted the way Mastodon counts it) is refused
here instead of costing a request.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import PermanentProviderError
from brandcast.shared.text_counting import grapheme_length
from brandcast.social.accounts import AccountConfig
from brandcast.social.networks import _http, _resources
from brandcast.social.networks._port import Network
from brandcast.v1 import variant_pb2

if TYPE_CHECKING:
    from brandcast.social.settings import SocialSettings

VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_CHARACTERS_PER_URL = 23

# Mastodon counts any http(s) URL as characters_reserved_per_url characters and a
# remote mention @user@domain as just @user.
_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'’]")
_REMOTE_MENTION = re.compile(r"(?<![\w/])(@\w+(?:[\w.-]*\w)?)@[\w.-]+\w")


@dataclass(frozen=True)
class InstanceLimits:
    max_characters: int = DEFAULT_MAX_CHARACTERS
    characters_reserved_per_url: int = DEFAULT_CHARACTERS_PER_URL


def mastodon_length(text: str, characters_per_url: int = DEFAULT_CHARACTERS_PER_URL) -> int:
    """The length Mastodon checks against ``max_characters`` (grapheme clusters)."""
    countable = _URL.sub("x" * characters_per_url, text)
    countable = _REMOTE_MENTION.sub(r"\1", countable)
    return grapheme_length(countable)


class Mastodon(Network):
    name = "mastodon"

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> Mastodon:
        return cls(
            _resources.http_client(settings), limits_ttl=settings.social_instance_cache_seconds
        )

    def __init__(
        self,
        client: httpx.Client,
        *,
        limits_ttl: float = 600.0,
        clock: _http.Clock = time.time,
    ) -> None:
        self._client = client
        self._limits_ttl = limits_ttl
        self._clock = clock
        self._limits: dict[str, tuple[float, InstanceLimits]] = {}
        self._lock = threading.Lock()

    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome:
        token = account.require("access_token")
        if account.access_token_expired():
            raise _http.expired(self.name, account.account_id, "the access token has expired")
        visibility = post.visibility or "public"
        if visibility not in VISIBILITIES:
            raise PermanentProviderError(
                "invalid_visibility",
                f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}",
                provider=self.name,
            )
        limits = self.instance_limits(account.base_url)
        length = mastodon_length(post.text, limits.characters_reserved_per_url)
        if length > limits.max_characters:
            raise PermanentProviderError(
                "too_long",
                f"text is {length} characters, the instance allows {limits.max_characters}",
                provider=self.name,
            )
        form: dict[str, str] = {"status": post.text, "visibility": visibility}
        if post.language:
            form["language"] = post.language
        headers = {"Authorization": f"Bearer {token}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.base_url}/api/v1/statuses",
            json=form,
            headers=headers,
        )
        self._raise_for_error(response, account)
        status = _http.json_body(response)
        status_id = str(status.get("id", ""))
        if not status_id:
            raise _http.refused(
                self.name, response, "the answer carries no status id", "bad_answer"
            )
        return Outcome(
            provider=self.name,
            provider_message_id=status_id,
            public_url=str(status.get("url") or status.get("uri") or ""),
        )

    def instance_limits(self, base_url: str) -> InstanceLimits:
        """The instance's status limits, fetched at most once per ``limits_ttl`` seconds."""
        now = self._clock()
        with self._lock:
            cached = self._limits.get(base_url)
        if cached is not None and now - cached[0] < self._limits_ttl:
            return cached[1]
        response = _http.request(self._client, self.name, "GET", f"{base_url}/api/v2/instance")
        _http.raise_for_retryable(response, self.name)
        # Instances older than 4.0 have no v2 endpoint: Mastodon's defaults apply.
        statuses = _http.json_body(response).get("configuration", {}).get("statuses", {})
        limits = InstanceLimits(
            max_characters=int(statuses.get("max_characters", DEFAULT_MAX_CHARACTERS)),
            characters_reserved_per_url=int(
                statuses.get("characters_reserved_per_url", DEFAULT_CHARACTERS_PER_URL)
            ),
        )
        with self._lock:
            self._limits[base_url] = (now, limits)
        return limits

    def _raise_for_error(self, response: httpx.Response, account: AccountConfig) -> None:
        _http.raise_for_retryable(
            response,
            self.name,
            reset_header=_http.iso_reset_header("x-ratelimit-reset"),
            clock=self._clock,
        )
        if response.is_success:
            return
        message = str(_http.json_body(response).get("error", ""))
        if response.status_code == 401:
            raise _http.expired(self.name, account.account_id, message or "401 Unauthorized")
        raise _http.refused(self.name, response, message)
