"""Configured admin users and their argon2 password hashes."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEMO_USER = "demo"

_hasher = PasswordHasher()
# Verifying against this when the user is unknown keeps the answer as slow as for
# a known user, so response times do not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


_ENTRY = re.compile(
    r"(?P<name>[^\s,;:]+):(?P<hash>\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+"
    r"\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+)"
)
_SEPARATORS = re.compile(r"[\s,;]*")


class UsersConfigError(ValueError):
    """ADMIN_USERS is malformed; the message names the entry and the reason."""


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("password: must not be empty")
    return _hasher.hash(password)


@dataclass(frozen=True)
class UserDirectory:
    """Who may log in: user name to argon2 hash."""

    hashes: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> UserDirectory:
        """Parse ``alice:$argon2id$...`` entries separated by commas, semicolons or spaces.

        An argon2 hash has commas of its own (``m=65536,t=3,p=4``), so entries are
        found by the hash's shape rather than by splitting on commas.
        """
        hashes: dict[str, str] = {}
        position = 0
        for match in _ENTRY.finditer(spec):
            if not _SEPARATORS.fullmatch(spec[position : match.start()]):
                break
            hashes[match["name"]] = match["hash"]
            position = match.end()
        if not _SEPARATORS.fullmatch(spec[position:]):
            raise UsersConfigError(
                f"ADMIN_USERS entry {len(hashes) + 1}: expected name:$argon2id$... "
                "(make one with `brandcast-admin hash-password`)"
            )
        return cls(hashes)

    @classmethod
    def demo(cls) -> tuple[UserDirectory, str]:
        """A single ``demo`` user with a fresh random password, for local use."""
        password = secrets.token_urlsafe(12)
        return cls({DEMO_USER: _hasher.hash(password)}), password

    def verify(self, name: str, password: str) -> bool:
        encoded = self.hashes.get(name)
        try:
            return _hasher.verify(encoded or _DUMMY_HASH, password) and encoded is not None
        except (VerificationError, InvalidHashError):
            return False
