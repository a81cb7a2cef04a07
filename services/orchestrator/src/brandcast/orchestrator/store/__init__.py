"""The orchestrator's persistent state (SQLite or PostgreSQL, migrated with Alembic)."""

from brandcast.orchestrator.store._convert import campaign as campaign_from_row
from brandcast.orchestrator.store._convert import counters as counters_from_rows
from brandcast.orchestrator.store._convert import now_us
from brandcast.orchestrator.store._intake_rows import NewDelivery, NewRecipient
from brandcast.orchestrator.store._ledger import MAX_READ as MAX_LEDGER_READ
from brandcast.orchestrator.store._store import (
    RECIPIENT_OPT_OUT_REASONS,
    CampaignSettledError,
    CampaignWriter,
    Claim,
    DueDelivery,
    DuplicateRecipientsError,
    FinalUpdate,
    IdempotencyKeyTakenError,
    ProgressReading,
    QueryDeadlineError,
    Store,
    WatchSnapshot,
    decode_token,
    suppressed_addresses,
)
from brandcast.orchestrator.store._watch_changes import DeliveryChange
from brandcast.orchestrator.store.schema import INTAKE_SEQ, STATUS_RANK

__all__ = [
    "INTAKE_SEQ",
    "MAX_LEDGER_READ",
    "RECIPIENT_OPT_OUT_REASONS",
    "STATUS_RANK",
    "CampaignSettledError",
    "CampaignWriter",
    "Claim",
    "DeliveryChange",
    "DueDelivery",
    "DuplicateRecipientsError",
    "FinalUpdate",
    "IdempotencyKeyTakenError",
    "NewDelivery",
    "NewRecipient",
    "ProgressReading",
    "QueryDeadlineError",
    "Store",
    "WatchSnapshot",
    "campaign_from_row",
    "counters_from_rows",
    "decode_token",
    "now_us",
    "suppressed_addresses",
]
