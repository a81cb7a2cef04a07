"""The one place that wires the email adapter: settings → providers → failover → deliver.

Tests pass their own ``providers`` (pointing at the loopback sink or emulator);
the worker builds everything lazily in each worker process, because SMTP
connections and HTTP clients must not cross ``fork()``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from celery import Celery

from brandcast.email.deliver import deliver_email
from brandcast.email.dkim_signing import DkimSigner
from brandcast.email.message import EmailMessage
from brandcast.email.providers.base import EmailProvider, RateLimitedProvider
from brandcast.email.providers.null import NullProvider
from brandcast.email.providers.postmark import PostmarkProvider
from brandcast.email.providers.smtp import SmtpProvider
from brandcast.email.settings import EmailSettings
from brandcast.shared.delivery import Outcome, RetryPolicy
from brandcast.shared.failover import Failover
from brandcast.shared.ratelimit import rate_limiter
from brandcast.shared.worker import create_worker_app, register_delivery_task
from brandcast.v1 import bus_pb2

CHANNEL = "email"


@dataclass
class EmailService:
    """The wired adapter: ``deliver`` is what the shared worker runtime calls per item."""

    settings: EmailSettings
    providers: list[EmailProvider]
    failover: Failover[EmailProvider]

    def deliver(self, batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        return deliver_email(batch, item, send=self.send)

    def send(self, message: EmailMessage, idempotency_key: str) -> Outcome:
        return self.failover.call(lambda p: p.send(message, idempotency_key=idempotency_key))

    def close(self) -> None:
        for provider in self.providers:
            provider.close()


def build_providers(settings: EmailSettings) -> list[EmailProvider]:
    """The providers ``EMAIL_PROVIDERS`` names, primary first."""
    providers: list[EmailProvider] = []
    for name in settings.providers:
        if name == "smtp":
            providers.append(
                SmtpProvider(
                    settings.email_smtp_host,
                    settings.email_smtp_port,
                    security=settings.email_smtp_security,
                    username=settings.email_smtp_username,
                    password=settings.email_smtp_password,
                    timeout=settings.email_smtp_timeout,
                    local_hostname=settings.email_smtp_local_hostname,
                    dkim=build_dkim_signer(settings),
                    max_connections=settings.email_smtp_connections,
                )
            )
        elif name == "postmark":
            providers.append(
                PostmarkProvider(
                    settings.email_postmark_url,
                    settings.email_postmark_token,
                    message_stream=settings.email_postmark_message_stream,
                    timeout=settings.email_postmark_timeout,
                )
            )
        elif name == "null":
            providers.append(NullProvider())
        else:  # settings validation keeps this unreachable
            raise ValueError(f"EMAIL_PROVIDERS: unknown provider {name!r}")
    return providers


def build_dkim_signer(settings: EmailSettings) -> DkimSigner | None:
    if settings.email_dkim_private_key_file is None:
        return None
    return DkimSigner.from_file(
        settings.email_dkim_private_key_file,
        selector=settings.email_dkim_selector,
        domain=settings.email_dkim_domain,
    )


def retry_policy(settings: EmailSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.email_max_attempts,
        base_delay=settings.email_retry_base_delay,
        max_delay=settings.email_retry_max_delay,
    )


def bootstrap(
    settings: EmailSettings | None = None, providers: Sequence[EmailProvider] | None = None
) -> EmailService:
    """Wire the adapter; ``providers`` replaces the ones ``EMAIL_PROVIDERS`` names."""
    settings = settings or EmailSettings()
    chosen = list(providers) if providers is not None else build_providers(settings)
    if settings.email_rate_limit > 0:
        chosen = [
            RateLimitedProvider(
                provider,
                rate_limiter(
                    settings.redis_url, f"{CHANNEL}:{provider.name}", settings.email_rate_limit
                ),
            )
            for provider in chosen
        ]
    return EmailService(settings=settings, providers=chosen, failover=Failover(chosen))


class _ServicePerProcess:
    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings
        self._pid = 0
        self._service: EmailService | None = None

    def get(self) -> EmailService:
        if self._service is None or self._pid != os.getpid():
            self._service = bootstrap(self._settings)
            self._pid = os.getpid()
        return self._service


def create_worker(settings: EmailSettings) -> Celery:
    """The Celery app of ``brandcast-email worker`` with the delivery task registered."""
    # Fail at start, not on the first message, when a provider is misconfigured.
    for provider in build_providers(settings):
        provider.close()
    app = create_worker_app(CHANNEL, settings.broker_url)
    services = _ServicePerProcess(settings)
    register_delivery_task(
        app,
        CHANNEL,
        lambda: services.get().deliver,
        broker_url=settings.broker_url,
        policy=retry_policy(settings),
    )
    return app
