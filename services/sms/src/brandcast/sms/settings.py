"""The SMS adapter's configuration, read from the environment.

Each value has one name (the upper-case environment variable, ``SMS_`` prefix
for this service's own values), one default that works on one machine with the
emulator (``brandcast-sms emulator``), and one line in the README's table. A bad
value stops the service at start with a message naming the variable.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from brandcast.shared import config
from brandcast.shared.config import CommonSettings
from brandcast.sms.provider_table import PROVIDERS

#: Providers this package knows, by the name used in ``SMS_PROVIDERS``.
KNOWN_PROVIDERS = PROVIDERS.names()

DEFAULT_ALLOWED_COUNTRIES = ("US", "CA", "GB", "FR", "DE", "ES", "IT", "NL", "BE", "IE", "PT")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class SmsSettings(CommonSettings):
    #: Providers in failover order: ``twilio`` or ``twilio,vonage``, or a dotted path
    #: (``package.module:Class``); ``null`` sends nothing and reports SENT (benchmarks only).
    sms_providers: Annotated[tuple[str, ...], NoDecode] = ("twilio",)
    #: ISO 3166 region codes we send to; everything else fails ``country_not_allowed``.
    sms_allowed_countries: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ALLOWED_COUNTRIES
    #: The SMS pumping guard (``pumping_guard.py``); off only for benchmarks and drills.
    sms_pumping_guard: bool = True
    #: National digits after the country code that make a prefix (the guard's baseline unit).
    sms_prefix_digits: int = Field(default=3, ge=0, le=10)
    #: Distinct numbers per hundred-block per hour: a send to a list, and one-off traffic.
    sms_pumping_list_block_limit: int = Field(default=25, ge=1)
    sms_pumping_one_off_block_limit: int = Field(default=3, ge=1)
    #: Never-texted numbers per prefix per hour one-off traffic may reach, or this factor
    #: times the prefix's mean of the last 24 hours when that is more.
    sms_pumping_new_numbers_floor: int = Field(default=5, ge=1)
    sms_pumping_baseline_factor: float = Field(default=3.0, ge=1)
    #: Seconds after its dispatch a held delivery may still go out; then it fails.
    sms_pumping_hold_window: float = Field(default=6 * 3600.0, gt=0)
    #: Messages per second per provider, shared by all worker processes; 0 = unlimited.
    sms_rate_limit: config.PerSecond = 10.0
    #: Messages per second per sender number; 0 = no per-sender limit.
    sms_sender_rate_limit: float = Field(default=0.0, ge=0)
    #: Redis holding the shared rate limits and prefix counters; empty = per process.
    sms_redis_url: config.RedisUrl = config.DEFAULT_REDIS_URL
    #: Namespace of this deployment's Redis keys (two deployments sharing Redis differ here).
    sms_redis_namespace: str = "sms"
    #: Sender used when a variant carries none (E.164 number, short code or alphanumeric id).
    sms_default_sender: str = "+15005550006"
    #: Public base URL of ``brandcast-sms webhooks`` as the provider calls it.
    sms_callback_base_url: str = "http://127.0.0.1:8031"
    #: Reply to HELP, sent back as TwiML.
    sms_help_text: str = "Brandcast alerts. Msg&data rates may apply. Reply STOP to unsubscribe."
    #: Seconds a provider call may take before it counts as a timeout (an outage).
    sms_provider_timeout: float = Field(default=10.0, gt=0)
    #: Delivery attempts per message before it fails, and the backoff's base and cap.
    sms_max_attempts: config.Attempts = 5
    sms_retry_base_delay: config.Backoff = 1.0
    sms_retry_max_delay: config.Backoff = 300.0
    #: Worker processes of ``brandcast-sms worker`` (overridden by --concurrency).
    sms_worker_concurrency: config.Processes = 2
    #: Consecutive outages that open a provider's circuit, and for how long (seconds).
    sms_failover_threshold: int = Field(default=3, ge=1)
    sms_failover_cooldown: float = Field(default=30.0, ge=0)

    sms_twilio_base_url: str = "http://127.0.0.1:8030"
    sms_twilio_account_sid: str = "ACsandbox"
    #: Sandbox credentials: the emulator accepts exactly these; set real ones in production.
    sms_twilio_auth_token: str = "sandbox-token"  # noqa: S105
    #: Secret of a Twilio webhook SharedKey, for webhooks Twilio signs with one
    #: (``X-Twilio-Webhooks-Signature-Settings``, HMAC-SHA1 or HMAC-SHA256).
    sms_twilio_webhook_shared_key: str = ""

    sms_vonage_base_url: str = "http://127.0.0.1:8030"
    sms_vonage_api_key: str = "sandbox-key"
    sms_vonage_api_secret: str = "sandbox-secret"  # noqa: S105
    #: Vonage's signature secret: it signs delivery reports and inbound messages (JWT).
    sms_vonage_signature_secret: str = "sandbox-vonage-signature-secret-0123456789"  # noqa: S105

    _split_providers = field_validator("sms_providers", "sms_allowed_countries", mode="before")(
        _split_csv
    )

    @field_validator("sms_providers")
    @classmethod
    def _known_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return PROVIDERS.validated(value)

    @field_validator("sms_allowed_countries")
    @classmethod
    def _region_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(code.upper() for code in value)
        bad = [code for code in codes if len(code) != 2 or not code.isalpha()]
        if bad:
            raise ValueError(f"not two-letter region codes: {bad}")
        return codes
