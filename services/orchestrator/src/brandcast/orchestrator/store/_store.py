"""The orchestrator's store: campaigns, audience, deliveries (the outbox) and suppressions.

SQLAlchemy Core on SQLite or PostgreSQL. Writes go in batches; a delivery's
status only moves to a higher rank, enforced in the UPDATE itself, so duplicate
and late receipts change nothing. What happens to deliveries is appended to the
ledger (``_ledger``), whose positions are the commit order: watchers, the
change feed and webhook senders read that, so writers of one campaign do not
queue on its row. A delivery row's ``seq`` is 1 until it first moves after
intake, then ``MOVED_SEQ`` (the watch lists the untouched ones).
"""

from __future__ import annotations

import base64
import collections
import functools
import json
import logging
import operator
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Final, NamedTuple

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from brandcast.orchestrator.store import _convert, _ledger, _retention
from brandcast.orchestrator.store._bulk import (
    WRITE_BATCH,
    BinaryArray,
    StringArray,
    insert_tuples,
)
from brandcast.orchestrator.store._engine import READ_ONLY, migrate, open_engine
from brandcast.orchestrator.store._intake_rows import NewDelivery, NewRecipient
from brandcast.orchestrator.store._watch_changes import DeliveryChange, changes_after
from brandcast.orchestrator.store.schema import (
    DISPATCHABLE_MAX_RANK,
    MOVED_SEQ,
    OUTBOX_SQL,
    STATUS_RANK,
    UNSETTLED_MAX_RANK,
    campaigns,
    deliveries,
    delivery_counters,
    ledger,
    recipients,
    suppression_audit,
    suppressions,
)
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

log = logging.getLogger(__name__)

# Nothing is left to cancel: every delivery has left or ended.
_SETTLED_STATES = (
    campaign_pb2.CAMPAIGN_STATE_COMPLETED,
    campaign_pb2.CAMPAIGN_STATE_CANCELLED,
    campaign_pb2.CAMPAIGN_STATE_DISPATCHED,
)
_CANCELLED: Final = campaign_pb2.CAMPAIGN_STATE_CANCELLED
_CANCELLED_STATUS: Final = campaign_pb2.DELIVERY_STATUS_CANCELLED
_RECEIPT_STATUSES = frozenset(
    {
        campaign_pb2.DELIVERY_STATUS_SENT,
        campaign_pb2.DELIVERY_STATUS_DELIVERED,
        campaign_pb2.DELIVERY_STATUS_FAILED,
        campaign_pb2.DELIVERY_STATUS_BOUNCED,
        campaign_pb2.DELIVERY_STATUS_SUPPRESSED,
        campaign_pb2.DELIVERY_STATUS_CANCELLED,
    }
)


class IdempotencyKeyTakenError(Exception):
    """Another campaign was committed with the same idempotency key first."""


class DuplicateRecipientsError(Exception):
    """Recipient ids that an earlier part of the same audience already used."""

    def __init__(self, recipient_ids: set[str]) -> None:
        super().__init__(f"duplicate recipient ids: {sorted(recipient_ids)[:5]}")
        self.recipient_ids = recipient_ids


class CampaignSettledError(Exception):
    """The campaign is completed or cancelled: it can no longer be paused or resumed."""

    def __init__(self, campaign_id: str, state: int) -> None:
        name = campaign_pb2.CampaignState.Name(state).removeprefix("CAMPAIGN_STATE_").lower()  # type: ignore[arg-type]
        super().__init__(f"campaign {campaign_id} is {name}")


class QueryDeadlineError(TimeoutError):
    """A read was stopped because its caller's deadline passed."""


#: VM steps between two deadline checks of a SQLite read (a few hundred microseconds).
_SQLITE_CHECK_EVERY: Final = 10_000


