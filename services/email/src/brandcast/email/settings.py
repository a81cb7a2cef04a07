"""The email adapter's configuration, read from the environment at start.

Every field name is its environment variable in lower case (``EMAIL_SMTP_HOST``
is ``email_smtp_host``), so each value has exactly one name. The defaults
deliver to the local SMTP sink (``brandcast-email sink``) with no setup.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from brandcast.email.provider_table import PROVIDERS
from brandcast.shared import config
from brandcast.shared.config import CommonSettings

#: Provider names ``EMAIL_PROVIDERS`` may list, in failover order.
KNOWN_PROVIDERS = PROVIDERS.names()


class EmailSettings(CommonSettings):
    renamed_variables: ClassVar[Mapping[str, str]] = {"REDIS_URL": "EMAIL_REDIS_URL"}

    #: Comma-separated providers in failover order, e.g. "smtp" or "smtp,postmark", or
    #: a dotted path (package.module:Class); "null" sends nothing and reports SENT
    #: (benchmarks only).
    email_providers: str = "smtp"

    email_smtp_host: str = "127.0.0.1"
    email_smtp_port: int = Field(default=2525, ge=1, le=65535)
    #: "none", "starttls" (upgrade on a plain port, usually 587) or "tls" (implicit, 465).
    email_smtp_security: Literal["none", "starttls", "tls"] = "none"
    email_smtp_username: str = ""
    email_smtp_password: str = ""
    #: Seconds for connecting and for each SMTP command.
    email_smtp_timeout: float = Field(default=30.0, gt=0)
    #: Name sent in EHLO; empty = the machine's FQDN.
    email_smtp_local_hostname: str = ""
    #: SMTP sessions each worker process keeps open and sends on at once.
    email_smtp_connections: int = Field(default=4, ge=1)

    email_postmark_url: str = "https://api.postmarkapp.com"
    email_postmark_token: str = ""
    #: Postmark stream of the messages: a broadcast stream, as Postmark requires for
    #: marketing (``outbound`` is the transactional one; bulk mail there risks the account).
    email_postmark_message_stream: str = Field(default="broadcast", min_length=1)
    email_postmark_timeout: float = Field(default=10.0, gt=0)

    #: DKIM signing (SMTP only; HTTP providers sign themselves) when all three are set.
    email_dkim_private_key_file: Path | None = None
    email_dkim_selector: str = ""
    email_dkim_domain: str = ""

    email_max_attempts: config.Attempts = 5
    email_retry_base_delay: config.Backoff = 2.0
    email_retry_max_delay: config.Backoff = 300.0
    #: Messages per second per provider across all worker processes; 0 = no limit.
    email_rate_limit: config.PerSecond = 0.0
    #: Worker processes of `brandcast-email worker` (overridden by --concurrency).
    email_worker_concurrency: config.Processes = 2

    #: Basic-auth credentials Postmark's webhooks must present (both required to accept them).
    email_webhook_username: str = ""
    email_webhook_password: str = ""

    #: Shared with the orchestrator: verifies one-click unsubscribe tokens.
    unsubscribe_secret: str = ""
    #: Redis for the shared rate limit; empty = per-process limit.
    email_redis_url: config.RedisUrl = config.DEFAULT_REDIS_URL

    @field_validator("email_providers")
    @classmethod
    def _known_providers(cls, value: str) -> str:
        return ",".join(PROVIDERS.validated(_split(value)))

    @model_validator(mode="after")
    def _complete_provider_config(self) -> EmailSettings:
        if "postmark" in self.providers and not self.email_postmark_token:
            raise ValueError("EMAIL_POSTMARK_TOKEN is required when EMAIL_PROVIDERS has postmark")
        dkim = [
            self.email_dkim_private_key_file is not None,
            bool(self.email_dkim_selector),
            bool(self.email_dkim_domain),
        ]
        if any(dkim) and not all(dkim):
            raise ValueError(
                "DKIM needs all of EMAIL_DKIM_PRIVATE_KEY_FILE, EMAIL_DKIM_SELECTOR "
                "and EMAIL_DKIM_DOMAIN"
            )
        if (self.email_smtp_username == "") != (self.email_smtp_password == ""):
            raise ValueError("EMAIL_SMTP_USERNAME and EMAIL_SMTP_PASSWORD go together")
        return self

    @property
    def providers(self) -> tuple[str, ...]:
        """``EMAIL_PROVIDERS`` as names, primary first."""
        return _split(self.email_providers)

    @property
    def dkim_enabled(self) -> bool:
        return self.email_dkim_private_key_file is not None


def _split(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())
