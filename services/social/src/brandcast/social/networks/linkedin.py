"""LinkedIn: the Posts API (``POST /rest/posts``) as an organization page.

The commentary is LinkedIn's "little text" format, where ``|{}@[]()<>#\\*_~``
are markup: they are escaped, and hashtags become LinkedIn hashtag templates so
that they stay hashtags. The post's URN comes back in the ``x-restli-id`` header.

Tokens: LinkedIn access tokens live 60 days. With a refresh token (LinkedIn's
programmatic refresh) and ``client_id``/``client_secret`` configured, an expired
or refused token is renewed (``POST {oauth_url}/oauth/v2/accessToken``) under the
shared credential store's lock, and the new token is stored for every worker.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import PermanentProviderError
from brandcast.social.accounts import AccountConfig
from brandcast.social.credential_store import CredentialStore, LocalCredentialStore
from brandcast.social.linkedin_versions import DEFAULT_VERSION, SETTING
from brandcast.social.networks import _http, _resources
from brandcast.social.networks._oauth import StoredTokens, Tokens
from brandcast.social.networks._port import Network
from brandcast.v1 import variant_pb2

if TYPE_CHECKING:
    from brandcast.social.settings import SocialSettings

#: LinkedIn's OAuth host, which is not the API's.
OAUTH_URL = "https://www.linkedin.com"
_RESERVED = re.compile(r"([|{}@\[\]()<>#\\*_~])")
_HASHTAG = re.compile(r"(?:^|(?<=\s))#(\w*[^\W\d]\w*)")


def little_text(text: str) -> str:
    """``text`` as LinkedIn commentary: markup escaped, hashtags kept as hashtags."""
    parts: list[str] = []
    last = 0
    for match in _HASHTAG.finditer(text):
        parts.append(_RESERVED.sub(r"\\\1", text[last : match.start()]))
        parts.append("{hashtag|\\#|" + _RESERVED.sub(r"\\\1", match.group(1)) + "}")
        last = match.end()
    parts.append(_RESERVED.sub(r"\\\1", text[last:]))
    return "".join(parts)


class LinkedIn(Network):
    name = "linkedin"

    @classmethod
    def from_settings(cls, settings: SocialSettings) -> LinkedIn:
        return cls(
            _resources.http_client(settings),
            version=settings.social_linkedin_version,
            credentials=_resources.credentials(settings),
        )

    def __init__(
        self,
        client: httpx.Client,
        *,
        version: str = DEFAULT_VERSION,
        credentials: CredentialStore | None = None,
        clock: _http.Clock = time.time,
    ) -> None:
        self._client = client
        self._version = version
        self._clock = clock
        store = credentials if credentials is not None else LocalCredentialStore()
        self._tokens = StoredTokens(self.name, store, clock=clock)

    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome:
        # The Posts API takes no idempotency key.
        organization = account.require("organization_id")
        tokens = self._tokens.current(account)
        if self._tokens.expired(account, tokens):
            tokens = self._tokens.renew(
                account, tokens, "the access token has expired", self._token_request
            )
        body: dict[str, Any] = {
            "author": f"urn:li:organization:{organization}",
            "commentary": little_text(post.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if post.link_card.url:
            article = {"source": post.link_card.url, "title": post.link_card.title}
            if post.link_card.description:
                article["description"] = post.link_card.description
            body["content"] = {"article": article}
        version = account.get("linkedin_version") or self._version
        response = self._post(account, tokens, body, version)
        if response.status_code == 401 and tokens.refresh_token:
            why = str(_http.json_body(response).get("message", "")) or "401 Unauthorized"
            tokens = self._tokens.renew(account, tokens, why, self._token_request)
            response = self._post(account, tokens, body, version)
        if response.status_code == 426:
            where = "linkedin_version" if account.get("linkedin_version") else SETTING
            message = str(_http.json_body(response).get("message", "")) or "426 Upgrade Required"
            raise PermanentProviderError(
                "linkedin_version_retired",
                f"LinkedIn no longer serves API version {version} ({message}): set {where}"
                + (f" of account {account.account_id!r}" if where != SETTING else "")
                + " to a version of the last 12 months (YYYYMM)",
                provider=self.name,
            )
        self._raise_for_error(response, account)
        urn = response.headers.get("x-restli-id", "")
        if not urn:
            raise _http.refused(
                self.name, response, "the answer carries no x-restli-id", "bad_answer"
            )
        return Outcome(
            provider=self.name,
            provider_message_id=urn,
            public_url=f"https://www.linkedin.com/feed/update/{urn}/",
        )

    def find_published(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, since: float
    ) -> Outcome | None:
        """A post of the organization with this commentary made since ``since``."""
        tokens = self._tokens.current(account)
        author = f"urn:li:organization:{account.require('organization_id')}"
        response = _http.request(
            self._client,
            self.name,
            "GET",
            f"{account.base_url}/rest/posts",
            params={"q": "author", "author": author, "count": "20", "sortBy": "CREATED"},
            headers={
                "Authorization": f"Bearer {tokens.access_token}",
                "LinkedIn-Version": account.get("linkedin_version") or self._version,
                "X-Restli-Protocol-Version": "2.0.0",
            },
        )
        self._raise_for_error(response, account)
        commentary = little_text(post.text)
        for element in _http.json_body(response).get("elements") or []:
            if not isinstance(element, dict) or element.get("commentary") != commentary:
                continue
            if float(element.get("createdAt") or 0) / 1000 >= since:
                urn = str(element.get("id", ""))
                return Outcome(
                    provider=self.name,
                    provider_message_id=urn,
                    public_url=f"https://www.linkedin.com/feed/update/{urn}/",
                )
        return None

    def _post(
        self, account: AccountConfig, tokens: Tokens, body: dict[str, Any], version: str
    ) -> httpx.Response:
        return _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.base_url}/rest/posts",
            json=body,
            headers={
                "Authorization": f"Bearer {tokens.access_token}",
                "LinkedIn-Version": version,
                "X-Restli-Protocol-Version": "2.0.0",
            },
        )

    def _token_request(self, account: AccountConfig, tokens: Tokens, why: str) -> Tokens:
        if not tokens.refresh_token:
            raise _http.expired(self.name, account.account_id, why)
        default = OAUTH_URL if "api.linkedin.com" in account.base_url else account.base_url
        response = _http.request(
            self._client,
            self.name,
            "POST",
            f"{account.get('oauth_url') or default}/oauth/v2/accessToken",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens.refresh_token,
                "client_id": account.require("client_id"),
                "client_secret": account.require("client_secret"),
            },
        )
        _http.raise_for_retryable(response, self.name, clock=self._clock)
        answer = _http.json_body(response)
        if not response.is_success or not answer.get("access_token"):
            reason = str(answer.get("error_description") or answer.get("error") or "")
            raise _http.expired(self.name, account.account_id, f"token refresh failed: {reason}")
        return self._tokens.from_answer(answer, tokens)

    def _raise_for_error(self, response: httpx.Response, account: AccountConfig) -> None:
        # LinkedIn's 429 carries no reset header: the runtime's backoff decides.
        _http.raise_for_retryable(response, self.name, clock=self._clock)
        if response.is_success:
            return
        message = str(_http.json_body(response).get("message", ""))
        if response.status_code == 401:
            raise _http.expired(self.name, account.account_id, message or "401 Unauthorized")
        raise _http.refused(self.name, response, message)
