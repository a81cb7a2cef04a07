"""Link checks and UTM tracking parameters."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from brandcast.v1 import campaign_pb2

# What a link looks like inside plain text (SMS, posts, the text part of an email).
# Trailing punctuation is left out: "see https://a.example/x." links to /x, not /x.
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]")


def url_problem(url: str, *, https_only: bool = False) -> str | None:
    """Why `url` is not an absolute http(s) URL, or None when it is one."""
    try:
        parts = urlsplit(url)
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
        """`url` with utm_source/medium/campaign added; ones already in the URL are kept."""
        if not self.enabled or not url.startswith(("http://", "https://")):
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
