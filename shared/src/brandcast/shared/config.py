"""Settings shared by every Brandcast service, read from the environment.

Each service extends :class:`CommonSettings` with its own values; every value
has one name, one default that works on one machine, and one line in the
README's configuration table. A bad value stops the service at start with a
message naming the variable.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

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
