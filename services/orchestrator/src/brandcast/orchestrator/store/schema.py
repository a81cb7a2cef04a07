"""Tables of the orchestrator's store (SQLAlchemy Core) and the delivery status ranks.

Times are integer microseconds since the Unix epoch (UTC) so SQLite and
PostgreSQL compare and order them identically. The migrations in
``migrations/versions`` create exactly these tables; a change here needs a new
migration.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Computed,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from brandcast.v1 import campaign_pb2

S = campaign_pb2
#: A delivery's status only moves to a higher rank. Every final state shares the
#: top rank, so a late receipt never turns one final state into another.
STATUS_RANK: Final[dict[int, int]] = {
    S.DELIVERY_STATUS_PENDING: 1,
    S.DELIVERY_STATUS_SCHEDULED: 2,
    S.DELIVERY_STATUS_QUEUED: 3,
    S.DELIVERY_STATUS_SENT: 4,
    S.DELIVERY_STATUS_DELIVERED: 5,
    S.DELIVERY_STATUS_FAILED: 6,
    S.DELIVERY_STATUS_BOUNCED: 6,
    S.DELIVERY_STATUS_SUPPRESSED: 6,
    S.DELIVERY_STATUS_CANCELLED: 6,
    S.DELIVERY_STATUS_SKIPPED: 6,
}
#: Ranks at or below this are still ours to move: not yet at a provider.
UNSETTLED_MAX_RANK: Final = STATUS_RANK[S.DELIVERY_STATUS_QUEUED]
#: Ranks at or below this may be dispatched (pending and scheduled).
DISPATCHABLE_MAX_RANK: Final = STATUS_RANK[S.DELIVERY_STATUS_SCHEDULED]
#: Whether a delivery waits in the outbox, as a column the database derives from
#: ``status_rank`` (migration 0009). The outbox indexes filter on it, never on
#: ``status_rank`` itself: PostgreSQL makes an update HOT (no new index entries)
#: only when no indexed column changes, predicate columns included, and every
#: receipt changes the rank but leaves this at 0.
OUTBOX_EXPR: Final = f"CASE WHEN status_rank <= {DISPATCHABLE_MAX_RANK} THEN 1 ELSE 0 END"
#: The outbox predicate as literal SQL, the same text as the partial indexes
#: ``ix_deliveries_due`` and ``ix_deliveries_campaign_outbox`` (migration
#: 0009), so the planners can use them.
OUTBOX_SQL: Final = "in_outbox = 1"

#: Percentage of a ``deliveries`` page PostgreSQL fills at insert (migration 0011).
DELIVERIES_FILLFACTOR: Final = 40
#: Percentage of a leaf page of ``deliveries_pkey`` and ``ix_deliveries_campaign_id``
#: filled at insert: room for each key's second entry, the QUEUED mark's
#: (migration 0013, which sets it on the primary key's index too).
ID_INDEX_FILLFACTOR: Final = 50

#: Ids and keys compared byte by byte on PostgreSQL (``COLLATE "C"``,
#: migration 0012), as SQLite's BINARY and Python's ``sorted`` compare them:
#: a database's own collation (``en_US.UTF-8``, ICU, even ``C.UTF-8``) makes
#: every index probe and insert on them call the locale's comparison.
ID: Final = String(36).with_variant(String(36, collation="C"), "postgresql")
KEY: Final = String(200).with_variant(String(200, collation="C"), "postgresql")

metadata = MetaData()

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    # The CampaignSpec without its audience (recipients live in their own table).
    Column("spec", LargeBinary, nullable=False),
    Column("state", Integer, nullable=False),
    Column("idempotency_key", String(200), unique=True),
    Column("request_hash", String(64)),
    Column("audience_size", BigInteger, nullable=False, default=0),
    # JSON object of W3C trace context headers of the submitting call.
    Column("trace_context", Text, nullable=False, default="{}"),
    Column("send_at_us", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("completed_us", BigInteger),
    # No longer read or moved (the ledger's positions order the changes); kept
    # so a rollback to the previous version finds it.
    Column("event_seq", BigInteger, nullable=False, default=0),
    # When every delivery had left (DISPATCHED), and when its report windows end.
    Column("dispatched_us", BigInteger),
    Column("report_window_ends_us", BigInteger),
    # A test send (1): shown as such, not counted in metrics.
    Column("test", Integer, nullable=False, server_default=text("0")),
    Column("duplicated_from", String(36), nullable=False, server_default=""),
)
Index("ix_campaigns_created", campaigns.c.created_us, campaigns.c.id)

recipients = Table(
    "recipients",
    metadata,
    Column("campaign_id", ID, primary_key=True),
    Column("recipient_id", KEY, primary_key=True),
    # A serialized brandcast.v1.Recipient.
    Column("data", LargeBinary, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("campaign_id", ID, nullable=False),
    Column("channel", Integer, nullable=False),
    # The recipient id, or the social account id.
    Column("recipient_id", KEY, nullable=False),
    Column("address", String(320), nullable=False),
    Column("status", Integer, nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider", String(100), nullable=False, default=""),
    Column("provider_message_id", String(300), nullable=False, default=""),
    Column("error_code", String(100), nullable=False, default=""),
    Column("error_message", Text, nullable=False, default=""),
    Column("public_url", Text, nullable=False, default=""),
    Column("idempotency_key", String(200), nullable=False),
    Column("not_before_us", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    # INTAKE_SEQ until the delivery first moves after intake, then MOVED_SEQ
    # (a campaign event seq of earlier versions counts as moved).
    Column("seq", BigInteger, nullable=False),
    # Derived by the database (STORED on PostgreSQL, VIRTUAL on SQLite); see OUTBOX_EXPR.
    Column("in_outbox", Integer, Computed(OUTBOX_EXPR)),
    # The status before the last move, set by the move itself and returned by
    # it: the counters move from it without reading the rows first (migration 0010).
    Column("prev_status", Integer, nullable=False, server_default=text("0")),
    # Room on each page for the QUEUED mark's and the receipt's versions, so
    # receipts are HOT updates (migration 0011).
    postgresql_with={"fillfactor": DELIVERIES_FILLFACTOR},
)
#: ``seq`` of a delivery untouched since intake, and of one moved since.
INTAKE_SEQ: Final = 1
MOVED_SEQ: Final = 2
#: The intake listing's predicate as literal SQL, the same text as the partial
#: index ``ix_deliveries_intake`` (migration 0008), so the planners can use it.
INTAKE_SQL: Final = f"seq = {INTAKE_SEQ}"
# A campaign's deliveries in id order, which no write changes: the export's
# pages and the delivery listing.
Index(
    "ix_deliveries_campaign_id",
    deliveries.c.campaign_id,
    deliveries.c.id,
    postgresql_with={"fillfactor": ID_INDEX_FILLFACTOR},
)
# The watch's listing of the deliveries untouched since intake; a delivery
# leaves it with its first move and never comes back.
Index(
    "ix_deliveries_intake",
    deliveries.c.campaign_id,
    deliveries.c.id,
    postgresql_where=text(INTAKE_SQL),
    sqlite_where=text(INTAKE_SQL),
)

# The delivery ledger: everything that happens to a delivery after its row is
# written at acceptance, appended in commit order (see ``_ledger.py`` and
# docs/ledger.md). ``position`` is the reading cursor: every event committed
# later has a higher one.
ledger = Table(
    "ledger",
    metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("campaign_id", ID, nullable=False),
    # "" for an event about several deliveries (``delivery_ids``) or about the
    # whole campaign (a cancel).
    Column("delivery_id", ID, nullable=False),
    Column("channel", Integer, nullable=False),
    # A brandcast.v1.LedgerEventType.
    Column("event", Integer, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("provider", String(100), nullable=False),
    Column("provider_message_id", String(300), nullable=False),
    Column("error_code", String(100), nullable=False),
    Column("detail", Text, nullable=False),
    # 1 when the event moved the delivery's status.
    Column("applied", Integer, nullable=False),
    # A queued event: the batch id and its deliveries' ids, space-separated.
    Column("batch_id", String(36), nullable=False),
    Column("delivery_ids", Text, nullable=False),
    # A brandcast.orchestrator.store._ledger.Source.
    Column("source", Integer, nullable=False),
    # SQLite: AUTOINCREMENT, so a position is never reused even once the
    # newest events were deleted.
    sqlite_autoincrement=True,
    # PostgreSQL: ranges of positions, created ahead and dropped once their
    # campaigns are past the retention (``_retention.py``, migration 0007).
    postgresql_partition_by="RANGE (position)",
)
Index("ix_ledger_campaign", ledger.c.campaign_id, ledger.c.position)
Index("ix_ledger_delivery", ledger.c.delivery_id, ledger.c.position)

# Deliveries per campaign, channel and current status, moved by the same
# transaction that moves the deliveries: progress is read, not counted.
delivery_counters = Table(
    "delivery_counters",
    metadata,
    Column("campaign_id", ID, primary_key=True),
    Column("channel", Integer, primary_key=True),
    Column("status", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("channel", Integer, nullable=False),
    Column("address", String(320), nullable=False),
    Column("reason", String(200), nullable=False, default=""),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("channel", "address", name="uq_suppressions_channel_address"),
)

# Who added or removed which suppression, when and why (removing one undoes a
# person's opt-out, so it must be accountable).
suppression_audit = Table(
    "suppression_audit",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", Integer, nullable=False),
    Column("address", String(320), nullable=False),
    Column("action", Integer, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at_us", BigInteger, nullable=False),
)
Index("ix_suppression_audit_at", suppression_audit.c.at_us, suppression_audit.c.id)
Index(
    "ix_suppression_audit_address",
    suppression_audit.c.channel,
    suppression_audit.c.address,
    suppression_audit.c.at_us,
)

# The outbox in the dispatcher's claim order, per channel (migrations 0003, 0009).
Index(
    "ix_deliveries_due",
    deliveries.c.channel,
    deliveries.c.not_before_us,
    deliveries.c.campaign_id,
    postgresql_where=text(OUTBOX_SQL),
    sqlite_where=text(OUTBOX_SQL),
)
# A campaign's outbox per channel: what a cancel ends and what a claim of one
# campaign takes. Receipts move deliveries that have left the outbox, so they
# change no column of it (see OUTBOX_EXPR).
Index(
    "ix_deliveries_campaign_outbox",
    deliveries.c.campaign_id,
    deliveries.c.channel,
    postgresql_where=text(OUTBOX_SQL),
    sqlite_where=text(OUTBOX_SQL),
)
