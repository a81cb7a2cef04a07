"""Twilio's request signature (``X-Twilio-Signature``), for callbacks both ways.

The signature is base64(HMAC-SHA1(auth token, URL + each POST parameter's name
and value, sorted by name)). The URL includes its query string, so the delivery
and campaign ids we put in the StatusCallback URL are covered by it too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Twilio-Signature"


def twilio_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid_twilio_signature(
    url: str, params: Iterable[tuple[str, str]], signature: str, auth_token: str
) -> bool:
    if not signature or not auth_token:
        return False
    expected = twilio_signature(url, params, auth_token)
    return hmac.compare_digest(expected.encode(), signature.encode())
