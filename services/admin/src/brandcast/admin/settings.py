"""The admin's configuration, read from ``ADMIN_*`` environment variables.

Each value has one name, one default that works on one machine, and one line in
the README's configuration table.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADMIN_", extra="ignore", frozen=True)

    #: host:port of the orchestrator's gRPC API.
    orchestrator_address: str = "127.0.0.1:50051"
    #: Bearer token sent to the orchestrator; empty sends none.
    api_token: str = ""
    #: Key that signs session cookies; empty makes a random one per process
    #: (everyone is logged out on restart).
    secret_key: str = ""
    #: Comma-separated ``name:argon2-hash`` pairs (``brandcast-admin hash-password``).
    #: Empty: a ``demo`` user with a random password (see ``demo_user``).
    users: str = ""
    #: With ``users`` empty, make a ``demo`` user whose random password goes to the
    #: terminal (or to a file only this user can read), never to the log; false
    #: (production) refuses to start without ``users``.
    demo_user: bool = True
    #: YAML or JSON file of brand kits; empty uses the example kit shipped with the admin.
    brand_kits_file: Path | None = None
    #: Send the session cookie over HTTPS only (turn on behind TLS).
    cookie_https_only: bool = False
    #: Seconds a login lasts.
    session_max_age: int = Field(default=8 * 3600, ge=60)
    #: Seconds the admin waits for one orchestrator call (watch streams excepted).
    orchestrator_timeout: float = Field(default=10.0, gt=0)
    #: Largest audience CSV accepted, in bytes.
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    #: Recipients sent per message of the streamed submission.
    submit_chunk_size: int = Field(default=1000, ge=1, le=10_000)
