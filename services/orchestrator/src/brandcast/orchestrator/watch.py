"""WatchCampaign as a plain generator: progress and delivery events after a cursor.

The cursor is ``"<seq>.<delivery id>"`` of the last delivery change seen; the
stream ends once no delivery of the campaign is pending, scheduled or queued.
When the server drains first, it ends with ``ShuttingDownError`` (UNAVAILABLE)
so the client knows to resume from its last cursor rather than think it done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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
from brandcast.v1 import campaign_service_pb2

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
) -> Iterator[campaign_service_pb2.WatchCampaignResponse]:
    """Delivery events as they commit; a progress event first, at most every
    ``progress_interval`` seconds while deliveries change, and last.

    Progress counts every delivery of the campaign, a scan that grows with the
    audience, so a busy million-recipient campaign is not counted per change.

    With ``watch`` (admitted by ``CampaignEvents.watch`` while a shared change
    feed runs) it sleeps until woken; without, it polls the store every
    ``POLL_INTERVAL``.
    """
    cursor = decode_cursor(request.resume_cursor)
    first = True
    owed = False
    last_progress = 0.0
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
        owed = owed or bool(snapshot.changes)
        finished = snapshot.settled and snapshot.complete
        due = time.monotonic() - last_progress >= progress_interval
        if first or (owed and (due or finished)):
            progress = store.progress(request.campaign_id)
            if progress is None:
                raise CampaignNotFoundError(request.campaign_id)
            state, counters = progress
            at = Timestamp()
            at.GetCurrentTime()
            yield campaign_service_pb2.WatchCampaignResponse(
                cursor=encode_cursor(cursor),
                progress=campaign_service_pb2.CampaignProgress(
                    state=state,  # type: ignore[arg-type]
                    counters=counters,
                    at=at,
                ),
            )
            first = owed = False
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
