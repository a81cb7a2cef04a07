"""HTTP basic authentication (RFC 7617) as webhook servers and sandboxes check it."""

from __future__ import annotations

import base64
import binascii
import hmac


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization`` header; None when it is not basic."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def basic_auth_matches(header: str, username: str, password: str) -> bool:
    """True when ``header`` carries exactly these credentials (compared in constant time)."""
    given = basic_credentials(header) or ("", "")
    # Compare both in constant time, whatever the first result.
    user_ok = hmac.compare_digest(given[0].encode(), username.encode())
    password_ok = hmac.compare_digest(given[1].encode(), password.encode())
    return user_ok and password_ok and bool(username)
