"""The compose page: live preview, audience upload with validation, submit."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

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
    read_csv,
    validate_audience,
)
from brandcast.admin.compose import parse_compose_form
from brandcast.admin.orchestrator import OrchestratorRejectedError
from brandcast.admin.web import orchestrator, render, state
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
) -> Response:
    values = _form_values(form)
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
    return _compose_page(request)


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
            )
        except OrchestratorRejectedError as exc:
            errors = {v.field: v.description for v in exc.violations} or {"": exc.message}
            return _compose_page(request, form, errors, report, status_code=400)
    campaign = response.campaign
    rejected = report.rejected_count if report else 0
    # In the URL rather than a session flash: a preview request still in flight when
    # the form was sent answers with the older session cookie and would erase it.
    receipt = urlencode({"accepted": response.recipients_received, "rejected": rejected})
    return RedirectResponse(f"/campaigns/{campaign.id}?{receipt}", status_code=303)


routes = [
    Route("/campaigns/new", compose_page, methods=["GET"]),
    Route("/campaigns", submit, methods=["POST"]),
    Route("/api/preview", preview, methods=["POST"]),
    Route("/api/audience", audience_check, methods=["POST"]),
]
