"""Search, add and remove suppressions (addresses that must not be sent to).

Removing one undoes a person's opt-out, so it takes two steps: a confirmation
page that says so and asks for a reason, then the removal, which the
orchestrator keeps in its audit trail (who, when, why) shown on the list page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from email_validator import EmailNotValidError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from brandcast.admin import presenters
from brandcast.admin.audience import normalise_email, normalise_phone
from brandcast.admin.orchestrator import OrchestratorRejectedError
from brandcast.admin.security import current_user
from brandcast.admin.web import flash, orchestrator, render
from brandcast.v1 import campaign_service_pb2

PAGE_SIZE = 50
#: Latest audit entries shown under the list.
AUDIT_SHOWN = 20
MAX_REASON = 500
AUDIT_ACTIONS = {
    campaign_service_pb2.SUPPRESSION_ACTION_ADDED: "added",
    campaign_service_pb2.SUPPRESSION_ACTION_REMOVED: "removed",
}


def normalise_address(channel: str, address: str) -> str:
    """The address as the orchestrator stores it; ValueError names what is wrong."""
    if channel == "email":
        try:
            return normalise_email(address)
        except EmailNotValidError as exc:
            raise ValueError(f"address: {exc}") from exc
    if channel == "sms":
        try:
            return normalise_phone(address)
        except ValueError as exc:
            raise ValueError(f"address: {exc}") from exc
    if channel == "social":
        if not address:
            raise ValueError("address: required")
        return address
    raise ValueError("channel: choose email, sms or social")


async def _page(request: Request, errors: dict[str, str], status_code: int = 200) -> Response:
    query = request.query_params.get("q", "").strip()
    channel = request.query_params.get("channel", "")
    page_token = request.query_params.get("page_token", "")
    response = await orchestrator(request).list_suppressions(
        campaign_service_pb2.ListSuppressionsRequest(
            channel=presenters.channel_value(channel),
            query=query,
            page_size=PAGE_SIZE,
            page_token=page_token,
        )
    )
    rows = [
        {
            "channel": presenters.CHANNELS.get(s.channel, "unknown"),
            "address": s.address,
            "reason": s.reason,
            "created": presenters.timestamp_text(s.created_at),
        }
        for s in response.suppressions
    ]
    audit = await orchestrator(request).list_suppression_audit(
        campaign_service_pb2.ListSuppressionAuditRequest(page_size=AUDIT_SHOWN)
    )
    changes = [
        {
            "at": presenters.timestamp_text(e.at),
            "action": AUDIT_ACTIONS.get(e.action, "changed"),
            "channel": presenters.CHANNELS.get(e.channel, "unknown"),
            "address": e.address,
            "actor": e.actor,
            "reason": e.reason,
        }
        for e in audit.entries
    ]
    filters = {k: v for k, v in (("q", query), ("channel", channel)) if v}
    return render(
        request,
        "suppressions.html",
        {
            "rows": rows,
            "changes": changes,
            "query": query,
            "filter_channel": channel,
            "channels": presenters.CHANNEL_LABELS,
            "errors": errors,
            "next_page": "?" + urlencode({**filters, "page_token": response.next_page_token})
            if response.next_page_token
            else "",
        },
        status_code=status_code,
    )


async def suppressions_page(request: Request) -> Response:
    return await _page(request, {})


async def add_suppression(request: Request) -> Response:
    form = await request.form()
    channel = str(form.get("channel", ""))
    reason = str(form.get("reason", "")).strip() or "added in the admin"
    try:
        address = normalise_address(channel, str(form.get("address", "")).strip())
        await orchestrator(request).add_suppression(
            presenters.channel_value(channel), address, reason, current_user(request.session) or ""
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        return await _page(request, {field: message}, status_code=400)
    except OrchestratorRejectedError as exc:
        return await _page(request, {"address": exc.message}, status_code=400)
    flash(request, f"{address} will no longer receive {presenters.CHANNEL_LABELS[channel]}.")
    return RedirectResponse("/suppressions", status_code=303)


def _confirm_page(
    request: Request, channel: str, address: str, errors: dict[str, str], status_code: int = 200
) -> Response:
    return render(
        request,
        "suppression_remove.html",
        {
            "channel": channel,
            "channel_label": presenters.CHANNEL_LABELS.get(channel, channel),
            "address": address,
            "errors": errors,
        },
        status_code=status_code,
    )


async def confirm_removal(request: Request) -> Response:
    """Step one: what removing means, and the reason it needs."""
    return _confirm_page(
        request,
        request.query_params.get("channel", ""),
        request.query_params.get("address", ""),
        {},
    )


async def remove_suppression(request: Request) -> Response:
    """Step two: remove, if confirmed with a reason; the orchestrator records who and why."""
    form = await request.form()
    channel = str(form.get("channel", ""))
    address = str(form.get("address", ""))
    reason = str(form.get("reason", "")).strip()
    errors = {}
    if form.get("confirm") != "yes":
        errors["confirm"] = "Tick the box to confirm that this person may be sent to again."
    if not reason:
        errors["reason"] = "Say why: removing a suppression undoes this person's opt-out."
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"At most {MAX_REASON} characters."
    if errors:
        return _confirm_page(request, channel, address, errors, status_code=400)
    try:
        removed = await orchestrator(request).remove_suppression(
            presenters.channel_value(channel),
            address,
            reason=reason,
            actor=current_user(request.session) or "",
        )
    except OrchestratorRejectedError as exc:
        return _confirm_page(request, channel, address, {"reason": exc.message}, status_code=400)
    flash(request, f"{address} removed." if removed else f"{address} was not suppressed.")
    return RedirectResponse("/suppressions", status_code=303)


routes = [
    Route("/suppressions", suppressions_page, methods=["GET"]),
    Route("/suppressions", add_suppression, methods=["POST"]),
    Route("/suppressions/remove", confirm_removal, methods=["GET"]),
    Route("/suppressions/remove", remove_suppression, methods=["POST"]),
]
