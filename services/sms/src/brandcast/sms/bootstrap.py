"""The one place that wires the SMS adapter: settings in, delivery function out."""

from __future__ import annotations

import os
from collections.abc import Sequence

from celery import Celery

from brandcast.shared.delivery import Deliver, RetryPolicy
from brandcast.shared.failover import Failover
from brandcast.shared.ratelimit import RateLimiter, rate_limiter
from brandcast.shared.worker import create_worker_app, register_delivery_task
from brandcast.sms.deliver import SmsDelivery
from brandcast.sms.destinations import DestinationPolicy
from brandcast.sms.prefix_cap import prefix_cap
from brandcast.sms.providers import SmsProvider, TwilioProvider, VonageProvider
from brandcast.sms.providers.null import NullProvider
from brandcast.sms.settings import SmsSettings

CHANNEL = "sms"


def create_providers(settings: SmsSettings) -> list[SmsProvider]:
    """The configured providers, in failover order."""
    providers: list[SmsProvider] = []
    for name in settings.sms_providers:
        if name == "twilio":
            providers.append(
                TwilioProvider(
                    settings.sms_twilio_base_url,
                    settings.sms_twilio_account_sid,
                    settings.sms_twilio_auth_token,
                    timeout=settings.sms_provider_timeout,
                )
            )
        elif name == "vonage":
            providers.append(
                VonageProvider(
                    settings.sms_vonage_base_url,
                    settings.sms_vonage_api_key,
                    settings.sms_vonage_api_secret,
                    timeout=settings.sms_provider_timeout,
                )
            )
        elif name == "null":
            providers.append(NullProvider())
        else:  # settings validation keeps this unreachable
            raise ValueError(f"SMS_PROVIDERS: unknown provider {name!r}")
    return providers


def retry_policy(settings: SmsSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.sms_max_attempts,
        base_delay=settings.sms_retry_base_delay,
        max_delay=settings.sms_retry_max_delay,
    )


def bootstrap(settings: SmsSettings, providers: Sequence[SmsProvider] | None = None) -> SmsDelivery:
    """The per-item delivery function; tests pass their own ``providers``."""
    chosen = list(providers) if providers is not None else create_providers(settings)
    redis_url = settings.sms_redis_url
    namespace = settings.sms_redis_namespace
    provider_limits: dict[str, RateLimiter] = {
        p.name: rate_limiter(redis_url, f"{namespace}:provider:{p.name}", settings.sms_rate_limit)
        for p in chosen
    }
    sender_rate = settings.sms_sender_rate_limit

    def sender_limit(sender: str) -> RateLimiter:
        return rate_limiter(redis_url, f"{namespace}:sender:{sender}", sender_rate)

    return SmsDelivery(
        destinations=DestinationPolicy(settings.sms_allowed_countries),
        prefix_cap=prefix_cap(redis_url, settings.sms_prefix_cap, namespace=namespace),
        prefix_digits=settings.sms_prefix_digits,
        providers=Failover(
            chosen,
            threshold=settings.sms_failover_threshold,
            cooldown=settings.sms_failover_cooldown,
        ),
        provider_limits=provider_limits,
        sender_limit=sender_limit if sender_rate > 0 else None,
        default_sender=settings.sms_default_sender,
        callback_base_url=settings.sms_callback_base_url,
    )


class DeliveryPerProcess:
    """Builds the delivery function lazily, once per worker process.

    Celery's prefork pool forks after the app is built; HTTP and Redis
    connections must not be shared across that fork.
    """

    def __init__(self, settings: SmsSettings) -> None:
        self._settings = settings
        self._pid = -1
        self._deliver: SmsDelivery | None = None

    def __call__(self) -> Deliver:
        if self._deliver is None or self._pid != os.getpid():
            self._deliver = bootstrap(self._settings)
            self._pid = os.getpid()
        return self._deliver


def create_worker(settings: SmsSettings) -> Celery:
    """The Celery app consuming ``brandcast.sms`` with the SMS delivery task registered."""
    app = create_worker_app(CHANNEL, settings.broker_url)
    register_delivery_task(
        app,
        CHANNEL,
        DeliveryPerProcess(settings),
        broker_url=settings.broker_url,
        policy=retry_policy(settings),
    )
    return app
