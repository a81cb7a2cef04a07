"""Bluesky (AT Protocol): an ``app.bsky.feed.post`` record through the account's PDS.

Sessions come from ``com.atproto.server.createSession`` (identifier + app
password) and are kept per account in the shared credential store, so every
worker and every restart reuses them (createSession is tightly rate-limited).
An expired access JWT (``ExpiredToken``) is renewed with
``com.atproto.server.refreshSession`` under the store's lock (the refresh JWT
works once), and only when the refresh JWT is dead too is a new session created.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import PermanentProviderError
from brandcast.social.accounts import AccountConfig
from brandcast.social.credential_store import CredentialStore, LocalCredentialStore
from brandcast.social.networks import _http, _resources
from brandcast.social.networks._port import Network
from brandcast.social.richtext import detect_facets, facet_records
from brandcast.v1 import variant_pb2

if TYPE_CHECKING:
    from brandcast.social.settings import SocialSettings

POST_COLLECTION = "app.bsky.feed.post"
_TOKEN_ERRORS = ("ExpiredToken", "InvalidToken")


@dataclass(frozen=True)
class Session:
    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str


class _SessionExpiredError(Exception):
    """The access JWT was refused as expired."""


def post_record(post: variant_pb2.SocialVariant, created_at: datetime) -> dict[str, Any]:
    """The ``app.bsky.feed.post`` record for a variant."""
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": post.text,
        "createdAt": created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if post.language:
        record["langs"] = [post.language]
    facets = list(post.facets) or detect_facets(post.text)
    if facets:
        try:
            record["facets"] = facet_records(facets)
        except ValueError as exc:
            raise PermanentProviderError("invalid_facet", str(exc), provider="bluesky") from exc
    if post.link_card.url:
        # A thumbnail needs the image fetched and uploaded as a blob first: not done here.
        record["embed"] = {
            "$type": "app.bsky.embed.external",
            "external": {
                "uri": post.link_card.url,
                "title": post.link_card.title,
                "description": post.link_card.description,
            },
        }
    return record


def public_url(handle: str, at_uri: str) -> str:
    """``https://bsky.app/profile/{handle}/post/{rkey}`` for ``at://did/collection/rkey``."""
    return f"https://bsky.app/profile/{handle}/post/{at_uri.rsplit('/', 1)[-1]}"