def _encode_token(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode_token(
    token: str, arity: int, types: tuple[type[int] | type[str], ...] | None = None
) -> list[Any]:
    """The values of a page token; ``ValueError`` when it is not one of ours.

    A forged token must not reach the database as a value it cannot bind or
    compare: each value is an int within BIGINT or a short string (of the type
    ``types`` gives for its position, when given).
    """
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise ValueError("not a valid page token") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise ValueError("not a valid page token")
    for n, value in enumerate(values):
        wanted = types[n] if types is not None else (int, str)
        if not _token_value_ok(value) or not isinstance(value, wanted):
            raise ValueError("not a valid page token")
    return values


#: Longest string a page token may carry (ids and addresses are far shorter).
_MAX_TOKEN_TEXT: Final = 1000


def _token_value_ok(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and len(value) <= _MAX_TOKEN_TEXT and "\x00" not in value


class DueDelivery(NamedTuple):
    """A claimed delivery, made straight from the claim's row (the claim selects
    these fields in this order). A round builds up to a thousand: a frozen
    dataclass filled by name from SQLAlchemy's rows cost 3.4 µs each, this
    0.3-0.4 µs (``bench/bench_row_building.py``)."""

    id: str
    campaign_id: str
    channel: int
    recipient_id: str
    address: str
    attempts: int
    #: Serialized Recipient, None for social deliveries.
    recipient: bytes | None
    #: The address is on the channel's suppression list (as of the claim).
    suppressed: bool = False


@dataclass(frozen=True)
class ProgressReading:
    """A campaign's state and counters, and while it is DISPATCHED when its
    report windows end (µs)."""

    state: int
    counters: list[campaign_pb2.ChannelCounters]
    report_window_ends_us: int | None


@dataclass(frozen=True)
class WatchSnapshot:
    state: int
    #: No delivery was pending, scheduled or queued (read before the changes).
    settled: bool
    changes: list[DeliveryChange]
    #: Where the next read starts: past the changes and past what the read
    #: passed over (events whose deliveries have moved on since).
    cursor: tuple[int, str]
    #: Every change committed before the read is in ``changes``.
    complete: bool
    #: Read after the changes, in the same transaction, when the watcher asked.
    progress: ProgressReading | None = None


@dataclass(frozen=True)
class FinalUpdate:
    delivery_id: str
    status: int
    error_code: str = ""
    error_message: str = ""


class Store:
    #: Deliveries read per page of an export.
    export_page_size: int = 2000

    def __init__(self, engine: Engine, report_windows: Mapping[int, float] | None = None) -> None:
        self.engine = engine
        self.report_windows = dict(report_windows or {})

    @property
    def report_windows(self) -> dict[int, float]:
        """Seconds per channel that a SENT delivery may wait for its delivery
        report before its campaign counts as complete; 0 (the default) makes
        SENT final on that channel."""
        return {channel: us / 1_000_000 for channel, us in self._windows_us.items()}

    @report_windows.setter
    def report_windows(self, windows: Mapping[int, float]) -> None:
        self._windows_us = {
            channel: int(seconds * 1_000_000) for channel, seconds in windows.items() if seconds > 0
        }

    @classmethod
    def open(cls, url: str, report_windows: Mapping[int, float] | None = None) -> Store:
        """Connect to ``url`` and apply pending migrations."""
        engine = open_engine(url)
        migrate(engine)
        return cls(engine, report_windows)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def concurrent_connection_use(self) -> bool:
        """Whether a connection may be handed to another thread mid-transaction."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def _read(self, timeout: float | None = None) -> Iterator[Connection]:
        """A read-only connection; with ``timeout`` (seconds) the database stops
        the query once it passes (``QueryDeadlineError``) instead of finishing
        work nobody waits for."""
        postgres = self.engine.dialect.name == "postgresql"
        options: dict[str, Any] = {READ_ONLY: True}
        if postgres and timeout is None:
            # Under READ COMMITTED every statement takes its own snapshot anyway:
            # a transaction would only add BEGIN and ROLLBACK round trips.
            options["isolation_level"] = "AUTOCOMMIT"
        with self.engine.connect().execution_options(**options) as conn:
            if timeout is None:
                yield conn
                return
            if postgres:
                # SET LOCAL lasts as long as this read's transaction.
                conn.exec_driver_sql(
                    f"SET LOCAL statement_timeout = {min(2**31 - 1, max(1, int(timeout * 1000)))}"
                )
                try:
                    yield conn
                except OperationalError as exc:
                    if getattr(exc.orig, "sqlstate", "") == "57014":  # query_canceled
                        raise QueryDeadlineError(str(exc.orig)) from exc
                    raise
                return
            raw = conn.connection.driver_connection
            assert raw is not None
            deadline = time.monotonic() + timeout
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _SQLITE_CHECK_EVERY)
            try:
                yield conn
            except OperationalError as exc:
                if "interrupted" in str(exc.orig):
                    raise QueryDeadlineError("the read passed its deadline") from exc
                raise
            finally:
                raw.set_progress_handler(None, 0)

    def refresh_statistics(self) -> None:
        """Let PostgreSQL's planner see a campaign just loaded.

        Its statistics lag behind a bulk load until autovacuum gets to the table:
        believing the outbox held 152 rows while it held 720,000, it planned each
        claim as a bitmap scan and a sort of the whole outbox (1.1 s per claim of
        500) instead of reading the partial index in order.
        """
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE deliveries, recipients")

    # -- intake ---------------------------------------------------------------

    @contextmanager
    def campaign_writer(self) -> Iterator[CampaignWriter]:
        """One transaction holding a whole submission; committed on a clean exit."""
        with self.engine.begin() as conn:
            writer = CampaignWriter(conn, self._windows_us)
            yield writer
            _ledger.append(conn, writer.pending)

    def find_by_idempotency_key(self, key: str) -> tuple[str, str] | None:
        """``(campaign_id, request_hash)`` of the campaign submitted with ``key``."""
        with self._read() as conn:
            row = conn.execute(_BY_IDEMPOTENCY_KEY, {"key": key}).first()
        return (row.id, row.request_hash or "") if row else None

    def release_idempotency_keys(self, *, created_before_us: int) -> int:
        """Forget the keys of campaigns created before the cutoff; returns how many."""
        with self.engine.begin() as conn:
            released: int = conn.execute(
                update(campaigns)
                .where(
                    campaigns.c.idempotency_key.is_not(None),
                    campaigns.c.created_us < created_before_us,
                )
                .values(idempotency_key=None, request_hash=None)
            ).rowcount
        return released

    def extend_ledger_partitions(
        self, *, size: int = _retention.PARTITION_SIZE, previous: int | None = None
    ) -> tuple[list[str], int | None]:
        """PostgreSQL: create the ledger's ranges ahead (``_retention.create_ahead``)."""
        return _retention.create_ahead(self.engine, size=size, previous=previous)

    def compact_ledger(self, *, ended_before_us: int) -> tuple[list[str], int]:
        """Remove the events of campaigns completed or cancelled before the
        cutoff: whole partitions where they hold nothing else, rows elsewhere.
        Returns the partitions dropped and the events deleted by rows."""
        dropped = _retention.drop_ended(self.engine, ended_before_us)
        ended = _retention.ended_with_events(self.engine, ended_before_us)
        return dropped, _retention.delete_events(self.engine, ended)

    # -- queries --------------------------------------------------------------

    def get_campaign(self, campaign_id: str) -> campaign_pb2.Campaign | None:
        with self._read() as conn:
            row = conn.execute(_CAMPAIGN, {"campaign_id": campaign_id}).first()
            if row is None:
                return None
            return _convert.campaign(row, self._counters(conn, campaign_id))

    def campaign_spec(self, campaign_id: str) -> tuple[campaign_pb2.CampaignSpec, str] | None:
        """The spec (without audience) and the trace context JSON of a campaign."""
        with self._read() as conn:
            row = conn.execute(
                select(campaigns.c.spec, campaigns.c.trace_context).where(
                    campaigns.c.id == campaign_id
                )
            ).first()
        if row is None:
            return None
        spec = campaign_pb2.CampaignSpec()
        spec.ParseFromString(row.spec)
        return spec, row.trace_context

    def counters(self, campaign_id: str) -> list[campaign_pb2.ChannelCounters]:
        with self._read() as conn:
            return self._counters(conn, campaign_id)

    @staticmethod
    def _counters(conn: Connection, campaign_id: str) -> list[campaign_pb2.ChannelCounters]:
        # Moved with the deliveries (``_ledger.append``): one row per channel and
        # status, whatever the audience's size.
        return _convert.counters(conn.execute(_ledger.COUNTS, {"campaign_id": campaign_id}))

    def campaign_state(self, campaign_id: str) -> tuple[int, bool] | None:
        """The campaign's state and whether every delivery has settled."""
        with self._read() as conn:
            return _campaign_state(conn, campaign_id)

    def change_positions(self, campaign_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Per campaign, its newest ledger position (0 before any event) and its
        state: what moves whenever one of its deliveries or its state changes,
        in any replica. A later commit always has a higher position, so a
        position equal to one read before means nothing new committed."""
        if not campaign_ids:
            return {}
        with self._read() as conn:
            return {
                r.id: (int(r.position or 0), int(r.state))
                for r in conn.execute(_CHANGE_POSITIONS, {"campaign_ids": list(campaign_ids)})
            }

    def progress(self, campaign_id: str) -> tuple[int, list[campaign_pb2.ChannelCounters]] | None:
        """The campaign's state and its counters per channel, read together."""
        with self._read() as conn:
            reading = _progress_reading(conn, campaign_id)
        return None if reading is None else (reading.state, reading.counters)

    def watch_snapshot(
        self,
        campaign_id: str,
        cursor: tuple[int, str],
        limit: int = 500,
        *,
        progress_if: Callable[[WatchSnapshot], bool] | None = None,
    ) -> WatchSnapshot | None:
        """What a watcher needs per wake-up, on one connection: whether every
        delivery had settled, then the changes after ``cursor``, then, when
        ``progress_if`` says so of what was read, the campaign's progress.

        Read in that order, a campaign seen settled has all its changes in the
        page (or in the pages after it), and the progress is at least as new as
        the changes. One transaction instead of three: a watch round that
        reports progress was most of a one-recipient campaign's reads.
        """
        with self._read() as conn:
            status = _campaign_state(conn, campaign_id)
            if status is None:
                return None
            changes, reached, complete = changes_after(conn, campaign_id, cursor, limit)
            snapshot = WatchSnapshot(status[0], status[1], changes, reached, complete)
            if progress_if is not None and progress_if(snapshot):
                snapshot = replace(snapshot, progress=_progress_reading(conn, campaign_id))
            return snapshot

    def list_campaigns(
        self, page_size: int, page_token: str = ""
    ) -> tuple[list[campaign_pb2.Campaign], str]:
        query = select(campaigns).order_by(campaigns.c.created_us.desc(), campaigns.c.id.desc())
        if page_token:
            created, cid = decode_token(page_token, 2, (int, str))
            query = query.where(
                or_(
                    campaigns.c.created_us < created,
                    and_(campaigns.c.created_us == created, campaigns.c.id < cid),
                )
            )
        with self._read() as conn:
            rows = conn.execute(query.limit(page_size + 1)).all()
            page = rows[:page_size]
            ids = [r.id for r in page]
            counter_rows = _ledger.counter_rows(conn, ids)
        per_campaign: dict[str, list[tuple[int, int, int]]] = {}
        for cid_, channel, status, count in counter_rows:
            per_campaign.setdefault(cid_, []).append((channel, status, count))
        result = [_convert.campaign(r, _convert.counters(per_campaign.get(r.id, []))) for r in page]
        next_token = ""
        if len(rows) > page_size:
            last = page[-1]
            next_token = _encode_token([last.created_us, last.id])
        return result, next_token

    def list_deliveries(
        self,
        campaign_id: str,
        *,
        channel: int = 0,
        status: int = 0,
        page_size: int = 100,
        page_token: str = "",
        timeout: float | None = None,
    ) -> tuple[list[campaign_pb2.Delivery], str]:
        """One page of a campaign's deliveries; ``QueryDeadlineError`` past ``timeout``."""
        query = select(deliveries).where(deliveries.c.campaign_id == campaign_id)
        if channel:
            query = query.where(deliveries.c.channel == channel)
        if status:
            query = query.where(deliveries.c.status == status)
        if page_token:
            (after,) = decode_token(page_token, 1, (str,))
            query = query.where(deliveries.c.id > after)
        with self._read(timeout) as conn:
            rows = conn.execute(query.order_by(deliveries.c.id).limit(page_size + 1)).all()
        page = rows[:page_size]
        next_token = _encode_token([page[-1].id]) if len(rows) > page_size else ""
        return [_convert.delivery(r) for r in page], next_token

    def changes_since(
        self, campaign_id: str, cursor: tuple[int, str], limit: int = 500
    ) -> list[DeliveryChange]:
        """Deliveries changed after a watch ``cursor`` (see ``_watch_changes``),
        oldest change first."""
        with self._read() as conn:
            return changes_after(conn, campaign_id, cursor, limit)[0]

    # -- changes --------------------------------------------------------------

    def cancel_campaign(self, campaign_id: str) -> tuple[campaign_pb2.Campaign, int] | None:
        """Cancel deliveries still waiting in the outbox; ``None`` for an unknown id.

        Queued deliveries are already in an adapter's queue and adapters do not
        consult the store, so they are left to finish and report honestly.
        """
        now = _convert.now_us()
        with self.engine.begin() as conn:
            state = conn.execute(
                select(campaigns.c.state).where(campaigns.c.id == campaign_id)
            ).scalar()
            if state is None:
                return None
            cancelled = 0
            if state not in _SETTLED_STATES:
                # Held to the commit: a writer returning deliveries to the
                # outbox (a deferral, a hand-back) waits, then sees the cancel.
                _lock_campaigns(conn, [campaign_id])
                pending = _ledger.Pending()
                cancelled = _cancel_outbox(conn, campaign_id, now, pending)
                conn.execute(
                    update(campaigns)
                    .where(campaigns.c.id == campaign_id)
                    .values(
                        state=campaign_pb2.CAMPAIGN_STATE_CANCELLED,
                        updated_us=now,
                        completed_us=now,
                    )
                )
                _ledger.append(conn, pending)
            row = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()
            return _convert.campaign(row, self._counters(conn, campaign_id)), cancelled

    def pause_campaign(self, campaign_id: str) -> campaign_pb2.Campaign | None:
        """Hold the campaign's deliveries (the dispatcher skips paused campaigns);
        ``None`` for an unknown id, ``CampaignSettledError`` once it has ended."""
        return self._set_paused(campaign_id, paused=True)

    def resume_campaign(self, campaign_id: str) -> campaign_pb2.Campaign | None:
        """Release a paused campaign again (a campaign not paused stays as it is)."""
        return self._set_paused(campaign_id, paused=False)

    def _set_paused(self, campaign_id: str, *, paused: bool) -> campaign_pb2.Campaign | None:
        now = _convert.now_us()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(campaigns.c.state, campaigns.c.send_at_us).where(
                    campaigns.c.id == campaign_id
                )
            ).first()
            if row is None:
                return None
            if row.state in _SETTLED_STATES:
                raise CampaignSettledError(campaign_id, row.state)
            paused_now = row.state == campaign_pb2.CAMPAIGN_STATE_PAUSED
            if paused and not paused_now:
                state = campaign_pb2.CAMPAIGN_STATE_PAUSED
            elif not paused and paused_now:
                waiting = row.send_at_us is not None and row.send_at_us > now
                state = (
                    campaign_pb2.CAMPAIGN_STATE_SCHEDULED
                    if waiting
                    else campaign_pb2.CAMPAIGN_STATE_DISPATCHING
                )
            else:
                state = row.state
            if state != row.state:
                conn.execute(
                    update(campaigns)
                    .where(campaigns.c.id == campaign_id)
                    .values(state=state, updated_us=now)
                )
                # Everything may have settled while it was paused.
                _complete_settled(conn, [campaign_id], now, self._windows_us)
            found = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).one()
            return _convert.campaign(found, self._counters(conn, campaign_id))

    def open_campaigns(self) -> list[tuple[str, int]]:
        """``(id, state)`` of every campaign not completed or cancelled, oldest first:
        the ones that may have deliveries to dispatch (or paused ones)."""
        with self._read() as conn:
            return [(r.id, int(r.state)) for r in conn.execute(_OPEN_CAMPAIGNS)]

    def apply_receipts(
        self,
        receipts: Sequence[bus_pb2.DeliveryReceipt],
        changed: collections.Counter[tuple[int, int]] | None = None,
    ) -> set[str]:
        """Apply receipts in one transaction; returns the campaigns they concern.

        A receipt that would move a delivery backwards (or sideways between
        final states), a duplicate, or one for an unknown delivery changes
        nothing. ``changed`` counts, per ``(channel, status)``, the deliveries
        that did move.

        The one way back is a ``deferred`` receipt: an adapter handed a queued
        delivery back unsent (its campaign paused), so it returns to the outbox;
        for a campaign cancelled meanwhile it ends cancelled instead.
        """
        receipts = [_without_nul(r) for r in receipts]
        by_campaign = _latest_receipts(receipts)
        deferred = _deferred_receipts(receipts)
        if not by_campaign and not deferred:
            return set()
        now = _convert.now_us()
        touched = sorted(set(by_campaign) | set(deferred))
        pending = _ledger.Pending()
        #: id() of each receipt that moved its delivery.
        applied: set[int] = set()
        #: Every delivery the receipts name that exists → its channel.
        known: dict[str, int] = {}
        with self.engine.begin() as conn:
            if deferred:
                # Handed back: whether to the outbox or cancelled depends on
                # the campaign's state, so its row is locked first, as a
                # cancel locks it (rare: a paused campaign's adapters).
                _lock_campaigns(conn, touched)
            # The deliveries' rows in a stable order, so two collectors never
            # deadlock; the campaigns' rows are not locked while they move.
            for campaign_id in touched:
                rows = by_campaign.get(campaign_id, [])
                for start in range(0, len(rows), WRITE_BATCH):
                    moved = _apply_receipts(
                        conn,
                        campaign_id,
                        rows[start : start + WRITE_BATCH],
                        now,
                        pending=pending,
                        applied=applied,
                        known=known,
                    )
                    if changed is not None:
                        changed.update(moved)
                handed_back = deferred.get(campaign_id)
                if handed_back:
                    _return_to_outbox(conn, campaign_id, handed_back, now, pending=pending)
            _record_receipts(pending, receipts, known, applied, now)
            _settle(conn, touched, now, self._windows_us, pending)
            _ledger.append(conn, pending)
        return set(touched)

    def close_report_windows(self, now_us: int | None = None) -> list[str]:
        """DISPATCHED campaigns whose report windows have passed become
        COMPLETED; returns their ids."""
        now = now_us if now_us is not None else _convert.now_us()
        with self.engine.begin() as conn:
            ids = list(conn.execute(_WINDOW_PASSED, {"now": now}).scalars())
            if ids:
                conn.execute(_COMPLETE_DISPATCHED, {"campaign_ids": ids, "now": now})
        return ids

    def report_window_end(self, campaign_id: str) -> int | None:
        """While the campaign is DISPATCHED, when its report windows end (µs)."""
        with self._read() as conn:
            row = conn.execute(_STATE_AND_WINDOW, {"campaign_id": campaign_id}).first()
        return _window_end(row)

    def get_delivery(self, campaign_id: str, delivery_id: str) -> campaign_pb2.Delivery | None:
        """The delivery with its history: its creation, every receipt (in the
        order they happened), and its current state when no receipt explains it."""
        with self._read() as conn:
            row = conn.execute(
                select(deliveries).where(
                    deliveries.c.id == delivery_id, deliveries.c.campaign_id == campaign_id
                )
            ).first()
            if row is None:
                return None
            events = _ledger.for_delivery(conn, delivery_id)
        delivery = _convert.delivery(row)
        delivery.history.append(
            campaign_pb2.DeliveryEvent(
                at=_convert.timestamp(row.created_us),
                status=campaign_pb2.DELIVERY_STATUS_PENDING,
                applied=True,
                source="intake",
            )
        )
        # In the order they happened (a provider's report may commit after a
        # later one), the order of commit among equal times.
        for event_row in sorted(events, key=lambda e: (e.at_us, e.position)):
            delivery.history.append(_ledger.history_event(event_row))
        if not any(e.status == row.status for e in delivery.history):
            # Moved by the orchestrator itself (queued, cancelled, suppressed,
            # skipped): the row's last change is that move.
            delivery.history.append(
                campaign_pb2.DeliveryEvent(
                    at=_convert.timestamp(row.updated_us),
                    status=row.status,
                    attempts=row.attempts,
                    error_code=row.error_code,
                    error_message=row.error_message,
                    applied=True,
                    source="orchestrator",
                )
            )
        return delivery

    def read_ledger(
        self, after_position: int, limit: int = 500, campaign_id: str | None = None
    ) -> list[campaign_pb2.LedgerEvent]:
        """Ledger events after ``after_position`` in position (commit) order, at
        most ``limit`` (up to ``MAX_LEDGER_READ``), of one campaign or of all.

        Reading on from the last position returned misses nothing and repeats
        nothing: an event that commits later always gets a higher position.
        """
        with self._read() as conn:
            return _ledger.read(conn, after_position, limit, campaign_id)

    def iter_delivery_rows(
        self, campaign_id: str, *, channel: int = 0, status: int = 0, page_size: int = 0
    ) -> Iterator[Sequence[Any]]:
        """Every delivery of the campaign as plain rows (the columns of
        ``EXPORT_COLUMNS``), ``page_size`` at a time, each page read on its own
        short connection: an export of any size holds one page and keeps no
        transaction open.

        Pages follow ``ix_deliveries_campaign_id`` (id order, which no write
        changes), so each is an index range, not a sort of the whole campaign,
        and every delivery appears exactly once, as its row stood when its page
        was read: one that changes behind the export is not repeated, one that
        changes ahead of it is read in its new state.
        """
        page_size = page_size or self.export_page_size
        after = ""
        while True:
            query = _EXPORT_PAGE.where(
                deliveries.c.campaign_id == campaign_id, deliveries.c.id > after
            )
            if channel:
                query = query.where(deliveries.c.channel == channel)
            if status:
                query = query.where(deliveries.c.status == status)
            with self._read() as conn:
                rows = conn.execute(query.limit(page_size)).all()
            if not rows:
                return
            yield rows
            if len(rows) < page_size:
                return
            after = rows[-1].id

    def iter_recipients(
        self, campaign_id: str, page_size: int = 1000
    ) -> Iterator[list[campaign_pb2.Recipient]]:
        """The campaign's audience in pages, in recipient id order."""
        after = ""
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    select(recipients.c.recipient_id, recipients.c.data)
                    .where(
                        recipients.c.campaign_id == campaign_id,
                        recipients.c.recipient_id > after,
                    )
                    .order_by(recipients.c.recipient_id)
                    .limit(page_size)
                ).all()
            if not rows:
                return
            yield [campaign_pb2.Recipient.FromString(r.data) for r in rows]
            if len(rows) < page_size:
                return
            after = rows[-1].recipient_id

    @contextmanager
    def claim_due(
        self,
        limit: int,
        now_us: int | None = None,
        channel: int | None = None,
        campaign_id: str | None = None,
    ) -> Iterator[Claim]:
        """Claim up to ``limit`` due deliveries of the outbox (of ``channel``, or
        of every channel), oldest first; of one campaign only with ``campaign_id``
        (then in no particular order).

        On PostgreSQL the rows stay locked (``FOR UPDATE SKIP LOCKED``) until
        the block ends, so replicas never dispatch the same delivery; the
        claim's updates commit with it. SQLite assumes a single dispatcher and
        commits each update in its own short transaction.
        """
        now = now_us if now_us is not None else _convert.now_us()
        postgres = self.engine.dialect.name == "postgresql"
        query = _claim_statement(limit, channel, postgres, one_campaign=campaign_id is not None)
        params = {"now": now, "campaign_id": campaign_id}
        claimed_us = _convert.now_us()
        if postgres:
            with self.engine.begin() as conn:
                rows = conn.execute(query, params).all()
                claim = Claim(
                    _due(rows),
                    lambda: _nullcontext(conn),
                    self._windows_us,
                    claimed_us,
                    append_each=False,
                )
                yield claim
                # The claim's marks commit together: their events go last.
                _ledger.append(conn, claim.pending)
        else:
            with self._read() as conn:
                rows = conn.execute(query, params).all()
            yield Claim(_due(rows), self.engine.begin, self._windows_us, claimed_us)

    # -- suppressions ---------------------------------------------------------

    def add_suppression(
        self, channel: int, address: str, reason: str, actor: str = ""
    ) -> campaign_service_pb2.Suppression:
        """Suppress ``address`` on ``channel``; an existing entry is kept as it was,
        unless it records only the person's own opt-out and ``reason`` is one they
        cannot undo themselves (a hard bounce after an unsubscribe): the entry then
        takes that reason, so their re-subscribe no longer lifts it. A new or
        changed entry goes in the audit trail, with ``actor``."""
        with self.engine.begin() as conn:
            row = _find_suppression(conn, channel, address)
            if (
                row is not None
                and row.reason in RECIPIENT_OPT_OUT_REASONS
                and reason not in RECIPIENT_OPT_OUT_REASONS
            ):
                conn.execute(
                    update(suppressions)
                    .where(suppressions.c.channel == channel, suppressions.c.address == address)
                    .values(reason=reason)
                )
                _audit(
                    conn,
                    channel,
                    address,
                    _ADDED,
                    reason=reason,
                    actor=actor,
                    at_us=_convert.now_us(),
                )
                row = _find_suppression(conn, channel, address)
            if row is None:
                now = _convert.now_us()
                conn.execute(
                    insert(suppressions).values(
                        channel=channel, address=address, reason=reason, created_us=now
                    )
                )
                _audit(conn, channel, address, _ADDED, reason=reason, actor=actor, at_us=now)
                row = _find_suppression(conn, channel, address)
        assert row is not None
        return _suppression(row)

    def remove_suppression(
        self,
        channel: int,
        address: str,
        *,
        reason: str = "",
        actor: str = "",
        only_reasons: Collection[str] | None = None,
    ) -> bool:
        """Allow ``address`` again; a removal goes in the audit trail, in the
        same transaction, with ``reason`` and ``actor``. With ``only_reasons``,
        only an entry suppressed for one of them is removed (a recipient's own
        opt-in lifts their opt-out, never a hard bounce or an operator's entry)."""
        condition = [suppressions.c.channel == channel, suppressions.c.address == address]
        if only_reasons is not None:
            condition.append(suppressions.c.reason.in_(sorted(only_reasons)))
        with self.engine.begin() as conn:
            deleted = conn.execute(delete(suppressions).where(*condition)).rowcount
            if deleted:
                _audit(
                    conn,
                    channel,
                    address,
                    _REMOVED,
                    reason=reason,
                    actor=actor,
                    at_us=_convert.now_us(),
                )
        return bool(deleted)

    def list_suppression_audit(
        self, *, channel: int = 0, address: str = "", page_size: int = 50, page_token: str = ""
    ) -> tuple[list[campaign_service_pb2.SuppressionAuditEntry], str]:
        """The audit trail, newest first."""
        statement = select(suppression_audit)
        if channel:
            statement = statement.where(suppression_audit.c.channel == channel)
        if address:
            statement = statement.where(suppression_audit.c.address == address)
        if page_token:
            at_us, entry_id = decode_token(page_token, 2, (int, str))
            statement = statement.where(
                tuple_(suppression_audit.c.at_us, suppression_audit.c.id) < tuple_(at_us, entry_id)
            )
        statement = statement.order_by(
            suppression_audit.c.at_us.desc(), suppression_audit.c.id.desc()
        )
        with self._read() as conn:
            rows = conn.execute(statement.limit(page_size + 1)).all()
        page = rows[:page_size]
        next_token = _encode_token([page[-1].at_us, page[-1].id]) if len(rows) > page_size else ""
        return [_audit_entry(r) for r in page], next_token

    def list_suppressions(
        self, *, channel: int = 0, query: str = "", page_size: int = 100, page_token: str = ""
    ) -> tuple[list[campaign_service_pb2.Suppression], str]:
        statement = select(suppressions)
        if channel:
            statement = statement.where(suppressions.c.channel == channel)
        if query:
            statement = statement.where(suppressions.c.address.contains(query, autoescape=True))
        if page_token:
            after_channel, after_address = decode_token(page_token, 2, (int, str))
            statement = statement.where(
                tuple_(suppressions.c.channel, suppressions.c.address)
                > tuple_(after_channel, after_address)
            )
        statement = statement.order_by(suppressions.c.channel, suppressions.c.address)
        with self._read() as conn:
            rows = conn.execute(statement.limit(page_size + 1)).all()
        page = rows[:page_size]
        next_token = ""
        if len(rows) > page_size:
            next_token = _encode_token([page[-1].channel, page[-1].address])
        return [_suppression(r) for r in page], next_token


