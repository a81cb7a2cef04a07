"""The compose page: live preview, audience upload with validation, submit."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from email_validator import EmailNotValidError
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from brandcast.admin import presenters
from brandcast.admin.audience import (
    RECIPIENT_FIELDS,
    AudienceError,
    AudienceReport,
    guess_mapping,
    normalise_email,
    normalise_phone,
    read_csv,
    validate_audience,
)
from brandcast.admin.compose import compose_values, parse_compose_form
from brandcast.admin.orchestrator import OrchestratorRejectedError
from brandcast.admin.web import flash, orchestrator, render, state
from brandcast.v1 import campaign_pb2

#: Stands in for a recipient in the live preview, so personal parts render.
PREVIEW_RECIPIENT = campaign_pb2.Recipient(
    id="preview", email="alex@example.com", phone="+14155550100", name="Alex Example"
)


def _kits_view(request: Request) -> list[dict[str, Any]]:
    return [
        {
            "id": kit_id,
            "name": kit.name,
            "voice": kit.voice,
            "accounts": [
                {
                    "id": account.id,
                    "handle": account.handle,
                    "network": presenters.network_name(account.network),
                }
                for account in kit.social_accounts
            ],
        }
        for kit_id, kit in state(request).kits.items()
    ]


def _form_values(form: FormData | None) -> dict[str, Any]:
    if form is None:
        return {
            "sms_segment_budget": "1",
            "email_enabled": "on",
            "idempotency_key": uuid.uuid4().hex,
        }
    values: dict[str, Any] = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    values["social_accounts"] = [a for a in form.getlist("social_accounts") if isinstance(a, str)]
    return values


_TRANSLATION_PARTS = ("locale", "headline", "body", "cta_text")


def _translation_rows(values: dict[str, Any]) -> list[dict[str, str]]:
    """The translation rows to redraw; one empty row when there are none."""
    indices = sorted(
        {
            int(index)
            for key in values
            if key.startswith("translations-") and (index := key.split("-")[1]).isdigit()
        }
    )
    rows = [
        {part: str(values.get(f"translations-{i}-{part}", "")) for part in _TRANSLATION_PARTS}
        for i in indices
    ]
    return [r for r in rows if any(r.values())] or [dict.fromkeys(_TRANSLATION_PARTS, "")]


def _compose_page(
    request: Request,
    form: FormData | None = None,
    errors: dict[str, str] | None = None,
    report: AudienceReport | None = None,
    status_code: int = 200,
    *,
    prefill: dict[str, Any] | None = None,
) -> Response:
    values = {**_form_values(form), **(prefill or {})}
    kits = _kits_view(request)
    values.setdefault("brand_kit", kits[0]["id"] if kits else "")
    return render(
        request,
        "compose.html",
        {
            "kits": kits,
            "values": values,
            "translations": _translation_rows(values),
            "errors": errors or {},
            "report": report.as_json() if report else None,
            "recipient_fields": RECIPIENT_FIELDS,
        },
        status_code=status_code,
    )


async def compose_page(request: Request) -> Response:
    """The compose form; ``?from=ID`` fills it in from an earlier campaign (Duplicate)."""
    source = request.query_params.get("from", "")
    if not source:
        return _compose_page(request)
    campaign = await orchestrator(request).get_campaign(source)
    return _compose_page(request, prefill=compose_values(campaign.spec, state(request).kits))


def _test_recipient(value: str) -> campaign_pb2.Recipient:
    """The one recipient of a test send; ``ValueError`` saying why ``value`` is not one."""
    value = value.strip()
    if not value:
        raise ValueError("an email address or a phone number to send the test to")
    if value.startswith("+"):
        return campaign_pb2.Recipient(id="test", phone=normalise_phone(value), name="Test")
    try:
        return campaign_pb2.Recipient(id="test", email=normalise_email(value), name="Test")
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address ({exc}) or a +number") from exc


async def _send_test(request: Request, form: FormData) -> Response:
    result = parse_compose_form(form, state(request).kits)
    errors = dict(result.errors)
    try:
        recipient = _test_recipient(str(form.get("test_to", "")))
    except ValueError as exc:
        errors["test_to"] = str(exc)
    if errors:
        return _compose_page(request, form, errors, status_code=400)
    spec = result.spec
    spec.name = f"[test] {spec.name}"[:200]
    spec.ClearField("schedule")  # a test goes now
    try:
        response = await orchestrator(request).submit(
            spec, idempotency_key=uuid.uuid4().hex, audience=[recipient], test=True
        )
    except OrchestratorRejectedError as exc:
        errors = {v.field: v.description for v in exc.violations} or {"": exc.message}
        return _compose_page(request, form, errors, status_code=400)
    flash(request, f"Test sent to {recipient.email or recipient.phone}; it is not counted.")
    return RedirectResponse(f"/campaigns/{response.campaign.id}", status_code=303)


def _mapping(form: FormData) -> dict[str, str]:
    return {
        target: value
        for target in RECIPIENT_FIELDS
        if isinstance(value := form.get(f"map_{target}"), str) and value
    }


async def _audience(
    form: FormData, max_bytes: int
) -> tuple[list[str], dict[str, str], AudienceReport]:
    upload = form.get("audience_file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise AudienceError("choose a CSV file")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AudienceError(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
    table = read_csv(data)
    mapping = _mapping(form) or guess_mapping(table.headers)
    return table.headers, mapping, validate_audience(table, mapping)


async def audience_check(request: Request) -> Response:
    """Headers, the column mapping in use and the validation report of an uploaded CSV."""
    settings = state(request).settings
    async with request.form(max_part_size=1024 * 1024) as form:
        try:
            headers, mapping, report = await _audience(form, settings.max_upload_bytes)
        except AudienceError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"headers": headers, "mapping": mapping, "report": report.as_json()})


async def preview(request: Request) -> Response:
    """Render the variants of the form as it is now; unfinished fields are not an error here."""
    form = await request.form()
    result = parse_compose_form(form, state(request).kits)
    if "brand_kit" in result.errors or not (
        result.spec.core_message.headline or result.spec.core_message.body
    ):
        return JSONResponse({"errors": result.errors, "preview": None})
    spec = result.spec
    recipient = spec.audience.add()
    recipient.CopyFrom(PREVIEW_RECIPIENT)
    recipient.locale = spec.brand_kit.default_locale
    try:
        response = await orchestrator(request).preview(spec, sample_size=1)
    except OrchestratorRejectedError as exc:
        rejected = {v.field: v.description for v in exc.violations} or {"": exc.message}
        return JSONResponse({"errors": {**result.errors, **rejected}, "preview": None})
    return JSONResponse(
        {"errors": result.errors, "preview": presenters.preview_payload(response, spec)}
    )


async def submit(request: Request) -> Response:
    settings = state(request).settings
    async with request.form(max_part_size=1024 * 1024) as form:
        if form.get("send_test"):
            return await _send_test(request, form)
        result = parse_compose_form(form, state(request).kits)
        errors = dict(result.errors)
        report: AudienceReport | None = None
        channels = result.spec.channels
        needs_audience = channels.email.enabled or channels.sms.enabled
        upload = form.get("audience_file")
        if needs_audience or (isinstance(upload, UploadFile) and upload.filename):
            try:
                _, _, report = await _audience(form, settings.max_upload_bytes)
            except AudienceError as exc:
                errors["audience_file"] = str(exc)
            else:
                if report.accepted == 0:
                    errors["audience_file"] = "no valid recipient in the file"
        key = str(form.get("idempotency_key", "")) or uuid.uuid4().hex
        if errors:
            if report is not None:
                errors.setdefault("audience_file", "choose the file again before you send")
            return _compose_page(request, form, errors, report, status_code=400)
        try:
            response = await orchestrator(request).submit(
                result.spec,
                idempotency_key=key,
                audience=report.recipients if report else [],
                chunk_size=settings.submit_chunk_size,
                # Rows kept with one invalid address carry it as given: the
                # orchestrator records that channel as skipped, for good.
                skip_invalid_addresses=True,
            )
        except OrchestratorRejectedError as exc:
            errors = {v.field: v.description for v in exc.violations} or {"": exc.message}
            return _compose_page(request, form, errors, report, status_code=400)
    campaign = response.campaign
    rejected = report.rejected_count if report else 0
    # In the URL rather than a session flash: a preview request still in flight when
    # the form was sent answers with the older session cookie and would erase it.
    skipped = sum(c.skipped for c in campaign.counters)
    receipt = urlencode(
        {"accepted": response.recipients_received, "rejected": rejected, "skipped": skipped}
    )
    return RedirectResponse(f"/campaigns/{campaign.id}?{receipt}", status_code=303)


routes = [
    Route("/campaigns/new", compose_page, methods=["GET"]),
    Route("/campaigns", submit, methods=["POST"]),
    Route("/api/preview", preview, methods=["POST"]),
    Route("/api/audience", audience_check, methods=["POST"]),
]