class Bluesky(Network):
    name = "bluesky"

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> Bluesky:
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
        self._store = credentials if credentials is not None else LocalCredentialStore()

    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome:
        # The AT Protocol has no idempotency key: a retry after a lost answer may post twice.
        record = post_record(post, datetime.now(UTC))
        session = self._session(account)
        try:
            created = self._create_record(account, session, record)
        except _SessionExpiredError:
            session = self._renew(account, session)
            try:
                created = self._create_record(account, session, record)
            except _SessionExpiredError:
                raise _http.expired(
                    self.name, account.account_id, "a fresh session was refused as expired"
                ) from None
        uri = str(created.get("uri", ""))
        handle = account.handle or session.handle
        return Outcome(
            provider=self.name, provider_message_id=uri, public_url=public_url(handle, uri)
        )

    def _stored(self, account: AccountConfig) -> Session | None:
        stored = self._store.load(_key(account))
        if stored is None or stored.get("identifier") != account.require("identifier"):
            return None  # another identifier configured since: its own session
        try:
            return Session(
                stored["did"], stored["handle"], stored["access_jwt"], stored["refresh_jwt"]
            )
        except KeyError:
            return None

    def find_published(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, since: float
    ) -> Outcome | None:
        """A post of the account with this text, created since ``since`` (listRecords)."""
        session = self._session(account)
        response = _http.request(
            self._client,
            self.name,
            "GET",
            f"{account.base_url}/xrpc/com.atproto.repo.listRecords",
            params={"repo": session.did, "collection": POST_COLLECTION, "limit": "50"},
            headers={"Authorization": f"Bearer {session.access_jwt}"},
        )
        self._raise_for_retryable(response)
        if not response.is_success:
            raise _http.refused(self.name, response, "listRecords failed", "lookup_failed")
        for entry in _http.json_body(response).get("records") or []:
            value = entry.get("value") if isinstance(entry, dict) else None
            if not isinstance(value, dict) or value.get("text") != post.text:
                continue
            try:
                created = datetime.fromisoformat(str(value.get("createdAt"))).timestamp()
            except ValueError:
                continue
            if created >= since:
                uri = str(entry.get("uri", ""))
                handle = account.handle or session.handle
                return Outcome(
                    provider=self.name, provider_message_id=uri, public_url=public_url(handle, uri)
                )
        return None

    def _session(self, account: AccountConfig) -> Session:
        session = self._stored(account)
        if session is not None:
            return session
        with self._store.renewing(_key(account)):
            # Another worker may have created it while this one waited for the lock.
            return self._stored(account) or self._create_session(account)

    def _renew(self, account: AccountConfig, spent: Session) -> Session:
        with self._store.renewing(_key(account)):
            current = self._stored(account)
            if current is not None and current.access_jwt != spent.access_jwt:
                return current  # renewed by another worker while this one waited
            return self._refresh_session(account, current or spent)

    def _create_session(self, account: AccountConfig) -> Session:
        identifier = account.require("identifier")
        password = account.require("app_password")
        response = _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.base_url}/xrpc/com.atproto.server.createSession",
            json={"identifier": identifier, "password": password},
        )
        self._raise_for_retryable(response)
        body = _http.json_body(response)
        if response.status_code == 401 or body.get("error") == "AuthenticationRequired":
            raise _http.expired(self.name, account.account_id, str(body.get("message", "")))
        if not response.is_success:
            raise _http.refused(self.name, response, str(body.get("message", "")))
        return self._keep(account, identifier, body)

    def _refresh_session(self, account: AccountConfig, session: Session) -> Session:
        response = _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.base_url}/xrpc/com.atproto.server.refreshSession",
            headers={"Authorization": f"Bearer {session.refresh_jwt}"},
        )
        self._raise_for_retryable(response)
        body = _http.json_body(response)
        if response.is_success:
            return self._keep(account, account.require("identifier"), body)
        if response.status_code in (400, 401) and body.get("error") in (
            *_TOKEN_ERRORS,
            "AuthenticationRequired",
        ):
            return self._create_session(account)
        raise _http.refused(self.name, response, str(body.get("message", "")))

    def _keep(self, account: AccountConfig, identifier: str, body: Any) -> Session:
        try:
            session = Session(
                did=str(body["did"]),
                handle=str(body.get("handle", identifier)),
                access_jwt=str(body["accessJwt"]),
                refresh_jwt=str(body["refreshJwt"]),
            )
        except KeyError as exc:
            raise PermanentProviderError(
                "bad_answer", f"session answer lacks {exc.args[0]}", provider=self.name
            ) from None
        self._store.save(
            _key(account),
            {
                "identifier": identifier,
                "did": session.did,
                "handle": session.handle,
                "access_jwt": session.access_jwt,
                "refresh_jwt": session.refresh_jwt,
            },
        )
        return session

    def _create_record(
        self, account: AccountConfig, session: Session, record: dict[str, Any]
    ) -> Any:
        response = _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.base_url}/xrpc/com.atproto.repo.createRecord",
            json={"repo": session.did, "collection": POST_COLLECTION, "record": record},
            headers={"Authorization": f"Bearer {session.access_jwt}"},
        )
        self._raise_for_retryable(response)
        body = _http.json_body(response)
        if response.is_success:
            return body
        error = str(body.get("error", ""))
        if response.status_code in (400, 401) and error in _TOKEN_ERRORS:
            raise _SessionExpiredError
        if response.status_code == 401:
            raise _http.expired(self.name, account.account_id, str(body.get("message", error)))
        message = f"{error}: {body.get('message', '')}" if error else ""
        raise _http.refused(self.name, response, message)

    def _raise_for_retryable(self, response: httpx.Response) -> None:
        _http.raise_for_retryable(
            response,
            self.name,
            reset_header=_http.epoch_reset_header("ratelimit-reset"),
            clock=self._clock,
        )


def _key(account: AccountConfig) -> str:
    return f"bluesky:{account.account_id}"