_CAMPAIGN_CHANNEL_STATUS: Final = operator.itemgetter(
    NewDelivery._fields.index("campaign_id"),
    NewDelivery._fields.index("channel"),
    NewDelivery._fields.index("status"),
)


class CampaignWriter:
    """Writes one submission inside a single transaction (see ``Store.campaign_writer``)."""

    def __init__(self, conn: Connection, windows_us: Mapping[int, int] | None = None) -> None:
        self._conn = conn
        self._windows_us = windows_us or {}
        #: Counters of the deliveries written, and the events of those ended at
        #: intake (skipped, suppressed): appended as the transaction's last step.
        self.pending = _ledger.Pending()

    def insert_campaign(self, values: dict[str, Any]) -> None:
        """Insert the campaign's row; ``IdempotencyKeyTakenError`` when another
        campaign holds its key (the transaction is then to be rolled back).

        The intake inserts it last, with its final audience size and request
        hash: one statement instead of an insert and an update, and no savepoint
        (a clash of keys ends the submission anyway).
        """
        try:
            self._conn.execute(_INSERT_CAMPAIGN, {**values, "event_seq": 1})
        except IntegrityError as exc:
            key = values.get("idempotency_key")
            if key:
                raise IdempotencyKeyTakenError(key) from exc
            raise

    def existing_recipient_ids(self, campaign_id: str, ids: Sequence[str]) -> set[str]:
        rows = self._conn.execute(
            select(recipients.c.recipient_id).where(
                recipients.c.campaign_id == campaign_id, recipients.c.recipient_id.in_(ids)
            )
        )
        return {r[0] for r in rows}

    def suppressed(self, addressed: Mapping[int, Sequence[str]]) -> dict[int, set[str]]:
        """Per channel, which of its addresses are on its suppression list.

        On PostgreSQL e-mail and SMS are looked up in one round trip: a slice
        of the audience is written on its own thread while the next is
        validated, and each round trip there waits for the interpreter lock
        as well as for the database.
        """
        if self._conn.dialect.name != "postgresql" or len(addressed) != 2:
            return {
                channel: suppressed_addresses(self._conn, channel, addresses)
                for channel, addresses in addressed.items()
            }
        (first, first_addresses), (second, second_addresses) = addressed.items()
        found: dict[int, set[str]] = {first: set(), second: set()}
        rows = self._conn.execute(
            _SUPPRESSED_ON_TWO_CHANNELS,
            {
                "first": first,
                "first_addresses": list(dict.fromkeys(first_addresses)),
                "second": second,
                "second_addresses": list(dict.fromkeys(second_addresses)),
            },
        )
        for channel, address in rows:
            found[channel].add(address)
        return found

    def insert_recipients(self, rows: Sequence[NewRecipient], *, first: bool = False) -> None:
        """Insert one slice of the audience; ``DuplicateRecipientsError`` when an
        id repeats one of an earlier slice (the table's key says so, and the slice
        is undone so the ids can be named).

        The ``first`` slice has no earlier one to collide with (the caller has
        checked it for repeats within), so it needs no savepoint, which spares
        a small campaign two round trips.
        """
        if not rows:
            return
        if first:
            insert_tuples(self._conn, recipients, NewRecipient._fields, rows)
            return
        try:
            with self._conn.begin_nested():
                insert_tuples(self._conn, recipients, NewRecipient._fields, rows)
        except IntegrityError as exc:
            campaign_id = rows[0].campaign_id
            taken = self.existing_recipient_ids(campaign_id, [r.recipient_id for r in rows])
            if not taken:
                raise
            raise DuplicateRecipientsError(taken) from exc

    def insert_deliveries(self, rows: Sequence[NewDelivery]) -> None:
        insert_tuples(self._conn, deliveries, NewDelivery._fields, rows)
        # Counted by (campaign, channel, status) in C, not one call per row.
        for (campaign_id, channel, status), n in collections.Counter(
            map(_CAMPAIGN_CHANNEL_STATUS, rows)
        ).items():
            self.pending.added(campaign_id, channel, status, n)
        for row in rows:
            if row.status_rank > UNSETTLED_MAX_RANK:
                self.pending.events.append(
                    _ledger.event_row(
                        row.campaign_id,
                        row.channel,
                        _ledger.EVENT_OF_STATUS[row.status],
                        row.created_us,
                        _ledger.Source.INTAKE,
                        delivery_id=row.id,
                        error_code=row.error_code,
                        detail=row.error_message,
                    )
                )

    def merge_duplicate_addresses(self, campaign_id: str) -> list[tuple[int, int]]:
        """Delete the campaign's email and SMS deliveries whose address another
        of its recipients has on the same channel, keeping the one of the
        smallest recipient id; returns ``(channel, status)`` of each deleted.

        One sort of the campaign's deliveries at the end of the submission, in
        its transaction: the audience never has to sit in memory to be compared.
        """
        merged = self._conn.execute(_MERGE_DUPLICATES, {"campaign_id": campaign_id}).all()
        gone = {r.id for r in merged}
        for r in merged:
            self.pending.added(campaign_id, int(r.channel), int(r.status), -1)
        if gone:
            self.pending.events = [e for e in self.pending.events if e.delivery_id not in gone]
        return [(int(r.channel), int(r.status)) for r in merged]

    def complete_if_settled(self, campaign_id: str) -> None:
        """Complete the campaign now if none of its deliveries waits for dispatch
        (every one suppressed, say)."""
        _complete_settled(
            self._conn, [campaign_id], _convert.now_us(), self._windows_us, self.pending
        )


