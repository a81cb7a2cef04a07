"""Twilio's request signature (``X-Twilio-Signature``), checked as its official validator does.

The signature is base64(HMAC(secret, URL + each POST parameter's name and value,
names sorted and each name's distinct values sorted)). The URL includes its query
string, so the delivery and campaign ids we put in the StatusCallback URL are
covered by it too. As ``twilio.request_validator.RequestValidator``:

- the URL is tried **without and with its default port** (``:443`` / ``:80``):
  Twilio signs one form or the other, and refusing either loses genuine reports
  and STOPs once Twilio's retries run out;
- a JSON-bodied request carries ``bodySHA256`` in its query: the body's SHA-256
  must match it, and the signature then covers the URL alone;
- the secret is the account's auth token and the algorithm HMAC-SHA1, unless the
  request carries ``X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=...``:
  then it was signed with a webhook SharedKey (``SMS_TWILIO_WEBHOOK_SHARED_KEY``),
  with HMAC-SHA1 or **HMAC-SHA256** as the header names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
HMAC_SHA1 = "HMAC_SHA1"
HMAC_SHA256 = "HMAC_SHA256"
_HASHES: dict[str, Callable[..., Any]] = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}
_DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(
    url: str, params: Iterable[tuple[str, str]], secret: str, algorithm: str = HMAC_SHA1
) -> str:
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(secret.encode(), data.encode(), _HASHES[algorithm.upper()]).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_algorithm(settings_header: str) -> str:
    """The algorithm named by ``X-Twilio-Webhooks-Signature-Settings`` (HMAC-SHA1 if none)."""
    for part in settings_header.split(","):
        name, equals, value = part.partition("=")
        if equals and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def _without_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))


def with_default_port(url: str) -> str:
    """``url`` with its scheme's default port written out (Twilio sometimes signs that)."""
    parts = urlsplit(url)
    if parts.port is not None:
        return url
    port = _DEFAULT_PORTS.get(parts.scheme, 80)
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


def is_valid_twilio_signature(
    url: str,
    params: Iterable[tuple[str, str]],
    signature: str,
    secret: str,
    *,
    algorithm: str = HMAC_SHA1,
    body: str | None = None,
) -> bool:
    """True when ``signature`` signs this request (``body``: a JSON request's raw body)."""
    if not signature or not secret or algorithm.upper() not in _HASHES:
        return False
    pairs = list(params)
    body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
    if body_hash and body is not None:
        digest = hashlib.sha256(body.encode()).hexdigest()
        if not hmac.compare_digest(digest.encode(), body_hash[0].encode()):
            return False
        pairs = []
    return any(
        hmac.compare_digest(
            twilio_signature(candidate, pairs, secret, algorithm).encode(), signature.encode()
        )
        for candidate in (_without_port(url), with_default_port(url))
    )


def is_genuine_twilio_request(
    url: str,
    params: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    *,
    auth_token: str,
    shared_key: str = "",
    body: str | None = None,
) -> bool:
    """Check a webhook request with the secret and algorithm its headers call for.

    ``headers`` are lower-case names.
    """
    settings = headers.get(SETTINGS_HEADER.lower(), "")
    secret = shared_key if "key=" in settings else auth_token
    return is_valid_twilio_signature(
        url,
        params,
        headers.get(SIGNATURE_HEADER.lower(), ""),
        secret,
        algorithm=signature_algorithm(settings),
        body=body,
    )
