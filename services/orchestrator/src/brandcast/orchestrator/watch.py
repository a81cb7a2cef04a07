"""WatchCampaign as a plain generator: progress and delivery events after a cursor.

The cursor is ``"<n>.<delivery id>"`` of the last delivery change seen: the
intake listing, then the campaign's ledger position (``store._watch_changes``);
the stream ends once the campaign is COMPLETED (every delivery final, or its report
window passed) or CANCELLED with nothing left in flight. Until then each
progress event says what the campaign waits for.
When the server drains first, it ends with ``ShuttingDownError`` (UNAVAILABLE)
so the client knows to resume from its last cursor rather than think it done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from brandcast.orchestrator.errors import (
    CampaignNotFoundError,
    InvalidCampaignError,
    ShuttingDownError,
)
from brandcast.orchestrator.events import CampaignEvents, Watch
from brandcast.orchestrator.rendering import FieldViolation
from brandcast.orchestrator.store import Store
from brandcast.v1 import campaign_pb2, campaign_service_pb2

#: ``ChannelPace`` per channel from (campaign id, state, counters).
PaceOf = Callable[
    [str, int, Sequence[campaign_pb2.ChannelCounters]], list[campaign_pb2.ChannelPace]
]

#: Seconds between store polls when no in-process notification arrives
#: (changes made by another replica) and no shared change feed runs.
POLL_INTERVAL: Final = 1.0
#: Longest sleep of an admitted watch: the shared change feed wakes it for
#: other replicas' changes, so this is only a safety net.
IDLE_WAIT: Final = 15.0
#: Longest delivery id a cursor may carry.
MAX_CURSOR_ID: Final = 100
#: Least seconds between two progress events of one watch while deliveries change.
PROGRESS_INTERVAL: Final = 0.5


_FINAL_STATES: Final = frozenset(
    {campaign_pb2.CAMPAIGN_STATE_COMPLETED, campaign_pb2.CAMPAIGN_STATE_CANCELLED}
)
_NOUNS: Final[dict[int, tuple[str, str]]] = {
    campaign_pb2.CHANNEL_EMAIL: ("email", "emails"),
    campaign_pb2.CHANNEL_SMS: ("SMS", "SMS"),
    campaign_pb2.CHANNEL_SOCIAL: ("post", "posts"),
}


def _count(n: int, channel: int) -> str:
    one, many = _NOUNS.get(channel, ("delivery", "deliveries"))
    return f"{n:,} {one if n == 1 else many}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def waiting_for(
    state: int,
    counters: Iterable[campaign_pb2.ChannelCounters],
    report_window_ends_us: int | None,
    report_windows: Mapping[int, float],
) -> str:
    """What the campaign waits for before it is complete, for people; "" when
    it waits for nothing."""
    counters = list(counters)
    if state == campaign_pb2.CAMPAIGN_STATE_SCHEDULED:
        return "its send time"
    if state == campaign_pb2.CAMPAIGN_STATE_DISPATCHED:
        sent = [
            _count(c.sent, c.channel)
            for c in counters
            if c.sent and report_windows.get(c.channel, 0) > 0
        ]
        until = ""
        if report_window_ends_us is not None:
            ends = datetime.fromtimestamp(report_window_ends_us / 1_000_000, UTC)
            until = f", until {ends:%H:%M:%S} UTC"
        return f"delivery reports for {_join(sent)}{until}" if sent else ""
    if state in (campaign_pb2.CAMPAIGN_STATE_DISPATCHING, campaign_pb2.CAMPAIGN_STATE_PAUSED):
        left = [
            _count(c.pending + c.scheduled + c.queued, c.channel)
            for c in counters
            if c.pending + c.scheduled + c.queued
        ]
        verb = "to be resumed: " if state == campaign_pb2.CAMPAIGN_STATE_PAUSED else ""
        return f"{verb}{_join(left)} to send" if left else "the last receipts"
    if state == campaign_pb2.CAMPAIGN_STATE_CANCELLED:
        queued = [_count(c.queued, c.channel) for c in counters if c.queued]
        return f"the outcome of {_join(queued)} already queued" if queued else ""
    return ""


def encode_cursor(cursor: tuple[int, str]) -> str:
    return f"{cursor[0]}.{cursor[1]}"


def decode_cursor(text: str) -> tuple[int, str]:
    if not text:
        return (0, "")
    seq, _, delivery_id = text.partition(".")
    # ASCII digits only ("²".isdigit() holds) and within a BIGINT, or the store
    # would fail on it; delivery ids are uuids, far shorter than the limit.
    if (
        not (seq.isascii() and seq.isdigit())
        or int(seq) >= 2**63
        or len(delivery_id) > MAX_CURSOR_ID
    ):
        raise InvalidCampaignError([FieldViolation("resume_cursor", "not a cursor of this API")])
    return (int(seq), delivery_id)


def watch_campaign(
    store: Store,
    events: CampaignEvents,
    request: campaign_service_pb2.WatchCampaignRequest,
    is_active: Callable[[], bool] = lambda: True,
    *,
    progress_interval: float = PROGRESS_INTERVAL,
    watch: Watch | None = None,
    pace: PaceOf = lambda campaign_id, state, counters: [],
) -> Iterator[campaign_service_pb2.WatchCampaignResponse]:
    """Delivery events as they commit; a progress event first, at most every
    ``progress_interval`` seconds while deliveries change, and last.

    Progress reads the campaign's counters (a few rows, whatever the audience);
    the interval keeps a busy campaign's stream from being mostly progress.

    With ``watch`` (admitted by ``CampaignEvents.watch`` while a shared change
    feed runs) it sleeps until woken; without, it polls the store every
    ``POLL_INTERVAL``.
    """
    cursor = decode_cursor(request.resume_cursor)
    first = True
    owed = False
    last_progress = 0.0
    #: The state the last progress event reported: a change of state (a report
    #: window closing) is news even when no delivery changed.
    reported_state: int | None = None
    while is_active() and not events.closed and not (watch is not None and watch.ended):
        # Taken before the read: a change committed after it bumps the version,
        # so the wait below returns at once instead of missing it.
        version = events.version(request.campaign_id)
        snapshot = store.watch_snapshot(request.campaign_id, cursor)
        if snapshot is None:
            raise CampaignNotFoundError(request.campaign_id)
        for change in snapshot.changes:
            cursor = change.cursor
            if request.include_deliveries:
                yield campaign_service_pb2.WatchCampaignResponse(
                    cursor=encode_cursor(cursor), delivery=change.delivery
                )
        # Past what the read passed over too (events whose deliveries moved on).
        cursor = snapshot.cursor
        owed = owed or bool(snapshot.changes) or snapshot.state != reported_state
        finished = snapshot.state in _FINAL_STATES and snapshot.settled and snapshot.complete
        due = time.monotonic() - last_progress >= progress_interval
        if first or (owed and (due or finished)):
            progress = store.progress(request.campaign_id)
            if progress is None:
                raise CampaignNotFoundError(request.campaign_id)
            state, counters = progress
            at = Timestamp()
            at.GetCurrentTime()
            ends_us = store.report_window_end(request.campaign_id)
            message = campaign_service_pb2.CampaignProgress(
                state=state,  # type: ignore[arg-type]
                counters=counters,
                at=at,
                waiting_for=waiting_for(state, counters, ends_us, store.report_windows),
                pace=pace(request.campaign_id, state, counters),
            )
            if ends_us is not None:
                message.report_window_ends_at.FromMicroseconds(ends_us)
            yield campaign_service_pb2.WatchCampaignResponse(
                cursor=encode_cursor(cursor), progress=message
            )
            first = owed = False
            reported_state = state
            last_progress = time.monotonic()
        if finished:
            return
        if not snapshot.complete:
            continue  # a full page: read the next one now
        wait = POLL_INTERVAL if watch is None else IDLE_WAIT
        if owed:
            wait = max(0.0, min(wait, last_progress + progress_interval - time.monotonic()))
        events.wait(request.campaign_id, version, wait, watch)
    if events.closed:
        raise ShuttingDownError("resume the watch from the last cursor")
