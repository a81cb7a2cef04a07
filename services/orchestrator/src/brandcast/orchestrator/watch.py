"""WatchCampaign as a plain generator: progress and delivery events after a cursor.

The cursor is ``"<n>.<delivery id>"`` of the last delivery change seen: the
intake listing, then the campaign's ledger position (``store._watch_changes``);
the stream ends once the campaign is COMPLETED (every delivery final, or its report
window passed) or CANCELLED with nothing left in flight. Until then each
progress event says what the campaign waits for.
When the server drains first, it ends with ``ShuttingDownError`` (UNAVAILABLE)
so the client knows to resume from its last cursor rather than think it done.

An idle watch repeats its last progress event every ``HEARTBEAT_SECONDS``:
proxies see traffic, and a stream whose client vanished without its
cancellation reaching the server fails the write and is released.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
from brandcast.orchestrator.store import ProgressReading, Store, WatchSnapshot
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
#: Seconds an idle watch goes without sending before it repeats its last
#: progress event (setting ``WATCH_HEARTBEAT_SECONDS``).
HEARTBEAT_SECONDS: Final = 15.0


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


@dataclass
class _Progress:
    """Where one watch stands between two reads."""

    cursor: tuple[int, str]
    first: bool = True
    #: A progress event is owed: deliveries changed since the last one.
    owed: bool = False
    last_progress: float = 0.0
    #: The state the last progress event reported: a change of state (a report
    #: window closing) is news even when no delivery changed.
    reported_state: int | None = None
    #: The last progress event, repeated as the heartbeat of an idle watch.
    last_event: campaign_service_pb2.WatchCampaignResponse | None = None
    #: When the watch last sent anything.
    last_sent: float = field(default_factory=time.monotonic)

    def owed_after(self, read: WatchSnapshot) -> bool:
        """Whether a progress event is owed once ``read`` is taken in."""
        return self.owed or bool(read.changes) or read.state != self.reported_state

    def reports_progress(self, read: WatchSnapshot, now: float, interval: float) -> bool:
        """Whether the round that read ``read`` sends a progress event."""
        return self.first or (
            self.owed_after(read) and (now - self.last_progress >= interval or _finished(read))
        )


@dataclass
class _Round:
    #: The campaign's version before the read: a later change wakes the wait.
    version: int
    events: list[campaign_service_pb2.WatchCampaignResponse]
    finished: bool
    #: A full page was read: read the next one at once.
    more: bool
    #: Seconds to sleep before the next read unless woken.
    wait: float


def _read_round(
    store: Store,
    events: CampaignEvents,
    request: campaign_service_pb2.WatchCampaignRequest,
    at: _Progress,
    *,
    progress_interval: float,
    idle_wait: float,
    heartbeat: float,
    pace: PaceOf,
) -> _Round:
    """One read of the store: the delivery events after the cursor, a progress
    event when one is due, and how long to sleep (blocking: run it off the loop)."""
    # Taken before the read: a change committed after it bumps the version,
    # so the wait that follows returns at once instead of missing it.
    version = events.version(request.campaign_id)
    out: list[campaign_service_pb2.WatchCampaignResponse] = []
    # The progress, when the round reports it, is read in the snapshot's transaction.
    snapshot = store.watch_snapshot(
        request.campaign_id,
        at.cursor,
        progress_if=lambda read: at.reports_progress(read, time.monotonic(), progress_interval),
    )
    if snapshot is None:
        raise CampaignNotFoundError(request.campaign_id)
    for change in snapshot.changes:
        at.cursor = change.cursor
        if request.include_deliveries:
            out.append(
                campaign_service_pb2.WatchCampaignResponse(
                    cursor=encode_cursor(at.cursor), delivery=change.delivery
                )
            )
    # Past what the read passed over too (events whose deliveries moved on).
    at.cursor = snapshot.cursor
    finished = _finished(snapshot)
    now = time.monotonic()
    report = at.reports_progress(snapshot, now, progress_interval)
    at.owed = at.owed_after(snapshot)
    if report:
        out.append(_progress_event(store, request.campaign_id, at.cursor, pace, snapshot.progress))
        at.first = at.owed = False
        at.reported_state = out[-1].progress.state
        at.last_event = out[-1]
        at.last_progress = now
    elif heartbeat > 0 and at.last_event is not None and now - at.last_sent >= heartbeat:
        # Nothing new for a while: repeat the last progress event. A stream
        # whose client is gone fails this write and is released, even when
        # the cancellation itself never reached the server.
        out.append(
            campaign_service_pb2.WatchCampaignResponse(
                cursor=encode_cursor(at.cursor), progress=at.last_event.progress
            )
        )
    if out:
        at.last_sent = now
    wait = idle_wait
    if heartbeat > 0:
        wait = min(wait, max(0.0, at.last_sent + heartbeat - now))
    if at.owed:
        wait = max(0.0, min(wait, at.last_progress + progress_interval - now))
    return _Round(version, out, finished, not snapshot.complete, wait)


def _finished(snapshot: WatchSnapshot) -> bool:
    return snapshot.state in _FINAL_STATES and snapshot.settled and snapshot.complete


def _progress_event(
    store: Store,
    campaign_id: str,
    cursor: tuple[int, str],
    pace: PaceOf,
    reading: ProgressReading | None = None,
) -> campaign_service_pb2.WatchCampaignResponse:
    """The progress event, from ``reading`` when the round's snapshot carried
    one (read in its transaction), else read now."""
    if reading is None:
        progress = store.progress(campaign_id)
        if progress is None:
            raise CampaignNotFoundError(campaign_id)
        state, counters = progress
        ends_us = store.report_window_end(campaign_id)
    else:
        state, counters, ends_us = reading.state, reading.counters, reading.report_window_ends_us
    at = Timestamp()
    at.GetCurrentTime()
    message = campaign_service_pb2.CampaignProgress(
        state=state,  # type: ignore[arg-type]
        counters=counters,
        at=at,
        waiting_for=waiting_for(state, counters, ends_us, store.report_windows),
        pace=pace(campaign_id, state, counters),
    )
    if ends_us is not None:
        message.report_window_ends_at.FromMicroseconds(ends_us)
    return campaign_service_pb2.WatchCampaignResponse(
        cursor=encode_cursor(cursor), progress=message
    )


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
    ``POLL_INTERVAL``. The gRPC server serves ``watch_campaign_async`` instead.
    """
    at = _Progress(decode_cursor(request.resume_cursor))
    while is_active() and not events.closed and not (watch is not None and watch.ended):
        found = _read_round(
            store,
            events,
            request,
            at,
            progress_interval=progress_interval,
            idle_wait=POLL_INTERVAL if watch is None else IDLE_WAIT,
            heartbeat=0.0,
            pace=pace,
        )
        yield from found.events
        if found.finished:
            return
        if not found.more:
            events.wait(request.campaign_id, found.version, found.wait, watch)
    if events.closed:
        raise ShuttingDownError("resume the watch from the last cursor")


