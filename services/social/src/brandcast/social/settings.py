"""The social adapter's configuration, read from the environment at start.

Every value is one ``SOCIAL_*`` variable (see the service README's table);
``CommonSettings`` adds ``BROKER_URL``, ``LOG_LEVEL``, ``LOG_FORMAT`` and
``METRICS_PORT``. A bad value stops the service with the variable's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from brandcast.shared import channels, config
from brandcast.shared.config import CommonSettings
from brandcast.social.credential_store import DEFAULT_PREFIX
from brandcast.social.linkedin_versions import DEFAULT_VERSION as DEFAULT_LINKEDIN_VERSION
from brandcast.social.network_table import network_table

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8040"


class SocialSettings(CommonSettings):
    renamed_variables: ClassVar[Mapping[str, str]] = {
        "SOCIAL_RATE_PER_SECOND": "SOCIAL_RATE_LIMIT",
        "SOCIAL_CONCURRENCY": "SOCIAL_WORKER_CONCURRENCY",
    }

    #: Networks this worker publishes to: names of the channel table, or dotted paths
    #: (``package.module:Class``) of networks shipped in other packages.
    social_networks: Annotated[tuple[str, ...], NoDecode] = channels.builtin_network_names()
    #: YAML or JSON mapping of brand account id -> network, base URL, credentials.
    social_accounts_file: Path | None = None
    #: Emulator that accounts missing from the accounts file post to; "" turns it off.
    social_sandbox_url: str = DEFAULT_SANDBOX_URL
    #: Seconds before a network call is given up (and retried later).
    social_http_timeout: float = Field(default=10.0, gt=0)
    #: Posts per second per brand account, shared by all workers through Redis; 0 = no limit.
    social_rate_limit: config.PerSecond = 1.0
    #: Redis holding the shared rate limit and the networks' tokens and sessions;
    #: "" keeps both per process (right for one worker process only).
    social_redis_url: config.RedisUrl = config.DEFAULT_REDIS_URL
    #: Key prefix of the stored tokens and sessions in that Redis.
    social_credentials_prefix: str = Field(default=DEFAULT_PREFIX, min_length=1)
    #: Attempts of one post before it is reported failed.
    social_max_attempts: config.Attempts = 5
    social_retry_base_delay: config.Backoff = 2.0
    social_retry_max_delay: config.Backoff = 900.0
    #: Worker processes of ``brandcast-social worker``.
    social_worker_concurrency: config.Processes = 2
    #: Seconds a Mastodon instance's limits (``/api/v2/instance``) are cached.
    social_instance_cache_seconds: float = Field(default=600.0, ge=0)
    #: Replace every network by one that posts nothing and reports SENT (benchmarks only).
    social_null_network: bool = False
    #: ``LinkedIn-Version`` header (YYYYMM) unless an account sets its own.
    #: LinkedIn serves a version for a year: start-up warns 60 days before it retires.
    social_linkedin_version: str = Field(default=DEFAULT_LINKEDIN_VERSION, pattern=r"^\d{6}$")

    @field_validator("social_networks", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("social_networks")
    @classmethod
    def _known_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return network_table().validated(value)

    @field_validator("social_sandbox_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, or empty to disable")
        return value.rstrip("/")

    @field_validator("social_accounts_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value
