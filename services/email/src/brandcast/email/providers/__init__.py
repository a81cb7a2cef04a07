"""Email providers: the :class:`EmailProvider` port and its adapters (SMTP, Postmark)."""

from brandcast.email.providers.base import EmailProvider, RateLimitedProvider

__all__ = ["EmailProvider", "RateLimitedProvider"]
