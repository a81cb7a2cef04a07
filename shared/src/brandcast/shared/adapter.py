"""The adapter kit: declare a channel's adapter once, get its worker for free.

An adapter declares four things (see ``docs/adding-a-channel.md``)::

    ADAPTER = Adapter(
        channel="sms",                 # a row of brandcast.shared.channels
        settings=SmsSettings,          # a CommonSettings with the uniform <CHANNEL>_* fields
        providers=PROVIDERS,           # ProviderTable: name -> "module:Class"
        build=bootstrap,               # settings -> deliver(batch, item) -> Outcome
    )

and the kit supplies the rest, the same way for every channel:

- the Celery worker consuming the channel's queue, with the shared delivery
  semantics of ``brandcast.shared.worker`` (:meth:`Adapter.create_worker`);
- ``deliver`` built once per worker process, after the fork (:class:`DeliveryPerProcess`);
- the retry policy from ``<CHANNEL>_MAX_ATTEMPTS``, ``<CHANNEL>_RETRY_BASE_DELAY``
  and ``<CHANNEL>_RETRY_MAX_DELAY``;
- rate limiters from ``<CHANNEL>_RATE_LIMIT`` and ``<CHANNEL>_REDIS_URL``
  (:meth:`Adapter.rate_limiter`); a Redis outage anywhere in ``deliver`` (a
  limiter, a cap, a token store) is a retryable error, never a poison message;
- the configured providers built from the table (:meth:`Adapter.build_providers`);
- the worker's process count from ``<CHANNEL>_WORKER_CONCURRENCY``.

Webhook servers use :mod:`brandcast.shared.http_thread` and
:mod:`brandcast.shared.webhook_publisher`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from celery import Celery

from brandcast.shared import channels
from brandcast.shared.config import CommonSettings
from brandcast.shared.delivery import Deliver, Outcome, RetryPolicy
from brandcast.shared.provider_table import ProviderTable
from brandcast.shared.ratelimit import RateLimiter, rate_limiter, redis_outage_is_transient
from brandcast.shared.worker import create_worker_app, register_delivery_task, run_worker
from brandcast.v1 import bus_pb2

SettingsT = TypeVar("SettingsT", bound=CommonSettings)

#: The settings every adapter has, as ``<channel>_<name>``.
UNIFORM_SETTINGS = (
    "max_attempts",
    "retry_base_delay",
    "retry_max_delay",
    "rate_limit",
    "redis_url",
    "worker_concurrency",
)


@dataclass(frozen=True)
class Adapter(Generic[SettingsT]):
    """One channel's adapter, declared: the kit builds and runs it."""

    channel: str
    settings: type[SettingsT]
    providers: ProviderTable[Any]
    #: Wires the per-item delivery function from settings; called once per worker process.
    build: Callable[[SettingsT], Deliver]
    #: The settings field (without the channel prefix) listing the providers to use.
    provider_setting: str = "providers"
    #: The sending budget reported to the orchestrator's pacing with every receipt
    #: batch; None reports ``<CHANNEL>_RATE_LIMIT``.
    capacity: Callable[[SettingsT], bus_pb2.SendingCapacity] | None = None

    def __post_init__(self) -> None:
        channels.channel(self.channel)  # an unknown channel fails at declaration
        missing = [
            self.prefix + name
            for name in (*UNIFORM_SETTINGS, self.provider_setting)
            if self.prefix + name not in self.settings.model_fields
        ]
        if missing:
            raise TypeError(f"{self.settings.__name__} lacks the uniform settings {missing}")

    @property
    def prefix(self) -> str:
        """The prefix of the adapter's settings fields (``sms_``)."""
        return f"{self.channel}_"

    def setting(self, settings: SettingsT, name: str) -> Any:
        """The uniform setting ``name`` (``"max_attempts"`` reads ``sms_max_attempts``)."""
        return getattr(settings, self.prefix + name)

    def retry_policy(self, settings: SettingsT) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.setting(settings, "max_attempts"),
            base_delay=self.setting(settings, "retry_base_delay"),
            max_delay=self.setting(settings, "retry_max_delay"),
        )

    def rate_limiter(
        self, settings: SettingsT, key: str, per_second: float | None = None
    ) -> RateLimiter:
        """A limiter shared through ``<CHANNEL>_REDIS_URL`` under ``<channel>:<key>``.

        ``per_second`` defaults to ``<CHANNEL>_RATE_LIMIT`` (0 = unlimited). Its
        Redis being down raises ``TransientProviderError``: the delivery is retried.
        """
        rate = self.setting(settings, "rate_limit") if per_second is None else per_second
        return rate_limiter(self.setting(settings, "redis_url"), f"{self.channel}:{key}", rate)

    def sending_capacity(self, settings: SettingsT) -> bus_pb2.SendingCapacity:
        if self.capacity is not None:
            return self.capacity(settings)
        rate = float(self.setting(settings, "rate_limit") or 0.0)
        name = (self.prefix + "rate_limit").upper() if rate > 0 else ""
        return bus_pb2.SendingCapacity(rate_limit=rate, rate_limit_setting=name)

    def provider_names(self, settings: SettingsT) -> tuple[str, ...]:
        value = self.setting(settings, self.provider_setting)
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return tuple(value)

    def build_providers(self, settings: SettingsT) -> list[Any]:
        """The configured providers (``<CHANNEL>_PROVIDERS``), in their order, built now."""
        return [self.providers.build(name, settings) for name in self.provider_names(settings)]

    def check_providers(self, settings: SettingsT) -> None:
        """Build the configured providers once and close them: a misconfigured one
        (a missing credential, an unloadable dotted path) stops the worker at start,
        not at its first message. Raises ``ValueError`` saying what is wrong."""
        for provider in self.build_providers(settings):
            close = getattr(provider, "close", None)
            if callable(close):
                close()

    def create_worker(self, settings: SettingsT | None = None) -> Celery:
        """The Celery app consuming the channel's queue, its delivery task registered,
        after :meth:`check_providers`."""
        settings = settings if settings is not None else self.settings()
        self.check_providers(settings)
        app = create_worker_app(
            self.channel, settings.broker_url, accept_json=settings.bus_accept_json
        )
        register_delivery_task(
            app,
            self.channel,
            DeliveryPerProcess(self.build, settings),
            broker_url=settings.broker_url,
            policy=self.retry_policy(settings),
            capacity=self.sending_capacity(settings),
        )
        return app

    def run_worker(
        self, settings: SettingsT, *, concurrency: int | None = None, hostname: str = ""
    ) -> None:
        """Run the worker in this process until it stops (``brandcast-<channel> worker``)."""
        run_worker(
            self.create_worker(settings),
            self.channel,
            concurrency=concurrency or self.setting(settings, "worker_concurrency"),
            metrics_port=settings.metrics_port,
            extra_args=["--hostname", hostname] if hostname else [],
        )


class DeliveryPerProcess(Generic[SettingsT]):
    """``build(settings)``, once per worker process.

    Celery's prefork pool forks after the app is built; HTTP and Redis
    connections must not cross that fork. The delivery function it returns
    treats a Redis error as a retryable outage.
    """

    def __init__(self, build: Callable[[SettingsT], Deliver], settings: SettingsT) -> None:
        self._build = build
        self._settings = settings
        self._pid = -1
        self._deliver: Deliver | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Deliver:
        with self._lock:
            if self._deliver is None or self._pid != os.getpid():
                self._deliver = redis_outages_retried(self._build(self._settings))
                self._pid = os.getpid()
            return self._deliver


def redis_outages_retried(deliver: Deliver) -> Deliver:
    """``deliver`` with any Redis error (a cap, a ledger, a token store) made retryable."""

    def guarded(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        with redis_outage_is_transient("Redis"):
            return deliver(batch, item)

    return guarded


__all__ = [
    "UNIFORM_SETTINGS",
    "Adapter",
    "DeliveryPerProcess",
    "redis_outages_retried",
]
