"""The one place that wires the email adapter: settings → providers → failover → deliver.

Tests pass their own ``providers`` (pointing at the loopback sink or emulator);
the worker builds everything lazily in each worker process, because SMTP
connections and HTTP clients must not cross ``fork()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from celery import Celery

from brandcast.email.deliver import deliver_email
from brandcast.email.message import EmailMessage
from brandcast.email.provider_table import PROVIDERS
from brandcast.email.providers.base import EmailProvider, RateLimitedProvider
from brandcast.email.settings import EmailSettings
from brandcast.shared.adapter import Adapter
from brandcast.shared.delivery import Deliver, Outcome
from brandcast.shared.failover import Failover
from brandcast.v1 import bus_pb2

CHANNEL = "email"


@dataclass
class EmailService:
    """The wired adapter: ``deliver`` is what the shared worker runtime calls per item."""

    settings: EmailSettings
    providers: list[EmailProvider]
    failover: Failover[EmailProvider]

    def deliver(self, batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        if item.attempt > 0:
            # An earlier attempt's answer may have been lost after the provider took it.
            for provider in self.failover.providers:
                earlier = provider.find_sent(item.delivery_id)
                if earlier is not None:
                    return earlier
        return deliver_email(batch, item, send=self.send)

    def send(self, message: EmailMessage, idempotency_key: str) -> Outcome:
        return self.failover.call(lambda p: p.send(message, idempotency_key=idempotency_key))

    def close(self) -> None:
        for provider in self.providers:
            provider.close()


def build_providers(settings: EmailSettings) -> list[EmailProvider]:
    """The providers ``EMAIL_PROVIDERS`` names, primary first."""
    return ADAPTER.build_providers(settings)


def bootstrap(
    settings: EmailSettings | None = None, providers: Sequence[EmailProvider] | None = None
) -> EmailService:
    """Wire the adapter; ``providers`` replaces the ones ``EMAIL_PROVIDERS`` names."""
    settings = settings or EmailSettings()
    chosen = list(providers) if providers is not None else build_providers(settings)
    if settings.email_rate_limit > 0:
        chosen = [
            RateLimitedProvider(provider, ADAPTER.rate_limiter(settings, provider.name))
            for provider in chosen
        ]
    return EmailService(
        settings=settings, providers=chosen, failover=Failover(chosen, channel="email")
    )


def _deliver(settings: EmailSettings) -> Deliver:
    return bootstrap(settings).deliver


ADAPTER = Adapter(channel=CHANNEL, settings=EmailSettings, providers=PROVIDERS, build=_deliver)


def create_worker(settings: EmailSettings) -> Celery:
    """The Celery app of ``brandcast-email worker`` with the delivery task registered."""
    return ADAPTER.create_worker(settings)
