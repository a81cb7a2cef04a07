"""The dispatcher: the outbox's relay from the store to the bus.

A background thread claims due deliveries (pending, or scheduled and due),
renders each one, publishes them as ``DispatchBatch`` messages per campaign and
channel with publisher confirms, and only then marks them queued. A crash
between publish and mark leaves them pending, so they are published again on
restart: at-least-once, and adapters pass the idempotency key (the delivery id)
to providers so a duplicate is rarely sent twice.

A delivery that cannot be rendered fails with the reason; one whose address
was suppressed after the campaign was accepted ends suppressed. An SMS whose
recipient is in quiet hours right now is deferred (scheduled until the quiet
hours end, see ``quiet_hours``), decided here rather than at submit because a
campaign can take hours to dispatch.

Release is paced and fair (see ``pacing`` and ``fairness``): each channel's
thread puts only a few seconds of work on the bus, in batches of about two
seconds of sending, and shares each round across the open campaigns by weighted
fair sharing, transactional before marketing. Paused campaigns are skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from brandcast.orchestrator.events import CampaignEvents
from brandcast.orchestrator.fairness import fair_shares
from brandcast.orchestrator.intake import SubmitResult
from brandcast.orchestrator.laid_out_emails import BatchLayouts
from brandcast.orchestrator.pacing import Pacer
from brandcast.orchestrator.quiet_hours import QuietHours, zone
from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.orchestrator.store import DueDelivery, FinalUpdate, Store
from brandcast.shared import channels, metrics, telemetry, tokens, topology
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2

log = logging.getLogger(__name__)

#: Campaign renderers kept between claims (specs are parsed and validated once).
RENDERER_CACHE: Final = 256
#: Seconds the list of open campaigns is trusted before it is read again.
OPEN_REFRESH: Final = 1.0
#: Longest pause after a failing round (broker or database down).
MAX_BACKOFF: Final = 10.0


#: Channels with a dispatcher thread each: every channel of the channel table.
DISPATCH_CHANNELS: Final = tuple(channel.value for channel in channels.CHANNELS)


@dataclass
class _Marks:
    """What one round will write for one campaign once its batches are confirmed."""

    queued: list[str] = field(default_factory=list)
    #: ``(batch_id, channel, delivery ids)`` per broker message: one ledger event each.
    batches: list[tuple[str, int, list[str]]] = field(default_factory=list)
    finals: list[FinalUpdate] = field(default_factory=list)
    deferred: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class _Campaign:
    renderer: CampaignRenderer | None
    spec: campaign_pb2.CampaignSpec
    trace_context: dict[str, str]
    #: Why the renderer could not be built, when it could not.
    error: str = ""
    #: None when the campaign's SMS ignore quiet hours.
    quiet_hours: QuietHours | None = None
    #: Its e-mails' unsubscribe links; None without a base URL or a secret.
    unsubscribe_links: tokens.UnsubscribeLinks | None = None
    #: The link every e-mail gets without a secret (the base URL as it is).
    unsubscribe_base: str = ""


class Dispatcher:
    def __init__(
        self,
        store: Store,
        publisher_factory: Callable[[], BusPublisher],
        *,
        events: CampaignEvents | None = None,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        unsubscribe_base_url: str = "",
        unsubscribe_secret: str = "",
        quiet_hours_enforced: bool = True,
        default_timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
        pacer: Pacer | None = None,
        marketing_share: float = 0.2,
        shared_email_layouts: bool = False,
    ) -> None:
        """``clock`` gives seconds since the epoch (tests pass a fixed one).

        With ``shared_email_layouts`` (``BUS_SHARED_EMAIL_LAYOUTS``) a batch carries
        each e-mail layout once and each e-mail only its slots' values
        (``brandcast.shared.email_layouts``); adapters of earlier releases would
        fail such e-mails, so it is off until every adapter understands them.

        Without a ``pacer`` every round releases up to ``batch_size`` deliveries
        in batches of ``batch_size``; with one, what it allows.
        """
        self._store = store
        self._pacer = pacer
        self._marketing_share = marketing_share
        self._shared_email_layouts = shared_email_layouts
        self._open_lock = threading.Lock()
        self._open: tuple[float, list[str], bool] = (-OPEN_REFRESH, [], False)
        #: Per channel: campaigns that had nothing due there, until the next refresh.
        self._idle: dict[int | None, set[str]] = {}
        self._rounds = 0
        #: Channels whose last round claimed less than it allowed each open
        #: campaign: nothing more was due, so the next round can wait for a wake.
        self._drained: set[int | None] = set()
        #: Channels whose thread may be waiting for room on the bus (the
        #: pacer's lead, not an empty outbox, ended its last round): only
        #: their receipts wake them.
        self._held_by_lead: set[int | None] = set()
        self._publisher_factory = publisher_factory
        self._events = events or CampaignEvents()
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._unsubscribe_base_url = unsubscribe_base_url
        self._unsubscribe_secret = unsubscribe_secret
        self._quiet_hours_enforced = quiet_hours_enforced
        self._default_timezone = zone(default_timezone)
        self._clock = clock
        self._campaigns: OrderedDict[str, _Campaign] = OrderedDict()
        #: The priority of every campaign seen open, however many: fair shares
        #: need it for each at every round.
        self._priorities: dict[str, int] = {}
        self._campaigns_lock = threading.Lock()
        self._stop = threading.Event()
        self._wakes: dict[int, threading.Event] = {
            channel: threading.Event() for channel in DISPATCH_CHANNELS
        }
        self._threads: list[threading.Thread] = []
        self._publishers: dict[int | None, BusPublisher] = {}

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """One thread per channel: a channel's backlog (a million emails, SMS held
        for quiet hours) never holds up another's, and their database and broker
        round trips overlap."""
        for channel in DISPATCH_CHANNELS:
            name = f"dispatcher-{topology.channel_name(channel)}"
            thread = threading.Thread(target=self._run, args=(channel,), name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def accepted(self, result: SubmitResult) -> None:
        """A campaign was accepted: keep its renderer (built and checked by the
        intake) for the first round, and look for due deliveries now."""
        if not result.duplicate and result.spec is not None and result.renderer is not None:
            campaign = self._prepared(
                result.campaign.id, result.renderer, result.spec, dict(result.trace_context)
            )
            self._remember(result.campaign.id, campaign)
            self.refresh()
            # Only the channels it uses: the other threads' empty claims would
            # compete with this one for the interpreter and the database.
            self.wake(_channels_of(result.spec))
        else:
            self.wake()

    def refresh(self) -> None:
        """Read the open campaigns again at the next round (one was accepted,
        paused or resumed)."""
        with self._open_lock:
            self._open = (-OPEN_REFRESH, [], False)

    def room_freed(self, channel: int, handed_back: int = 0) -> None:
        """Receipts of ``channel`` were applied (the pacer's ``on_drain``): wake
        its thread when its last round waited for room on the bus, or when
        ``handed_back`` deliveries returned to the outbox. A thread that had
        emptied the outbox would only claim nothing: for a lone delivery that
        empty claim competed with its own receipt and watch."""
        if handed_back or channel in self._held_by_lead:
            self.wake([channel])

    def wake(self, channels: Iterable[int] = DISPATCH_CHANNELS) -> None:
        """Look for due deliveries of ``channels`` now instead of at the next poll."""
        for channel in channels:
            self._wakes[channel].set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the rounds in progress and stop."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for publisher in self._publishers.values():
            publisher.close()
        self._publishers.clear()

    def _run(self, channel: int) -> None:
        backoff = 0.0
        wake = self._wakes[channel]
        while not self._stop.is_set():
            try:
                handled = self.dispatch_once(channel)
                backoff = 0.0
            except Exception:
                log.exception("dispatch round failed; deliveries stay in the outbox")
                backoff = min(MAX_BACKOFF, max(0.5, backoff * 2))
                publisher = self._publishers.pop(channel, None)
                if publisher is not None:
                    publisher.close()
                self._stop.wait(backoff)
                continue
            if handled == 0 or channel in self._drained:
                # Nothing due, or the channel's lead is on the bus: receipts,
                # a new campaign or the poll interval bring the next round.
                # A round that claimed less than it was allowed left nothing
                # due either, and another claim at once would only compete
                # with the receipt and the watch it just caused.
                wake.wait(self._poll_interval)
                wake.clear()

    # -- one round ------------------------------------------------------------

    def dispatch_once(self, channel: int | None = None) -> int:
        """Release one round of due deliveries of ``channel`` (of every channel
        when None): as many as the pacer allows, shared fairly across the open
        campaigns that are not paused; returns how many were claimed."""
        # Before the allowance is read: receipts applied from here on wake the
        # thread, so none lands between the reading and the wait unheard.
        self._held_by_lead.add(channel)
        allowance = self._batch_size
        batch_size = self._batch_size
        if self._pacer is not None and channel is not None:
            allowance = min(allowance, self._pacer.allowance(channel))
            batch_size = self._pacer.batch_size(channel)
        self._drained.discard(channel)
        if allowance <= 0:
            return 0  # waits for room: only receipts bring the next round
        released = self._round(channel, allowance, batch_size)
        if channel in self._drained:
            # The outbox had nothing more due: receipts leave nothing to claim.
            self._held_by_lead.discard(channel)
        return released

    def _round(self, channel: int | None, allowance: int, batch_size: int) -> int:
        active, any_paused = self._open_campaigns(channel)
        if not active:
            return 0
        if len(active) == 1 and not any_paused:
            # One campaign, nothing paused: the outbox's own order, one claim.
            released = self._release(allowance, batch_size, channel)
            if released < allowance:
                self._drained.add(channel)
            return released
        self._rounds += 1
        weighted = [(campaign_id, self._priority(campaign_id)) for campaign_id in active]
        claimed = 0
        shares = fair_shares(allowance, weighted, self._marketing_share, start=self._rounds)
        # Drained when every open campaign had a share and none used it all.
        drained = len(shares) == len(active)
        for campaign_id, share in shares:
            got = self._release(share, batch_size, channel, campaign_id)
            if got == 0:
                self._idle.setdefault(channel, set()).add(campaign_id)
            drained = drained and got < share
            claimed += got
        if drained:
            self._drained.add(channel)
        return claimed

    def _open_campaigns(self, channel: int | None) -> tuple[list[str], bool]:
        """Campaigns that may have deliveries due on ``channel`` (not paused, not
        found idle there since the last refresh), and whether any is paused."""
        now = time.monotonic()
        with self._open_lock:
            read_at, open_ids, any_paused = self._open
            if now - read_at >= OPEN_REFRESH:
                rows = self._store.open_campaigns()
                open_ids = [c for c, state in rows if state != campaign_pb2.CAMPAIGN_STATE_PAUSED]
                any_paused = len(open_ids) < len(rows)
                self._open = (now, open_ids, any_paused)
                self._idle.clear()
                still_open = set(open_ids)
                with self._campaigns_lock:
                    self._priorities = {
                        c: p for c, p in self._priorities.items() if c in still_open
                    }
            idle = self._idle.get(channel, set())
            return [c for c in open_ids if c not in idle], any_paused

    def _priority(self, campaign_id: str) -> int:
        # Kept apart from the renderers: with more open campaigns than those
        # keep, every round would build renderers again only to read this.
        priority = self._priorities.get(campaign_id)
        if priority is not None:
            return priority
        try:
            return int(self._campaign(campaign_id).spec.priority)
        except LookupError:
            return campaign_pb2.CAMPAIGN_PRIORITY_UNSPECIFIED

    def _release(
        self, limit: int, batch_size: int, channel: int | None, campaign_id: str | None = None
    ) -> int:
        """Claim, render, publish and mark up to ``limit`` due deliveries of
        ``channel`` (and of ``campaign_id`` when given); returns how many were claimed.

        Every batch of the round is published (and confirmed) before any
        delivery is marked, and the marks go campaign by campaign in id order:
        the same lock order as the receipt collector's, so dispatchers of other
        channels or replicas never deadlock with it or each other.
        """
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        with self._store.claim_due(
            limit, now_us=_micros(now), channel=channel, campaign_id=campaign_id
        ) as claim:
            groups: dict[tuple[str, int], list[DueDelivery]] = {}
            for due in claim.deliveries:
                groups.setdefault((due.campaign_id, due.channel), []).append(due)
            marks: dict[str, _Marks] = {}
            for (group_campaign, group_channel), claimed in groups.items():
                mark = marks.setdefault(group_campaign, _Marks())
                items = claimed
                if group_channel == campaign_pb2.CHANNEL_SMS:
                    items = self._defer_quiet(group_campaign, claimed, now, mark)
                for start in range(0, len(items), batch_size):
                    chunk = items[start : start + batch_size]
                    self._dispatch_group(group_campaign, group_channel, chunk, mark)
            for marked in sorted(marks):
                mark = marks[marked]
                claim.defer(marked, mark.deferred)
                claim.mark_queued(marked, mark.queued, mark.batches)
                claim.mark_final(marked, mark.finals)
            released = len(claim.deliveries)
        # Watchers are woken once the marks have committed (on PostgreSQL with
        # the claim, after its ledger append): woken earlier, they would read
        # before the commit and sleep through it.
        if groups:
            self._events.publish(marks)
        return released

    def _dispatch_group(
        self,
        campaign_id: str,
        channel: int,
        items: list[DueDelivery],
        mark: _Marks,
    ) -> None:
        campaign = self._campaign(campaign_id)
        created = Timestamp()
        created.GetCurrentTime()
        batch = bus_pb2.DispatchBatch(
            batch_id=str(uuid.uuid4()),
            campaign_id=campaign_id,
            channel=channel,  # type: ignore[arg-type]
            created_at=created,
            trace_context=campaign.trace_context,
            campaign_name=campaign.spec.name,
            brand_name=campaign.spec.brand_kit.name,
            priority=campaign.spec.priority,
        )
        finals = 0
        layouts = (
            BatchLayouts(batch)
            if self._shared_email_layouts and channel == campaign_pb2.CHANNEL_EMAIL
            else None
        )
        for due in items:
            if due.suppressed:
                mark.finals.append(FinalUpdate(due.id, campaign_pb2.DELIVERY_STATUS_SUPPRESSED))
                finals += 1
                continue
            try:
                # Filled in place: appending a finished item would copy it,
                # rendered HTML and all.
                self._fill_item(batch.items.add(), campaign, due, layouts)
            except RenderError as exc:
                del batch.items[-1]
                mark.finals.append(
                    FinalUpdate(
                        due.id, campaign_pb2.DELIVERY_STATUS_FAILED, "render_error", str(exc)
                    )
                )
                finals += 1
            except Exception as exc:
                # A renderer bug must not stall the outbox: fail this one, loudly.
                log.exception("rendering delivery %s failed", due.id)
                del batch.items[-1]
                mark.finals.append(
                    FinalUpdate(
                        due.id, campaign_pb2.DELIVERY_STATUS_FAILED, "render_error", repr(exc)
                    )
                )
                finals += 1
        if batch.items:
            self._publish(batch)
            carried = [item.delivery_id for item in batch.items]
            mark.queued.extend(carried)
            mark.batches.append((batch.batch_id, channel, carried))
            if self._pacer is not None:
                self._pacer.released(channel, len(batch.items))
        log.info(
            "dispatched %d deliveries, %d ended before dispatch",
            len(batch.items),
            finals,
            extra={"campaign_id": campaign_id, "batch_id": batch.batch_id},
        )

    def _defer_quiet(
        self, campaign_id: str, items: list[DueDelivery], now: dt.datetime, mark: _Marks
    ) -> list[DueDelivery]:
        """Defer the SMS whose recipients are in quiet hours; returns the others."""
        campaign = self._campaign(campaign_id)
        quiet = campaign.quiet_hours
        if quiet is None or not self._quiet_hours_enforced:
            return items
        brand_zone = campaign.spec.brand_kit.default_timezone
        fallback = zone(brand_zone) if brand_zone else self._default_timezone
        ready: list[DueDelivery] = []
        deferred = 0
        recipient = campaign_pb2.Recipient()
        for due in items:
            recipient.ParseFromString(due.recipient or b"")
            try:
                tz = zone(recipient.timezone) if recipient.timezone else fallback
            except ValueError:
                tz = fallback  # validated at submit; an old row must not stall the outbox
            allowed = quiet.next_allowed(now, tz)
            if allowed is None:
                ready.append(due)
            else:
                mark.deferred.append((due.id, _micros(allowed)))
                deferred += 1
        if deferred:
            log.info(
                "deferred %d SMS for quiet hours",
                deferred,
                extra={"campaign_id": campaign_id},
            )
        return ready

    def _publish(self, batch: bus_pb2.DispatchBatch) -> None:
        """Publish ``batch`` (confirmed) in a span whose context the adapter continues."""
        channel = topology.channel_name(batch.channel)
        attributes: dict[str, telemetry.AttributeValue] = {
            "campaign_id": batch.campaign_id,
            "batch_id": batch.batch_id,
            "channel": channel,
            "deliveries": len(batch.items),
        }
        with telemetry.span(
            "dispatch batch", batch.trace_context, attributes=attributes
        ) as carrier:
            batch.trace_context.clear()
            batch.trace_context.update(carrier)
            self._publisher_for(batch.channel).publish_dispatch(batch)
        metrics.DISPATCH_BATCHES.labels(channel).inc()
        metrics.DISPATCHED.labels(channel).inc(len(batch.items))

    def _fill_item(
        self,
        item: bus_pb2.DispatchItem,
        campaign: _Campaign,
        due: DueDelivery,
        layouts: BatchLayouts | None = None,
    ) -> None:
        if campaign.renderer is None:
            raise RenderError.single("spec", campaign.error)
        item.delivery_id = due.id
        item.idempotency_key = due.id
        item.address = due.address
        item.recipient_id = due.recipient_id
        item.attempt = due.attempts
        if due.channel == campaign_pb2.CHANNEL_SOCIAL:
            account = next(
                (a for a in campaign.spec.brand_kit.social_accounts if a.id == due.recipient_id),
                None,
            )
            if account is None:
                raise RenderError.single("brand_kit.social_accounts", "account vanished")
            item.social.CopyFrom(campaign.renderer.social(account).variant)
            return
        recipient = campaign_pb2.Recipient()
        recipient.ParseFromString(due.recipient or b"")
        if due.channel == campaign_pb2.CHANNEL_EMAIL:
            unsubscribe_url = self._unsubscribe_url(campaign, due)
            if layouts is None:
                rendered = campaign.renderer.email(recipient, unsubscribe_url=unsubscribe_url)
                item.email.CopyFrom(rendered.variant)
                return
            layouts.add(
                item.laid_out_email,
                campaign.renderer.email_laid_out(recipient, unsubscribe_url=unsubscribe_url),
            )
        elif due.channel == campaign_pb2.CHANNEL_SMS:
            item.sms.CopyFrom(campaign.renderer.sms(recipient).variant)
        else:
            # Never rendered as some other channel: the delivery fails, naming why.
            raise RenderError.single("channel", f"no renderer for {_channel_label(due.channel)}")

    def _unsubscribe_url(self, campaign: _Campaign, due: DueDelivery) -> str:
        links = campaign.unsubscribe_links
        if links is None:
            return campaign.unsubscribe_base
        return links.url(address=due.address, delivery_id=due.id)

    def _campaign(self, campaign_id: str) -> _Campaign:
        with self._campaigns_lock:
            cached = self._campaigns.get(campaign_id)
            if cached is not None:
                self._campaigns.move_to_end(campaign_id)
                return cached
        campaign = self._load_campaign(campaign_id)
        # Another channel's thread may have loaded it meanwhile; either copy works.
        self._remember(campaign_id, campaign)
        return campaign

    def _remember(self, campaign_id: str, campaign: _Campaign) -> None:
        with self._campaigns_lock:
            self._priorities[campaign_id] = int(campaign.spec.priority)
            self._campaigns[campaign_id] = campaign
            self._campaigns.move_to_end(campaign_id)
            if len(self._campaigns) > RENDERER_CACHE:
                self._campaigns.popitem(last=False)

    def _load_campaign(self, campaign_id: str) -> _Campaign:
        found = self._store.campaign_spec(campaign_id)
        if found is None:
            raise LookupError(f"deliveries of unknown campaign {campaign_id}")
        spec, trace_json = found
        trace = json.loads(trace_json or "{}")
        try:
            renderer = CampaignRenderer(spec, campaign_id=campaign_id)
        except RenderError as exc:
            return _Campaign(None, spec, trace, error=str(exc), quiet_hours=_quiet_hours(spec))
        return self._prepared(campaign_id, renderer, spec, trace)

    def _prepared(
        self,
        campaign_id: str,
        renderer: CampaignRenderer,
        spec: campaign_pb2.CampaignSpec,
        trace: dict[str, str],
    ) -> _Campaign:
        """What every round needs of a campaign, made once."""
        base = spec.channels.email.unsubscribe_url or self._unsubscribe_base_url
        links = None
        if base and self._unsubscribe_secret:
            links = tokens.UnsubscribeLinks(
                base,
                channel="email",
                campaign_id=campaign_id,
                secret=self._unsubscribe_secret,
                brand=spec.brand_kit.name,
                brand_color=spec.brand_kit.primary_color,
            )
        return _Campaign(
            renderer,
            spec,
            trace,
            quiet_hours=_quiet_hours(spec),
            unsubscribe_links=links,
            unsubscribe_base=base,
        )

    def _publisher_for(self, channel: int) -> BusPublisher:
        """The calling thread's publisher: a channel's thread, or the caller of
        ``dispatch_once()`` without a channel (tests), never shared between threads."""
        key = channel if self._threads else None
        publisher = self._publishers.get(key)
        if publisher is None:
            publisher = self._publishers[key] = self._publisher_factory()
        return publisher


def _channels_of(spec: campaign_pb2.CampaignSpec) -> list[int]:
    # A campaign's settings for a channel are the ChannelSettings field of its name.
    return [c.value for c in channels.CHANNELS if getattr(spec.channels, c.name).enabled]


def _channel_label(channel: int) -> str:
    try:
        return f"the {channels.channel(channel).name} channel"
    except channels.UnknownChannelError:
        return f"unknown channel {channel}"


def _quiet_hours(spec: campaign_pb2.CampaignSpec) -> QuietHours | None:
    try:
        return QuietHours.of(spec.channels.sms)
    except ValueError:
        return QuietHours()  # validated at submit; keep the default rather than stall


def _micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)
