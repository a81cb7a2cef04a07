"""Settings shared by every Brandcast service, read from the environment.

Each service extends :class:`CommonSettings` with its own values; every value
has one name, one default that works on one machine, and one line in the
README's configuration table. A bad value stops the service at start with a
message naming the variable.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

logger = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"

# The types of the adapters' uniform <CHANNEL>_* settings (see brandcast.shared.adapter),
# so that each constraint is written once: ``sms_max_attempts: Attempts = 5``.
#: Delivery attempts of one message before it fails (at least one).
Attempts = Annotated[int, Field(ge=1)]
#: A backoff, in seconds (more than zero).
Backoff = Annotated[float, Field(gt=0)]
#: Messages per second; 0 = no limit.
PerSecond = Annotated[float, Field(ge=0)]
#: Worker processes (at least one).
Processes = Annotated[int, Field(ge=1)]
#: Redis holding what worker processes share; empty = kept per process.
RedisUrl = str
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class RenamedVariables(PydanticBaseSettingsSource):
    """Old variable names, still read for one release, each with a warning naming the new one.

    A settings class lists them in ``renamed_variables`` (``{"OLD_NAME": "NEW_NAME"}``).
    The new name wins when both are set.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        renamed: Mapping[str, str] = getattr(self.settings_cls, "renamed_variables", {})
        environ = {name.upper(): value for name, value in os.environ.items()}
        values: dict[str, Any] = {}
        for old, new in renamed.items():
            if old.upper() not in environ:
                continue
            if new.upper() in environ:
                logger.warning("%s is ignored: it was renamed %s, which is also set", old, new)
                continue
            logger.warning(
                "%s is deprecated and will stop working in the next release; use %s", old, new
            )
            values[new.lower()] = environ[old.upper()]
        return values


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    #: Old environment variable name -> its new name, read with a deprecation warning.
    renamed_variables: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # After the environment: a new name, when set, wins over its old one.
        renamed = RenamedVariables(settings_cls)
        return init_settings, env_settings, renamed, dotenv_settings, file_secret_settings

    #: RabbitMQ URL every service connects to.
    broker_url: str = DEFAULT_BROKER_URL
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: "json" for machines, "text" for people.
    log_format: Literal["json", "text"] = "text"
    #: Port of the Prometheus metrics endpoint; 0 turns it off.
    metrics_port: int = 0
    #: Address the metrics endpoint binds; 0.0.0.0 lets a Prometheus in another container scrape.
    metrics_host: str = "127.0.0.1"
    #: Provider calls one adapter worker process makes at once within a batch.
    delivery_parallelism: int = Field(default=8, ge=1, le=256)
    #: Redis holding each paused or cancelled campaign's state: the orchestrator
    #: writes it, adapter workers check it before every provider call. Empty
    #: turns the check off (a cancel then only stops what is not yet queued).
    control_redis_url: str = "redis://127.0.0.1:6379/0"
    #: Prefix of those keys; the orchestrator and the adapters must agree.
    control_key_prefix: str = "brandcast:control"
    #: Seconds a worker given SIGTERM takes at most: it finishes the provider
    #: calls in flight, hands the rest of its batch back to the queue, and exits.
    worker_shutdown_seconds: float = Field(default=10.0, gt=0, le=300)
    #: Adapter workers also read dispatch batches in the earlier JSON format
    #: (base64 inside a Celery JSON body), so batches an older orchestrator queued
    #: are still delivered during a rolling upgrade. Turn it off once no dispatch
    #: queue holds such messages; the reader itself goes in a later release.
    bus_accept_json: bool = True
    #: "zstd" compresses the bodies of dispatch batches and receipt batches this
    #: service publishes; "none" sends them as they are. Every service reads both
    #: (see "Upgrading" in the README: adapters first, then turn it on).
    bus_compression: Literal["none", "zstd"] = "none"


def describe_errors(exc: ValidationError, env_prefix: str = "") -> list[str]:
    """One ``VARIABLE: reason`` line per problem, in the names the operator typed."""
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        name = (env_prefix + location[0]).upper() if location else "configuration"
        detail = f" (item {location[1]})" if len(location) > 1 else ""
        reason = error["msg"].removeprefix("Value error, ")
        lines.append(f"{name}{detail}: {reason}")
    return lines


def load_settings(cls: type[SettingsT], program: str) -> SettingsT:
    """Read ``cls`` from the environment, or stop the program with exit status 2.

    Every service's entry point starts here, so a bad value reads
    ``<program>: invalid configuration: DISPATCH_BATCH_SIZE: Input should be ...``
    rather than a traceback.
    """
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix") or "")
        for line in describe_errors(exc, prefix):
            print(f"{program}: invalid configuration: {line}", file=sys.stderr)
        raise SystemExit(2) from None
