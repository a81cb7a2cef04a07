"""The errors a provider call can end in, as every adapter sees them.

    ProviderError
     ├── TransientProviderError   retry later: 429, 5xx, SMTP 4xx, timeouts, refused
     │                            connections (``outage=True`` also triggers failover)
     └── PermanentProviderError   never retry: SMTP 5xx, HTTP 4xx, invalid recipient,
                                  missing credentials; the delivery ends ``failed``

Adapters translate their transport's exceptions into these at the boundary
(``raise TransientProviderError(...) from exc``); anything else escaping a
provider is a bug and is treated as a poison message.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A provider refused or could not take a message."""

    def __init__(self, code: str, message: str, *, provider: str = "") -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.provider = provider


class TransientProviderError(ProviderError):
    """Worth retrying after ``retry_after`` seconds (when the provider said so)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        provider: str = "",
        retry_after: float | None = None,
        outage: bool = False,
    ) -> None:
        super().__init__(code, message, provider=provider)
        self.retry_after = retry_after
        #: The provider itself looks down (not just throttling): try the secondary.
        self.outage = outage


class PermanentProviderError(ProviderError):
    """Retrying cannot help; the delivery fails with this code and message."""
