"""X: API v2 ``POST /2/tweets`` with an OAuth 2.0 user-context bearer token.

On a 401 (or when the stored access token has expired) with a refresh token
configured, the token is refreshed once (``POST /2/oauth2/token``,
``grant_type=refresh_token``) and the post retried. X rotates the refresh token
on every use, so the new pair goes to the shared credential store, under its
lock: two workers never spend the same refresh token, the one that waited uses
the pair the other stored, and a restarted worker starts from the stored pair.
The configured tokens only seed the store; configuring new ones replaces it.
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.social.accounts import AccountConfig
from brandcast.social.credential_store import CredentialStore, LocalCredentialStore
from brandcast.social.networks import _http, _resources
from brandcast.social.networks._oauth import StoredTokens, Tokens
from brandcast.social.networks._port import Network
from brandcast.v1 import variant_pb2

if TYPE_CHECKING:
    from brandcast.social.settings import SocialSettings


def error_message(body: dict[str, object]) -> str:
    """X's problem ``detail``/``title``, or its older ``errors`` list."""
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        details = [
            str(e.get("message") or e.get("detail") or e) for e in errors if isinstance(e, dict)
        ]
        if details:
            return "; ".join(details)
    detail, title = body.get("detail"), body.get("title")
    return ": ".join(str(part) for part in (title, detail) if part)


class X(Network):
    name = "x"

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> X:
        return cls(_resources.http_client(settings), credentials=_resources.credentials(settings))

    def __init__(
        self,
        client: httpx.Client,
        *,
        credentials: CredentialStore | None = None,
        clock: _http.Clock = time.time,
    ) -> None:
        self._client = client
        self._clock = clock
        store = credentials if credentials is not None else LocalCredentialStore()
        self._tokens = StoredTokens(self.name, store, clock=clock)

    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome:
        # X has no idempotency key for tweets; a retry after a lost answer is refused
        # by X's duplicate-content check rather than posted twice.
        tokens = self._tokens.current(account)
        if self._tokens.expired(account, tokens):
            tokens = self._tokens.renew(
                account, tokens, "the access token has expired", self._token_request
            )
        response = self._post(account, tokens, post)
        if response.status_code == 401:
            why = error_message(dict(_http.json_body(response)))
            tokens = self._tokens.renew(account, tokens, why, self._token_request)
            response = self._post(account, tokens, post)
            if response.status_code == 401:
                raise _http.expired(self.name, account.account_id, "refreshed token refused")
        self._raise_for_error(response)
        data = _http.json_body(response).get("data") or {}
        tweet_id = str(data.get("id", ""))
        if not tweet_id:
            raise _http.refused(self.name, response, "the answer carries no tweet id", "bad_answer")
        who = account.handle or "i/web"
        url = f"https://x.com/{who}/status/{tweet_id}"
        return Outcome(provider=self.name, provider_message_id=tweet_id, public_url=url)

    def find_published(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, since: float
    ) -> Outcome | None:
        """A tweet of the account with this text since ``since`` (its timeline).

        X returns a tweet's text with links replaced by t.co ones and ``& < >``
        escaped: the text is rebuilt from ``entities.urls`` before comparing.
        """
        tokens = self._tokens.current(account)
        headers = {"Authorization": f"Bearer {tokens.access_token}"}
        me = _http.request(
            self._client, self.name, "GET", f"{account.base_url}/2/users/me", headers=headers
        )
        self._raise_for_error(me)
        user = str((_http.json_body(me).get("data") or {}).get("id", ""))
        start = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
        timeline = _http.request(
            self._client,
            self.name,
            "GET",
            f"{account.base_url}/2/users/{user}/tweets",
            params={
                "max_results": "20",
                "tweet.fields": "created_at,entities",
                "start_time": start.replace("+00:00", "Z"),
            },
            headers=headers,
        )
        self._raise_for_error(timeline)
        for tweet in _http.json_body(timeline).get("data") or []:
            if isinstance(tweet, dict) and _as_written(tweet) == post.text:
                tweet_id = str(tweet.get("id", ""))
                who = account.handle or "i/web"
                return Outcome(
                    provider=self.name,
                    provider_message_id=tweet_id,
                    public_url=f"https://x.com/{who}/status/{tweet_id}",
                )
        return None

    def _post(
        self, account: AccountConfig, tokens: Tokens, post: variant_pb2.SocialVariant
    ) -> httpx.Response:
        return _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.base_url}/2/tweets",
            json={"text": post.text},
            headers={"Authorization": f"Bearer {tokens.access_token}"},
        )

    def _token_request(self, account: AccountConfig, tokens: Tokens, why: str) -> Tokens:
        if not tokens.refresh_token:
            raise _http.expired(self.name, account.account_id, why or "401 Unauthorized")
        client_id = account.require("client_id")
        secret = account.get("client_secret")
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        if not secret:  # public clients identify themselves in the form
            form["client_id"] = client_id
        response = _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.base_url}/2/oauth2/token",
            data=form,
            auth=(client_id, secret) if secret else None,
        )
        _http.raise_for_retryable(response, self.name, clock=self._clock)
        body = _http.json_body(response)
        if not response.is_success or not body.get("access_token"):
            reason = str(body.get("error_description") or body.get("error") or "")
            raise _http.expired(self.name, account.account_id, f"token refresh failed: {reason}")
        return self._tokens.from_answer(body, tokens)

    def _raise_for_error(self, response: httpx.Response) -> None:
        _http.raise_for_retryable(
            response,
            self.name,
            reset_header=_http.epoch_reset_header("x-rate-limit-reset"),
            clock=self._clock,
        )
        if not response.is_success:
            raise _http.refused(self.name, response, error_message(dict(_http.json_body(response))))


def _as_written(tweet: dict[str, Any]) -> str:
    """A returned tweet's text as it was posted: t.co links expanded, entities unescaped."""
    text = str(tweet.get("text", ""))
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    urls = entities.get("urls") if isinstance(entities, dict) else None
    # By the t.co link itself rather than by offset: X's offsets count the text
    # before escaping, and each t.co link is unique within a tweet.
    for link in urls or []:
        if isinstance(link, dict) and link.get("url") and link.get("expanded_url"):
            text = text.replace(str(link["url"]), str(link["expanded_url"]), 1)
    return html.unescape(text)