class Claim:
    """Deliveries claimed for dispatch, and the updates that settle them.

    Each update reads the statuses it moves from (rows the claim holds, so
    nothing moves them meanwhile), moves the counters by exactly those, and
    records ledger events: appended at the end of the claim's transaction on
    PostgreSQL, of each update's own transaction on SQLite.
    """

    def __init__(
        self,
        due: list[DueDelivery],
        transaction: Any,
        windows_us: Mapping[int, int] | None = None,
        claimed_us: int = 0,
        *,
        append_each: bool = True,
    ) -> None:
        self.deliveries = due
        self._transaction = transaction
        self._windows_us = windows_us or {}
        self._claimed_us = claimed_us or _convert.now_us()
        self._append_each = append_each
        self.pending = _ledger.Pending()
        self._locked: set[str] = set()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._transaction() as conn:
            yield conn
            if self._append_each:
                _ledger.append(conn, self.pending)

    def mark_queued(
        self,
        campaign_id: str,
        delivery_ids: Sequence[str],
        batches: Sequence[tuple[str, int, Sequence[str]]] = (),
    ) -> None:
        """Mark published deliveries queued, unless a receipt got there first: one
        already sent, or handed back unsent (deferred: changed since the claim,
        so it stays in the outbox rather than wait as queued for nothing).
        ``batches`` (``(batch_id, channel, delivery ids)`` per broker message)
        become one ledger event each."""
        if not delivery_ids:
            return
        now = _convert.now_us()
        with self._writing() as conn:
            # Matches (and so locks) the campaign's row only while it is
            # scheduled: the first mark of its first round.
            conn.execute(_START_DISPATCHING, {"campaign_id": campaign_id, "now": now})
            postgres = conn.dialect.name == "postgresql"
            statement = _MARK_QUEUED[postgres]
            queued: dict[str, int] = {}
            #: (channel, status left) → deliveries: the counters move once per pair.
            left: collections.Counter[tuple[int, int]] = collections.Counter()
            for start in range(0, len(delivery_ids), WRITE_BATCH):
                ids = list(delivery_ids[start : start + WRITE_BATCH])
                # The update returns the status each row left (prev_status,
                # migration 0010): the counters need no read of the rows first.
                for delivery_id, channel, prev_status in conn.execute(
                    statement, {"ids": ids, "now": now, "claimed": self._claimed_us}
                ):
                    queued[delivery_id] = channel
                    left[(channel, prev_status)] += 1
            for (channel, prev_status), n in left.items():
                self.pending.moved(campaign_id, channel, prev_status, _QUEUED_STATUS, n)
            if not batches:
                by_channel: dict[int, list[str]] = {}
                for delivery_id, channel in queued.items():
                    by_channel.setdefault(channel, []).append(delivery_id)
                batches = [("", channel, chunk) for channel, chunk in sorted(by_channel.items())]
            for batch_id, channel, carried_ids in batches:
                carried = [i for i in carried_ids if i in queued]
                if carried:
                    self.pending.events.append(
                        _ledger.event_row(
                            campaign_id,
                            channel,
                            campaign_pb2.LEDGER_EVENT_TYPE_QUEUED,
                            now,
                            _ledger.Source.DISPATCHER,
                            batch_id=batch_id,
                            delivery_ids=carried,
                        )
                    )

    def defer(self, campaign_id: str, until: Sequence[tuple[str, int]]) -> None:
        """Hold deliveries as scheduled until ``(delivery_id, not_before_us)``.

        Only deliveries still in the outbox move; one queued or settled meanwhile
        stays as it is. Those of a campaign cancelled since the claim end
        cancelled instead.
        """
        if not until:
            return
        now = _convert.now_us()
        status = campaign_pb2.DELIVERY_STATUS_SCHEDULED
        cancelled: list[str] = []
        with self._writing() as conn:
            before = _current(conn, campaign_id, [delivery_id for delivery_id, _ in until])
            movable = [
                (before[delivery_id], at)
                for delivery_id, at in until
                if delivery_id in before
                and before[delivery_id].status_rank <= DISPATCHABLE_MAX_RANK
            ]
            if not movable:
                return
            # Back to the outbox, where only a cancel still finds them: the
            # campaign's row is locked (after the claimed rows, as every mark
            # goes) so a cancel either waits for this commit and then sees
            # them, or committed before and is seen here.
            self._lock_campaign(conn, campaign_id)
            if conn.execute(_STATE, {"campaign_id": campaign_id}).scalar() == _CANCELLED:
                cancelled = [row.id for row, _ in movable]
                movable = []
            if movable:
                conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.id == bindparam("b_id"),
                        deliveries.c.status_rank <= DISPATCHABLE_MAX_RANK,
                    )
                    .values(
                        prev_status=deliveries.c.status,
                        status=status,
                        status_rank=STATUS_RANK[status],
                        not_before_us=bindparam("b_not_before"),
                        updated_us=now,
                        seq=MOVED_SEQ,
                    ),
                    [{"b_id": row.id, "b_not_before": at} for row, at in movable],
                )
            for row, at in movable:
                self.pending.moved(campaign_id, row.channel, row.status, status)
                self.pending.events.append(
                    _ledger.event_row(
                        campaign_id,
                        row.channel,
                        campaign_pb2.LEDGER_EVENT_TYPE_DEFERRED,
                        now,
                        _ledger.Source.DISPATCHER,
                        delivery_id=row.id,
                        detail=f"until {_ledger.rfc3339(at)}",
                    )
                )
        if cancelled:
            self.mark_final(
                campaign_id,
                [FinalUpdate(i, _CANCELLED_STATUS) for i in cancelled],
            )

    def _lock_campaign(self, conn: Connection, campaign_id: str) -> None:
        """Lock the campaign's row until the claim commits (once per claim on
        PostgreSQL, where the claim is one transaction)."""
        if campaign_id not in self._locked:
            _lock_campaigns(conn, [campaign_id])
            if not self._append_each:
                self._locked.add(campaign_id)

    def mark_final(self, campaign_id: str, updates: Sequence[FinalUpdate]) -> None:
        """End deliveries that will never be dispatched (render errors, suppressions)."""
        if not updates:
            return
        now = _convert.now_us()
        with self._writing() as conn:
            before = _current(conn, campaign_id, [u.delivery_id for u in updates])
            movable = [
                (before[u.delivery_id], u)
                for u in updates
                if u.delivery_id in before
                and before[u.delivery_id].status_rank < STATUS_RANK[u.status]
            ]
            if movable:
                conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.id == bindparam("b_id"),
                        deliveries.c.status_rank < bindparam("b_rank"),
                    )
                    .values(
                        prev_status=deliveries.c.status,
                        status=bindparam("b_status"),
                        status_rank=bindparam("b_rank"),
                        error_code=bindparam("b_code"),
                        error_message=bindparam("b_message"),
                        updated_us=now,
                        seq=MOVED_SEQ,
                    ),
                    [
                        {
                            "b_id": u.delivery_id,
                            "b_status": u.status,
                            "b_rank": STATUS_RANK[u.status],
                            "b_code": u.error_code,
                            "b_message": u.error_message,
                        }
                        for _, u in movable
                    ],
                )
            for row, u in movable:
                self.pending.moved(campaign_id, row.channel, row.status, u.status)
                self.pending.events.append(
                    _ledger.event_row(
                        campaign_id,
                        row.channel,
                        _ledger.EVENT_OF_STATUS[u.status],
                        now,
                        _ledger.Source.DISPATCHER,
                        delivery_id=row.id,
                        error_code=u.error_code,
                        detail=u.error_message,
                    )
                )
            if movable:
                self._lock_campaign(conn, campaign_id)
                _complete_settled(conn, [campaign_id], now, self._windows_us, self.pending)


