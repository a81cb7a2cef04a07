"""Accepting a campaign: validate, deduplicate by idempotency key, persist, answer.

A submission is written in one transaction: the campaign, its audience and one
delivery per recipient and channel (one per account for social). Recipients are
processed in slices, so a streamed audience never sits in memory as a whole.
Nothing is dispatched before the transaction commits.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import operator
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Final

from uuid_utils import uuid7

from brandcast.orchestrator.errors import (
    CallEndedError,
    CampaignNotFoundError,
    IdempotencyConflictError,
    InvalidCampaignError,
)
from brandcast.orchestrator.rendering import CampaignRenderer, FieldViolation, RenderError
from brandcast.orchestrator.store import (
    INTAKE_SEQ,
    STATUS_RANK,
    CampaignWriter,
    DuplicateRecipientsError,
    IdempotencyKeyTakenError,
    NewDelivery,
    NewRecipient,
    Store,
    campaign_from_row,
    counters_from_rows,
    now_us,
)
from brandcast.orchestrator.validation import RecipientChecker, validate_spec
from brandcast.v1 import campaign_pb2, campaign_service_pb2, variant_pb2

log = logging.getLogger(__name__)

#: Recipients validated and written per round trip.
SLICE: Final = 1000
#: Submissions whose audience slices can be written in the background at once.
WRITER_THREADS: Final = 4
#: Audiences from this size on make the store refresh its planner statistics.
REFRESH_STATISTICS_AFTER: Final = 10_000
#: Violations reported at most; a broken file should not produce a huge error.
MAX_VIOLATIONS: Final = 100
#: Skipped addresses listed in the answer (the counters and exports hold them all).
MAX_SKIPPED_LISTED: Final = 100
#: Recipients a test send may have.
MAX_TEST_RECIPIENTS: Final = 10
#: Audience members rendered at submit to surface warnings early.
WARNING_SAMPLE: Final = 3
MAX_IDEMPOTENCY_KEY: Final = 200


@dataclass
class SubmitResult:
    campaign: campaign_pb2.Campaign
    duplicate: bool = False
    warnings: list[variant_pb2.RenderWarning] = field(default_factory=list)
    #: Recipients received with the request, inline and streamed.
    recipients_received: int = 0
    #: The accepted campaign's spec (without its audience) and renderer, so the
    #: dispatcher need not read and build them again for its first round.
    spec: campaign_pb2.CampaignSpec | None = None
    renderer: CampaignRenderer | None = None
    trace_context: dict[str, str] = field(default_factory=dict)
    #: The first skipped addresses (``skip_invalid_addresses``).
    skipped: list[campaign_service_pb2.SkippedAddress] = field(default_factory=list)
    #: Deliveries merged away: another recipient had the address on the channel.
    merged_duplicates: int = 0


def render_violations(error: RenderError, prefix: str = "spec") -> list[FieldViolation]:
    return [FieldViolation(f"{prefix}.{v.field}", v.description) for v in error.violations]


class CampaignIntake:
    def __init__(self, store: Store, *, max_audience_size: int = 1_000_000) -> None:
        self._store = store
        self._max_audience = max_audience_size
        self._writers: ThreadPoolExecutor | None = None
        self._writers_lock = threading.Lock()

    def _background_writes(self) -> ThreadPoolExecutor | None:
        """Threads writing audience slices while the next slice is validated
        (PostgreSQL only: SQLite connections stay on the thread that opened them)."""
        if not self._store.concurrent_connection_use:
            return None
        with self._writers_lock:
            if self._writers is None:
                self._writers = ThreadPoolExecutor(
                    max_workers=WRITER_THREADS, thread_name_prefix="intake-writer"
                )
            return self._writers

    def submit(
        self,
        request: campaign_service_pb2.SubmitCampaignRequest,
        chunks: Iterable[campaign_service_pb2.RecipientChunk] = (),
        *,
        trace_context: Mapping[str, str] | None = None,
        is_active: Callable[[], bool] = lambda: True,
        duplicated_from: str = "",
    ) -> SubmitResult:
        """Persist a campaign; ``chunks`` carry the rest of a streamed audience.

        ``is_active`` is asked between slices and before the commit: once it
        says no (the caller's deadline passed, or it hung up) the work stops
        with ``CallEndedError`` and the transaction rolls back.
        """
        key = request.idempotency_key
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidCampaignError(
                [FieldViolation("idempotency_key", f"at most {MAX_IDEMPOTENCY_KEY} characters")]
            )
        hasher = hashlib.sha256(request.SerializeToString(deterministic=True))
        hashed_chunks = _hashing(chunks, hasher)
        existing = self._store.find_by_idempotency_key(key) if key else None
        if existing is not None:
            received = len(request.spec.audience)
            for chunk in hashed_chunks:
                received += len(chunk.recipients)
            result = self._duplicate(key, existing, hasher.hexdigest())
            result.recipients_received = received
            return result
        try:
            return self._create(
                request,
                hashed_chunks,
                hasher,
                dict(trace_context or {}),
                is_active,
                duplicated_from=duplicated_from,
            )
        except IdempotencyKeyTakenError:
            # Another submission with this key committed while we were writing.
            found = self._store.find_by_idempotency_key(key)
            assert found is not None
            return self._duplicate(key, found, hasher.hexdigest())

    def _write_audience(
        self,
        writer: CampaignWriter,
        plan: _DeliveryPlan,
        checker: RecipientChecker,
        slices: Iterable[list[tuple[str, campaign_pb2.Recipient]]],
        is_active: Callable[[], bool],
        *,
        max_audience: int,
    ) -> tuple[int, list[campaign_pb2.Recipient]]:
        """Validate and write the audience slice by slice; returns its size and
        the first few recipients (to render as a sample)."""
        audience_size = 0
        sample: list[campaign_pb2.Recipient] = []
        with _SliceWriter(plan, writer, self._background_writes()) as out:
            for members in slices:
                if not is_active():
                    raise CallEndedError
                audience_size += len(members)
                if audience_size > max_audience:
                    limit = f"at most {max_audience} recipients"
                    if max_audience < self._max_audience:
                        limit += " in a test send"
                    raise InvalidCampaignError([FieldViolation("spec.audience", limit)])
                out.start_previous()
                try:
                    checked = _check_slice(checker, members)
                except InvalidCampaignError:
                    out.settle()  # an earlier slice's error comes first
                    raise
                out.add(plan.prepare(checked, members))
                sample += [c.recipient for c in checked[: WARNING_SAMPLE - len(sample)]]
            out.settle()
        return audience_size, sample

    def _accepted(self, row: dict[str, Any], plan: _DeliveryPlan) -> campaign_pb2.Campaign:
        """The campaign as committed; built from what was written, not read back."""
        if plan.open_deliveries == 0:
            # ``finish`` may have completed it (every delivery suppressed): read it.
            campaign = self._store.get_campaign(row["id"])
            assert campaign is not None
            return campaign
        counters = counters_from_rows(plan.counter_rows())
        return campaign_from_row(SimpleNamespace(**row, completed_us=None), counters)

    def _duplicate(self, key: str, existing: tuple[str, str], request_hash: str) -> SubmitResult:
        campaign_id, original_hash = existing
        if original_hash != request_hash:
            raise IdempotencyConflictError(key, campaign_id)
        campaign = self._store.get_campaign(campaign_id)
        if campaign is None:
            raise CampaignNotFoundError(campaign_id)
        return SubmitResult(
            campaign, duplicate=True, recipients_received=int(campaign.audience_size)
        )

    def _create(
        self,
        request: campaign_service_pb2.SubmitCampaignRequest,
        chunks: Iterable[campaign_service_pb2.RecipientChunk],
        hasher: Any,
        trace_context: dict[str, str],
        is_active: Callable[[], bool],
        *,
        duplicated_from: str = "",
    ) -> SubmitResult:
        spec = campaign_pb2.CampaignSpec()
        spec.CopyFrom(request.spec)
        del spec.audience[:]
        violations = validate_spec(request.spec)
        if violations:
            # Report the inline audience's problems too, so one round trip shows them all.
            violations += inline_audience_violations(request.spec)
            raise InvalidCampaignError(violations[:MAX_VIOLATIONS])
        campaign_id = str(uuid.uuid4())
        try:
            renderer = CampaignRenderer(spec, campaign_id=campaign_id)
        except RenderError as exc:
            raise InvalidCampaignError(render_violations(exc)) from exc

        now = now_us()
        send_at = 0
        if spec.schedule.HasField("send_at"):
            send_at = spec.schedule.send_at.ToMicroseconds()
        scheduled = send_at > now
        plan = _DeliveryPlan(
            campaign_id=campaign_id,
            now=now,
            not_before=max(send_at, now),
            status=(
                campaign_pb2.DELIVERY_STATUS_SCHEDULED
                if scheduled
                else campaign_pb2.DELIVERY_STATUS_PENDING
            ),
            email=spec.channels.email.enabled,
            sms=spec.channels.sms.enabled,
        )
        checker = RecipientChecker(spec.channels, skip_invalid=request.skip_invalid_addresses)
        row = _campaign_row(campaign_id, spec, trace_context, now=now, send_at=send_at)
        row.update(test=int(request.test), duplicated_from=duplicated_from)
        with self._store.campaign_writer() as writer:
            audience_size, sample = self._write_audience(
                writer,
                plan,
                checker,
                _slices(request.spec.audience, chunks),
                is_active,
                max_audience=MAX_TEST_RECIPIENTS if request.test else self._max_audience,
            )
            merged = 0
            if audience_size > 1 and not request.keep_duplicate_addresses:
                merged = plan.merged(writer.merge_duplicate_addresses(campaign_id))
            if spec.channels.social.enabled:
                plan.write_social(writer, renderer.social_accounts())
            if audience_size == 0 and not spec.channels.social.enabled:
                raise InvalidCampaignError(
                    [
                        FieldViolation(
                            "spec.audience",
                            "empty: email and SMS campaigns need at least one recipient",
                        )
                    ]
                )
            request_hash = hasher.hexdigest()
            if not is_active():
                raise CallEndedError
            # Before committing: a template that fails for the first recipients
            # (a sandbox refusal, a limit, an undefined name) would fail every
            # delivery at dispatch, so the caller gets INVALID_ARGUMENT instead.
            warnings = _sample_warnings(renderer, sample)
            row.update(
                idempotency_key=request.idempotency_key or None,
                request_hash=request_hash,
                audience_size=audience_size,
            )
            writer.insert_campaign(row)
            if plan.open_deliveries == 0:
                writer.complete_if_settled(campaign_id)
        if audience_size >= REFRESH_STATISTICS_AFTER:
            self._store.refresh_statistics()
        campaign = self._accepted(row, plan)
        log.info(
            "accepted campaign %s with %d recipients",
            campaign_id,
            audience_size,
            extra={"campaign_id": campaign_id},
        )
        return SubmitResult(
            campaign,
            warnings=warnings,
            recipients_received=audience_size,
            spec=spec,
            renderer=renderer,
            trace_context=trace_context,
            skipped=plan.skipped,
            merged_duplicates=merged,
        )


def _campaign_row(
    campaign_id: str,
    spec: campaign_pb2.CampaignSpec,
    trace_context: dict[str, str],
    *,
    now: int,
    send_at: int,
) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "name": spec.name,
        "spec": spec.SerializeToString(),
        "state": (
            campaign_pb2.CAMPAIGN_STATE_SCHEDULED
            if send_at > now
            else campaign_pb2.CAMPAIGN_STATE_DISPATCHING
        ),
        "audience_size": 0,
        "trace_context": json.dumps(trace_context),
        "send_at_us": send_at or None,
        "created_us": now,
        "updated_us": now,
    }


def inline_audience_violations(spec: campaign_pb2.CampaignSpec) -> list[FieldViolation]:
    """Problems with the audience sent inside the spec, as submit reports them (preview too)."""
    checker = RecipientChecker(spec.channels)
    out: list[FieldViolation] = []
    seen: set[str] = set()
    for i, recipient in enumerate(spec.audience):
        if len(out) >= MAX_VIOLATIONS:
            break
        result = checker.check(recipient, f"spec.audience[{i}]")
        if isinstance(result, list):
            out += result
        elif recipient.id in seen:
            out.append(
                FieldViolation(f"spec.audience[{i}].id", f"duplicate recipient id {recipient.id!r}")
            )
        seen.add(recipient.id)
    return out


def _hashing(
    chunks: Iterable[campaign_service_pb2.RecipientChunk], hasher: Any
) -> Iterator[campaign_service_pb2.RecipientChunk]:
    for chunk in chunks:
        hasher.update(chunk.SerializeToString(deterministic=True))
        yield chunk


def _slices(
    inline: Iterable[campaign_pb2.Recipient],
    chunks: Iterable[campaign_service_pb2.RecipientChunk],
) -> Iterator[list[tuple[str, campaign_pb2.Recipient]]]:
    """The audience as slices of ``(field path, recipient)``: inline first, then streamed."""
    current: list[tuple[str, campaign_pb2.Recipient]] = []
    for i, recipient in enumerate(inline):
        current.append((f"spec.audience[{i}]", recipient))
        if len(current) >= SLICE:
            yield current
            current = []
    for c, chunk in enumerate(chunks):
        for i, recipient in enumerate(chunk.recipients):
            current.append((f"chunks[{c}].recipients[{i}]", recipient))
            if len(current) >= SLICE:
                yield current
                current = []
    if current:
        yield current


def _check_slice(
    checker: RecipientChecker, members: list[tuple[str, campaign_pb2.Recipient]]
) -> list[Any]:
    """The slice's recipients checked; ids repeating one of an earlier slice are
    found by the store's key when the slice is written."""
    violations: list[FieldViolation] = []
    checked = []
    seen: set[str] = set()
    for path, recipient in members:
        result = checker.check(recipient, path)
        if isinstance(result, list):
            violations += result
            continue
        if recipient.id in seen:
            violations.append(
                FieldViolation(f"{path}.id", f"duplicate recipient id {recipient.id!r}")
            )
            continue
        seen.add(recipient.id)
        checked.append(result)
    if violations:
        raise InvalidCampaignError(violations[:MAX_VIOLATIONS])
    return checked


def _duplicates(
    members: list[tuple[str, campaign_pb2.Recipient]], taken: set[str]
) -> list[FieldViolation]:
    return [
        FieldViolation(f"{path}.id", f"duplicate recipient id {recipient.id!r}")
        for path, recipient in members
        if recipient.id in taken
    ][:MAX_VIOLATIONS]


@dataclass
class _Slice:
    """One validated slice of the audience as rows, built on the validating
    thread so the writing thread's time is mostly the database's."""

    members: list[tuple[str, campaign_pb2.Recipient]]
    recipients: list[NewRecipient]
    deliveries: list[NewDelivery]
    #: Per channel, the addresses of the deliveries that wait for dispatch:
    #: those found on the suppression list are suppressed as they are written.
    addressed: dict[int, list[str]]


class _SliceWriter:
    """Writes each audience slice while the caller validates the next one.

    Validation and building rows are Python work; writing them is mostly
    PostgreSQL's, during which this process waits on a socket: overlapped, a
    large submit takes about the longer of the two instead of their sum. One
    write is in flight at a time, so slices are written in order on the
    submission's connection. A single slice (a small campaign) is written
    inline, with no thread hop.
    """

    def __init__(
        self, plan: _DeliveryPlan, writer: CampaignWriter, executor: ThreadPoolExecutor | None
    ) -> None:
        self._plan = plan
        self._writer = writer
        self._executor = executor
        self._pending: _Slice | None = None
        self._running: Future[None] | None = None

    def __enter__(self) -> _SliceWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Never leave a write running on the connection the caller rolls back.
        if self._running is not None:
            with contextlib.suppress(Exception):
                self._running.result()
            self._running = None

    def add(self, part: _Slice) -> None:
        """Queue a validated slice; it is written once the next one is being validated."""
        self._wait_running()
        self._pending = part

    def start_previous(self) -> None:
        """Start writing the slice added last, in the background if possible."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        if self._executor is None:
            self._write(pending)
        else:
            self._running = self._executor.submit(self._write, pending)

    def settle(self) -> None:
        """Finish every write, raising the first error."""
        self._wait_running()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._write(pending)

    def _wait_running(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            running.result()

    def _write(self, part: _Slice) -> None:
        try:
            self._plan.write(self._writer, part)
        except DuplicateRecipientsError as exc:
            raise InvalidCampaignError(_duplicates(part.members, exc.recipient_ids)) from exc


#: A delivery row's (channel, status), taken in C when a slice is counted.
_CHANNEL_STATUS: Final = operator.itemgetter(
    NewDelivery._fields.index("channel"), NewDelivery._fields.index("status")
)


@dataclass
class _DeliveryPlan:
    """What a submission writes. ``prepare`` runs on the validating thread;
    ``write`` and the counts it keeps, on the writing one (read once both are done)."""

    campaign_id: str
    now: int
    not_before: int
    status: int
    email: bool
    sms: bool
    #: Deliveries written that still wait for dispatch (not suppressed).
    open_deliveries: int = 0
    #: Deliveries written per (channel, status).
    written: collections.Counter[tuple[int, int]] = field(default_factory=collections.Counter)
    slices: int = 0
    #: The first skipped addresses, for the answer.
    skipped: list[campaign_service_pb2.SkippedAddress] = field(default_factory=list)

    def merged(self, deleted: list[tuple[int, int]]) -> int:
        """Take deliveries merged away after writing out of the counts."""
        for channel, status in deleted:
            self.written[(channel, status)] -= 1
            if status == self.status:
                self.open_deliveries -= 1
        return len(deleted)

    def counter_rows(self) -> list[tuple[int, int, int]]:
        """``(channel, status, count)`` of what was written, as the store counts them."""
        return [(channel, status, n) for (channel, status), n in self.written.items() if n]

    def _row(
        self, channel: int, recipient_id: str, address: str, status: int, error: str = ""
    ) -> NewDelivery:
        # Time-ordered (UUIDv7): a campaign's ids are written in ascending order,
        # so the primary key and ``(campaign_id, id)`` indexes, and the ledger's
        # index on delivery ids, grow at their right edge instead of dirtying a
        # random page of a million-entry index per delivery.
        delivery_id = str(uuid7())
        # tuple.__new__ directly: a NamedTuple's own constructor, a Python
        # function of 18 arguments, costs twice as much as the rest of the row.
        return tuple.__new__(
            NewDelivery,
            (
                delivery_id,
                self.campaign_id,
                channel,
                recipient_id,
                address,
                status,
                STATUS_RANK[status],
                0,  # attempts
                "",  # provider
                "",  # provider_message_id
                "invalid_address" if error else "",
                error,
                "",  # public_url
                # Adapters hand this to providers, so a republished delivery is sent once.
                delivery_id,
                self.not_before,
                self.now,
                self.now,
                INTAKE_SEQ,
            ),
        )

    def prepare(
        self, checked: list[Any], members: list[tuple[str, campaign_pb2.Recipient]]
    ) -> _Slice:
        """The rows of a validated slice (and its first skipped addresses, for the answer)."""
        part = _Slice(
            members,
            [
                tuple.__new__(
                    NewRecipient,
                    (self.campaign_id, c.recipient.id, c.recipient.SerializeToString()),
                )
                for c in checked
            ],
            [],
            {},
        )
        rows = part.deliveries
        for channel, enabled, attr in (
            (campaign_pb2.CHANNEL_EMAIL, self.email, "email"),
            (campaign_pb2.CHANNEL_SMS, self.sms, "phone"),
        ):
            if not enabled:
                continue
            addressed = part.addressed[channel] = []
            for c in checked:
                address = getattr(c, attr)
                if address:
                    addressed.append(address)
                    rows.append(self._row(channel, c.recipient.id, address, self.status))
        for c in checked:
            for skip in c.skipped:
                rows.append(
                    self._row(
                        skip.channel,
                        c.recipient.id,
                        skip.address[:320],
                        campaign_pb2.DELIVERY_STATUS_SKIPPED,
                        skip.reason,
                    )
                )
                if len(self.skipped) < MAX_SKIPPED_LISTED:
                    self.skipped.append(
                        campaign_service_pb2.SkippedAddress(
                            recipient_id=c.recipient.id,
                            channel=skip.channel,
                            address=skip.address,
                            reason=skip.reason,
                            field=skip.field,
                        )
                    )
        return part

    def write(self, writer: CampaignWriter, part: _Slice) -> None:
        writer.insert_recipients(part.recipients, first=self.slices == 0)
        self.slices += 1
        rows = part.deliveries
        for channel, suppressed in writer.suppressed(part.addressed).items():
            if suppressed:
                rows = [
                    self._suppressed(row)
                    if row.channel == channel
                    and row.status == self.status
                    and row.address in suppressed
                    else row
                    for row in rows
                ]
        self._count(rows)
        writer.insert_deliveries(rows)

    def write_social(
        self, writer: CampaignWriter, accounts: list[campaign_pb2.SocialAccount]
    ) -> None:
        rows = [self._row(campaign_pb2.CHANNEL_SOCIAL, a.id, a.id, self.status) for a in accounts]
        self._count(rows)
        writer.insert_deliveries(rows)

    def _count(self, rows: list[NewDelivery]) -> None:
        counts = collections.Counter(map(_CHANNEL_STATUS, rows))
        self.written.update(counts)
        self.open_deliveries += sum(n for (_, status), n in counts.items() if status == self.status)

    @staticmethod
    def _suppressed(row: NewDelivery) -> NewDelivery:
        status = campaign_pb2.DELIVERY_STATUS_SUPPRESSED
        return row._replace(status=status, status_rank=STATUS_RANK[status])


def _sample_warnings(
    renderer: CampaignRenderer, sample: list[campaign_pb2.Recipient]
) -> list[variant_pb2.RenderWarning]:
    """Warnings of rendering the first few recipients, each code and field once.

    Raises ``InvalidCampaignError`` when one of them cannot be rendered at all.
    """
    try:
        variants = renderer.preview(sample)
    except RenderError as exc:
        raise InvalidCampaignError(render_violations(exc)) from exc
    seen: set[tuple[str, str]] = set()
    out: list[variant_pb2.RenderWarning] = []
    for variant in variants:
        for warning in variant.warnings:
            if (warning.code, warning.field) not in seen:
                seen.add((warning.code, warning.field))
                out.append(warning)
    return out
