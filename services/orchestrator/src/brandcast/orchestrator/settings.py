"""The orchestrator's configuration, read from the environment.

Each value has one name (the upper-case environment variable), one default that
works on one machine, and one line in the README's configuration table.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from brandcast.orchestrator.quiet_hours import zone
from brandcast.shared.config import CommonSettings
from brandcast.v1 import campaign_pb2

DEFAULT_DATABASE_URL = "sqlite:///var/brandcast.db"


class OrchestratorSettings(CommonSettings):
    #: SQLAlchemy URL of the store: ``sqlite:///path`` or ``postgresql+psycopg://...``.
    database_url: str = DEFAULT_DATABASE_URL
    #: host:port the gRPC server listens on; port 0 picks a free one.
    grpc_address: str = "127.0.0.1:50051"
    #: Comma-separated bearer tokens accepted by the API; empty turns auth off.
    api_tokens: str = ""
    #: Deliveries per broker message.
    dispatch_batch_size: int = Field(default=1000, ge=1, le=10_000)
    #: How often the dispatcher looks for due deliveries when idle, in seconds.
    dispatch_poll_interval: float = Field(default=0.5, gt=0, le=60)
    #: Seconds of sending (at each channel's pace) kept queued on the bus per
    #: channel; more is released as receipts come back.
    dispatch_lead_seconds: float = Field(default=5.0, gt=0, le=600)
    #: Share of each channel that marketing campaigns keep while transactional
    #: ones wait (transactional keeps the rest while marketing waits).
    dispatch_marketing_share: float = Field(default=0.2, gt=0, lt=1)
    #: Deliveries kept queued per channel whose adapters report no rate limit.
    dispatch_unlimited_lead: int = Field(default=20_000, ge=1)
    #: Dispatch batches carry each e-mail layout once and each e-mail only what
    #: differs (its preheader, unsubscribe link, personal content): far less for
    #: the orchestrator to build and send. Adapters of earlier releases fail such
    #: e-mails, so turn it on once every email adapter runs this release (see
    #: "Upgrading" in the README).
    bus_shared_email_layouts: bool = False
    #: Receipts the collector takes from the broker before acknowledging.
    receipt_prefetch: int = Field(default=200, ge=1, le=10_000)
    #: Base URL of the one-click unsubscribe endpoint; a signed token is appended.
    unsubscribe_base_url: str = "http://127.0.0.1:8025/unsubscribe"
    #: Refuse at start an ``unsubscribe_base_url`` recipients could not use: not
    #: https, a loopback or private host, or a placeholder (``*.invalid``, "change-me").
    #: Compose turns it on; the one-machine default keeps its loopback URL.
    unsubscribe_url_public: bool = False
    #: HMAC secret for unsubscribe tokens, shared with the email adapter.
    #: The default only suits one machine; production sets its own.
    unsubscribe_secret: str = "brandcast-dev-secret"  # noqa: S105
    #: Largest gRPC message accepted or sent, in bytes.
    max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    #: Most recipients one campaign may have.
    max_audience_size: int = Field(default=1_000_000, ge=1)
    #: Most WatchCampaign streams open at once; beyond it RESOURCE_EXHAUSTED.
    #: An idle watch holds no thread: it waits on the server's event loop.
    max_watches: int = Field(default=1000, ge=1, le=20_000)
    #: Most open watches per client (its bearer token, else its address).
    max_watches_per_client: int = Field(default=100, ge=1)
    #: Most open watches of one campaign.
    max_watches_per_campaign: int = Field(default=100, ge=1)
    #: Seconds between two reads of the watched campaigns' change positions
    #: (how late another replica's changes reach this replica's watchers).
    watch_feed_interval: float = Field(default=1.0, gt=0, le=60)
    #: Seconds an idle watch goes without sending before it repeats its last
    #: progress event: a stream whose client vanished fails that write and is
    #: released even if the cancellation never reached the server.
    watch_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    #: Seconds between the server's HTTP/2 pings on a connection with open calls,
    #: and how long it waits for the answer before dropping the connection: a
    #: client that vanished without a word (a dead path, a frozen host) sends no
    #: cancel, and its watches are freed once the ping goes unanswered.
    grpc_keepalive_seconds: float = Field(default=60.0, gt=0, le=3600)
    grpc_keepalive_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    #: Seconds the server waits for in-flight calls on SIGTERM.
    shutdown_grace: float = Field(default=10.0, ge=0)
    #: Seconds health answers NOT_SERVING (while still serving) before new calls are
    #: refused on SIGTERM, so load balancers and probes move traffic away first.
    shutdown_drain_delay: float = Field(default=1.0, ge=0, le=60)
    #: Defer SMS in their recipient's quiet hours; false only for sandboxes and
    #: tests whose texts must go out whatever the hour.
    quiet_hours_enforced: bool = True
    #: Time zone of recipients without one when the brand kit names none.
    quiet_hours_default_timezone: str = "UTC"

    #: Seconds a SENT delivery waits for its delivery report before its campaign
    #: counts as complete anyway, per channel (0: sent is final on that channel).
    #: SMTP and social networks send no delivery reports; SMS carriers do, minutes later.
    report_window_email: float = Field(default=0.0, ge=0)
    report_window_sms: float = Field(default=600.0, ge=0)
    report_window_social: float = Field(default=0.0, ge=0)

    #: Hours an idempotency key is remembered (at least the 24 the API promises);
    #: older keys are pruned and may be used again.
    idempotency_retention_hours: int = Field(default=48, ge=24)
    #: Days the ledger keeps the events of a campaign after it completed or was
    #: cancelled (its delivery rows and counters stay); 0 keeps every event.
    ledger_retention_days: int = Field(default=0, ge=0)
    #: PEM certificate chain and private key of the gRPC server; both set turn
    #: TLS on, neither leaves the port plaintext (loopback or behind a TLS proxy).
    grpc_tls_cert_file: Path | None = None
    grpc_tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> OrchestratorSettings:
        if (self.grpc_tls_cert_file is None) != (self.grpc_tls_key_file is None):
            raise ValueError("GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE must be set together")
        for path in (self.grpc_tls_cert_file, self.grpc_tls_key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    @model_validator(mode="after")
    def _public_unsubscribe_url(self) -> OrchestratorSettings:
        if self.unsubscribe_url_public:
            problem = public_url_problem(self.unsubscribe_base_url)
            if problem:
                raise ValueError(
                    f"UNSUBSCRIBE_BASE_URL={self.unsubscribe_base_url!r} {problem}; recipients "
                    "need the public https address of the email webhooks' /unsubscribe"
                )
        return self

    @field_validator("quiet_hours_default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @property
    def report_windows(self) -> dict[int, float]:
        """``report_window_*`` by channel."""
        return {
            campaign_pb2.CHANNEL_EMAIL: self.report_window_email,
            campaign_pb2.CHANNEL_SMS: self.report_window_sms,
            campaign_pb2.CHANNEL_SOCIAL: self.report_window_social,
        }

    @property
    def api_token_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.api_tokens.split(",") if t.strip())


def prepare_sqlite_path(database_url: str) -> None:
    """Create the folder of a file-based SQLite database so the default just works."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return
    path = database_url[len(prefix) :].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def public_url_problem(url: str) -> str:
    """Why ``url`` cannot be a link in a recipient's email; "" when it can."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return "is not https (mail clients offer one-click unsubscribe over https only)"
    if not host or "change-me" in url.lower() or host.endswith((".invalid", ".example")):
        return "is a placeholder"
    if host == "localhost" or host.endswith(".localhost"):
        return "points at this machine"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if address.is_loopback or address.is_private or address.is_link_local:
        return "is not a public address"
    return ""