@functools.cache
def _claim_statement(
    limit: int, channel: int | None, postgres: bool, *, one_campaign: bool = False
) -> Select[Any]:
    """The claim query, built once per shape; the limit stays a literal so the
    planner sees it."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.campaign_id,
            deliveries.c.channel,
            deliveries.c.recipient_id,
            deliveries.c.address,
            deliveries.c.attempts,
            recipients.c.data,
            # A bool on SQLite too (which answers 0 or 1): DueDelivery takes the row as is.
            type_coerce(suppressions.c.address.is_not(None), Boolean).label("suppressed"),
        )
        .select_from(
            deliveries.outerjoin(
                recipients,
                and_(
                    recipients.c.campaign_id == deliveries.c.campaign_id,
                    recipients.c.recipient_id == deliveries.c.recipient_id,
                    deliveries.c.channel != campaign_pb2.CHANNEL_SOCIAL,
                ),
            )
            # Suppressed since submit (an unsubscribe, a bounce): found in the
            # claim's own round trip, by the suppressions' unique key.
            .outerjoin(
                suppressions,
                and_(
                    suppressions.c.channel == deliveries.c.channel,
                    suppressions.c.address == deliveries.c.address,
                ),
            )
        )
        .where(text(OUTBOX_SQL), deliveries.c.not_before_us <= bindparam("now"))
        .limit(limit)
    )
    if one_campaign:
        # By ``ix_deliveries_campaign_outbox``; the order within a campaign does not
        # matter, and sorting a million-recipient campaign's outbox per round would.
        query = query.where(deliveries.c.campaign_id == bindparam("campaign_id"))
        if channel is not None:
            query = query.where(deliveries.c.channel == channel)
    elif channel is None:
        query = query.order_by(
            deliveries.c.not_before_us, deliveries.c.campaign_id, deliveries.c.channel
        )
    else:
        # The order of ``ix_deliveries_due``: an index scan, no sort.
        query = query.where(deliveries.c.channel == channel).order_by(
            deliveries.c.channel, deliveries.c.not_before_us, deliveries.c.campaign_id
        )
    if postgres:
        query = query.with_for_update(of=deliveries, skip_locked=True)
    return query


@contextmanager
def _nullcontext(conn: Connection) -> Iterator[Connection]:
    yield conn


def _due(rows: Sequence[Any]) -> list[DueDelivery]:
    # The claim selects DueDelivery's fields in its order.
    return list(map(DueDelivery._make, rows))


def _lock_campaigns(conn: Connection, campaign_ids: Sequence[str]) -> None:
    """Lock the campaigns' rows until the transaction ends, in id order (on
    SQLite the writer already holds the database lock)."""
    if campaign_ids and conn.dialect.name == "postgresql":
        conn.execute(_LOCK_CAMPAIGNS, {"campaign_ids": sorted(campaign_ids)}).all()


def _settle(
    conn: Connection,
    campaign_ids: Sequence[str],
    now: int,
    windows_us: Mapping[int, int],
    pending: _ledger.Pending,
) -> None:
    """``_complete_settled`` after a receipt flush, race-free without holding
    the campaigns' rows while the deliveries move: two flushes that end a
    campaign's last deliveries each see the other's as still open until it
    commits, so each locks the campaigns' rows first; the second waits for the
    first's commit (its short tail: this, the ledger append, COMMIT) and then
    reads it (its counters included), and the campaign settles. The lock
    returns the rows as they are once locked: their states need no read of
    their own."""
    if conn.dialect.name != "postgresql":
        _complete_settled(conn, campaign_ids, now, windows_us, pending)
        return
    locked = conn.execute(_LOCK_CAMPAIGN_STATES, {"campaign_ids": sorted(campaign_ids)}).all()
    candidates = [row for row in locked if row.state in _SETTLING_STATES]
    _complete_candidates(conn, candidates, now, windows_us, pending)


def _complete_settled(
    conn: Connection,
    campaign_ids: Sequence[str],
    now: int,
    windows_us: Mapping[int, int],
    pending: _ledger.Pending | None = None,
) -> None:
    """Run after every receipt flush: a campaign none of whose deliveries is
    pending, scheduled or queued any more becomes DISPATCHED while some are SENT
    on a channel with a report window (until the window ends, or until every
    report arrived), otherwise COMPLETED.

    Decided by the campaigns' counters as committed plus this transaction's
    ``pending`` moves (added to the counters only by its last step): exactly
    the deliveries' statuses this transaction sees, without an index on the
    status, which would keep receipts from being HOT updates (migration 0009).
    """
    candidates = conn.execute(_SETTLE_CANDIDATES, {"campaign_ids": list(campaign_ids)}).all()
    _complete_candidates(conn, candidates, now, windows_us, pending)


def _complete_candidates(
    conn: Connection,
    candidates: Sequence[Any],
    now: int,
    windows_us: Mapping[int, int],
    pending: _ledger.Pending | None,
) -> None:
    """``_complete_settled`` for ``(id, state)`` rows of campaigns still settling."""
    if not candidates:
        return
    counts = _live_counts(conn, [row.id for row in candidates], pending)
    for row in candidates:
        by_status = counts[row.id]
        if any(n > 0 for (_, status), n in by_status.items() if status in _UNSETTLED_STATUSES):
            continue
        waiting = {channel for channel in windows_us if by_status[(channel, _SENT_STATUS)] > 0}
        if row.state == campaign_pb2.CAMPAIGN_STATE_DISPATCHED:
            if not waiting:
                conn.execute(_COMPLETE_DISPATCHED, {"campaign_ids": [row.id], "now": now})
            continue
        params = {"campaign_id": row.id, "from_state": row.state, "now": now}
        if waiting:
            ends = now + max(windows_us[c] for c in waiting)
            conn.execute(_DISPATCHED, {**params, "report_window_ends_us": ends})
        else:
            conn.execute(_DISPATCHED_AND_COMPLETED, params)


def _live_counts(
    conn: Connection, campaign_ids: Sequence[str], pending: _ledger.Pending | None
) -> dict[str, collections.Counter[tuple[int, int]]]:
    """Per campaign, ``(channel, status)`` → deliveries, as this transaction
    sees them: the committed counters plus its own moves not yet added."""
    counts: dict[str, collections.Counter[tuple[int, int]]] = {
        campaign_id: collections.Counter() for campaign_id in campaign_ids
    }
    for r in _ledger.counter_rows(conn, campaign_ids):
        counts[r.campaign_id][(int(r.channel), int(r.status))] += int(r.count)
    if pending is not None:
        for (campaign_id, channel, status), n in pending.counts.items():
            if campaign_id in counts:
                counts[campaign_id][(channel, status)] += n
    return counts


def _record_receipts(
    pending: _ledger.Pending,
    receipts: Sequence[bus_pb2.DeliveryReceipt],
    known: Mapping[str, int],
    applied: set[int],
    now: int,
) -> None:
    """One ledger event per receipt of an existing delivery, repeats included
    (they are what the provider said, even when they change nothing)."""
    unreadable = 0
    for r in receipts:
        channel = known.get(r.delivery_id)
        if r.status in _RECEIPT_STATUSES and channel is not None:
            at = now
            if r.HasField("occurred_at"):
                try:
                    at = r.occurred_at.ToMicroseconds()
                except ValueError:
                    # Outside what a Timestamp may hold (a worker's broken clock):
                    # raised here, it would fail the flush, whose redelivery would
                    # fail again and hold up every receipt behind it.
                    unreadable += 1
            pending.receipt(r, at, applied=id(r) in applied, channel=channel)
    if unreadable:
        log.warning(
            "%d receipts said they happened at an impossible time; recorded at their arrival",
            unreadable,
        )


def _current(conn: Connection, campaign_id: str, ids: Sequence[str]) -> dict[str, Any]:
    """``id → (id, channel, status, status_rank)`` of the campaign's deliveries
    among ``ids``, locked on PostgreSQL until the transaction ends."""
    statement = _CURRENT[conn.dialect.name == "postgresql"]
    found: dict[str, Any] = {}
    for start in range(0, len(ids), WRITE_BATCH):
        chunk = list(ids[start : start + WRITE_BATCH])
        for row in conn.execute(statement, {"campaign_id": campaign_id, "ids": chunk}):
            found[row.id] = row
    return found


def _cancel_outbox(conn: Connection, campaign_id: str, now: int, pending: _ledger.Pending) -> int:
    """Cancel the campaign's deliveries waiting in the outbox; returns how many.

    A thousand at a time per channel and status, so memory stays flat and the
    counters move by exactly what each UPDATE returned; one ledger event per
    thousand, listing them (watchers and webhook senders need the ids).
    """
    cancelled = campaign_pb2.DELIVERY_STATUS_CANCELLED
    total = 0
    outbox = sorted(
        (int(r.channel), int(r.status))
        for r in conn.execute(_ledger.COUNTS, {"campaign_id": campaign_id})
        if STATUS_RANK.get(r.status, 0) <= DISPATCHABLE_MAX_RANK
    )
    for channel, status in outbox:
        while True:
            ids = [
                r.id
                for r in conn.execute(
                    _CANCEL_OUTBOX,
                    {
                        "b_campaign": campaign_id,
                        "b_channel": channel,
                        "b_rank": STATUS_RANK[status],
                        "b_now": now,
                    },
                )
            ]
            if not ids:
                break
            pending.moved(campaign_id, channel, status, cancelled, len(ids))
            pending.events.append(
                _ledger.event_row(
                    campaign_id,
                    channel,
                    campaign_pb2.LEDGER_EVENT_TYPE_CANCELLED,
                    now,
                    _ledger.Source.CANCEL,
                    detail="waited in the outbox",
                    delivery_ids=sorted(ids),
                )
            )
            total += len(ids)
    return total


def _campaign_state(conn: Connection, campaign_id: str) -> tuple[int, bool] | None:
    row = conn.execute(_STATE_AND_OPEN, {"campaign_id": campaign_id}).first()
    if row is None:
        return None
    return int(row.state), not row.open


def _progress_reading(conn: Connection, campaign_id: str) -> ProgressReading | None:
    rows = conn.execute(_PROGRESS, {"campaign_id": campaign_id}).all()
    if not rows:
        return None
    counts = [(r.channel, r.status, r.count) for r in rows if r.channel is not None]
    return ProgressReading(int(rows[0].state), _convert.counters(counts), _window_end(rows[0]))


def _window_end(row: Any) -> int | None:
    if row is None or row.state != campaign_pb2.CAMPAIGN_STATE_DISPATCHED:
        return None
    return row.report_window_ends_us  # type: ignore[no-any-return]


def _latest_receipts(
    receipts: Sequence[bus_pb2.DeliveryReceipt],
) -> dict[str, list[bus_pb2.DeliveryReceipt]]:
    """Per campaign, the receipt of highest rank per delivery (the first of equal
    rank): what applying them one after another would leave, in one write each."""
    best: dict[tuple[str, str], bus_pb2.DeliveryReceipt] = {}
    for r in receipts:
        if r.status not in _RECEIPT_STATUSES or not r.campaign_id:
            continue
        key = (r.campaign_id, r.delivery_id)
        kept = best.get(key)
        if kept is None or STATUS_RANK[r.status] > STATUS_RANK[kept.status]:
            best[key] = r
    by_campaign: dict[str, list[bus_pb2.DeliveryReceipt]] = {}
    for (campaign_id, _), r in best.items():
        by_campaign.setdefault(campaign_id, []).append(r)
    return by_campaign


#: The receipt's texts that come from a provider's answer.
_RECEIPT_TEXTS: Final = (
    "provider",
    "provider_message_id",
    "error_code",
    "error_message",
    "public_url",
)


def _without_nul(r: bus_pb2.DeliveryReceipt) -> bus_pb2.DeliveryReceipt:
    """``r``, or a copy without NUL characters in its texts.

    A provider's error text may carry one (JSON's ``\\u0000``); PostgreSQL's
    text cannot hold it, and the flush that failed on it would be redelivered
    and fail again, holding up every receipt behind it. Removed on SQLite too,
    so both stores keep the same text.
    """
    # One search of the texts together: a flush checks thousands of receipts.
    joined = r.provider + r.provider_message_id + r.error_code + r.error_message + r.public_url
    if "\x00" not in joined:
        return r
    clean = bus_pb2.DeliveryReceipt()
    clean.CopyFrom(r)
    for name in _RECEIPT_TEXTS:
        setattr(clean, name, getattr(r, name).replace("\x00", ""))
    return clean


def _deferred_receipts(
    receipts: Sequence[bus_pb2.DeliveryReceipt],
) -> dict[str, list[str]]:
    """Per campaign, the deliveries adapters handed back unsent."""
    by_campaign: dict[str, list[str]] = {}
    for r in receipts:
        if r.status == campaign_pb2.DELIVERY_STATUS_DEFERRED and r.campaign_id:
            by_campaign.setdefault(r.campaign_id, []).append(r.delivery_id)
    return by_campaign


def _return_to_outbox(
    conn: Connection,
    campaign_id: str,
    delivery_ids: Sequence[str],
    now: int,
    *,
    pending: _ledger.Pending,
) -> None:
    """Deliveries handed back unsent become pending again, or cancelled when their
    campaign was cancelled meanwhile. One already sent stays as it is; one not
    yet marked queued (the adapter was quicker than the dispatcher's mark) is
    stamped, so ``Claim.mark_queued`` leaves it in the outbox. Each is a
    deferred (or cancelled) event in the ledger. The caller holds the
    campaign's row, so a cancel either committed before (and is seen here)
    or waits for this commit and then cancels them in the outbox."""
    state = conn.execute(_STATE, {"campaign_id": campaign_id}).scalar()
    status = (
        campaign_pb2.DELIVERY_STATUS_CANCELLED
        if state == campaign_pb2.CAMPAIGN_STATE_CANCELLED
        else campaign_pb2.DELIVERY_STATUS_PENDING
    )
    statement = (
        update(deliveries)
        .where(
            deliveries.c.id == bindparam("b_id"),
            deliveries.c.campaign_id == campaign_id,
            deliveries.c.status_rank <= _QUEUED_RANK,
        )
        .values(
            prev_status=deliveries.c.status,
            status=status,
            status_rank=STATUS_RANK[status],
            updated_us=now,
            seq=MOVED_SEQ,
        )
    )
    before = _current(conn, campaign_id, list(dict.fromkeys(delivery_ids)))
    movable = [row for row in before.values() if row.status_rank <= _QUEUED_RANK]
    for start in range(0, len(movable), WRITE_BATCH):
        chunk = movable[start : start + WRITE_BATCH]
        conn.execute(statement, [{"b_id": row.id} for row in chunk])
    for row in movable:
        pending.moved(campaign_id, row.channel, row.status, status)
        pending.events.append(
            _ledger.event_row(
                campaign_id,
                row.channel,
                _ledger.EVENT_OF_STATUS[status],
                now,
                _ledger.Source.RECEIPT,
                delivery_id=row.id,
                detail="handed back unsent",
            )
        )


# The statements run per campaign, per watch wake-up or per dispatch round,
# built once: building and cache-keying a Core statement cost about as much
# CPU as executing it (on PostgreSQL, 215 µs of CPU per read built per call,
# 106 µs prebuilt).
_BY_IDEMPOTENCY_KEY: Final = select(campaigns.c.id, campaigns.c.request_hash).where(
    campaigns.c.idempotency_key == bindparam("key")
)
#: What an export reads of each delivery.
EXPORT_COLUMNS: Final = (
    "id",
    "channel",
    "recipient_id",
    "address",
    "status",
    "attempts",
    "provider",
    "provider_message_id",
    "error_code",
    "error_message",
    "public_url",
    "created_us",
    "updated_us",
)
_EXPORT_PAGE: Final = select(*(deliveries.c[name] for name in EXPORT_COLUMNS)).order_by(
    deliveries.c.id
)
_CAMPAIGN: Final = select(campaigns).where(campaigns.c.id == bindparam("campaign_id"))
_STATE: Final = select(campaigns.c.state).where(campaigns.c.id == bindparam("campaign_id"))
_STATE_AND_WINDOW: Final = select(campaigns.c.state, campaigns.c.report_window_ends_us).where(
    campaigns.c.id == bindparam("campaign_id")
)
#: The campaign's state and report window with its counters, one row per
#: channel and status (one row of NULL counters when none is left): what a
#: watch's progress event needs, in one round trip and one snapshot.
_PROGRESS: Final = (
    select(
        campaigns.c.state,
        campaigns.c.report_window_ends_us,
        delivery_counters.c.channel,
        delivery_counters.c.status,
        delivery_counters.c.count,
    )
    .select_from(
        campaigns.outerjoin(
            delivery_counters,
            and_(delivery_counters.c.campaign_id == campaigns.c.id, delivery_counters.c.count != 0),
        )
    )
    .where(campaigns.c.id == bindparam("campaign_id"))
)
_OPEN_CAMPAIGNS: Final = (
    select(campaigns.c.id, campaigns.c.state)
    .where(campaigns.c.state.not_in(_SETTLED_STATES))
    .order_by(campaigns.c.created_us, campaigns.c.id)
)


#: The statuses of a delivery not yet at a provider: a campaign with one is open.
_UNSETTLED_STATUSES: Final = frozenset(
    status for status, rank in STATUS_RANK.items() if rank <= UNSETTLED_MAX_RANK
)
_SENT_STATUS: Final = campaign_pb2.DELIVERY_STATUS_SENT
# Whether a delivery of a campaign is still pending, scheduled or queued, from
# its counters (one row per channel and status), which move in the same
# transaction as the deliveries: one statement, so the state and the answer
# are of one snapshot.
_STATE_AND_OPEN: Final = select(
    campaigns.c.state,
    select(delivery_counters.c.campaign_id)
    .where(
        delivery_counters.c.campaign_id == campaigns.c.id,
        delivery_counters.c.status.in_(sorted(_UNSETTLED_STATUSES)),
        delivery_counters.c.count > 0,
    )
    .exists()
    .label("open"),
).where(campaigns.c.id == bindparam("campaign_id"))
_RANKED_BY_ADDRESS: Final = (
    select(
        deliveries.c.id,
        func.row_number()
        .over(
            partition_by=(deliveries.c.channel, deliveries.c.address),
            order_by=deliveries.c.recipient_id,
        )
        .label("n"),
    )
    .where(
        deliveries.c.campaign_id == bindparam("campaign_id"),
        deliveries.c.channel.in_([campaign_pb2.CHANNEL_EMAIL, campaign_pb2.CHANNEL_SMS]),
        # An invalid address kept as SKIPPED is not a mailbox to merge.
        deliveries.c.status != campaign_pb2.DELIVERY_STATUS_SKIPPED,
    )
    .subquery()
)
_MERGE_DUPLICATES: Final = (
    delete(deliveries)
    .where(
        deliveries.c.id.in_(
            select(_RANKED_BY_ADDRESS.c.id).where(_RANKED_BY_ADDRESS.c.n > 1).scalar_subquery()
        )
    )
    .returning(deliveries.c.id, deliveries.c.channel, deliveries.c.status)
)
_LOCK_CAMPAIGNS: Final = (
    select(campaigns.c.id)
    .where(campaigns.c.id.in_(bindparam("campaign_ids", expanding=True)))
    .order_by(campaigns.c.id)
    .with_for_update(key_share=True)
)
# SCHEDULED → DISPATCHING: the WHERE matches, and so locks, only a scheduled
# campaign's row; every later mark passes over it unlocked.
_START_DISPATCHING: Final = (
    update(campaigns)
    .where(
        campaigns.c.id == bindparam("campaign_id"),
        campaigns.c.state == campaign_pb2.CAMPAIGN_STATE_SCHEDULED,
    )
    .values(state=campaign_pb2.CAMPAIGN_STATE_DISPATCHING, updated_us=bindparam("now"))
)
_NEWEST_POSITION: Final = (
    select(func.max(ledger.c.position))
    .where(ledger.c.campaign_id == campaigns.c.id)
    .correlate(campaigns)
    .scalar_subquery()
)
_CHANGE_POSITIONS: Final = select(
    campaigns.c.id, campaigns.c.state, _NEWEST_POSITION.label("position")
).where(campaigns.c.id.in_(bindparam("campaign_ids", expanding=True)))


def _among(column: ColumnElement[str], name: str, postgres: bool) -> ColumnElement[bool]:
    """``column`` in the list bound as ``name``: on PostgreSQL one array parameter
    (binding and planning 1,000 separate parameters cost more than the lookups)."""
    if postgres:
        return column == any_(bindparam(name, type_=StringArray()))
    return column.in_(bindparam(name, expanding=True))


def _suppressed(postgres: bool) -> Select[Any]:
    return select(suppressions.c.address).where(
        suppressions.c.channel == bindparam("channel"),
        _among(suppressions.c.address, "addresses", postgres),
    )


_SUPPRESSED: Final = {postgres: _suppressed(postgres) for postgres in (False, True)}
# Each side by the suppressions' unique key (channel, address); PostgreSQL only.
_SUPPRESSED_ON_TWO_CHANNELS: Final = select(suppressions.c.channel, suppressions.c.address).where(
    or_(
        and_(
            suppressions.c.channel == bindparam("first"),
            _among(suppressions.c.address, "first_addresses", True),
        ),
        and_(
            suppressions.c.channel == bindparam("second"),
            _among(suppressions.c.address, "second_addresses", True),
        ),
    )
)


def _current_statement(postgres: bool) -> Select[Any]:
    query = select(
        deliveries.c.id, deliveries.c.channel, deliveries.c.status, deliveries.c.status_rank
    ).where(
        deliveries.c.campaign_id == bindparam("campaign_id"),
        _among(deliveries.c.id, "ids", postgres),
    )
    return query.with_for_update() if postgres else query


_CURRENT: Final = {postgres: _current_statement(postgres) for postgres in (False, True)}
_CHANNELS: Final = {
    postgres: select(deliveries.c.id, deliveries.c.channel).where(
        deliveries.c.campaign_id == bindparam("campaign_id"),
        _among(deliveries.c.id, "ids", postgres),
    )
    for postgres in (False, True)
}
_OUTBOX_CHUNK: Final = deliveries.alias("outbox")
_CANCEL_OUTBOX: Final = (
    update(deliveries)
    .where(
        deliveries.c.id.in_(
            select(_OUTBOX_CHUNK.c.id)
            .where(
                # By ``ix_deliveries_campaign_outbox``.
                text(OUTBOX_SQL),
                _OUTBOX_CHUNK.c.campaign_id == bindparam("b_campaign"),
                _OUTBOX_CHUNK.c.status_rank == bindparam("b_rank"),
                _OUTBOX_CHUNK.c.channel == bindparam("b_channel"),
            )
            .limit(WRITE_BATCH)
            # Rows a dispatcher round has claimed are on their way to the bus:
            # passed over, not waited for. Waiting deadlocked with the claim's
            # marks, which lock the campaign row this cancel holds (PostgreSQL
            # only; SQLite has one writer at a time).
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        ),
        # Checked again on the row itself: one a claim queued meanwhile stays.
        deliveries.c.status_rank == bindparam("b_rank"),
    )
    .values(
        prev_status=deliveries.c.status,
        status=campaign_pb2.DELIVERY_STATUS_CANCELLED,
        status_rank=STATUS_RANK[campaign_pb2.DELIVERY_STATUS_CANCELLED],
        updated_us=bindparam("b_now"),
        seq=MOVED_SEQ,
    )
    .returning(deliveries.c.id)
)
_INSERT_CAMPAIGN: Final = insert(campaigns)
_QUEUED_RANK: Final = STATUS_RANK[campaign_pb2.DELIVERY_STATUS_QUEUED]
_MARK_QUEUED_VALUES: Final = {
    # Right-hand sides read the row being replaced: this is the status it left.
    "prev_status": deliveries.c.status,
    "status": campaign_pb2.DELIVERY_STATUS_QUEUED,
    "status_rank": _QUEUED_RANK,
    "updated_us": bindparam("now"),
    "seq": MOVED_SEQ,
}
_QUEUED_STATUS: Final = campaign_pb2.DELIVERY_STATUS_QUEUED
_MARK_QUEUED: Final = {
    postgres: update(deliveries)
    .where(
        _among(deliveries.c.id, "ids", postgres),
        deliveries.c.status_rank < _QUEUED_RANK,
        deliveries.c.updated_us <= bindparam("claimed"),
    )
    .values(**_MARK_QUEUED_VALUES)
    .returning(deliveries.c.id, deliveries.c.channel, deliveries.c.prev_status)
    for postgres in (False, True)
}
#: States of a campaign whose deliveries may still settle it.
_SETTLING_STATES: Final = frozenset(
    {
        campaign_pb2.CAMPAIGN_STATE_SCHEDULED,
        campaign_pb2.CAMPAIGN_STATE_DISPATCHING,
        campaign_pb2.CAMPAIGN_STATE_DISPATCHED,
    }
)
# The campaigns that may settle; whether they do is their counters' answer.
_SETTLE_CANDIDATES: Final = select(campaigns.c.id, campaigns.c.state).where(
    campaigns.c.id.in_(bindparam("campaign_ids", expanding=True)),
    campaigns.c.state.in_(sorted(_SETTLING_STATES)),
)
#: ``_LOCK_CAMPAIGNS`` returning each row's state as it is once locked.
_LOCK_CAMPAIGN_STATES: Final = (
    select(campaigns.c.id, campaigns.c.state)
    .where(campaigns.c.id.in_(bindparam("campaign_ids", expanding=True)))
    .order_by(campaigns.c.id)
    .with_for_update(key_share=True)
)
# A campaign whose every delivery has left: built once (a statement built per
# call is compiled, or at least looked up in SQLAlchemy's cache, every time,
# and this runs on a one-recipient campaign's way to its last receipt).
_LEFT: Final = (
    campaigns.c.id == bindparam("campaign_id"),
    campaigns.c.state == bindparam("from_state"),
)
_DISPATCHED: Final = (
    update(campaigns)
    .where(*_LEFT)
    .values(
        state=campaign_pb2.CAMPAIGN_STATE_DISPATCHED,
        dispatched_us=bindparam("now"),
        updated_us=bindparam("now"),
        report_window_ends_us=bindparam("report_window_ends_us"),
    )
)
_DISPATCHED_AND_COMPLETED: Final = (
    update(campaigns)
    .where(*_LEFT)
    .values(
        state=campaign_pb2.CAMPAIGN_STATE_COMPLETED,
        dispatched_us=bindparam("now"),
        updated_us=bindparam("now"),
        completed_us=bindparam("now"),
    )
)
_COMPLETE_DISPATCHED: Final = (
    update(campaigns)
    .where(
        campaigns.c.id.in_(bindparam("campaign_ids", expanding=True)),
        campaigns.c.state == campaign_pb2.CAMPAIGN_STATE_DISPATCHED,
    )
    .values(
        state=campaign_pb2.CAMPAIGN_STATE_COMPLETED,
        completed_us=bindparam("now"),
        updated_us=bindparam("now"),
    )
)
_WINDOW_PASSED: Final = select(campaigns.c.id).where(
    campaigns.c.state == campaign_pb2.CAMPAIGN_STATE_DISPATCHED,
    campaigns.c.report_window_ends_us <= bindparam("now"),
)

_APPLY_RECEIPT_EACH: Final = (
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.campaign_id == bindparam("b_campaign"),
        deliveries.c.status_rank < bindparam("b_rank"),
    )
    .values(
        # Right-hand sides read the row being replaced: the status it left.
        prev_status=deliveries.c.status,
        status=bindparam("b_status"),
        status_rank=bindparam("b_rank"),
        # A delivery report may not know the attempts (0) or repeat the
        # provider's ids: what an earlier receipt said is kept.
        attempts=case(
            (deliveries.c.attempts > bindparam("b_attempts"), deliveries.c.attempts),
            else_=bindparam("b_attempts"),
        ),
        provider=case(
            (bindparam("b_provider") == "", deliveries.c.provider), else_=bindparam("b_provider")
        ),
        provider_message_id=case(
            (bindparam("b_provider_message_id") == "", deliveries.c.provider_message_id),
            else_=bindparam("b_provider_message_id"),
        ),
        error_code=bindparam("b_error_code"),
        error_message=bindparam("b_error_message"),
        public_url=case(
            (bindparam("b_public_url") == "", deliveries.c.public_url),
            else_=bindparam("b_public_url"),
        ),
        updated_us=bindparam("b_updated"),
        seq=MOVED_SEQ,
    )
    .returning(deliveries.c.id, deliveries.c.channel, deliveries.c.prev_status, deliveries.c.status)
)


# PostgreSQL: every receipt of a flush in one statement, its fields as arrays.
# Against one UPDATE per receipt in a pipeline (``_APPLY_RECEIPT_EACH``, which
# SQLite still runs) it halved the time per receipt on 200,000 deliveries: 135-200
# -> 65-95 µs wall, 63-70 -> 36-45 µs of the orchestrator's CPU. The campaign is
# matched through the arrays, not as a constant: a constant lets the planner
# drive the join from ``ix_deliveries_campaign_id`` with the estimate for a
# campaign its statistics have not seen (one row) and rescan the arrays for each
# of the campaign's deliveries (what sank an earlier version); joined on the id,
# each receipt is one probe of the primary key whatever the statistics say.
_APPLY_RECEIPTS_AS_ARRAYS: Final = text(
    """
    UPDATE deliveries AS d SET
        prev_status = d.status,
        status = v.status,
        status_rank = v.rank,
        attempts = GREATEST(d.attempts, v.attempts),
        provider = CASE WHEN v.provider = '' THEN d.provider ELSE v.provider END,
        provider_message_id = CASE WHEN v.provider_message_id = ''
            THEN d.provider_message_id ELSE v.provider_message_id END,
        error_code = v.error_code,
        error_message = v.error_message,
        public_url = CASE WHEN v.public_url = '' THEN d.public_url ELSE v.public_url END,
        updated_us = :now,
        seq = :moved_seq
    FROM unnest(
        CAST(:ids AS VARCHAR[]), CAST(:campaigns AS VARCHAR[]), CAST(:statuses AS INTEGER[]),
        CAST(:ranks AS INTEGER[]), CAST(:attempts AS INTEGER[]), CAST(:providers AS VARCHAR[]),
        CAST(:provider_message_ids AS VARCHAR[]), CAST(:error_codes AS VARCHAR[]),
        CAST(:error_messages AS TEXT[]), CAST(:public_urls AS TEXT[])
    ) AS v(
        id, campaign_id, status, rank, attempts, provider, provider_message_id,
        error_code, error_message, public_url
    )
    WHERE d.id = v.id AND d.campaign_id = v.campaign_id AND d.status_rank < v.rank
    RETURNING d.id, d.channel, d.prev_status, d.status
    """
)


def _apply_receipts(
    conn: Connection,
    campaign_id: str,
    rows: Sequence[bus_pb2.DeliveryReceipt],
    now: int,
    *,
    pending: _ledger.Pending,
    applied: set[int],
    known: dict[str, int],
) -> collections.Counter[tuple[int, int]]:
    """Move the deliveries ``rows`` report on, forward only.

    Only a receipt that moves its delivery forward matches its row; the row
    returns the status it left (``prev_status``, migration 0010), and the
    counters move from exactly that, with no read of the rows first. The rows
    are updated in delivery id order, so two collectors that lock the same
    deliveries lock them in the same order and never deadlock. ``applied`` gets
    each moving receipt's id() and ``known`` every delivery found, with its
    channel; the result counts the moved deliveries per reported
    ``(channel, status)``."""
    by_id = {r.delivery_id: r for r in rows}
    ordered = [by_id[i] for i in sorted(by_id)]
    returned: Sequence[Any]
    if conn.dialect.name == "postgresql":
        arrays = _receipt_arrays(ordered, campaign_id, now)
        returned = conn.execute(_APPLY_RECEIPTS_AS_ARRAYS, arrays).all()
    else:
        # SQLite: one statement per receipt, in-process (no round trips to save).
        returned = [
            row
            for r in ordered
            for row in conn.execute(_APPLY_RECEIPT_EACH, _receipt_params(r, campaign_id, now))
        ]
    moved: collections.Counter[tuple[int, int]] = collections.Counter()
    #: (channel, status left, status now) → deliveries: the counters move once each.
    transitions: collections.Counter[tuple[int, int, int]] = collections.Counter()
    for delivery_id, channel, prev_status, status in returned:
        r = by_id[delivery_id]
        known[delivery_id] = channel
        transitions[(channel, prev_status, status)] += 1
        applied.add(id(r))
        moved[(r.channel, r.status)] += 1
    for (channel, prev_status, status), n in transitions.items():
        pending.moved(campaign_id, channel, prev_status, status, n)
    unmoved = [i for i in by_id if i not in known]
    if unmoved:
        # Repeats, late or unknown receipts: whether the delivery exists decides
        # whether the receipt is recorded.
        known.update(_channels(conn, campaign_id, unmoved))
    return moved


def _receipt_arrays(
    ordered: Sequence[bus_pb2.DeliveryReceipt], campaign_id: str, now: int
) -> dict[str, Any]:
    return {
        "ids": BinaryArray([r.delivery_id for r in ordered]),
        "campaigns": BinaryArray([campaign_id] * len(ordered)),
        "statuses": BinaryArray([r.status for r in ordered]),
        "ranks": BinaryArray([STATUS_RANK[r.status] for r in ordered]),
        "attempts": BinaryArray([r.attempts for r in ordered]),
        "providers": BinaryArray([r.provider for r in ordered]),
        "provider_message_ids": BinaryArray([r.provider_message_id for r in ordered]),
        "error_codes": BinaryArray([r.error_code for r in ordered]),
        "error_messages": BinaryArray([r.error_message for r in ordered]),
        "public_urls": BinaryArray([r.public_url for r in ordered]),
        "now": now,
        "moved_seq": MOVED_SEQ,
    }


def _receipt_params(r: bus_pb2.DeliveryReceipt, campaign_id: str, now: int) -> dict[str, Any]:
    return {
        "b_id": r.delivery_id,
        "b_campaign": campaign_id,
        "b_status": r.status,
        "b_rank": STATUS_RANK[r.status],
        "b_attempts": r.attempts,
        "b_provider": r.provider,
        "b_provider_message_id": r.provider_message_id,
        "b_error_code": r.error_code,
        "b_error_message": r.error_message,
        "b_public_url": r.public_url,
        "b_updated": now,
    }


def _channels(conn: Connection, campaign_id: str, ids: Sequence[str]) -> dict[str, int]:
    """``id → channel`` of the campaign's deliveries among ``ids`` (no lock: a
    delivery's channel never changes)."""
    statement = _CHANNELS[conn.dialect.name == "postgresql"]
    found: dict[str, int] = {}
    for start in range(0, len(ids), WRITE_BATCH):
        chunk = list(ids[start : start + WRITE_BATCH])
        for row in conn.execute(statement, {"campaign_id": campaign_id, "ids": chunk}):
            found[row.id] = row.channel
    return found


def suppressed_addresses(conn: Connection, channel: int, addresses: Sequence[str]) -> set[str]:
    """Which of ``addresses`` are on the suppression list of ``channel``."""
    found: set[str] = set()
    unique = list(dict.fromkeys(addresses))
    statement = _SUPPRESSED[conn.dialect.name == "postgresql"]
    for start in range(0, len(unique), WRITE_BATCH):
        rows = conn.execute(
            statement, {"channel": channel, "addresses": unique[start : start + WRITE_BATCH]}
        )
        found.update(r[0] for r in rows)
    return found


def _find_suppression(conn: Connection, channel: int, address: str) -> Any:
    return conn.execute(
        select(suppressions).where(
            suppressions.c.channel == channel, suppressions.c.address == address
        )
    ).first()


def _suppression(row: Any) -> campaign_service_pb2.Suppression:
    return campaign_service_pb2.Suppression(
        channel=row.channel,
        address=row.address,
        reason=row.reason,
        created_at=_convert.timestamp(row.created_us),
    )


#: Suppression reasons that record the person's own opt-out (an unsubscribe link or
#: a List-Unsubscribe, a STOP reply): the only ones their own opt-in may lift. A hard
#: bounce, a spam complaint (Postmark refuses to reactivate those too) and an
#: operator's entry stay until an operator removes them.
RECIPIENT_OPT_OUT_REASONS: Final = frozenset({"unsubscribe", "stop_reply"})

_ADDED: Final = campaign_service_pb2.SUPPRESSION_ACTION_ADDED
_REMOVED: Final = campaign_service_pb2.SUPPRESSION_ACTION_REMOVED


def _audit(
    conn: Connection,
    channel: int,
    address: str,
    action: int,
    *,
    reason: str,
    actor: str,
    at_us: int,
) -> None:
    conn.execute(
        insert(suppression_audit).values(
            id=str(uuid.uuid4()),
            channel=channel,
            address=address,
            action=action,
            reason=reason[:500],
            actor=actor[:200],
            at_us=at_us,
        )
    )


def _audit_entry(row: Any) -> campaign_service_pb2.SuppressionAuditEntry:
    return campaign_service_pb2.SuppressionAuditEntry(
        channel=row.channel,
        address=row.address,
        action=row.action,
        reason=row.reason,
        actor=row.actor,
        at=_convert.timestamp(row.at_us),
    )
