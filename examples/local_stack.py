"""The whole Brandcast stack as local processes, for `make demo` and the end-to-end tests.

Every service runs as it would in production (its own console script, its own
process, configured only through environment variables); only the providers
are the loopback sandboxes: an SMTP sink, an SMS API emulator and a social
networks emulator.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from argon2 import PasswordHasher

from brandcast.shared.devstack import DevStack, Process, free_port, port_open

BIN = Path(sys.executable).parent

#: Ports a person can remember in the demo; a busy one is replaced by a free one.
DEMO_PORTS = {
    "grpc": 50051,
    "smtp_sink": 2525,
    "email_webhooks": 8025,
    "sms_emulator": 8030,
    "sms_webhooks": 8031,
    "social_emulator": 8040,
    "admin": 8080,
}


#: Processes that serve Prometheus metrics, each on its own free port (METRICS_PORT).
METRICS_PROCESSES = (
    "orchestrator",
    "email-worker",
    "email-webhooks",
    "sms-worker",
    "sms-webhooks",
    "social-worker",
)


def _pick_ports(preferred: bool) -> dict[str, int]:
    if not preferred:
        return {name: free_port() for name in DEMO_PORTS}
    return {name: port if not port_open(port) else free_port() for name, port in DEMO_PORTS.items()}


@dataclass
class LocalStack:
    stack: DevStack
    ports: dict[str, int]
    data_dir: Path
    broker_url: str
    database_url: str
    unsubscribe_secret: str
    admin_login: tuple[str, str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: Process name -> port of its ``/metrics`` endpoint.
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.ports['grpc']}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def metrics_url(self, process: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[process]}/metrics"

    def stop(self) -> None:
        self.stack.stop()


def start_local_stack(
    data_dir: Path,
    *,
    broker_url: str,
    database_url: str,
    preferred_ports: bool = False,
    with_admin: bool = False,
    concurrency: int = 1,
    extra_env: Mapping[str, str] | None = None,
    smtp_failures: Mapping[str, int] | None = None,
    sms_report_delay: float = 0.2,
) -> LocalStack:
    """Start sandboxes, orchestrator, adapters (and the admin); return once all are ready.

    ``sms_report_delay`` is the seconds the SMS emulator waits before each status
    callback (sent, then delivered), as a carrier's delivery report lags.

    ``smtp_failures`` maps addresses the SMTP sink refuses to the SMTP code it
    refuses them with (``brandcast-email sink --fail ADDR=CODE``), e.g.
    ``{"gone@example.com": 550}`` for a permanently failed delivery.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = _pick_ports(preferred_ports)
    secret = secrets.token_urlsafe(24)
    env = {
        "BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        "UNSUBSCRIBE_SECRET": secret,
        "UNSUBSCRIBE_BASE_URL": f"http://127.0.0.1:{ports['email_webhooks']}/unsubscribe",
        "GRPC_ADDRESS": f"127.0.0.1:{ports['grpc']}",
        "EMAIL_SMTP_HOST": "127.0.0.1",
        "EMAIL_SMTP_PORT": str(ports["smtp_sink"]),
        "SMS_TWILIO_BASE_URL": f"http://127.0.0.1:{ports['sms_emulator']}",
        "SMS_CALLBACK_BASE_URL": f"http://127.0.0.1:{ports['sms_webhooks']}",
        "SOCIAL_SANDBOX_URL": f"http://127.0.0.1:{ports['social_emulator']}",
        "ADMIN_ORCHESTRATOR_ADDRESS": f"127.0.0.1:{ports['grpc']}",
        # Sandboxes: the demo's and the tests' SMS go out whatever the hour.
        "QUIET_HOURS_ENFORCED": "false",
        **(extra_env or {}),
    }
    stack = DevStack(data_dir / "logs", base_env=None)
    metrics_ports = {name: free_port() for name in METRICS_PROCESSES}
    local = LocalStack(
        stack,
        ports,
        data_dir,
        broker_url,
        database_url,
        secret,
        env=env,
        metrics_ports=metrics_ports,
    )
    workers = ["--concurrency", str(concurrency)]
    host = ["--host", "127.0.0.1"]
    refusals = [
        arg
        for address, code in (smtp_failures or {}).items()
        for arg in ("--fail", f"{address}={code}")
    ]
    try:
        for process in [
            Process(
                "smtp-sink",
                [
                    str(BIN / "brandcast-email"),
                    "sink",
                    *host,
                    "--port",
                    str(ports["smtp_sink"]),
                    "--dir",
                    str(data_dir / "mail"),
                    *refusals,
                ],
                env,
                port=ports["smtp_sink"],
            ),
            Process(
                "sms-emulator",
                [
                    str(BIN / "brandcast-sms"),
                    "emulator",
                    *host,
                    "--port",
                    str(ports["sms_emulator"]),
                    "--dir",
                    str(data_dir / "sms"),
                    "--callback-delay",
                    str(sms_report_delay),
                ],
                env,
                port=ports["sms_emulator"],
            ),
            Process(
                "social-emulator",
                [
                    str(BIN / "brandcast-social"),
                    "emulator",
                    *host,
                    "--port",
                    str(ports["social_emulator"]),
                ],
                env,
                port=ports["social_emulator"],
            ),
            Process("orchestrator", [str(BIN / "brandcast-orchestrator")], env, port=ports["grpc"]),
            Process(
                "email-webhooks",
                [
                    str(BIN / "brandcast-email"),
                    "webhooks",
                    *host,
                    "--port",
                    str(ports["email_webhooks"]),
                ],
                env,
                port=ports["email_webhooks"],
            ),
            Process(
                "sms-webhooks",
                [
                    str(BIN / "brandcast-sms"),
                    "webhooks",
                    *host,
                    "--port",
                    str(ports["sms_webhooks"]),
                ],
                env,
                port=ports["sms_webhooks"],
            ),
            Process("email-worker", [str(BIN / "brandcast-email"), "worker", *workers], env),
            Process("sms-worker", [str(BIN / "brandcast-sms"), "worker", *workers], env),
            Process("social-worker", [str(BIN / "brandcast-social"), "worker", *workers], env),
        ]:
            stack.start(_with_metrics_port(process, metrics_ports))
        if with_admin:
            password = secrets.token_urlsafe(9)
            admin_env = {
                **env,
                "ADMIN_USERS": f"demo:{PasswordHasher().hash(password)}",
                "ADMIN_SECRET_KEY": secrets.token_urlsafe(32),
            }
            stack.start(
                Process(
                    "admin",
                    [str(BIN / "brandcast-admin"), "serve", *host, "--port", str(ports["admin"])],
                    admin_env,
                    port=ports["admin"],
                )
            )
            local.admin_login = ("demo", password)
    except BaseException:
        stack.stop()
        raise
    return local


def _with_metrics_port(process: Process, metrics_ports: Mapping[str, int]) -> Process:
    port = metrics_ports.get(process.name)
    if port is None:
        return process
    return replace(process, env={**process.env, "METRICS_PORT": str(port)})