async def watch_campaign_async(
    store: Store,
    events: CampaignEvents,
    request: campaign_service_pb2.WatchCampaignRequest,
    watch: Watch,
    *,
    heartbeat: float = HEARTBEAT_SECONDS,
    progress_interval: float = PROGRESS_INTERVAL,
    pace: PaceOf = lambda campaign_id, state, counters: [],
) -> AsyncIterator[campaign_service_pb2.WatchCampaignResponse]:
    """``watch_campaign`` for the event loop: it sleeps without a thread and
    reads the store on the loop's executor; an idle watch repeats its last
    progress event every ``heartbeat`` seconds.

    A cancelled call cancels the coroutine at its current ``await`` (grpc
    injects ``CancelledError``), so the caller's ``finally`` releases the watch.
    """
    loop = asyncio.get_running_loop()
    at = _Progress(decode_cursor(request.resume_cursor))
    read = functools.partial(
        _read_round,
        store,
        events,
        request,
        at,
        progress_interval=progress_interval,
        idle_wait=IDLE_WAIT,
        heartbeat=heartbeat,
        pace=pace,
    )
    while not events.closed and not watch.ended:
        found = await loop.run_in_executor(None, read)
        for event in found.events:
            yield event
        if found.finished:
            return
        if not found.more:
            await watch.changed(found.version, found.wait)
    if events.closed:
        raise ShuttingDownError("resume the watch from the last cursor")
