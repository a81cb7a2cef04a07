"""What a network module builds itself with, from the adapter's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from brandcast.social.credential_store import CredentialStore, credential_store

if TYPE_CHECKING:
    from brandcast.social.settings import SocialSettings


def http_client(settings: SocialSettings) -> httpx.Client:
    """An HTTP client with the adapter's timeout; redirects are never followed (a
    redirected POST could publish twice)."""
    return httpx.Client(timeout=settings.social_http_timeout, follow_redirects=False)


def credentials(settings: SocialSettings) -> CredentialStore:
    """Tokens and sessions shared by all workers through ``SOCIAL_REDIS_URL``."""
    return credential_store(settings.social_redis_url, settings.social_credentials_prefix)
