"""Link checks, encoding and UTM tracking parameters.

Every URL leaves the renderer ASCII: the host in IDNA (bücher.de -> xn--bcher-kva.de) and
the path, query and fragment percent-encoded (what is already %XX-encoded stays as is), in
every channel: providers, networks and some mail clients mangle or refuse raw non-ASCII.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

import idna

from brandcast.v1 import campaign_pb2

# What a link looks like inside plain text (SMS, posts, the text part of an email).
# Trailing punctuation is left out: "see https://a.example/x." links to /x, not /x.
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]")


# What stays unencoded in each part (RFC 3986 reserved and unreserved characters, and %).
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = "/?%!$&'()*+,;=:@-._~"
_USERINFO_SAFE = ":%!$&'()*+,;=-._~"
_NEEDS_ENCODING = re.compile(r'[\s"<>\\^`{|}]')
# A port urlsplit accepts: 0 to 65535, leading zeros included.
_PORT = r"0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# An ASCII http(s) URL with a plain host, a valid port at most and only characters a
# URL may hold as they are: already encoded, and valid.
SIMPLE_HTTP_URL = re.compile(
    rf"https?://[A-Za-z0-9.\-]+(?::{_PORT})?(?:[/?#][!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]*)?",
    re.ASCII,
)


def encode_url(url: str) -> str:
    """`url` in ASCII: IDNA host, percent-encoded path, query and fragment.

    Raises ValueError for a URL that cannot be parsed or a host that is not a valid
    international domain name."""
    if SIMPLE_HTTP_URL.fullmatch(url):
        return url  # the common case, per recipient (unsubscribe links): nothing to do
    return encode_url_in_full(url)


def encode_url_in_full(url: str) -> str:
    """:func:`encode_url` without its shortcut (which must agree with it)."""
    parts = urlsplit(url)
    parts.port  # noqa: B018 - raises ValueError on a malformed port
    if url.isascii() and not _NEEDS_ENCODING.search(url):
        return url
    return urlunsplit(
        SplitResult(
            parts.scheme,
            _encode_netloc(parts),
            quote(parts.path, safe=_PATH_SAFE),
            quote(parts.query, safe=_QUERY_SAFE),
            quote(parts.fragment, safe=_QUERY_SAFE),
        )
    )


def _encode_netloc(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if host and not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(
                f"the host '{parts.hostname}' is not a valid domain name: {exc}"
            ) from exc
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = f"{quote(userinfo, safe=_USERINFO_SAFE)}@{host}" if userinfo else host
    return f"{netloc}:{parts.port}" if parts.port is not None else netloc


def encode_urls_in_text(text: str) -> str:
    """Every http(s) URL of a plain text encoded (one that cannot be is left as written)."""
    if text.isascii():
        return text
    return URL_IN_TEXT.sub(lambda match: _encoded_or_as_is(match.group(0)), text)


def _encoded_or_as_is(url: str) -> str:
    try:
        return encode_url(url)
    except ValueError:
        return url


def url_problem(url: str, *, https_only: bool = False) -> str | None:
    """Why `url` is not an absolute http(s) URL, or None when it is one."""
    try:
        parts = urlsplit(url)
        encode_url(url)
    except ValueError as exc:
        return f"'{url}' is not a valid URL ({exc})"
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes:
        wanted = "https" if https_only else "http(s)"
        return f"'{url}' must be an absolute {wanted} URL"
    if not parts.hostname:
        return f"'{url}' has no host"
    if any(ch.isspace() for ch in url):
        return f"'{url}' contains whitespace"
    return None


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@dataclass(frozen=True)
class Utm:
    """The UTM parameters added to every link of one channel (or network)."""

    source: str
    medium: str
    campaign: str
    enabled: bool = True

    @classmethod
    def for_channel(
        cls, tracking: campaign_pb2.Tracking, campaign_name: str, *, source: str, medium: str
    ) -> Utm:
        return cls(
            source=tracking.utm_source or source,
            medium=tracking.utm_medium or medium,
            campaign=tracking.utm_campaign or slugify(campaign_name) or "campaign",
            enabled=not tracking.disabled,
        )

    def apply(self, url: str) -> str:
        """`url` encoded, with utm_source/medium/campaign added; ones already in the URL
        are kept. Raises ValueError for a URL that cannot be parsed."""
        if not url.lower().startswith(("http://", "https://")):
            return url
        url = encode_url(url)
        if not self.enabled:
            return url
        parts = urlsplit(url)
        present = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
        added = urlencode(
            [
                (key, value)
                for key, value in (
                    ("utm_source", self.source),
                    ("utm_medium", self.medium),
                    ("utm_campaign", self.campaign),
                )
                if key not in present
            ]
        )
        # The existing query is kept byte for byte; only the missing parameters are added.
        query = "&".join(part for part in (parts.query, added) if part)
        return urlunsplit(parts._replace(query=query))

    def apply_in_text(self, text: str) -> str:
        """Every http(s) URL of a plain text encoded and tracked (the text part of an email)."""
        return URL_IN_TEXT.sub(lambda match: self._tracked_or_as_is(match.group(0)), text)

    def _tracked_or_as_is(self, url: str) -> str:
        try:
            return self.apply(url)
        except ValueError:
            return url
