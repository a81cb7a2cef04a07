"""Settings shared by every Brandcast service, read from the environment.

Each service extends :class:`CommonSettings` with its own values; every value
has one name, one default that works on one machine, and one line in the
README's configuration table. A bad value stops the service at start with a
message naming the variable.
"""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

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
