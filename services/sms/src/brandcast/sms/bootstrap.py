"""The one place that wires the SMS adapter: settings in, delivery function out.

``ADAPTER`` declares the adapter to the shared kit (``brandcast.shared.adapter``),
which supplies the worker, the per-process build, retries and rate limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from brandcast.shared.adapter import Adapter
from brandcast.shared.failover import Failover
from brandcast.shared.ratelimit import RateLimiter
from brandcast.sms.deliver import SmsDelivery
from brandcast.sms.destinations import DestinationPolicy
from brandcast.sms.provider_table import PROVIDERS
from brandcast.sms.providers import SmsProvider
from brandcast.sms.pumping_guard import GuardLimits, pumping_guard
from brandcast.sms.settings import SmsSettings
from brandcast.v1 import bus_pb2

CHANNEL = "sms"


def create_providers(settings: SmsSettings) -> list[SmsProvider]:
    """The configured providers, in failover order."""
    return ADAPTER.build_providers(settings)


def bootstrap(settings: SmsSettings, providers: Sequence[SmsProvider] | None = None) -> SmsDelivery:
    """The per-item delivery function; tests pass their own ``providers``."""
    chosen = list(providers) if providers is not None else create_providers(settings)
    namespace = settings.sms_redis_namespace
    provider_limits: dict[str, RateLimiter] = {
        p.name: ADAPTER.rate_limiter(settings, f"{namespace}:provider:{p.name}") for p in chosen
    }
    sender_rate = settings.sms_sender_rate_limit

    def sender_limit(sender: str) -> RateLimiter:
        return ADAPTER.rate_limiter(settings, f"{namespace}:sender:{sender}", sender_rate)

    return SmsDelivery(
        destinations=DestinationPolicy(settings.sms_allowed_countries),
        pumping_guard=pumping_guard(
            settings.sms_redis_url, guard_limits(settings), namespace=namespace
        ),
        prefix_digits=settings.sms_prefix_digits,
        providers=Failover(
            chosen,
            threshold=settings.sms_failover_threshold,
            cooldown=settings.sms_failover_cooldown,
            channel="sms",
        ),
        provider_limits=provider_limits,
        sender_limit=sender_limit if sender_rate > 0 else None,
        default_sender=settings.sms_default_sender,
        callback_base_url=settings.sms_callback_base_url,
        hold_window=settings.sms_pumping_hold_window,
        max_attempts=settings.sms_max_attempts,
    )


def guard_limits(settings: SmsSettings) -> GuardLimits | None:
    """The pumping guard's limits, or None when ``SMS_PUMPING_GUARD`` is off."""
    if not settings.sms_pumping_guard:
        return None
    return GuardLimits(
        list_block_limit=settings.sms_pumping_list_block_limit,
        one_off_block_limit=settings.sms_pumping_one_off_block_limit,
        new_numbers_floor=settings.sms_pumping_new_numbers_floor,
        baseline_factor=settings.sms_pumping_baseline_factor,
    )


def sending_capacity(settings: SmsSettings) -> bus_pb2.SendingCapacity:
    """The tighter of the provider and the sender limits, for the orchestrator's pacing
    (a campaign sends from one sender, so a sender limit binds each of them)."""
    limits = [
        (settings.sms_rate_limit, "SMS_RATE_LIMIT"),
        (settings.sms_sender_rate_limit, "SMS_SENDER_RATE_LIMIT"),
    ]
    configured = [(rate, name) for rate, name in limits if rate > 0]
    if not configured:
        return bus_pb2.SendingCapacity()
    rate, name = min(configured)
    return bus_pb2.SendingCapacity(rate_limit=rate, rate_limit_setting=name)


ADAPTER = Adapter(
    channel=CHANNEL,
    settings=SmsSettings,
    providers=PROVIDERS,
    build=bootstrap,
    capacity=sending_capacity,
)


def create_worker(settings: SmsSettings) -> Celery:
    """The Celery app consuming ``brandcast.sms`` with the SMS delivery task registered."""
    return ADAPTER.create_worker(settings)
