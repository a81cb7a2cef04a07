"""Configured admin users and their argon2 password hashes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEMO_USER = "demo"

_hasher = PasswordHasher()
# Verifying against this when the user is unknown keeps the answer as slow as for
# a known user, so response times do not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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
        """Parse ``alice:$argon2id$...,bob:$argon2id$...`` (argon2 hashes hold no commas)."""
        hashes: dict[str, str] = {}
        for position, raw_entry in enumerate(spec.split(","), start=1):
            entry = raw_entry.strip()
            if not entry:
                continue
            name, sep, encoded = entry.partition(":")
            name = name.strip()
            if not sep or not name or not encoded.startswith("$argon2"):
                raise UsersConfigError(
                    f"ADMIN_USERS entry {position}: expected name:$argon2id$... "
                    "(make one with `brandcast-admin hash-password`)"
                )
            hashes[name] = encoded.strip()
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
